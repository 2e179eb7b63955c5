package ima

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/goldenpcr/goldenpcr/internal/pipeline"
)

// ReplayList reads a whole list and replays it. onEntry, if not nil, sees
// every entry in list order (valid until it returns).
//
// Hashing dominates a replay, so with more than one CPU it runs as a
// pipeline: this goroutine parses entries into batches, workers hash the
// template data of whole batches for every bank, and one goroutine extends
// the banks batch by batch in list order. Memory stays bounded by the batch
// pool whatever the list's length.
func ReplayList(rd Reader, opts *ReplayOptions, onEntry func(*Entry) error) (*Replay, error) {
	if runtime.GOMAXPROCS(0) < 2 {
		return replaySequential(rd, opts, onEntry)
	}
	e, err := rd.Next()
	if err == io.EOF {
		rp, err := NewReplayer(rd.TemplateHash(), opts)
		if err != nil {
			return nil, err
		}
		return rp.Result(), nil
	}
	if err != nil {
		return nil, err
	}
	// An ASCII list learns its template hash from the first line.
	rp, err := NewReplayer(rd.TemplateHash(), opts)
	if err != nil {
		return nil, err
	}
	p, err := newPipeline(rp, rd.ByteOrder(), opts != nil && len(opts.Expect) > 0)
	if err != nil {
		return nil, err
	}
	defer p.cleanup()
	for ; ; e, err = rd.Next() {
		if err == io.EOF {
			break
		}
		if err == nil {
			rp.count(e)
			if onEntry != nil {
				err = onEntry(e)
			}
		}
		if err != nil {
			p.finish()
			return nil, err
		}
		p.add(e)
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	res := rp.Result()
	if !res.PaddedSkipped {
		return res, nil
	}
	for _, want := range opts.Expect {
		if res.Match(want).OK {
			return res, nil
		}
	}
	// The per-bank rule does not explain the values: replay the padded
	// chain from the spilled digests.
	if err := p.replaySpill(); err != nil {
		return nil, err
	}
	return rp.Result(), nil
}

func replaySequential(rd Reader, opts *ReplayOptions, onEntry func(*Entry) error) (*Replay, error) {
	var rp *Replayer
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if rp == nil {
			if rp, err = NewReplayer(rd.TemplateHash(), opts); err != nil {
				return nil, err
			}
		}
		rp.Extend(e)
		if onEntry != nil {
			if err := onEntry(e); err != nil {
				return nil, err
			}
		}
	}
	if rp == nil {
		var err error
		if rp, err = NewReplayer(rd.TemplateHash(), opts); err != nil {
			return nil, err
		}
	}
	return rp.Result(), nil
}

// Batch limits: big enough that channel hand-offs cost nothing per entry,
// small enough that the pool stays a few MiB.
const (
	batchEntries = 2048
	batchData    = 512 << 10
)

// batch carries consecutive entries through the pipeline.
type batch struct {
	first int // index of the first entry
	n     int
	pcr   []uint32
	viol  []bool
	off   []int64
	line  []int
	tmpl  []*Template
	ends  []int // end of each entry's data in data
	data  []byte
	// listed holds each entry's template digest (ds bytes apart), digest
	// each bank's hash of the data (bank size apart), filled by a worker.
	listed     []byte
	digest     [][]byte
	issues     []DigestIssue
	mismatches int
}

// replayPipeline hashes batches on workers and extends them in list
// order: one drain applies the per-bank rule, the other the SHA-1-padded
// rule, alongside each other.
type replayPipeline struct {
	rp    *Replayer
	order binary.ByteOrder
	ds    int
	run   *pipeline.Pipeline[batch]
	cur   *batch
	// With the padded chain deferred, its input goes to spill: per entry
	// the PCR index and the 20-byte listed digest.
	spill  *os.File
	spillW *bufio.Writer
}

func newPipeline(rp *Replayer, order binary.ByteOrder, deferPad bool) (*replayPipeline, error) {
	p := &replayPipeline{rp: rp, order: order, ds: rp.listAlg.Size()}
	if deferPad && rp.padded && rp.hasPaddedBank() {
		f, err := os.CreateTemp("", "goldenpcr-ima-padded-*")
		if err != nil {
			return nil, err
		}
		os.Remove(f.Name()) // unlinked: gone when closed, whatever happens
		p.spill, p.spillW = f, bufio.NewWriterSize(f, 64<<10)
		rp.deferPad = true
	}
	// One CPU is left to the parser and the extenders.
	workers := max(1, runtime.GOMAXPROCS(0)-1)
	p.run = pipeline.Start(pipeline.Config[batch]{
		Workers: workers,
		Chunks:  2*workers + 2,
		New:     func() *batch { return &batch{digest: make([][]byte, len(rp.banks))} },
		Worker:  p.hasher,
		Drains:  []func(*batch) error{p.extendPerBank, p.extendPadded},
	})
	return p, nil
}

func (p *replayPipeline) cleanup() {
	if p.spill != nil {
		p.spill.Close()
	}
}

// replaySpill extends the padded chain from the spilled digests.
func (p *replayPipeline) replaySpill() error {
	if _, err := p.spill.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(p.spill, 64<<10)
	var rec [1 + 20]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("reading back the sha1-padded digests: %w", err)
		}
		p.rp.applyPadded(uint32(rec[0]), allZero(rec[1:]), rec[1:])
	}
	p.rp.deferPad = false
	return nil
}

