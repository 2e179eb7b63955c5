package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/goldenpcr/goldenpcr/internal/pipeline"
)

// maxBatchLine bounds one batch line; inline inputs are a few kilobytes.
const maxBatchLine = 1 << 20

// batchMemoryLimit is the Go heap a batch lets itself grow to before it
// collects garbage as often as it must (runtime/debug.SetMemoryLimit);
// with the binary's own pages the process stays within 64 MiB.
const batchMemoryLimit = 40 << 20

// batchResult is one output line and its verdict.
type batchResult struct {
	line []byte
	ok   bool
	// malformed is a line that names no verifiable request; checks are
	// the checks a request failed.
	malformed bool
	checks    []string
}

// A batchChunk carries up to chunkLines lines from the reader to a worker
// and their results on to the writer: handing lines over one by one costs
// more in goroutine wake-ups than parsing them.
type batchChunk struct {
	buf   []byte // the lines, back to back
	items []batchItem
	out   []byte // the result lines, filled by the worker
	// failed counts the failed requests; first is the 1-based index in
	// the chunk of the first one.
	failed, first int
	// malformed and checks count, for --batch-summary, the malformed
	// lines and each check's failures.
	malformed int
	checks    map[string]int
}

type batchItem struct {
	n          int // line number
	start, end int // the line is buf[start:end]
	err        string
}

const (
	chunkLines = 64
	chunkBytes = 256 << 10
)

// batchOptions are the options a batch run takes; every other one names
// evidence or policy, which each line says for itself.
var batchOptions = map[string]bool{"batch": true, "batch-summary": true, "jobs": true, "output": true}

