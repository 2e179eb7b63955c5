package baseline

import (
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// StepKind says how one expected or logged event fared when a log is held
// against a baseline.
type StepKind int

const (
	// Matched: the log carries the expected event, with its digest.
	Matched StepKind = iota
	// Differs: the log carries an event of the expected type in its place,
	// with another digest (another kernel, a changed variable).
	Differs
	// Missing: the log lacks the expected event.
	Missing
	// Unexpected: the log carries an event the baseline does not expect.
	Unexpected
)

func (k StepKind) String() string {
	return [...]string{"matched", "differs", "missing", "unexpected"}[k]
}

// Step is one expected event, one logged event, or a pair of them.
type Step struct {
	Kind StepKind
	// Expected is the baseline's event and its position among the PCR's
	// events; nil and -1 for an unexpected event.
	Expected      *Event
	ExpectedIndex int
	// Logged is the log's event; nil for a missing one.
	Logged *eventlog.Event
}

// PCRAlignment holds one PCR's logged events against its expected ones,
// in log order, missing events where the log would have carried them.
type PCRAlignment struct {
	Index int
	// Bank is the bank whose digests were compared.
	Bank  pcr.Alg
	Steps []Step
	// OK: every step matched.
	OK bool
}

// Alignment is a log held against a baseline, PCR by PCR.
type Alignment struct {
	PCRs []PCRAlignment
	// OK: every PCR with expected events aligned without a difference.
	OK bool
}

// Align holds the measured events of a TCG log (EV_NO_ACTION events are
// not extended and are left out) against the expected events of every
// baseline PCR that has them, comparing digests in one bank per PCR:
// sha256 when both sides have it, else the first bank both have. Events
// of PCRs the baseline does not name are not looked at. The matching is
// in order and greedy: each expected event takes the first logged event
// at or after the last match that has its digest or one of its
// alternatives; the logged events skipped on the way are unexpected, an
// expected event whose digest does not follow is missing, and a missing
// and an unexpected event of the same type between two matches are one
// event that differs. Its cost is O((n+m+a) log m) for n expected events
// with a alternatives and m logged events of a PCR, whatever the log
// holds.
func (b *Baseline) Align(events []*eventlog.Event) (*Alignment, error) {
	byPCR := map[int][]*eventlog.Event{}
	for _, ev := range events {
		if ev.Type != eventlog.EvNoAction && ev.PCR < pcr.NumPCRs {
			byPCR[int(ev.PCR)] = append(byPCR[int(ev.PCR)], ev)
		}
	}
	out := &Alignment{OK: true}
	for _, p := range b.PCRs {
		if len(p.Events) == 0 {
			continue
		}
		a, err := alignPCR(p, byPCR[p.Index])
		if err != nil {
			return nil, err
		}
		out.PCRs = append(out.PCRs, *a)
		out.OK = out.OK && a.OK
	}
	return out, nil
}

// alignBank picks the bank to compare a PCR's events in.
func alignBank(p PCR, logged []*eventlog.Event) (pcr.Alg, error) {
	var banks []pcr.Alg
	for name := range p.Events[0].Digests {
		alg, err := pcr.ParseAlg(name)
		if err != nil {
			return 0, fmt.Errorf("PCR %d event 0: %w", p.Index, err)
		}
		banks = append(banks, alg)
	}
	slices.Sort(banks)
	if i := slices.Index(banks, pcr.SHA256); i > 0 {
		banks[0], banks[i] = banks[i], banks[0]
	}
	for _, alg := range banks {
		if len(logged) == 0 {
			return alg, nil
		}
		if _, ok := logged[0].Digest(alg); ok {
			return alg, nil
		}
	}
	return 0, fmt.Errorf("PCR %d: the log and the baseline share no bank (baseline: %v)", p.Index, banks)
}

func alignPCR(p PCR, logged []*eventlog.Event) (*PCRAlignment, error) {
	alg, err := alignBank(p, logged)
	if err != nil {
		return nil, err
	}
	want := make([][][]byte, len(p.Events)) // each event's digest, then its alternatives
	for i := range p.Events {
		d, ok := p.Events[i].Digest(alg)
		if !ok {
			return nil, fmt.Errorf("PCR %d event %d: no %s digest of %d bytes", p.Index, i, alg, alg.Size())
		}
		want[i] = [][]byte{d}
		for _, m := range p.Events[i].Alternatives {
			if d, err := hex.DecodeString(m[alg.String()]); err == nil && len(d) == alg.Size() {
				want[i] = append(want[i], d)
			}
		}
	}
	// Where each digest stands in the log, ascending.
	at := map[string][]int{}
	for j, ev := range logged {
		d, ok := ev.Digest(alg)
		if !ok {
			return nil, fmt.Errorf("PCR %d: log event #%d has no %s digest", p.Index, ev.Index, alg)
		}
		at[string(d)] = append(at[string(d)], j)
	}
	a := &PCRAlignment{Index: p.Index, Bank: alg}
	var gap []Step // the non-matching steps since the last match
	flush := func() {
		a.Steps = append(a.Steps, pairDiffering(gap)...)
		gap = gap[:0]
	}
	next := 0 // the first logged event not yet used
	for i := range p.Events {
		found := -1 // the first logged event at or after next with one of the digests
		for _, d := range want[i] {
			pos := at[string(d)]
			if k, _ := slices.BinarySearch(pos, next); k < len(pos) && (found < 0 || pos[k] < found) {
				found = pos[k]
			}
		}
		if found < 0 {
			gap = append(gap, Step{Kind: Missing, Expected: &p.Events[i], ExpectedIndex: i})
			continue
		}
		for ; next < found; next++ {
			gap = append(gap, Step{Kind: Unexpected, ExpectedIndex: -1, Logged: logged[next]})
		}
		flush()
		a.Steps = append(a.Steps, Step{Kind: Matched, Expected: &p.Events[i], ExpectedIndex: i, Logged: logged[next]})
		next++
	}
	for ; next < len(logged); next++ {
		gap = append(gap, Step{Kind: Unexpected, ExpectedIndex: -1, Logged: logged[next]})
	}
	flush()
	a.OK = true
	for _, s := range a.Steps {
		a.OK = a.OK && s.Kind == Matched
	}
	return a, nil
}

// pairDiffering turns a missing and an unexpected event of the same type
// within one gap into one event that differs, in log order; what stays
// unpaired keeps its kind. Missing events go where the log would have had
// them: before the unexpected events that follow them in the gap.
func pairDiffering(gap []Step) []Step {
	var missing, unexpected []Step
	for _, s := range gap {
		if s.Kind == Missing {
			missing = append(missing, s)
		} else {
			unexpected = append(unexpected, s)
		}
	}
	var out []Step
	used := make([]bool, len(missing))
	for _, u := range unexpected {
		paired := false
		for i, m := range missing {
			if !used[i] && m.Expected.Type == u.Logged.Type.String() {
				used[i], paired = true, true
				// Missing events before this one in the baseline's order
				// come first.
				for h := 0; h < i; h++ {
					if !used[h] {
						used[h] = true
						out = append(out, missing[h])
					}
				}
				out = append(out, Step{Kind: Differs, Expected: m.Expected, ExpectedIndex: m.ExpectedIndex, Logged: u.Logged})
				break
			}
		}
		if !paired {
			out = append(out, u)
		}
	}
	for i, m := range missing {
		if !used[i] {
			out = append(out, m)
		}
	}
	return out
}

// Digest returns the expected event's digest in bank alg.
func (e *Event) Digest(alg pcr.Alg) ([]byte, bool) {
	d, err := hex.DecodeString(e.Digests[alg.String()])
	return d, err == nil && len(d) == alg.Size()
}