// add copies e into the current batch, sending it on when full.
func (p *replayPipeline) add(e *Entry) {
	b := p.cur
	if b == nil {
		b = p.run.Next()
		b.first, b.n = e.Index, 0
		b.pcr, b.viol, b.off, b.line, b.tmpl, b.ends = b.pcr[:0], b.viol[:0], b.off[:0], b.line[:0], b.tmpl[:0], b.ends[:0]
		b.data, b.listed = b.data[:0], b.listed[:0]
		b.issues, b.mismatches = b.issues[:0], 0
		p.cur = b
	}
	b.n++
	b.pcr = append(b.pcr, e.PCR)
	b.viol = append(b.viol, allZero(e.TemplateDigest))
	b.off = append(b.off, e.Offset)
	b.line = append(b.line, e.Line)
	b.tmpl = append(b.tmpl, e.Template)
	b.data = append(b.data, e.Data...)
	b.ends = append(b.ends, len(b.data))
	b.listed = append(b.listed, e.TemplateDigest...)
	if b.n == batchEntries || len(b.data) >= batchData {
		p.run.Send(b)
		p.cur = nil
	}
}

// finish flushes the last batch and waits until every batch is extended.
func (p *replayPipeline) finish() error {
	if p.cur != nil {
		p.run.Send(p.cur)
		p.cur = nil
	}
	if err := p.run.Close(); err != nil {
		return err
	}
	if p.spillW != nil {
		if err := p.spillW.Flush(); err != nil {
			return spillError(err)
		}
	}
	return nil
}

func spillError(err error) error {
	return fmt.Errorf("spilling sha1-padded digests to a temporary file: %w", err)
}

// hasher fills in each batch's per-bank digests and checks the listed
// template digests. It has its own hash states: hash.Hash is not safe for
// concurrent use.
func (p *replayPipeline) hasher() func(*batch) {
	banks := make([]*bankState, len(p.rp.banks))
	listBank := -1
	for i, b := range p.rp.banks {
		banks[i] = newBank(b.alg)
		if b.alg == p.rp.listAlg {
			listBank = i
		}
	}
	var check *bankState
	if p.rp.res.DigestsChecked && listBank < 0 {
		check = newBank(p.rp.listAlg)
	}
	return func(b *batch) {
		for i, bs := range banks {
			need := b.n * bs.size
			if cap(b.digest[i]) < need {
				b.digest[i] = make([]byte, need, batchEntries*bs.size)
			}
			b.digest[i] = b.digest[i][:need]
		}
		start := 0
		for k := 0; k < b.n; k++ {
			data := b.data[start:b.ends[k]]
			start = b.ends[k]
			if b.viol[k] {
				continue
			}
			for i, bs := range banks {
				bs.sum(&bs.cur, data)
				copy(b.digest[i][k*bs.size:], bs.cur[:bs.size])
			}
			if !p.rp.res.DigestsChecked {
				continue
			}
			var computed []byte
			if listBank >= 0 {
				computed = banks[listBank].cur[:banks[listBank].size]
			} else {
				check.sum(&check.cur, data)
				computed = check.cur[:check.size]
			}
			listed := b.listed[k*p.ds : (k+1)*p.ds]
			if !bytes.Equal(computed, listed) {
				b.mismatches++
				if len(b.issues) < p.rp.max {
					ref := EntryRef{Index: b.first + k, Offset: b.off[k], Line: b.line[k], PCR: b.pcr[k],
						Path: pathOf(b.tmpl[k], data, p.order)}
					b.issues = append(b.issues, DigestIssue{EntryRef: ref,
						Listed: hex.EncodeToString(listed), Computed: hex.EncodeToString(computed)})
				}
			}
		}
	}
}

// extendPerBank applies the per-bank rule and collects digest issues.
func (p *replayPipeline) extendPerBank(b *batch) error {
	rp := p.rp
	for k := 0; k < b.n; k++ {
		if !b.viol[k] {
			for i, bs := range rp.banks {
				copy(bs.cur[:bs.size], b.digest[i][k*bs.size:])
			}
		}
		rp.applyPerBank(b.pcr[k], b.viol[k])
	}
	rp.res.DigestMismatches += b.mismatches
	for _, is := range b.issues {
		if len(rp.res.DigestIssues) < rp.max {
			rp.res.DigestIssues = append(rp.res.DigestIssues, is)
		}
	}
	return nil
}

// extendPadded applies the SHA-1-padded rule, which needs only the listed
// digests.
func (p *replayPipeline) extendPadded(b *batch) error {
	rp := p.rp
	switch {
	case p.spillW != nil:
		for k := 0; k < b.n; k++ {
			p.spillW.WriteByte(byte(b.pcr[k]))
			if _, err := p.spillW.Write(b.listed[k*p.ds : k*p.ds+20]); err != nil {
				return spillError(err)
			}
		}
	case rp.padded:
		for k := 0; k < b.n; k++ {
			rp.applyPadded(b.pcr[k], b.viol[k], b.listed[k*p.ds:(k+1)*p.ds])
		}
	}
	return nil
}

// pathOf finds the file name field of template data.
func pathOf(t *Template, data []byte, order binary.ByteOrder) string {
	e := Entry{Template: t, Data: data, order: order}
	n, err := splitFields(t, data, order, &e.spans)
	if err != nil {
		return ""
	}
	e.nfields = n
	return e.Path()
}
