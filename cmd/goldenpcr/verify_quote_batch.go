package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
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

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/quote"
)

// maxBatchLine bounds one batch line; inline inputs are a few kilobytes.
const maxBatchLine = 1 << 20

// batchResult is one output line and its verdict.
type batchResult struct {
	line []byte
	ok   bool
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
	done          chan struct{}
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

// batchConflicts rejects options that name evidence or policy: in a
// batch every line says its own.
func batchConflicts(opts *verifyQuoteOptions) error {
	set := map[string]bool{
		"--ak": opts.AK != "", "--ak-name": opts.AKName != "", "--message": opts.Message != "", "--signature": opts.Signature != "",
		"--sig-alg": opts.SigAlg != "", "--sig-format": opts.SigFormat != "tss" && opts.SigFormat != "", "--nonce": opts.Nonce != "",
		"--nonce-file": opts.NonceFile != "", "--no-nonce": opts.NoNonce, "--pcrs": opts.PCRs != "", "--pcrs-format": opts.PCRsFormat != "",
		"--pcrs-sel": opts.PCRsSel != "", "--eventlog": opts.EventLog != "", "--expected": opts.Expected != "",
		"--expected-format": opts.ExpectedFormat != "", "--expected-sel": opts.ExpectedSel != "", "--allow-unrestricted": opts.AllowUnrestricted,
		"--min-reset-count": opts.MinResetCount != 0, "--min-restart-count": opts.MinRestartCount != 0, "--min-clock": opts.MinClock != 0,
		"--max-clock": opts.MaxClock != 0, "--require-safe": opts.RequireSafe, "--attestation": opts.Attestation != "",
		"--attestation-format": opts.AttestationFormat != "", "--platform-parameters": opts.PlatformParameters != "",
		"--ek-cert": opts.EKCert != "", "--ek-roots": len(opts.EKRoots) > 0, "--ek-intermediates": len(opts.EKIntermediates) > 0, "--ek-pub": opts.EKPub != "",
	}
	var bad []string
	for k, v := range set {
		if v {
			bad = append(bad, k)
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

// runVerifyQuoteBatch verifies every line of --batch on a bounded pool of
// workers and prints one JSON result per line, in input order.
func runVerifyQuoteBatch(opts *verifyQuoteOptions, out io.Writer) error {
	if err := batchConflicts(opts); err != nil {
		return err
	}
	f, err := os.Open(opts.Batch)
	if err != nil {
		return fmt.Errorf("--batch: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return fmt.Errorf("--batch %s is a folder", opts.Batch)
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
	b := &batchRunner{dir: filepath.Dir(opts.Batch)}
	// A fixed set of chunks circulates from the reader through the
	// workers to the writer and back; it bounds the lines in flight, and
	// unlike a sync.Pool, which the collector empties, it keeps their
	// buffers.
	nChunks := workers * 4
	free := make(chan *batchChunk, nChunks)
	for i := 0; i < nChunks; i++ {
		free <- &batchChunk{buf: make([]byte, 0, chunkBytes), done: make(chan struct{}, 1)}
	}
	work := make(chan *batchChunk, nChunks)
	order := make(chan *batchChunk, nChunks)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for i, it := range c.items {
					var line []byte
					if it.err == "" {
						line = c.buf[it.start:it.end]
					}
					r := b.verifyLine(it.n, line, it.err) // nothing it returns aliases line
					c.out = append(c.out, r.line...)
					if !r.ok {
						if c.failed == 0 {
							c.first = i + 1
						}
						c.failed++
					}
				}
				c.done <- struct{}{}
			}
		}()
	}
	w := bufio.NewWriterSize(out, 64<<10)
	total, failed, firstFailed := 0, 0, 0
	var writeErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range order {
			<-c.done
			if c.failed > 0 && failed == 0 {
				firstFailed = total + c.first
			}
			total += len(c.items)
			failed += c.failed
			if writeErr == nil {
				_, writeErr = w.Write(c.out)
			}
			c.buf, c.items, c.out, c.failed, c.first = c.buf[:0], c.items[:0], c.out[:0], 0, 0
			free <- c
		}
	}()

	cur := <-free
	flush := func() {
		if len(cur.items) > 0 {
			order <- cur
			work <- cur
			cur = <-free
		}
	}
	readErr := readBatchLines(f, func(n int, line []byte, lineErr string) {
		start := len(cur.buf)
		cur.buf = append(cur.buf, line...)
		cur.items = append(cur.items, batchItem{n: n, start: start, end: len(cur.buf), err: lineErr})
		if len(cur.items) == chunkLines || len(cur.buf) >= chunkBytes {
			flush()
		}
	})
	flush()
	close(work)
	wg.Wait()
	close(order)
	<-done
	if writeErr == nil {
		writeErr = w.Flush()
	}
	if readErr != nil {
		return fmt.Errorf("--batch %s: %w", opts.Batch, readErr)
	}
	if writeErr != nil {
		return writeErr
	}
	if total == 0 {
		return fmt.Errorf("--batch %s holds no requests", opts.Batch)
	}
	if failed > 0 {
		return mismatch("batch: %d of %d requests NOT verified (the first is request %d)", failed, total, firstFailed)
	}
	return nil
}

// readBatchLines calls fn for every non-blank line with its 1-based line
// number; the slice is valid only during the call. A line longer than
// maxBatchLine is passed as an error.
func readBatchLines(r io.Reader, fn func(n int, line []byte, err string)) error {
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
		switch {
		case tooLong:
			fn(n, nil, fmt.Sprintf("line longer than %d bytes", maxBatchLine))
		case len(bytes.TrimSpace(line)) == 0:
		default:
			fn(n, line, "")
		}
	}
}

// batchRunner verifies lines; it is shared by the workers and holds only
// read-only state.
type batchRunner struct {
	dir string
}

func (b *batchRunner) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(b.dir, p)
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
	return batchResult{line: append(b, '\n'), ok: o.Verified}
}

