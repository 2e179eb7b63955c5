package diff

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Side is one account of a boot: its events PCR by PCR and the PCR values
// they lead to.
type Side struct {
	// Name says what the side was read from, for people.
	Name string
	// Kind is "baseline" or "event log".
	Kind string
	// Entries are each PCR's events in extend order.
	Entries map[int][]Entry
	// Values are the PCR values the side stands for: a baseline's expected
	// values, a log's replay.
	Values pcr.Values
	// Variants are other acceptable values of a baseline's PCRs.
	Variants map[int][]pcr.Values
	// Device, if set, are the PCR values the device itself reported (read
	// from its TPM or quoted): a log that does not replay to them is not
	// evidence of what booted.
	Device pcr.Values
	// Inputs are a baseline's artifacts.
	Inputs []baseline.Input
	// Quirks are the firmware deviations a log's replay noticed
	// (eventlog/workarounds.go), by PCR.
	Quirks map[int][]string

	// replay holds a log side's replay of all PCRs, untouched ones at
	// their reset value, to hold against Device.
	replay pcr.Values
}

// Entry is one measured event.
type Entry struct {
	PCR int `json:"pcr" yaml:"pcr"`
	// Index is the event's index in its log (the record number of a CEL),
	// or its position among a baseline PCR's events.
	Index int    `json:"index" yaml:"index"`
	Log   string `json:"log,omitempty" yaml:"log,omitempty"`
	Type  string `json:"type" yaml:"type"`
	// Key is the event's identity for alignment: its type and what it is
	// about (a variable name, a GRUB command name, a UKI section).
	Key     string            `json:"key" yaml:"key"`
	Summary string            `json:"summary" yaml:"summary"`
	Digests map[string]string `json:"digests" yaml:"digests"`
	// Decoded is the event data decoded, when there is data.
	Decoded eventlog.Payload `json:"decoded,omitempty" yaml:"decoded,omitempty"`
	// Quirk names a firmware deviation the event's digest follows.
	Quirk string `json:"quirk,omitempty" yaml:"quirk,omitempty"`
	// Rule and Artifact are a baseline event's provenance.
	Rule           string `json:"rule,omitempty" yaml:"rule,omitempty"`
	Artifact       string `json:"artifact,omitempty" yaml:"artifact,omitempty"`
	ArtifactSHA256 string `json:"artifact_sha256,omitempty" yaml:"artifact_sha256,omitempty"`

	typ  eventlog.EventType
	data []byte
}

// digest returns the entry's digest in bank alg, hex, and whether it has
// one.
func (e *Entry) digest(alg pcr.Alg) (string, bool) {
	d, ok := e.Digests[alg.String()]
	return d, ok
}

// FromLogs is the side the logs of one boot tell: a firmware (TCG) log
// and Canonical Event Logs, replayed into one history as
// eventlog.ReplayLogs does. EV_NO_ACTION events extend nothing and are
// left out.
func FromLogs(name string, logs []*eventlog.Log) (*Side, error) {
	rep, err := eventlog.ReplayLogs(logs, nil)
	if err != nil {
		return nil, err
	}
	s := &Side{Name: name, Kind: "event log", Entries: map[int][]Entry{}, Values: pcr.Values{}, Quirks: map[int][]string{}, replay: rep.Values}
	for _, q := range rep.Quirks {
		if q.PCR >= 0 && q.PCR < pcr.NumPCRs {
			s.Quirks[q.PCR] = append(s.Quirks[q.PCR], q.What)
		}
	}
	for alg, bank := range rep.Values {
		for i, v := range bank {
			if rep.Touched(i) {
				s.Values.Set(alg, i, v)
			}
		}
	}
	for _, l := range logs {
		for _, ev := range l.Events {
			if ev.Type == eventlog.EvNoAction || ev.PCR >= pcr.NumPCRs {
				continue
			}
			e := entryOf(ev)
			if len(logs) > 1 {
				e.Log = l.Name
			}
			if c := eventlog.CheckDigest(ev); c.Quirk != "" {
				e.Quirk = c.Quirk
			}
			s.Entries[e.PCR] = append(s.Entries[e.PCR], e)
		}
	}
	return s, nil
}

