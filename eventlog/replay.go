package eventlog

import (
	"bytes"
	"fmt"
	"hash"
	"io"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Replay is the outcome of extending every measured event of a log.
type Replay struct {
	Format Format
	// Banks are the replayed banks, in the order requested or logged.
	Banks []pcr.Alg
	// Values holds all 24 PCRs of each replayed bank; PCRs no event touched
	// keep their power-on value.
	Values pcr.Values
	// LastEvent is the index of the last event extended into each PCR, or
	// -1 if none was; for a CEL record, its record number.
	LastEvent [pcr.NumPCRs]int
	// LastLog is the index in Logs of the log whose event LastEvent is.
	LastLog [pcr.NumPCRs]int
	// Logs lists the logs replayed, in replay order (ReplayLogs only).
	Logs []ReplayedLog
	// Extends counts the events extended into each PCR.
	Extends [pcr.NumPCRs]int
	// Locality is the startup locality from a StartupLocality event.
	Locality byte
	// Events counts the events read, the header included.
	Events int
	// Dropped lists banks of the log that could not be replayed.
	Dropped []DroppedBank
	// Quirks lists firmware deviations noticed on the way.
	Quirks []Quirk
	// DigestIssues lists events whose digest does not match their data
	// (only with ReplayOptions.CheckDigests).
	DigestIssues []DigestIssue
}

// Touched reports whether any event was extended into PCR index.
func (r *Replay) Touched(index int) bool { return r.LastEvent[index] >= 0 }

// ReplayedLog is one log of a combined replay.
type ReplayedLog struct {
	Name   string `json:"file" yaml:"file"`
	Format string `json:"format" yaml:"format"`
	Events int    `json:"events" yaml:"events"`
}

// DroppedBank is a bank of the log left out of the replay, and why.
type DroppedBank struct {
	Alg    pcr.Alg
	Reason string
}

// DigestIssue is an event whose digest contradicts its data.
type DigestIssue struct {
	// Log names the log of the event in a combined replay.
	Log    string      `json:"log,omitempty" yaml:"log,omitempty"`
	Event  int         `json:"event" yaml:"event"`
	Offset int64       `json:"offset" yaml:"offset"`
	PCR    int         `json:"pcr" yaml:"pcr"`
	Type   string      `json:"type" yaml:"type"`
	Check  DigestCheck `json:"check" yaml:"check"`
}

// BankNotInLogError reports a requested bank the log carries no digests for.
type BankNotInLogError struct {
	Alg  pcr.Alg
	Have []pcr.Alg
}

func (e *BankNotInLogError) Error() string {
	return fmt.Sprintf("the log has no %s digests (banks in log: %v)", e.Alg, e.Have)
}

// ReplayOptions tune ReplayLog.
type ReplayOptions struct {
	// Banks to replay. Empty means every bank the log carries that goldenpcr
	// can hash, dropping (and reporting) any an event lacks a digest for;
	// banks named here must be complete or the replay fails.
	Banks []pcr.Alg
	// CheckDigests checks every event's digest against its data.
	CheckDigests bool
}

type bankState struct {
	alg     pcr.Alg
	h       hash.Hash
	size    int
	vals    [pcr.NumPCRs][64]byte
	set     uint32 // PCRs extended at least once
	dropped bool
}

// Replayer extends events one at a time; ReplayLog drives it over a log.
type Replayer struct {
	banks    []*bankState
	strict   bool
	locality byte
	log      int // index of the log being replayed, for LastLog
	quirks   quirkScanner
	res      Replay
}

// NewReplayer prepares replay of the given banks. With strict set, an event
// lacking one of them is an error; otherwise that bank is dropped.
func NewReplayer(banks []pcr.Alg, strict bool) (*Replayer, error) {
	rp := &Replayer{strict: strict}
	for _, a := range banks {
		if !a.Valid() {
			return nil, &pcr.UnsupportedAlgError{ID: uint16(a)}
		}
		rp.banks = append(rp.banks, &bankState{alg: a, h: a.New(), size: a.Size()})
	}
	for i := range rp.res.LastEvent {
		rp.res.LastEvent[i] = -1
	}
	return rp, nil
}

// Extend applies one event: EV_NO_ACTION events are never extended, but a
// StartupLocality one sets PCR 0's starting value.
func (rp *Replayer) Extend(ev *Event) error {
	rp.res.Events++
	rp.quirks.observe(ev)
	if ev.Type == EvTXTPCRMapping {
		return nil // a map of PCR usage, logged with PCR 0xFF, never extended
	}
	if ev.Type == EvNoAction {
		if loc, ok := startupLocality(ev); ok {
			rp.locality = loc
		}
		return nil
	}
	i := ev.PCR
	if i >= pcr.NumPCRs {
		return &ParseError{Index: ev.Index, Offset: ev.Offset, Msg: fmt.Sprintf("PCR index %d out of range", i)}
	}
	for _, b := range rp.banks {
		if b.dropped {
			continue
		}
		d, ok := ev.Digest(b.alg)
		if !ok && ExtendsOnlyLogged(ev) {
			continue
		}
		if !ok {
			if rp.strict {
				return &ParseError{Index: ev.Index, Offset: ev.Offset, Msg: fmt.Sprintf("event has no %s digest, so the %s bank cannot be replayed", b.alg, b.alg)}
			}
			b.dropped = true
			unit := "event"
			if ev.CEL != nil {
				unit = "record"
			}
			rp.res.Dropped = append(rp.res.Dropped, DroppedBank{Alg: b.alg, Reason: fmt.Sprintf("%s %d at byte offset %d has no %s digest", unit, ev.Index, ev.Offset, b.alg)})
			continue
		}
		cur := b.vals[i][:b.size]
		if b.set&(1<<i) == 0 {
			copy(cur, pcr.InitialValue(b.alg, int(i), rp.localityFor(int(i))))
			if i >= 17 && i <= 22 {
				// Only localities 1–4 extend PCRs 17–22, after the
				// dynamic launch whose locality-4 hash start reset them
				// from all ones to zero.
				clear(cur)
			}
			b.set |= 1 << i
		}
		b.h.Reset()
		b.h.Write(cur)
		b.h.Write(d)
		b.h.Sum(cur[:0])
	}
	rp.res.LastEvent[i] = ev.Index
	rp.res.LastLog[i] = rp.log
	rp.res.Extends[i]++
	return nil
}

func (rp *Replayer) localityFor(index int) byte {
	if index == 0 {
		return rp.locality
	}
	return 0
}

// Result returns the replayed values; untouched PCRs get power-on values.
func (rp *Replayer) Result() *Replay {
	res := rp.res
	res.Locality = rp.locality
	res.Quirks = rp.quirks.finish()
	res.Values = pcr.Values{}
	for _, b := range rp.banks {
		if b.dropped {
			continue
		}
		res.Banks = append(res.Banks, b.alg)
		for i := 0; i < pcr.NumPCRs; i++ {
			if b.set&(1<<i) != 0 {
				res.Values.Set(b.alg, i, bytes.Clone(b.vals[i][:b.size]))
			} else {
				res.Values.Set(b.alg, i, pcr.InitialValue(b.alg, i, rp.localityFor(i)))
			}
		}
	}
	return &res
}

var startupLocalitySig = []byte("StartupLocality\x00")

func startupLocality(ev *Event) (byte, bool) {
	if ev.PCR == 0 && len(ev.Data) == len(startupLocalitySig)+1 && bytes.HasPrefix(ev.Data, startupLocalitySig) {
		return ev.Data[len(startupLocalitySig)], true
	}
	return 0, false
}

// ReplayLog reads a whole log and replays it; opts may be nil.
func ReplayLog(r io.Reader, opts *ReplayOptions) (*Replay, error) {
	if opts == nil {
		opts = &ReplayOptions{}
	}
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	banks, dropped, err := selectBanks(rd.Banks(), opts.Banks)
	if err != nil {
		return nil, err
	}
	rp, err := NewReplayer(banks, len(opts.Banks) > 0)
	if err != nil {
		return nil, err
	}
	var issues []DigestIssue
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if issues, err = rp.extendChecked(ev, opts.CheckDigests, "", issues); err != nil {
			return nil, err
		}
	}
	res := rp.Result()
	res.Format = rd.Format()
	res.Dropped = append(dropped, res.Dropped...)
	res.DigestIssues = issues
	return res, nil
}