// verifyLine verifies one request. The common, verified case takes the
// lean path: quote.Verified and a hand-built result line.
func (b *batchRunner) verifyLine(n int, line []byte, lineErr string) batchResult {
	if lineErr != "" {
		return (&batchOutput{Line: n, Error: lineErr}).encode()
	}
	req, err := quote.ParseBatchLine(line)
	if err != nil {
		return (&batchOutput{Line: n, Error: err.Error()}).encode()
	}
	if req.Attestation != "" || req.PlatformParameters != "" {
		return b.verifyBundleLine(n, req)
	}
	ev, p, err := b.evidence(req)
	if err != nil {
		return (&batchOutput{Line: n, ID: req.ID, Error: err.Error()}).encode()
	}
	if quote.Verified(ev, p) {
		out := make([]byte, 0, 48+len(req.ID))
		out = append(out, `{"line":`...)
		out = strconv.AppendInt(out, int64(n), 10)
		if req.ID != "" {
			id, _ := json.Marshal(req.ID)
			out = append(out, `,"id":`...)
			out = append(out, id...)
		}
		out = append(out, `,"verified":true}`+"\n"...)
		return batchResult{line: out, ok: true}
	}
	rep := quote.Verify(ev, p)
	o := &batchOutput{Line: n, ID: req.ID, Verified: rep.Verified}
	for _, c := range rep.Failed() {
		o.Failed = append(o.Failed, batchFailedCheck{Check: c.Name, Reason: c.Reason})
	}
	return o.encode()
}

func (b *batchRunner) policy(req *quote.BatchRequest) (*quote.Policy, error) {
	akName := req.AKName
	if akName != "" {
		if st, err := os.Stat(b.resolve(akName)); err == nil && st.Mode().IsRegular() {
			akName = b.resolve(akName)
		}
	}
	p, err := loadQuotePolicy(&verifyQuoteOptions{
		NoNonce: req.NoNonce, AllowUnrestricted: req.AllowUnrestricted,
		MinResetCount: req.MinResetCount, MinRestartCount: req.MinRestartCount,
		MinClock: req.MinClock, MaxClock: req.MaxClock, RequireSafe: req.RequireSafe,
		AKName: akName, Expected: b.resolve(req.Expected), ExpectedFormat: req.ExpectedFormat, ExpectedSel: req.ExpectedSel,
	})
	if err != nil {
		return nil, err
	}
	p.Nonce = req.NonceBytes // decoded and checked by ParseBatchLine
	return p, nil
}

// inline returns the hex-decoded bytes or reads the file.
func (b *batchRunner) inline(field string, data []byte, path string, max int64) ([]byte, error) {
	if data != nil || path == "" {
		return data, nil
	}
	d, err := readSmall(b.resolve(path), max)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return d, nil
}

