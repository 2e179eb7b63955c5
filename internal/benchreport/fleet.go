package main

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	pb "github.com/google/go-tpm-tools/proto/attest"
	tpmpb "github.com/google/go-tpm-tools/proto/tpm"
	"github.com/google/go-tpm-tools/server"
	"google.golang.org/protobuf/proto"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// fleetBench measures whole attestations as a fleet's verifier gets them:
// `verify quote --batch` over go-tpm-tools attestations against the
// signature-verification limit of this machine and against go-tpm-tools'
// own server.VerifyAttestation, all on every core; then the peak memory of
// a million lines streamed through `--batch -`.
func fleetBench(bin string) bool {
	dir, err := os.MkdirTemp("", "goldenpcr-bench-fleet")
	if err != nil {
		fmt.Println("  error:", err)
		return false
	}
	defer os.RemoveAll(dir)
	sets, err := fleetSets(dir)
	if err != nil {
		fmt.Println("  error:", err)
		return false
	}
	ok := fleetThroughput(bin, dir, sets)
	return fleetStream(bin, dir, sets[len(sets)-1]) && ok
}

// fleetAtt is one attestation of a set: what a batch line names, and what
// the limit loop and go-tpm-tools verify.
type fleetAtt struct {
	file   string // the attestation as a batch line names it
	pb     []byte // its protobuf bytes, which go-tpm-tools unmarshals
	nonce  []byte
	ak     crypto.PublicKey // the pinned AK
	akFile string           // a batch line's "ak" (a file next to the batch file), or
	akName string           // its "ak_name" (hex)
	sigs   []fleetSig       // one per quote: goldenpcr verifies every one
}

// fleetSig is one quote's signature, ready for the limit loop.
type fleetSig struct {
	key    crypto.PublicKey
	hash   crypto.Hash
	digest []byte
	sig    *tpmstruct.Signature
}

// fleetSet is one row of the table: attestations a batch file cycles through.
type fleetSet struct {
	label string
	id    string // prefix of the lines' ids
	lines int
	atts  []fleetAtt
}

// line is the batch request for line i of a set.
func (s *fleetSet) line(i int) ([]byte, error) {
	a := &s.atts[i%len(s.atts)]
	l, err := json.Marshal(struct {
		ID          string `json:"id"`
		Attestation string `json:"attestation"`
		Nonce       string `json:"nonce"`
		AK          string `json:"ak,omitempty"`
		AKName      string `json:"ak_name,omitempty"`
	}{fmt.Sprintf("%s-%d", s.id, i), a.file, hex.EncodeToString(a.nonce), a.akFile, a.akName})
	return append(l, '\n'), err
}

// newFleetAtt reads back an attestation's protobuf as go-tpm-tools would,
// and prepares each quote's signature for the limit loop, checking it
// verifies under the AK.
func newFleetAtt(file string, data, nonce []byte) (fleetAtt, error) {
	a := fleetAtt{file: file, pb: data, nonce: nonce}
	var att pb.Attestation
	if err := proto.Unmarshal(data, &att); err != nil {
		return a, fmt.Errorf("%s: %w", file, err)
	}
	p, err := tpmstruct.ParseTPMTPublic(att.GetAkPub())
	if err != nil {
		return a, fmt.Errorf("%s: ak_pub: %w", file, err)
	}
	if a.ak, err = p.CryptoKey(); err != nil {
		return a, fmt.Errorf("%s: ak_pub: %w", file, err)
	}
	name, err := p.Name()
	if err != nil {
		return a, fmt.Errorf("%s: ak_pub: %w", file, err)
	}
	a.akName = hex.EncodeToString(name)
	for i, q := range att.GetQuotes() {
		s, err := tpmstruct.ParseSignature(q.GetRawSig())
		if err != nil {
			return a, fmt.Errorf("%s: quote %d: %w", file, i+1, err)
		}
		h, ok := s.Hash.CryptoHash()
		if !ok || (s.Scheme != tpmstruct.SchemeRSASSA && s.Scheme != tpmstruct.SchemeRSAPSS && s.Scheme != tpmstruct.SchemeECDSA) {
			return a, fmt.Errorf("%s: quote %d: signature %s/%s, not one the limit loop verifies", file, i+1, s.Scheme, s.Hash)
		}
		fs := fleetSig{key: a.ak, hash: h, digest: s.Hash.Sum(q.GetQuote()), sig: s}
		if !fs.verify() {
			return a, fmt.Errorf("%s: quote %d: the signature does not verify under ak_pub", file, i+1)
		}
		a.sigs = append(a.sigs, fs)
	}
	if len(a.sigs) == 0 {
		return a, fmt.Errorf("%s: no quotes", file)
	}
	return a, nil
}