// extendChecked extends ev and, with check set, adds it to issues when its
// digest contradicts its data.
func (rp *Replayer) extendChecked(ev *Event, check bool, log string, issues []DigestIssue) ([]DigestIssue, error) {
	if err := rp.Extend(ev); err != nil {
		return issues, err
	}
	if check {
		if c := CheckDigest(ev); c.Status == DigestMismatch {
			issues = append(issues, DigestIssue{Log: log, Event: ev.Index, Offset: ev.Offset, PCR: int(int32(ev.PCR)), Type: ev.Type.String(), Check: c})
		}
	}
	return issues, nil
}

// ReplayLogs replays several logs of one boot into one PCR history: the
// TCG PC Client (firmware) log first, then DRTM logs (IsDRTM: events in
// PCRs 17–22 only), then each Canonical Event Log in the order given, each
// in record order, so a PCR extended by several is the fold of the
// firmware's events, then the DRTM log's, then the CEL's records. At most
// one firmware log may be given. Without opts.Banks every bank of the first replayed log is
// replayed, and a bank a later log lacks is dropped and reported; a
// requested bank must be in every log.
func ReplayLogs(logs []*Log, opts *ReplayOptions) (*Replay, error) {
	if opts == nil {
		opts = &ReplayOptions{}
	}
	if len(logs) == 0 {
		return nil, fmt.Errorf("no event log to replay")
	}
	// The firmware's log, then DRTM logs (PCRs 17–22, after the dynamic
	// launch), then Canonical Event Logs (user space, after both).
	ordered := make([]*Log, 0, len(logs))
	var firmware *Log
	for _, l := range logs {
		if !l.Format.IsCEL() && !l.IsDRTM() {
			if firmware != nil {
				return nil, fmt.Errorf("%s and %s: two firmware (TCG PC Client) event logs; a boot has one", firmware.Name, l.Name)
			}
			firmware = l
			ordered = append(ordered, l)
		}
	}
	for _, l := range logs {
		if !l.Format.IsCEL() && l.IsDRTM() {
			ordered = append(ordered, l)
		}
	}
	for _, l := range logs {
		if l.Format.IsCEL() {
			ordered = append(ordered, l)
		}
	}
	banks, dropped, err := selectBanks(ordered[0].Banks, opts.Banks)
	if err != nil {
		return nil, logError(ordered[0], err)
	}
	for _, l := range ordered[1:] {
		if _, _, err := selectBanks(l.Banks, opts.Banks); err != nil {
			return nil, logError(l, err)
		}
	}
	rp, err := NewReplayer(banks, len(opts.Banks) > 0)
	if err != nil {
		return nil, err
	}
	var issues []DigestIssue
	var replayed []ReplayedLog
	for i, l := range ordered {
		rp.log = i
		name := ""
		if len(ordered) > 1 {
			name = l.Name
		}
		for _, ev := range l.Events {
			if issues, err = rp.extendChecked(ev, opts.CheckDigests, name, issues); err != nil {
				return nil, logError(l, err)
			}
		}
		replayed = append(replayed, ReplayedLog{Name: l.Name, Format: l.Format.String(), Events: len(l.Events)})
	}
	res := rp.Result()
	res.Format = ordered[0].Format
	res.Logs = replayed
	res.Dropped = append(dropped, res.Dropped...)
	res.DigestIssues = issues
	return res, nil
}

func logError(l *Log, err error) error {
	if l.Name == "" {
		return err
	}
	return fmt.Errorf("%s: %w", l.Name, err)
}

// selectBanks checks requested banks against the log's, or picks every
// hashable bank of the log when none are requested.
func selectBanks(inLog, requested []pcr.Alg) (use []pcr.Alg, dropped []DroppedBank, err error) {
	if len(requested) == 0 {
		for _, a := range inLog {
			if a.Valid() {
				use = append(use, a)
			} else {
				dropped = append(dropped, DroppedBank{Alg: a, Reason: (&pcr.UnsupportedAlgError{ID: uint16(a)}).Error()})
			}
		}
		return use, dropped, nil
	}
	for _, a := range requested {
		found := false
		for _, b := range inLog {
			found = found || a == b
		}
		if !found {
			return nil, nil, &BankNotInLogError{Alg: a, Have: inLog}
		}
	}
	return requested, nil, nil
}