// batchConflicts rejects every option that names evidence or policy.
func batchConflicts(opts *verifyQuoteOptions) error {
	var bad []string
	for _, f := range opts.changed {
		if !batchOptions[f] {
			bad = append(bad, "--"+f)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("--batch: each line names its own inputs and policy; drop %s", strings.Join(bad, ", "))
	}
	if opts.Output != "json" && opts.Output != "text" && opts.Output != "" {
		return fmt.Errorf("--batch prints JSON Lines; -o %s is not supported", opts.Output)
	}
	return nil
}

// flusher is a writer that buffers, such as the command's standard output.
type flusher interface{ Flush() error }

// runVerifyQuoteBatch verifies every line of --batch on a bounded pool of
// workers and prints one JSON result per line, in input order. From
// standard input (--batch -) it streams: lines go to the workers as soon as
// no more input is waiting, and results are written out as each chunk is
// done, so a slow producer sees its answers without waiting for the end.
func runVerifyQuoteBatch(opts *verifyQuoteOptions, in io.Reader, out, errOut io.Writer) error {
	if err := batchConflicts(opts); err != nil {
		return err
	}
	streaming := opts.Batch == "-"
	src, dir := in, "."
	if !streaming {
		f, err := os.Open(opts.Batch)
		if err != nil {
			return fmt.Errorf("--batch: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return fmt.Errorf("--batch %s is a folder", opts.Batch)
		}
		src, dir = f, filepath.Dir(opts.Batch)
	}
	workers := opts.Jobs
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// The live heap stays small (the lines in flight), while every line
	// allocates a few kilobytes: collect less often than the default. Not
	// much less: measured here, a heap much larger than the caches slows
	// the workers more than the collections it saves.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	// But not past a bound: lines that carry whole attestations make
	// garbage of tens of kilobytes each, and a stream of any length must
	// stay within the same resident memory.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(batchMemoryLimit))
	b := &batchRunner{src: requestSource{dir: dir, cache: newBatchCache()}}
	w := bufio.NewWriterSize(out, 64<<10)
	total, failed, firstFailed, malformed := 0, 0, 0, 0
	checks := map[string]int{}
	p := pipeline.Start(pipeline.Config[batchChunk]{
		Workers: workers,
		New:     func() *batchChunk { return &batchChunk{buf: make([]byte, 0, chunkBytes), checks: map[string]int{}} },
		Worker: func() func(*batchChunk) {
			return func(c *batchChunk) {
				for i, it := range c.items {
					var line []byte
					if it.err == "" {
						line = c.buf[it.start:it.end]
					}
					r := b.verifyLine(it.n, line, it.err) // nothing it returns aliases line
					c.out = append(c.out, r.line...)
					if r.malformed {
						c.malformed++
					}
					for _, name := range r.checks {
						c.checks[name]++
					}
					if !r.ok {
						if c.failed == 0 {
							c.first = i + 1
						}
						c.failed++
					}
				}
			}
		},
		Drains: []func(*batchChunk) error{func(c *batchChunk) error {
			if c.failed > 0 && failed == 0 {
				firstFailed = total + c.first
			}
			total += len(c.items)
			failed += c.failed
			malformed += c.malformed
			for name, k := range c.checks {
				checks[name] += k
			}
			if _, err := w.Write(c.out); err != nil || !streaming {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if f, ok := out.(flusher); ok {
				return f.Flush()
			}
			return nil
		}},
	})
	cur := p.Next()
	reset := func(c *batchChunk) {
		c.buf, c.items, c.out, c.failed, c.first, c.malformed = c.buf[:0], c.items[:0], c.out[:0], 0, 0, 0
		clear(c.checks)
	}
	reset(cur)
	send := func() {
		p.Send(cur)
		cur = p.Next()
		reset(cur)
	}
	readErr := readBatchLines(src, func(n int, line []byte, lineErr string, idle bool) {
		start := len(cur.buf)
		cur.buf = append(cur.buf, line...)
		cur.items = append(cur.items, batchItem{n: n, start: start, end: len(cur.buf), err: lineErr})
		if len(cur.items) == chunkLines || len(cur.buf) >= chunkBytes || streaming && idle {
			send()
		}
	})
	if len(cur.items) > 0 {
		p.Send(cur)
	}
	writeErr := p.Close()
	if writeErr == nil {
		writeErr = w.Flush()
	}
	if readErr != nil {
		return fmt.Errorf("--batch %s: %w", opts.Batch, readErr)
	}
	if writeErr != nil {
		return writeErr
	}
	if opts.BatchSummary {
		writeBatchSummary(errOut, total, failed, malformed, checks)
	}
	if total == 0 {
		return fmt.Errorf("--batch %s holds no requests", opts.Batch)
	}
	if failed > 0 {
		return mismatch("batch: %d of %d requests NOT verified (the first is request %d)", failed, total, firstFailed)
	}
	return nil
}

// writeBatchSummary prints the counts of a batch: verified, failed (each
// failed check named with its count, most first) and malformed lines.
func writeBatchSummary(w io.Writer, total, failed, malformed int, checks map[string]int) {
	fmt.Fprintf(w, "batch summary: %d lines: %d verified, %d failed, %d malformed\n", total, total-failed, failed-malformed, malformed)
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if checks[names[i]] != checks[names[j]] {
			return checks[names[i]] > checks[names[j]]
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		fmt.Fprintf(w, "  failed %s: %d\n", name, checks[name])
	}
}

// readBatchLines calls fn for every non-blank line with its 1-based line
// number and whether no more input is buffered (the writer has paused);
// the slice is valid only during the call. A line longer than
// maxBatchLine is passed as an error.
func readBatchLines(r io.Reader, fn func(n int, line []byte, err string, idle bool)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than the reader's buffer, assembled
	for n := 1; ; n++ {
		part, isPrefix, err := br.ReadLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		line := part
		tooLong := false
		if isPrefix {
			long = append(long[:0], part...)
			for isPrefix {
				part, isPrefix, err = br.ReadLine()
				if err != nil && err != io.EOF {
					return err
				}
				if !tooLong && len(long)+len(part) > maxBatchLine {
					tooLong, long = true, long[:0]
				}
				if !tooLong {
					long = append(long, part...)
				}
				if err == io.EOF {
					break
				}
			}
			line = long
		}
		idle := br.Buffered() == 0
		switch {
		case tooLong:
			fn(n, nil, fmt.Sprintf("line longer than %d bytes", maxBatchLine), idle)
		case len(bytes.TrimSpace(line)) == 0:
		default:
			fn(n, line, "", idle)
		}
	}
}

// batchRunner verifies lines; it is shared by the workers and holds only
// read-only state and the batch's cache, which is safe for them all.
type batchRunner struct {
	src requestSource
	// scratch is memory for reading a line's attestation, reused once the
	// line's verdict is written (nothing of it outlives the line).
	scratch sync.Pool
}

// batchFailedCheck is one failed check of a result line.
type batchFailedCheck struct {
	Check  string `json:"check"`
	Reason string `json:"reason"`
}

type batchOutput struct {
	Line     int                `json:"line"`
	ID       string             `json:"id,omitempty"`
	Verified bool               `json:"verified"`
	Error    string             `json:"error,omitempty"`
	Failed   []batchFailedCheck `json:"failed,omitempty"`
}

func (o *batchOutput) encode() batchResult {
	b, err := json.Marshal(o)
	if err != nil { // cannot happen: strings, ints and bools only
		b = []byte(fmt.Sprintf(`{"line":%d,"verified":false,"error":"internal: %s"}`, o.Line, err))
	}
	r := batchResult{line: append(b, '\n'), ok: o.Verified, malformed: o.Error != ""}
	for _, f := range o.Failed {
		r.checks = append(r.checks, f.Check)
	}
	return r
}

// verifyLine verifies one request. The common, verified case takes the
// lean path: quote.Verified and a hand-built result line.
func (b *batchRunner) verifyLine(n int, line []byte, lineErr string) batchResult {
	if lineErr != "" {
		return (&batchOutput{Line: n, Error: lineErr}).encode()
	}
	req, err := ParseBatchLine(line)
	if err != nil {
		return (&batchOutput{Line: n, Error: err.Error()}).encode()
	}
	src := b.src
	buf, _ := b.scratch.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer b.scratch.Put(buf)
	src.scratch = buf
	v, err := loadRequest(req, src)
	if err != nil {
		return (&batchOutput{Line: n, ID: req.ID, Error: err.Error()}).encode()
	}
	if v.leanVerified() {
		return verifiedLine(n, req.ID)
	}
	d := v.verdict()
	if d.verified() {
		return verifiedLine(n, req.ID)
	}
	return (&batchOutput{Line: n, ID: req.ID, Verified: false, Failed: d.failed()}).encode()
}

// verifiedLine is the result line of a verified request, built by hand:
// it is the common case.
func verifiedLine(n int, id string) batchResult {
	out := make([]byte, 0, 48+len(id))
	out = append(out, `{"line":`...)
	out = strconv.AppendInt(out, int64(n), 10)
	if id != "" {
		js, _ := json.Marshal(id)
		out = append(out, `,"id":`...)
		out = append(out, js...)
	}
	out = append(out, `,"verified":true}`+"\n"...)
	return batchResult{line: out, ok: true}
}