func (b *batchRunner) evidence(req *quote.BatchRequest) (*quote.Evidence, *quote.Policy, error) {
	p, err := b.policy(req)
	if err != nil {
		return nil, nil, err
	}
	ev := &quote.Evidence{PCRs: pcr.Values(req.PCRValues)}
	msg, err := b.inline("message", req.MessageBytes, req.Message, maxQuoteFile)
	if err != nil {
		return nil, nil, err
	}
	if req.MessageBytes == nil {
		msg = maybeHex(msg)
	}
	if ev.Attest, err = quote.ParseAttest(msg); err != nil {
		return nil, nil, fmt.Errorf("message: %w", err)
	}
	sig, err := b.inline("signature", req.SignatureBytes, req.Signature, maxQuoteFile)
	if err != nil {
		return nil, nil, err
	}
	switch req.SigFormat {
	case "tss", "":
		if req.SigAlg != "" {
			return nil, nil, errors.New("sig_alg is for sig_format plain: a TPMT_SIGNATURE names its own scheme and hash")
		}
		if req.SignatureBytes == nil {
			sig = maybeHex(sig)
		}
		ev.Signature, err = quote.ParseSignature(sig)
	case "plain":
		if req.SigAlg == "" {
			return nil, nil, errors.New("sig_format plain needs sig_alg, e.g. rsassa-sha256")
		}
		ev.Signature, err = quote.ParsePlainSignature(sig, req.SigAlg)
	default:
		return nil, nil, fmt.Errorf("sig_format %q: want tss or plain", req.SigFormat)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	if req.AKBytes != nil || req.AK != "" {
		ak, err := b.inline("ak", req.AKBytes, req.AK, maxKeyFile)
		if err != nil {
			return nil, nil, err
		}
		if ev.AK, err = quote.ParsePublic(ak); err != nil {
			return nil, nil, fmt.Errorf("ak: %w", err)
		}
	}
	if req.PCRs != "" {
		sel := req.PCRsSel
		if sel == "" && ev.Attest.Quote != nil {
			if f, err := pcr.ParseFormat(req.PCRsFormat); err == nil && f == pcr.FormatValues {
				if s, err := ev.Attest.Quote.Selection(); err == nil {
					sel = s.String()
				}
			}
		}
		doc, err := readPCRFile(b.resolve(req.PCRs), req.PCRsFormat, sel, "pcrs_format", "pcrs_sel")
		if err != nil {
			return nil, nil, fmt.Errorf("pcrs: %w", err)
		}
		if len(doc.Sets) != 1 {
			return nil, nil, fmt.Errorf("pcrs holds %d alternative sets; the values a quote covers are one set", len(doc.Sets))
		}
		ev.PCRs = doc.Sets[0]
	}
	if req.EventLog != "" {
		rp, err := replayBundleLog(&quote.Bundle{}, b.resolve(req.EventLog))
		if err != nil {
			return nil, nil, fmt.Errorf("eventlog: %w", err)
		}
		ev.EventLog = rp
	}
	return ev, p, nil
}

func (b *batchRunner) verifyBundleLine(n int, req *quote.BatchRequest) batchResult {
	o := &batchOutput{Line: n, ID: req.ID}
	path, kind := req.Attestation, "attestation"
	if path == "" {
		path, kind = req.PlatformParameters, "platform-parameters"
	}
	bd, err := readQuoteBundle(b.resolve(path), kind, req.AttestationFormat)
	if err != nil {
		o.Error = strings.ReplaceAll(kind, "-", "_") + ": " + err.Error()
		return o.encode()
	}
	p, err := b.policy(req)
	if err != nil {
		o.Error = err.Error()
		return o.encode()
	}
	log, err := replayBundleLog(bd, b.resolve(req.EventLog))
	if err != nil {
		o.Error = err.Error()
		return o.encode()
	}
	rep := quote.VerifyBundle(bd, log, p)
	o.Verified = rep.Verified
	for _, c := range rep.Checks {
		if c.Failed() {
			o.Failed = append(o.Failed, batchFailedCheck{Check: c.Name, Reason: c.Reason})
		}
	}
	for _, q := range rep.Quotes {
		for _, c := range q.Checks {
			if c.Failed() {
				o.Failed = append(o.Failed, batchFailedCheck{Check: fmt.Sprintf("quote %d: %s", q.Index, c.Name), Reason: c.Reason})
			}
		}
	}
	return o.encode()
}