// entryOf decodes a logged event into an Entry.
func entryOf(ev *eventlog.Event) Entry {
	e := Entry{PCR: int(ev.PCR), Index: ev.Index, Type: ev.Type.String(), Digests: map[string]string{}, typ: ev.Type, data: ev.Data}
	for _, d := range ev.Digests {
		e.Digests[d.Alg.String()] = hex.EncodeToString(d.Value)
	}
	p, err := eventlog.Decode(ev)
	if err == nil {
		e.Decoded = p
		e.Summary = p.Summary()
	} else {
		e.Summary = fmt.Sprintf("%d bytes (not decoded: %v)", len(ev.Data), err)
	}
	e.Key = identity(e.typ, e.PCR, p, ev.Data, "")
	return e
}

// FromBaseline is the side a baseline expects. Its events carry their
// provenance; a PCR the baseline gives only a value for has no entries.
func FromBaseline(name string, b *baseline.Baseline) (*Side, error) {
	vals, err := b.Values()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &Side{Name: name, Kind: "baseline", Entries: map[int][]Entry{}, Values: vals, Variants: map[int][]pcr.Values{}, Inputs: b.Metadata.Inputs}
	for _, p := range b.PCRs {
		for _, m := range p.Variants {
			v := pcr.Values{}
			for bank, h := range m {
				alg, err := pcr.ParseAlg(bank)
				if err != nil {
					return nil, fmt.Errorf("%s: PCR %d variant: %w", name, p.Index, err)
				}
				d, err := hex.DecodeString(h)
				if err != nil {
					return nil, fmt.Errorf("%s: PCR %d variant %s: %w", name, p.Index, bank, err)
				}
				v.Set(alg, p.Index, d)
			}
			s.Variants[p.Index] = append(s.Variants[p.Index], v)
		}
		for i, ev := range p.Events {
			e, err := baselineEntry(p.Index, i, ev)
			if err != nil {
				return nil, fmt.Errorf("%s: PCR %d event %d: %w", name, p.Index, i, err)
			}
			s.Entries[p.Index] = append(s.Entries[p.Index], e)
		}
	}
	return s, nil
}

func baselineEntry(index, pos int, ev baseline.Event) (Entry, error) {
	e := Entry{PCR: index, Index: pos, Type: ev.Type, Summary: ev.Description, Digests: ev.Digests,
		Rule: ev.Provenance.Rule, Artifact: ev.Provenance.Artifact, ArtifactSHA256: ev.Provenance.ArtifactSHA256}
	typ, err := eventlog.ParseEventType(ev.Type)
	if err != nil {
		return e, err
	}
	e.typ = typ
	var p eventlog.Payload
	if ev.Data != "" {
		data, err := hex.DecodeString(ev.Data)
		if err != nil {
			return e, fmt.Errorf("data: %w", err)
		}
		e.data = data
		if p, err = eventlog.Decode(&eventlog.Event{Index: pos, PCR: uint32(index), Type: typ, Data: data}); err == nil {
			e.Decoded = p
		} else {
			p = nil
		}
	}
	e.Key = identity(typ, index, p, e.data, ev.Description)
	return e, nil
}

// identity is an event's alignment key: its type and, where the type has
// one, the name of what it measures. A baseline event without data is
// known by its description (desc).
func identity(t eventlog.EventType, index int, p eventlog.Payload, data []byte, desc string) string {
	typ := t.String()
	switch v := p.(type) {
	case eventlog.Variable:
		return typ + " " + v.Name
	case eventlog.Tagged:
		return fmt.Sprintf("%s 0x%08x", typ, v.ID)
	case *eventlog.CELContent:
		return typ + " " + v.Type + " " + v.EventType
	}
	text := string(data)
	switch v := p.(type) {
	case eventlog.Text:
		text = v.Text // UTF-16 decoded, as systemd-stub logs section names
	case nil:
		if desc != "" {
			text = desc
		}
	}
	text = strings.TrimRight(text, "\x00")
	switch t {
	case eventlog.EvEFIAction, eventlog.EvAction, eventlog.EvSeparator:
		if t == eventlog.EvSeparator {
			return typ
		}
		return typ + " " + text
	case eventlog.EvIPL:
		// GRUB's PCR 8 commands by command name; systemd-stub's PCR 11
		// sections by section name (the baseline says "NAME (…)");
		// anything else, as GRUB's PCR 9 file paths, by its text.
		if prefix, rest, ok := eventlog.CutGRUBPrefix(text); ok {
			name, _, _ := strings.Cut(rest, " ")
			return typ + " " + prefix + name
		}
		if index == 11 {
			name, _, _ := strings.Cut(text, " ")
			return typ + " " + name
		}
		return typ + " " + text
	}
	// Images, firmware blobs, S-CRTM versions, GPT: one kind each, their
	// contents compared by digest.
	return typ
}