// verify checks the signature as Go's crypto verifies it, nothing more.
func (s *fleetSig) verify() bool {
	switch k := s.key.(type) {
	case *rsa.PublicKey:
		if s.sig.Scheme == tpmstruct.SchemeRSAPSS {
			return rsa.VerifyPSS(k, s.hash, s.digest, s.sig.RSA, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		}
		return rsa.VerifyPKCS1v15(k, s.hash, s.digest, s.sig.RSA) == nil
	case *ecdsa.PublicKey:
		return ecdsa.Verify(k, s.digest, new(big.Int).SetBytes(s.sig.R), new(big.Int).SetBytes(s.sig.S))
	}
	return false
}

// fleetSets builds the three attestation sets: the committed go-tpm-tools
// simulator attestations, and GCE-shaped ones made here with the real COS
// event log, the same log on every line or a different one on each.
func fleetSets(dir string) ([]fleetSet, error) {
	sim, err := simSet()
	if err != nil {
		return nil, err
	}
	same, uniq, err := gceSets(dir)
	if err != nil {
		return nil, err
	}
	return []fleetSet{sim, same, uniq}, nil
}

// simSet is go-tpm-tools' own client.Attest output against its TPM
// simulator (fixtures/quote/gotpmtools-*.pb), an RSA and an ECC AK, each
// attestation with four quotes (sha1, sha256, sha384, sha512), named by
// absolute path and pinned by the AK's Name.
func simSet() (fleetSet, error) {
	s := fleetSet{label: "go-tpm-tools simulator (RSA, ECC AK; 4 quotes, 8-event log)", id: "sim", lines: 40000}
	nonceHex, err := os.ReadFile("fixtures/quote/gotpmtools-nonce.hex")
	if err != nil {
		return s, err
	}
	nonce, err := hex.DecodeString(strings.TrimSpace(string(nonceHex)))
	if err != nil {
		return s, fmt.Errorf("gotpmtools-nonce.hex: %w", err)
	}
	for _, f := range []string{"fixtures/quote/gotpmtools-rsa.pb", "fixtures/quote/gotpmtools-ecc.pb"} {
		abs, err := filepath.Abs(f)
		if err != nil {
			return s, err
		}
		data, err := os.ReadFile(abs)
		if err != nil {
			return s, err
		}
		a, err := newFleetAtt(abs, data, nonce)
		if err != nil {
			return s, err
		}
		s.atts = append(s.atts, a)
	}
	return s, nil
}

const (
	gceDevices       = 16 // AKs, one per device
	gceAttsPerDevice = 16 // attestations of each device (its boots)
)

// gceBanks are the banks of the GCE vTPM and of its COS log, in the order
// client.Attest quotes them.
var gceBanks = []pcr.Alg{pcr.SHA1, pcr.SHA256, pcr.SHA384}

// gceSets makes 256 attestations shaped as go-tpm-tools' client.Attest
// makes them on a GCE VM: an RSA-2048 AK (RSASSA-SHA256), one quote per
// bank over PCRs 0-23, the PCR values, and the real COS event log
// (fixtures/tcg/cos-85-amd-sev.bin). 16 devices attest 16 times each, every
// attestation over its own nonce. same carries the identical log on every
// attestation; uniq appends to each log one event of its own and quotes
// the PCRs that log replays to. The AKs (TPM2B_PUBLIC) and attestations
// are written to dir, and lines name them relative to it.
func gceSets(dir string) (same, uniq fleetSet, err error) {
	same = fleetSet{label: "GCE-shaped, same log on every line (RSA AK; 3 quotes, 46 events)", id: "gce", lines: 60000}
	uniq = fleetSet{label: "GCE-shaped, a different log on every line (47 events)", id: "gceu", lines: 30000}
	log, err := os.ReadFile("fixtures/tcg/cos-85-amd-sev.bin")
	if err != nil {
		return
	}
	l, err := eventlog.ReadLog(bytes.NewReader(log))
	if err != nil {
		return same, uniq, fmt.Errorf("cos-85-amd-sev.bin: %w", err)
	}
	if l.SpecID == nil {
		return same, uniq, fmt.Errorf("cos-85-amd-sev.bin: not a crypto-agile log")
	}
	baseVals, err := replayPCRs(log)
	if err != nil {
		return
	}
	for d := 0; d < gceDevices; d++ {
		k, err := newBenchKey("rsa")
		if err != nil {
			return same, uniq, err
		}
		akFile := fmt.Sprintf("ak-%d.pub", d)
		if err := os.WriteFile(filepath.Join(dir, akFile), k.tpm2bPublic, 0o644); err != nil {
			return same, uniq, err
		}
		p, err := tpmstruct.ParseTPM2BPublic(k.tpm2bPublic)
		if err != nil {
			return same, uniq, err
		}
		name, err := p.Name()
		if err != nil {
			return same, uniq, err
		}
		for j := 0; j < gceAttsPerDevice; j++ {
			n := d*gceAttsPerDevice + j
			boot := tpmstruct.ClockInfo{Clock: uint64(86_400_000*(40+d) + 3_600_000*j + 41_017), ResetCount: uint32(12 + j), Safe: true}
			a, err := gceAttestation(dir, fmt.Sprintf("gce-%d.pb", n), k, p.Raw, name, log, baseVals, boot)
			if err != nil {
				return same, uniq, err
			}
			a.akFile, a.akName = akFile, ""
			same.atts = append(same.atts, a)

			// The extra event: an EV_IPL in PCR 8, as GRUB logs each
			// command it runs, its digest each bank's hash of its data.
			// go-tpm-tools' replay accepts it (PCR 8 is only parsed for
			// GRUB commands with Loader GRUB).
			own := appendEvent(log, l.SpecID.Algorithms, 8, eventlog.EvIPL, []byte(fmt.Sprintf("goldenpcr bench device %d", n)))
			vals, err := replayPCRs(own)
			if err != nil {
				return same, uniq, err
			}
			if a, err = gceAttestation(dir, fmt.Sprintf("gceu-%d.pb", n), k, p.Raw, name, own, vals, boot); err != nil {
				return same, uniq, err
			}
			a.akFile, a.akName = akFile, ""
			uniq.atts = append(uniq.atts, a)
		}
	}
	return same, uniq, nil
}

// replayPCRs replays a log with goldenpcr's eventlog package: all 24 PCRs
// of every GCE bank, those no event extends at their reset value.
func replayPCRs(log []byte) (pcr.Values, error) {
	l, err := eventlog.ReadLog(bytes.NewReader(log))
	if err != nil {
		return nil, err
	}
	r, err := eventlog.ReplayLogs([]*eventlog.Log{l}, &eventlog.ReplayOptions{Banks: gceBanks})
	if err != nil {
		return nil, err
	}
	return r.Values, nil
}

// appendEvent returns a copy of a crypto-agile log with one TCG_PCR_EVENT2
// added: digests in every bank of the log's header, each that bank's hash
// of data.
func appendEvent(log []byte, banks []eventlog.BankSize, index uint32, typ eventlog.EventType, data []byte) []byte {
	le := binary.LittleEndian
	b := append(make([]byte, 0, len(log)+256), log...)
	b = le.AppendUint32(b, index)
	b = le.AppendUint32(b, uint32(typ))
	b = le.AppendUint32(b, uint32(len(banks)))
	for _, bk := range banks {
		b = le.AppendUint16(b, uint16(bk.Alg))
		b = append(b, bk.Alg.Sum(data)...)
	}
	b = le.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// gceAttestation signs one quote per GCE bank over PCRs 0-23 with the
// AK, as client.Attest does, and writes the attestation to dir/file.
func gceAttestation(dir, file string, k *benchKey, akPub, akName, log []byte, vals pcr.Values, clock tpmstruct.ClockInfo) (fleetAtt, error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	all := make([]int, pcr.NumPCRs)
	for i := range all {
		all[i] = i
	}
	att := &pb.Attestation{AkPub: akPub, EventLog: log}
	for _, bank := range gceBanks {
		digest, err := pcr.Selection{{Alg: bank, PCRs: all}}.CompositeDigest(pcr.SHA256, vals)
		if err != nil {
			return fleetAtt{}, err
		}
		a := &tpmstruct.Attest{Magic: tpmstruct.GeneratedValue, Type: tpmstruct.AttestQuote, QualifiedSigner: akName, ExtraData: nonce,
			ClockInfo:       clock,
			FirmwareVersion: 0x2023052200162635, // a vTPM's: a date and a build
			Quote:           &tpmstruct.QuoteInfo{PCRSelect: []tpmstruct.PCRSelection{{Hash: bank, Select: []byte{0xff, 0xff, 0xff}}}, PCRDigest: digest}}
		msg := a.Marshal()
		sig, err := k.sign(msg)
		if err != nil {
			return fleetAtt{}, err
		}
		pcrs := make(map[uint32][]byte, pcr.NumPCRs)
		for _, i := range all {
			v, ok := vals.Get(bank, i)
			if !ok {
				return fleetAtt{}, fmt.Errorf("the replay has no %s PCR %d", bank, i)
			}
			pcrs[uint32(i)] = v
		}
		att.Quotes = append(att.Quotes, &tpmpb.Quote{Quote: msg, RawSig: sig, Pcrs: &tpmpb.PCRs{Hash: tpmpb.HashAlgo(bank), Pcrs: pcrs}})
	}
	data, err := proto.Marshal(att)
	if err != nil {
		return fleetAtt{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
		return fleetAtt{}, err
	}
	return newFleetAtt(file, data, nonce)
}

// attLimit is the signature-verification limit for whole attestations:
// every quote signature of the set verified with Go's crypto in a tight
// loop on every core for d (as verifyLimit does), as attestations per
// second, i.e. verifications per second over signatures per attestation.
func attLimit(atts []fleetAtt, d time.Duration) float64 {
	var pool []*fleetSig
	for i := range atts {
		for j := range atts[i].sigs {
			pool = append(pool, &atts[i].sigs[j])
		}
	}
	perSig, _ := onAllCores(d, func(i int) bool {
		if !pool[i%len(pool)].verify() {
			panic("bench: bad quote signature")
		}
		return true
	})
	return perSig * float64(len(atts)) / float64(len(pool))
}

// gotpmRate is go-tpm-tools' throughput on the set, in process, on every
// core for d: per attestation, proto.Unmarshal of its file's bytes and
// server.VerifyAttestation with the nonce and the AK pinned. Any error
// ends the measurement.
func gotpmRate(atts []fleetAtt, d time.Duration) (float64, error) {
	var once sync.Once
	var firstErr error
	rate, _ := onAllCores(d, func(i int) bool {
		a := &atts[i%len(atts)]
		att := &pb.Attestation{}
		err := proto.Unmarshal(a.pb, att)
		if err == nil {
			_, err = server.VerifyAttestation(att, server.VerifyOpts{Nonce: a.nonce, TrustedAKs: []crypto.PublicKey{a.ak}})
		}
		if err != nil {
			once.Do(func() { firstErr = fmt.Errorf("go-tpm-tools server.VerifyAttestation(%s): %w", a.file, err) })
			return false
		}
		return true
	})
	if firstErr != nil {
		return 0, firstErr
	}
	return rate, nil
}

// fleetThroughput times `verify quote --batch` over each set against the
// attestation limit and go-tpm-tools measured in the same run,
// alternating the three three times and keeping the best of each (this
// machine's speed drifts). Goals: ≥ 60% of the limit, ≥ 4× go-tpm-tools.
// Each batch runs for seconds, so that the process's start weighs little.
func fleetThroughput(bin, dir string, sets []fleetSet) bool {
	fmt.Printf("== fleet: whole attestations, --batch vs Go's signature-verification limit and go-tpm-tools server.VerifyAttestation, %d cores (goal ≥ 60%% of the limit, ≥ 4× go-tpm-tools)\n", runtime.GOMAXPROCS(0))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "attestation set\tlines\tgoldenpcr --batch /s\tlimit /s\t% of limit\tgo-tpm-tools /s\tgoldenpcr ÷ go-tpm-tools\t")
	var peerErrs []error
	for _, s := range sets {
		var buf bytes.Buffer
		for i := 0; i < s.lines; i++ {
			l, err := s.line(i)
			if err != nil {
				fmt.Println("  error:", err)
				return false
			}
			buf.Write(l)
		}
		path := filepath.Join(dir, s.id+".jsonl")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			fmt.Println("  error:", err)
			return false
		}
		bestBatch, bestLimit, bestPeer := 0.0, 0.0, 0.0
		var peerErr error
		for round := 0; round < 3; round++ {
			bestLimit = max(bestLimit, attLimit(s.atts, 2*time.Second))
			el, _, err := runQuoteBatch(bin, path)
			if err != nil {
				tw.Flush()
				fmt.Printf("  error: %s: %v\n", s.label, err)
				return false
			}
			bestBatch = max(bestBatch, float64(s.lines)/el.Seconds())
			if peerErr == nil {
				peer, err := gotpmRate(s.atts, 2*time.Second)
				bestPeer, peerErr = max(bestPeer, peer), err
			}
		}
		peer, ratio := fmt.Sprintf("%.0f", bestPeer), fmt.Sprintf("%.1f×", bestBatch/bestPeer)
		if peerErr != nil {
			// The row's other columns still say something; the error is
			// reported below the table and fails the benchmark.
			peer, ratio = "refused", "-"
			peerErrs = append(peerErrs, fmt.Errorf("%s: %w", s.label, peerErr))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f%%\t%s\t%s\t\n", s.label, s.lines, bestBatch, bestLimit, 100*bestBatch/bestLimit, peer, ratio)
	}
	tw.Flush()
	for _, err := range peerErrs {
		fmt.Println("  error:", err)
	}
	fmt.Println("   limit: Go's rsa.VerifyPKCS1v15 / ecdsa.Verify over the set's quote signatures on every core, ÷ quotes per attestation;")
	fmt.Println("   goldenpcr verifies every quote of an attestation (and replays the log against each bank), go-tpm-tools only")
	fmt.Println("   one: it stops at the first bank that verifies (sha512 for the simulator's, sha384 for the GCE-shaped).")
	fmt.Println()
	return len(peerErrs) == 0
}

// fleetStreamLines is how many lines fleetStream pipes into --batch -.
const fleetStreamLines = 1_000_000

// fleetStream pipes a million lines into `verify quote --batch -`, reads
// the results as they come (one per line, in order), and reports the
// child's peak resident memory. Every 10th line is a real RSA quote,
// every 100th instead a GCE-shaped attestation of gce, which the lines
// name relative to dir, the child's working folder; the others are
// malformed but parseable and cheap, so the run exits 1. Goal: ≤ 64 MiB.
func fleetStream(bin, dir string, gce fleetSet) bool {
	fmt.Printf("== fleet: %d lines through `verify quote --batch -` (every 10th a real RSA quote, every 100th a GCE-shaped attestation, the rest malformed), peak memory (goal ≤ 64 MiB)\n", fleetStreamLines)
	pool, err := makeQuotes("rsa", 8, 256)
	if err != nil {
		fmt.Println("  error:", err)
		return false
	}
	var gceLines [][]byte
	for i := range gce.atts {
		l, err := gce.line(i)
		if err != nil {
			fmt.Println("  error:", err)
			return false
		}
		gceLines = append(gceLines, l)
	}
	// line returns request i (0-based) into buf, and whether it must verify.
	line := func(buf []byte, i int) ([]byte, bool) {
		switch {
		case i%100 == 0:
			return append(buf, gceLines[(i/100)%len(gceLines)]...), true
		case i%10 == 0:
			return append(buf, pool[(i/10)%len(pool)].line...), true
		}
		buf = append(buf, `{"id":"n`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		return append(buf, `","ak_hex":"00","message_hex":"00","signature_hex":"00","no_nonce":true}`+"\n"...), false
	}

	// Peak memory from /usr/bin/time, as runOnce takes it: the rusage of
	// a child this process starts carries this process's own high-water
	// RSS (Linux keeps it across the fork and exec).
	abs, err := filepath.Abs(bin) // the child runs in dir
	if err != nil {
		fmt.Println("  error:", err)
		return false
	}
	argv := []string{abs, "verify", "quote", "--batch", "-"}
	rssFile := filepath.Join(dir, "stream.maxrss")
	useTime := false
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		argv = append([]string{"/usr/bin/time", "-o", rssFile, "-f", "goldenpcr-maxrss=%M"}, argv...)
		useTime = true
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir = dir
	var stderr bytes.Buffer
	c.Stderr = &stderr
	stdin, err := c.StdinPipe()
	if err != nil {
		fmt.Println("  error:", err)
		return false
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		fmt.Println("  error:", err)
		return false
	}
	start := time.Now()
	if err := c.Start(); err != nil {
		fmt.Println("  error:", err)
		return false
	}
	written := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(stdin, 64<<10)
		var buf []byte
		var err error
		for i := 0; i < fleetStreamLines && err == nil; i++ {
			buf, _ = line(buf[:0], i)
			_, err = w.Write(buf)
		}
		if err == nil {
			err = w.Flush()
		}
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		written <- err
	}()
	results, verified := 0, 0
	var bad error
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var buf []byte
	for sc.Scan() {
		results++
		n, ok, err := batchResult(sc.Bytes())
		if ok {
			verified++
		}
		if bad != nil {
			continue
		}
		var want bool
		buf, want = line(buf[:0], results-1)
		switch {
		case err != nil:
			bad = fmt.Errorf("result %d: %v: %s", results, err, sc.Bytes())
		case n != results:
			bad = fmt.Errorf("result %d is for line %d: results out of order: %s", results, n, sc.Bytes())
		case ok != want:
			bad = fmt.Errorf("line %d verified=%v, want %v: %s\n  for: %s", n, ok, want, sc.Bytes(), buf)
		}
	}
	if err := sc.Err(); err != nil && bad == nil {
		bad = fmt.Errorf("reading results: %w", err)
	}
	werr := <-written
	err = c.Wait()
	el := time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
		bad = errors.Join(bad, fmt.Errorf("exit 0, but the malformed lines must fail (exit 1)"))
	case !errors.As(err, &ee) || ee.ExitCode() != 1:
		bad = errors.Join(bad, fmt.Errorf("%v (want exit 1): %s", err, stderr.String()))
	}
	if werr != nil {
		bad = errors.Join(bad, fmt.Errorf("writing requests: %w", werr))
	}
	if results != fleetStreamLines {
		bad = errors.Join(bad, fmt.Errorf("%d results for %d lines", results, fleetStreamLines))
	}
	if bad != nil {
		fmt.Println("  error:", bad)
		return false
	}
	rss, how := int64(0), "(/usr/bin/time)"
	if useTime {
		out, err := os.ReadFile(rssFile)
		i := bytes.LastIndex(out, []byte("goldenpcr-maxrss="))
		if err != nil || i < 0 {
			fmt.Printf("  error: no peak RSS from /usr/bin/time: %v %q\n", err, out)
			return false
		}
		fmt.Sscan(string(out[i+len("goldenpcr-maxrss="):]), &rss)
	} else if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss, how = ru.Maxrss, "(rusage: an upper bound, it includes this process's RSS)"
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "lines\tverified\tseconds\tlines/s\tpeak RSS\t")
	fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.0f\t%.1f MiB\t\n", fleetStreamLines, verified, el.Seconds(), fleetStreamLines/el.Seconds(), float64(rss)/1024)
	tw.Flush()
	fmt.Printf("   peak RSS %.1f MiB %s (goal ≤ 64 MiB); one result per line, in order\n\n", float64(rss)/1024, how)
	return true
}

// batchResult reads a --batch result line's number and verdict: the
// fixed shape goldenpcr writes ({"line":N,…"verified":true…}) directly,
// anything else with encoding/json.
func batchResult(l []byte) (line int, verified bool, err error) {
	const prefix = `{"line":`
	if rest, ok := bytes.CutPrefix(l, []byte(prefix)); ok {
		if end := bytes.IndexByte(rest, ','); end > 0 {
			if n, err := strconv.Atoi(string(rest[:end])); err == nil {
				return n, bytes.Contains(rest[end:], []byte(`,"verified":true`)), nil
			}
		}
	}
	var r struct {
		Line     int  `json:"line"`
		Verified bool `json:"verified"`
	}
	if err := json.Unmarshal(l, &r); err != nil {
		return 0, false, err
	}
	return r.Line, r.Verified, nil
}
