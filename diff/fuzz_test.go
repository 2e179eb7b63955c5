package diff

import (
	"bytes"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
)

// Any two logs (or a baseline and a log) compare without a panic, and
// every divergence the report names is a step it holds.
func FuzzCompare(f *testing.F) {
	// Seeds of a few KiB (the RHEL 8 log's first events, dbx cut to one
	// entry): with whole 30 KiB logs the fuzzer spends its time minimising.
	small := func(edit func(ev *eventlog.Event)) []byte {
		return tcglogtest.Edit(f, readFixture(f, rhel8), func(ev *eventlog.Event) []*eventlog.Event {
			if ev.Index > 30 {
				return nil
			}
			if ev.Type == eventlog.EvEFIVariableDriverCfg && variable(f, ev).Name == "dbx" {
				setVariable(f, ev, sha256List(0x0d))
			}
			edit(ev)
			return []*eventlog.Event{ev}
		})
	}
	a := small(func(*eventlog.Event) {})
	b := small(func(ev *eventlog.Event) {
		switch {
		case ev.Type == eventlog.EvEFIVariableDriverCfg && variable(f, ev).Name == "db":
			setVariable(f, ev, append(variable(f, ev).VariableData, sha256List(0xdb)...))
		case ev.Type == eventlog.EvSCRTMVersion:
			ev.Data = utf16z("v2")
			tcglogtest.Rehash(ev, ev.Data)
		}
	})
	f.Add(a, a)
	f.Add(a, b)
	f.Add(b, a[:len(a)-40])
	f.Fuzz(func(t *testing.T, a, b []byte) {
		side := func(data []byte) *Side {
			if baseline.IsDocument(data) {
				doc, err := baseline.Parse(data)
				if err != nil {
					return nil
				}
				s, err := FromBaseline("b", doc)
				if err != nil {
					return nil
				}
				return s
			}
			l, err := eventlog.ReadLog(bytes.NewReader(data))
			if err != nil {
				return nil
			}
			s, err := FromLogs("l", []*eventlog.Log{l})
			if err != nil {
				return nil
			}
			return s
		}
		e, x := side(a), side(b)
		if e == nil || x == nil {
			return
		}
		r, err := Compare(e, x, Options{})
		if err != nil {
			return
		}
		for _, p := range r.PCRs {
			if p.First >= len(p.Steps) || (p.First >= 0 && p.Steps[p.First].Kind == Same) {
				t.Fatalf("PCR %d: first divergence %d of %d steps", p.Index, p.First, len(p.Steps))
			}
		}
	})
}
