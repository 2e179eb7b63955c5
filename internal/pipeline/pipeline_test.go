package pipeline

import (
	"errors"
	"math/rand"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

type chunk struct {
	seq int
	sq  int
}

// Workers finish out of order; every drain still sees every chunk in
// input order, and no more chunks are in flight than the pipeline has.
func TestOrderAndBound(t *testing.T) {
	const n, chunks = 2000, 6
	var inFlight, peak atomic.Int32
	var made atomic.Int32
	gotA, gotB := make([]int, 0, n), make([]int, 0, n)
	p := Start(Config[chunk]{
		Workers: 4,
		Chunks:  chunks,
		New:     func() *chunk { made.Add(1); return new(chunk) },
		Worker: func() func(*chunk) {
			r := rand.New(rand.NewSource(1))
			return func(c *chunk) {
				if r.Intn(4) == 0 {
					time.Sleep(time.Duration(r.Intn(200)) * time.Microsecond)
				}
				c.sq = c.seq * c.seq
			}
		},
		Drains: []func(*chunk) error{
			func(c *chunk) error {
				if c.sq != c.seq*c.seq {
					t.Errorf("chunk %d drained unprocessed", c.seq)
				}
				gotA = append(gotA, c.seq)
				return nil
			},
			func(c *chunk) error { gotB = append(gotB, c.seq); inFlight.Add(-1); return nil },
		},
	})
	for i := 0; i < n; i++ {
		c := p.Next()
		if v := inFlight.Add(1); v > peak.Load() {
			peak.Store(v)
		}
		c.seq = i
		p.Send(c)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if gotA[i] != i || gotB[i] != i {
			t.Fatalf("drains saw %d and %d at position %d", gotA[i], gotB[i], i)
		}
	}
	if made.Load() != chunks || peak.Load() > chunks {
		t.Errorf("%d chunks made, %d in flight at most; want %d", made.Load(), peak.Load(), chunks)
	}
}

// A drain's error stops the work: later chunks are passed over, Err
// reports it to the producer and Close returns it.
func TestDrainError(t *testing.T) {
	boom := errors.New("boom")
	var processed, drained atomic.Int32
	p := Start(Config[chunk]{
		Workers: 2,
		Worker:  func() func(*chunk) { return func(*chunk) { processed.Add(1) } },
		Drains: []func(*chunk) error{func(c *chunk) error {
			drained.Add(1)
			if c.seq == 10 {
				return boom
			}
			return nil
		}},
	})
	sent := 0
	for i := 0; i < 100000 && p.Err() == nil; i++ {
		c := p.Next()
		c.seq = i
		p.Send(c)
		sent++
	}
	if err := p.Close(); err != boom {
		t.Fatalf("Close: %v", err)
	}
	if drained.Load() != 11 || sent > 11+4*runtime.GOMAXPROCS(0)+8 {
		t.Errorf("drained %d, sent %d after the failure at 10", drained.Load(), sent)
	}
}

func TestEmpty(t *testing.T) {
	p := Start(Config[chunk]{Worker: func() func(*chunk) { return func(*chunk) {} },
		Drains: []func(*chunk) error{func(*chunk) error { t.Error("drained a chunk never sent"); return nil }}})
	p.Next() // taken, never sent: dropped
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// Misuse is a programming error, caught at once.
func TestMisusePanics(t *testing.T) {
	mustPanic := func(name string, fn func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		fn()
	}
	mustPanic("no drain", func() { Start(Config[chunk]{}) })
	p := Start(Config[chunk]{Worker: func() func(*chunk) { return func(*chunk) {} },
		Drains: []func(*chunk) error{func(*chunk) error { return nil }}})
	mustPanic("Send of a foreign chunk", func() { p.Send(new(chunk)) })
	p.Next()
	mustPanic("Next twice", func() { p.Next() })
	p.Close()
}
