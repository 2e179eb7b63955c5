package baseline

import (
	"slices"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

func readLog(t *testing.T, path string) []*eventlog.Event {
	t.Helper()
	events, err := eventlog.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// baselineOf predicts exactly what the log measured into pcrs: a baseline
// that must align with it event for event.
func baselineOf(t *testing.T, events []*eventlog.Event, pcrs ...int) *Baseline {
	t.Helper()
	b := NewBuilder(pcr.SHA1, pcr.SHA256)
	for _, ev := range events {
		if ev.Type == eventlog.EvNoAction || !slices.Contains(pcrs, int(ev.PCR)) {
			continue
		}
		err := b.Extend(int(ev.PCR), Measurement{Type: ev.Type.String(), Description: "from the log",
			Digest: func(alg pcr.Alg) ([]byte, error) {
				d, _ := ev.Digest(alg)
				return d, nil
			}, Provenance: Provenance{Rule: "test"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.Baseline()
}

func kinds(a *PCRAlignment) []StepKind {
	var out []StepKind
	for _, s := range a.Steps {
		out = append(out, s.Kind)
	}
	return out
}

// A log is held against a baseline event by event (the real RHEL 8 log).
func TestAlign(t *testing.T) {
	log := readLog(t, "../fixtures/tcg/rhel8-uefi.bin")
	b := baselineOf(t, log, 4, 7)
	a, err := b.Align(log)
	if err != nil || !a.OK || len(a.PCRs) != 2 || a.PCRs[0].Bank != pcr.SHA256 {
		t.Fatalf("the log's own baseline: %+v %v", a, err)
	}
	n4 := len(b.PCRs[0].Events)
	var pcr4 []int // positions of PCR 4's events in the log
	for i, ev := range log {
		if ev.PCR == 4 && ev.Type != eventlog.EvNoAction {
			pcr4 = append(pcr4, i)
		}
	}
	if len(pcr4) != n4 || n4 < 3 {
		t.Fatalf("PCR 4: %d events in the log, %d expected", len(pcr4), n4)
	}
	m := func(k StepKind, n int) []StepKind { return slices.Repeat([]StepKind{k}, n) }

	// One event removed: it is missing, where the log would have had it.
	removed := slices.Delete(slices.Clone(log), pcr4[1], pcr4[1]+1)
	a, _ = b.Align(removed)
	if want := slices.Concat(m(Matched, 1), m(Missing, 1), m(Matched, n4-2)); a.OK || !slices.Equal(kinds(&a.PCRs[0]), want) ||
		a.PCRs[0].Steps[1].ExpectedIndex != 1 || !a.PCRs[1].OK {
		t.Errorf("removed: %v", kinds(&a.PCRs[0]))
	}
	// Its digest changed: it differs, paired with the expected event.
	changed := slices.Clone(log)
	ev := log[pcr4[1]].Clone()
	for i := range ev.Digests {
		ev.Digests[i].Value[0] ^= 1
	}
	changed[pcr4[1]] = ev
	a, _ = b.Align(changed)
	if want := slices.Concat(m(Matched, 1), m(Differs, 1), m(Matched, n4-2)); !slices.Equal(kinds(&a.PCRs[0]), want) ||
		a.PCRs[0].Steps[1].Logged != ev || a.PCRs[0].Steps[1].Expected != &b.PCRs[0].Events[1] {
		t.Errorf("changed: %v", kinds(&a.PCRs[0]))
	}
	// An event added: unexpected.
	extra := slices.Insert(slices.Clone(log), pcr4[0]+1, &eventlog.Event{Index: 999, PCR: 4, Type: eventlog.EvSeparator,
		Digests: []eventlog.Digest{{Alg: pcr.SHA1, Value: make([]byte, 20)}, {Alg: pcr.SHA256, Value: make([]byte, 32)}}})
	a, _ = b.Align(extra)
	if want := slices.Concat(m(Matched, 1), m(Unexpected, 1), m(Matched, n4-1)); !slices.Equal(kinds(&a.PCRs[0]), want) {
		t.Errorf("added: %v", kinds(&a.PCRs[0]))
	}
	// Two events swapped: the one that moved is unexpected where it is and
	// missing where it was.
	swapped := slices.Clone(log)
	swapped[pcr4[0]], swapped[pcr4[1]] = swapped[pcr4[1]], swapped[pcr4[0]]
	a, _ = b.Align(swapped)
	if k := kinds(&a.PCRs[0]); a.OK || slices.Index(k, Unexpected) < 0 || slices.Index(k, Missing) < 0 {
		t.Errorf("swapped: %v", k)
	}
	// PCRs the baseline does not name are not looked at; a baseline made
	// from a PCR file (no events) aligns nothing.
	if a, err := FromValues([]pcr.Values{{pcr.SHA256: {7: make([]byte, 32)}}}, "t").Align(log); err != nil || !a.OK || len(a.PCRs) != 0 {
		t.Errorf("no events: %+v %v", a, err)
	}
}
