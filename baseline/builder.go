package baseline

import (
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Measurement is one event a calculator predicts.
type Measurement struct {
	Type        string // event type name, e.g. "EV_IPL"
	Description string
	// Data is the event data the log will carry, if known.
	Data []byte
	// Digest returns the digest extended into bank alg.
	Digest     func(alg pcr.Alg) ([]byte, error)
	Provenance Provenance
}

// HashOf is the Digest of an event whose digest is the bank's hash of b.
func HashOf(b []byte) func(pcr.Alg) ([]byte, error) {
	return func(alg pcr.Alg) ([]byte, error) { return alg.Sum(b), nil }
}

// Builder collects predicted events per PCR and replays them into final
// values for each requested bank, so events and values never disagree.
type Builder struct {
	banks []pcr.Alg
	pcrs  map[int]*PCR
	state pcr.Values
	meta  Metadata
}

// NewBuilder predicts the given banks.
func NewBuilder(banks ...pcr.Alg) *Builder {
	return &Builder{banks: banks, pcrs: map[int]*PCR{}, state: pcr.Values{}, meta: Metadata{Tool: "goldenpcr"}}
}

// AddInput records an artifact the baseline depends on.
func (b *Builder) AddInput(in Input) { b.meta.Inputs = append(b.meta.Inputs, in) }

// Note records an assumption or something not simulated.
func (b *Builder) Note(format string, args ...any) {
	b.meta.Notes = append(b.meta.Notes, fmt.Sprintf(format, args...))
}

// Extend appends m to PCR index in every bank.
func (b *Builder) Extend(index int, m Measurement) error {
	if index < 0 || index >= pcr.NumPCRs {
		return fmt.Errorf("PCR index %d out of range", index)
	}
	p := b.pcrs[index]
	if p == nil {
		p = &PCR{Index: index, Values: map[string]string{}}
		b.pcrs[index] = p
	}
	ev := Event{Type: m.Type, Description: m.Description, Digests: map[string]string{}, Provenance: m.Provenance}
	if m.Data != nil {
		ev.Data = hex.EncodeToString(m.Data)
	}
	for _, alg := range b.banks {
		d, err := m.Digest(alg)
		if err != nil {
			return fmt.Errorf("PCR %d %s (%s): %w", index, m.Type, m.Description, err)
		}
		cur, ok := b.state.Get(alg, index)
		if !ok {
			cur = pcr.InitialValue(alg, index, 0)
		}
		next := pcr.Extend(alg, cur, d)
		b.state.Set(alg, index, next)
		ev.Digests[alg.String()] = hex.EncodeToString(d)
		p.Values[alg.String()] = hex.EncodeToString(next)
	}
	p.Events = append(p.Events, ev)
	return nil
}

// Unextended records that nothing extends PCR index: its value is the
// reset value in every bank, with no events. A PCR something was already
// extended into is left as it is.
func (b *Builder) Unextended(index int) error {
	if index < 0 || index >= pcr.NumPCRs {
		return fmt.Errorf("PCR index %d out of range", index)
	}
	if b.pcrs[index] != nil {
		return nil
	}
	p := &PCR{Index: index, Values: map[string]string{}}
	for _, alg := range b.banks {
		p.Values[alg.String()] = hex.EncodeToString(pcr.InitialValue(alg, index, 0))
	}
	b.pcrs[index] = p
	return nil
}

// Has reports whether the builder holds PCR index.
func (b *Builder) Has(index int) bool { return b.pcrs[index] != nil }

// Baseline returns the document built so far, PCRs ascending.
func (b *Builder) Baseline() *Baseline {
	out := &Baseline{Version: SchemaVersion, Metadata: b.meta}
	for _, p := range b.pcrs {
		out.PCRs = append(out.PCRs, *p)
	}
	slices.SortFunc(out.PCRs, func(x, y PCR) int { return x.Index - y.Index })
	return out
}
