// Package pipeline owns goldenpcr's one ordered worker pipeline: a
// producer fills chunks of work in input order, a fixed number of workers
// process them in parallel, and every chunk reaches the drains in input
// order, however the workers finish. A fixed set of chunks circulates from
// the producer through the workers and the drains back to the producer, so
// the work in flight, and the memory it holds, is bounded whatever the
// input's length; unlike a sync.Pool, which the collector empties, the set
// keeps the buffers a chunk has grown.
//
// A chunk is whatever batch of items the caller hands over at once: many
// small items per chunk keep the hand-off cost (a few channel operations)
// negligible beside the work.
package pipeline

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Config describes a pipeline of chunks of type T.
type Config[T any] struct {
	// Workers is the number of goroutines processing chunks; default
	// runtime.GOMAXPROCS(0).
	Workers int
	// Chunks is the number of chunks in circulation, the bound on the
	// work in flight; default 4 × Workers.
	Chunks int
	// New makes each chunk once; default new(T).
	New func() *T
	// Worker is called once in each worker goroutine; the function it
	// returns processes that worker's chunks, so it may keep state of its
	// own (hash states, buffers) without locks.
	Worker func() func(*T)
	// Drains are called with every processed chunk in input order, each
	// on a goroutine of its own, so that independent in-order stages run
	// alongside each other; a chunk is reused once every drain has seen
	// it. At least one. A drain must not call Next.
	Drains []func(*T) error
}

// A Pipeline runs the chunks its producer hands it. Next, Send and Close
// belong to the producer's goroutine.
type Pipeline[T any] struct {
	worker  func() func(*T)
	drains  []func(*T) error
	free    chan *slot[T]
	work    chan *slot[T]
	orders  []chan *slot[T] // one per drain, in input order
	cur     *slot[T]        // handed out by Next, not sent yet
	running sync.WaitGroup
	failed  atomic.Bool
	mu      sync.Mutex
	err     error
}

// slot carries a chunk and the signal that a worker is done with it.
type slot[T any] struct {
	chunk *T
	done  chan struct{} // a token per drain once the chunk is processed
	refs  atomic.Int32  // drains still to see the chunk
}

// Start starts the workers and the drains.
func Start[T any](cfg Config[T]) *Pipeline[T] {
	if len(cfg.Drains) == 0 {
		panic("pipeline: no drain")
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunks := cfg.Chunks
	if chunks <= 0 {
		chunks = 4 * workers
	}
	p := &Pipeline[T]{worker: cfg.Worker, drains: cfg.Drains,
		free: make(chan *slot[T], chunks), work: make(chan *slot[T], chunks)}
	for i := 0; i < chunks; i++ {
		s := &slot[T]{done: make(chan struct{}, len(cfg.Drains))}
		if cfg.New != nil {
			s.chunk = cfg.New()
		} else {
			s.chunk = new(T)
		}
		p.free <- s
	}
	p.running.Add(workers + len(cfg.Drains))
	for i := 0; i < workers; i++ {
		go p.runWorker()
	}
	for _, d := range cfg.Drains {
		order := make(chan *slot[T], chunks)
		p.orders = append(p.orders, order)
		go p.runDrain(d, order)
	}
	return p
}

// Next returns a chunk to fill, waiting until one is free. It hands out
// one chunk at a time: Send it before asking for the next. The chunk
// holds what its last drain left in it.
func (p *Pipeline[T]) Next() *T {
	if p.cur != nil {
		panic("pipeline: Next before the previous chunk was sent")
	}
	p.cur = <-p.free
	return p.cur.chunk
}

// Send hands the chunk Next returned to the workers. After a drain has
// failed, chunks are passed over unprocessed (see Err).
func (p *Pipeline[T]) Send(chunk *T) {
	s := p.cur
	if s == nil || s.chunk != chunk {
		panic("pipeline: Send of a chunk Next did not hand out")
	}
	p.cur = nil
	s.refs.Store(int32(len(p.orders)))
	// Neither blocks: each channel holds every chunk there is.
	for _, order := range p.orders {
		order <- s
	}
	p.work <- s
}

// Err returns the first error a drain returned, nil if none has. A
// producer that can stop early checks it between chunks.
func (p *Pipeline[T]) Err() error {
	if !p.failed.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Close ends the input, waits until every chunk sent is processed and
// drained (or passed over), and returns Err. A chunk taken with Next and
// not sent is dropped.
func (p *Pipeline[T]) Close() error {
	close(p.work)
	for _, order := range p.orders {
		close(order)
	}
	p.running.Wait()
	return p.Err()
}

func (p *Pipeline[T]) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		p.failed.Store(true)
	}
}

func (p *Pipeline[T]) runWorker() {
	defer p.running.Done()
	process := p.worker()
	for s := range p.work {
		if !p.failed.Load() {
			process(s.chunk)
		}
		for range p.drains {
			s.done <- struct{}{}
		}
	}
}

func (p *Pipeline[T]) runDrain(drain func(*T) error, order <-chan *slot[T]) {
	defer p.running.Done()
	for s := range order {
		<-s.done
		if !p.failed.Load() {
			if err := drain(s.chunk); err != nil {
				p.fail(err)
			}
		}
		if s.refs.Add(-1) == 0 {
			p.free <- s
		}
	}
}
