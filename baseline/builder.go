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
	// Digest returns the digest extended into bank alg; a nil digest
	// (and nil error) means the event extends nothing in that bank, as
	// tboot's one-bank extend policies do.
	Digest func(alg pcr.Alg) ([]byte, error)
	// Alternatives are the other digests the event may have (an
	// allow-list of per-boot values), each as Digest.
	Alternatives []func(alg pcr.Alg) ([]byte, error)
	Provenance   Provenance
}

// MaxVariants bounds the candidate values per PCR that event alternatives
// may make: every combination is a variant, so their number is the product
// of the allow-lists' sizes.
const MaxVariants = 256

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
	// variants are the other candidate values per PCR, one bank → value
	// map each, made by event alternatives.
	variants map[int][]map[pcr.Alg][]byte
	meta     Metadata
}

// NewBuilder predicts the given banks.
func NewBuilder(banks ...pcr.Alg) *Builder {
	return &Builder{banks: banks, pcrs: map[int]*PCR{}, state: pcr.Values{}, variants: map[int][]map[pcr.Alg][]byte{}, meta: Metadata{Tool: "goldenpcr"}}
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
	digests := make([]map[pcr.Alg][]byte, 1+len(m.Alternatives)) // m.Digest, then each alternative
	for i, f := range append([]func(pcr.Alg) ([]byte, error){m.Digest}, m.Alternatives...) {
		digests[i] = map[pcr.Alg][]byte{}
		for _, alg := range b.banks {
			d, err := f(alg)
			if err != nil {
				return fmt.Errorf("PCR %d %s (%s): %w", index, m.Type, m.Description, err)
			}
			digests[i][alg] = d
		}
	}
	primary := map[pcr.Alg][]byte{}
	for _, alg := range b.banks {
		cur, ok := b.state.Get(alg, index)
		if !ok {
			cur = pcr.InitialValue(alg, index, 0)
		}
		primary[alg] = cur
	}
	if err := b.extendVariants(index, primary, digests); err != nil {
		return err
	}
	for _, alg := range b.banks {
		next := extendBank(alg, primary[alg], digests[0][alg])
		b.state.Set(alg, index, next)
		if digests[0][alg] != nil {
			ev.Digests[alg.String()] = hex.EncodeToString(digests[0][alg])
		}
		p.Values[alg.String()] = hex.EncodeToString(next)
	}
	for _, alt := range digests[1:] {
		h := map[string]string{}
		for alg, d := range alt {
			if d != nil {
				h[alg.String()] = hex.EncodeToString(d)
			}
		}
		ev.Alternatives = append(ev.Alternatives, h)
	}
	p.Events = append(p.Events, ev)
	return nil
}

// extendVariants extends every candidate of PCR index (the primary value,
// given as it stands before this event, and the variants) with every
// digest of an event, keeping as variants the distinct results other than
// the new primary value.
func (b *Builder) extendVariants(index int, primary map[pcr.Alg][]byte, digests []map[pcr.Alg][]byte) error {
	if len(digests) == 1 && len(b.variants[index]) == 0 {
		return nil
	}
	key := func(v map[pcr.Alg][]byte) string {
		k := ""
		for _, alg := range b.banks {
			k += string(v[alg])
		}
		return k
	}
	extend := func(v, d map[pcr.Alg][]byte) map[pcr.Alg][]byte {
		out := map[pcr.Alg][]byte{}
		for _, alg := range b.banks {
			out[alg] = extendBank(alg, v[alg], d[alg])
		}
		return out
	}
	seen := map[string]bool{key(extend(primary, digests[0])): true}
	var next []map[pcr.Alg][]byte
	for ci, c := range append([]map[pcr.Alg][]byte{primary}, b.variants[index]...) {
		for di, d := range digests {
			if ci == 0 && di == 0 {
				continue // the new primary value
			}
			v := extend(c, d)
			if k := key(v); !seen[k] {
				seen[k] = true
				next = append(next, v)
			}
		}
		if len(next) > MaxVariants {
			return fmt.Errorf("PCR %d: the events' alternatives make more than %d candidate values", index, MaxVariants)
		}
	}
	b.variants[index] = next
	return nil
}

// extendBank extends cur with d, or leaves it as it is when d is nil (an
// event that extends nothing in this bank).
func extendBank(alg pcr.Alg, cur, d []byte) []byte {
	if d == nil {
		return cur
	}
	return pcr.Extend(alg, cur, d)
}

// HashStart is a dynamic launch's locality-4 hash start: PCRs 17–22 are
// reset to zero in every bank, so the events extended after it start
// from zero, not from their power-on value of all ones.
func (b *Builder) HashStart() {
	for index := 17; index <= 22; index++ {
		for _, alg := range b.banks {
			b.state.Set(alg, index, make([]byte, alg.Size()))
		}
	}
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
		q := *p
		for _, v := range b.variants[p.Index] {
			h := map[string]string{}
			for alg, d := range v {
				h[alg.String()] = hex.EncodeToString(d)
			}
			q.Variants = append(q.Variants, h)
		}
		out.PCRs = append(out.PCRs, q)
	}
	slices.SortFunc(out.PCRs, func(x, y PCR) int { return x.Index - y.Index })
	return out
}
