package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/loadcache"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// One loader reads every verification, whether its request came from the
// command line or from a batch line, so the two cannot drift apart: the
// same request gets the same evidence, the same policy and the same
// verdict.

// requestSource says where a request came from: the command line (inputs
// named as options, paths as given) or a batch line (inputs named as its
// fields, relative paths resolved against the batch file's folder).
type requestSource struct {
	dir   string
	flags bool
	// cache, for a batch, keeps what its lines share (nil: read
	// everything every time).
	cache *batchCache
	// scratch, for one batch line, is memory to read its attestation
	// into; what is read from it must not outlive the line.
	scratch *[]byte
}

// batchCache is what a batch reuses across its lines: what it parsed from
// files (AKs, certificates, baselines, CoRIMs) while they are unchanged,
// and the replays of attestations' event logs, by their bytes.
type batchCache struct {
	files *loadcache.Files
	logs  *loadcache.Contents[*eventlog.Replay]
}

func newBatchCache() *batchCache {
	// A fleet names a few baselines and CAs and an AK per device; a few
	// thousand files stay within a few MiB. One image's logs are a few
	// distinct strings of 20-40 KB each.
	return &batchCache{
		files: loadcache.NewFiles(loadcache.Limits{Entries: 4096, Bytes: 16 << 20}),
		logs:  loadcache.NewContents[*eventlog.Replay](loadcache.Limits{Entries: 64, Bytes: 4 << 20}),
	}
}

func (s requestSource) files() *loadcache.Files {
	if s.cache == nil {
		return nil
	}
	return s.cache.files
}

func (s requestSource) logs() *loadcache.Contents[*eventlog.Replay] {
	if s.cache == nil {
		return nil
	}
	return s.cache.logs
}

// loadFile reads and parses a file a request names, through the batch's
// cache. A read error is worded "field: error", a parse error "field
// path: error".
func loadFile[T any](src requestSource, field, path, kind string, max int64, parse func([]byte) (T, error)) (T, error) {
	var parseErr error
	v, err := loadcache.Load(src.files(), src.path(path), kind, max, func(b []byte) (T, error) {
		v, err := parse(b)
		parseErr = err
		return v, err
	})
	switch {
	case parseErr != nil:
		return v, fmt.Errorf("%s %s: %w", src.name(field), path, parseErr)
	case err != nil:
		return v, fmt.Errorf("%s: %w", src.name(field), err)
	}
	return v, nil
}

var commandLine = requestSource{flags: true}

// name is the source's word for a request field: --ak-name or ak_name;
// "" for the inline fields, which have no option.
func (s requestSource) name(field string) string {
	if !s.flags {
		return field
	}
	if strings.HasSuffix(field, "_hex") || field == "pcr_values" {
		return ""
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

func (s requestSource) path(p string) string {
	if s.dir == "" || p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.dir, p)
}

func (s requestSource) paths(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = s.path(p)
	}
	return out
}

// verification is a loaded request: a single quote's evidence or a whole
// attestation with its replayed event log, and the policy for either.
type verification struct {
	ev     *quote.Evidence
	bundle *attestation.Bundle
	log    *eventlog.Replay
	policy *quote.Policy
}

// outcome is the verdict of a verification: one of the two reports.
type outcome struct {
	single *quote.Report
	bundle *quote.BundleReport
}

func (v *verification) verify() outcome {
	if v.bundle != nil {
		return outcome{bundle: quote.VerifyBundle(v.bundle, v.log, v.policy)}
	}
	return outcome{single: quote.Verify(v.ev, v.policy)}
}

// verdict is verify for a batch line, which prints only the verdict and
// the failed checks.
func (v *verification) verdict() outcome {
	if v.bundle != nil {
		return outcome{bundle: quote.VerifyBundleVerdict(v.bundle, v.log, v.policy)}
	}
	return outcome{single: quote.VerifyVerdict(v.ev, v.policy)}
}

// leanVerified is quote.Verified's answer for a single quote, which
// builds no report; false for an attestation, which always gets one.
func (v *verification) leanVerified() bool {
	return v.bundle == nil && quote.Verified(v.ev, v.policy)
}

func (d outcome) verified() bool {
	if d.bundle != nil {
		return d.bundle.Verified
	}
	return d.single.Verified
}

// failed lists the failed checks with their reasons; a bundle's quote
// checks are named "quote N: check".
func (d outcome) failed() []batchFailedCheck {
	var failed []quote.Check
	if d.bundle != nil {
		failed = d.bundle.Failed()
	} else {
		failed = d.single.Failed()
	}
	var out []batchFailedCheck
	for _, c := range failed {
		out = append(out, batchFailedCheck{Check: c.Name, Reason: c.Reason})
	}
	return out
}

// loadRequest validates req and reads every input it names; any failure
// here is an unreadable input or bad usage (exit code 2).
func loadRequest(req *Request, src requestSource) (*verification, error) {
	if err := req.Validate(src.name); err != nil {
		return nil, err
	}
	v := &verification{}
	p, ak, err := loadQuotePolicy(req, src)
	if err != nil {
		return nil, err
	}
	v.policy = p
	akCert, err := readAKCert(req, src, ak)
	if err != nil {
		return nil, err
	}
	ekCert, err := readEKCert(req, src)
	if err != nil {
		return nil, err
	}
	if req.Bundle() {
		path, kind := req.Attestation, "attestation"
		if path == "" {
			path, kind = req.PlatformParameters, "platform_parameters"
		}
		if v.bundle, err = readQuoteBundle(src.path(path), kind, req.AttestationFormat, src); err != nil {
			return nil, fmt.Errorf("%s %w", src.name(kind), err)
		}
		if p.AKCert != nil {
			if err := v.bundle.ParseCertificates(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", src.name(kind), path, err)
			}
		}
		if akCert != nil {
			v.bundle.AKCertificate = akCert
		}
		v.bundle.EKCert = ekCert
		if v.log, err = replayEventLog(v.bundle.EventLog, req.eventLogs(), src); err != nil {
			return nil, err
		}
		return v, nil
	}
	if v.ev, err = loadQuoteEvidence(req, src); err != nil {
		return nil, err
	}
	v.ev.AK, v.ev.AKCert, v.ev.EKCert = ak, akCert, ekCert
	return v, nil
}

// loadQuotePolicy reads what the verifier expects: nonce, trusted AK, AK name,
// certificate roots, expected PCR values, event-log rules and limits. It
// also returns the AK a single quote is verified with: ak, or else the
// trust anchor of the CoRIM; nil when neither is given.
func loadQuotePolicy(req *Request, src requestSource) (*quote.Policy, *tpmstruct.PublicKey, error) {
	p, err := readQuotePolicy(req, src)
	if err != nil {
		return nil, nil, err
	}
	var key *tpmstruct.PublicKey
	switch {
	case req.AKBytes != nil:
		if key, err = tpmstruct.ParsePublic(req.AKBytes); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", src.name("ak_hex"), err)
		}
	case req.AK != "":
		if key, err = loadFile(src, "ak", req.AK, "ak", maxKeyFile, tpmstruct.ParsePublic); err != nil {
			return nil, nil, err
		}
	}
	if req.Corim == "" {
		if key != nil {
			p.TrustedAKs = []*tpmstruct.PublicKey{key}
		}
		return p, key, nil
	}
	ref, err := loadReference(src, "corim", req.Corim, "", req.CorimSel, "", src.name("corim_sel"))
	if err != nil {
		return nil, nil, err
	}
	if ref.corim == nil {
		return nil, nil, fmt.Errorf("%s %s is not a CoRIM (CBOR tag 501 or a COSE_Sign1); a baseline or PCR file goes to %s", src.name("corim"), req.Corim, src.name("expected"))
	}
	if len(req.CorimRoots) > 0 {
		roots, err := readCertsPaths(src.files(), src.name("corim_roots"), src.paths(req.CorimRoots))
		if err != nil {
			return nil, nil, err
		}
		chain, err := ref.corim.VerifySigner(roots, time.Now())
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w (%s)", src.name("corim"), req.Corim, err, src.name("corim_roots"))
		}
		signed := *ref // ref may be the batch's cached one, shared
		signed.Notes = append(slices.Clip(ref.Notes), "CoRIM signer chains to a given root: "+strings.Join(chain, " ← "))
		ref = &signed
	}
	p.Expected = &ref.Reference
	// The CoRIM names the AK the verifier trusts; a key given beside it
	// is the one the quote was made with, and must be that anchor.
	anchors := ref.corim.Anchors()
	if len(anchors) == 0 {
		return nil, nil, fmt.Errorf("%s %s names no trust anchor key", src.name("corim"), req.Corim)
	}
	for _, a := range anchors {
		p.TrustedAKs = append(p.TrustedAKs, &tpmstruct.PublicKey{Format: "CoRIM trust anchor (pkix-base64-key)", Key: a.Key})
		p.TrustedAKOrigins = append(p.TrustedAKOrigins, fmt.Sprintf("the trust anchor of CoRIM %s (%s %s), which the verifier gave", req.Corim, ref.corim.Scheme, a))
	}
	if key == nil && !req.Bundle() {
		if len(anchors) > 1 {
			return nil, nil, fmt.Errorf("%s %s names %d trust anchors: give the quote's AK with %s", src.name("corim"), req.Corim, len(anchors), src.name("ak"))
		}
		key = p.TrustedAKs[0]
	}
	return p, key, nil
}

// readQuotePolicy reads the policy but for the trusted AKs.
func readQuotePolicy(req *Request, src requestSource) (*quote.Policy, error) {
	p := &quote.Policy{
		NoNonce:           req.NoNonce,
		AllowUnrestricted: req.AllowUnrestricted,
		AllowUntrustedAK:  req.AllowUntrustedAK,
		MinResetCount:     req.MinResetCount,
		MinRestartCount:   req.MinRestartCount,
		MinClock:          req.MinClock,
		MaxClock:          req.MaxClock,
		RequireSafe:       req.RequireSafe,
		// An attestation ships its log: one without it was stripped. A
		// single quote comes without one unless the verifier asks.
		RequireEventLog: req.RequireEventLog || req.Bundle() && !req.AllowMissingEventLog,
		OptionName:      quoteOptionFlag,
	}
	switch {
	case req.NonceBytes != nil:
		p.Nonce = req.NonceBytes
	case req.Nonce != "":
		b, err := parseHexArg(src.name("nonce"), req.Nonce)
		if err != nil {
			return nil, err
		}
		p.Nonce = b
	case req.NonceFile != "":
		b, err := readSmall(src.path(req.NonceFile), 1024)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.name("nonce_file"), err)
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("%s %s is empty", src.name("nonce_file"), req.NonceFile)
		}
		p.Nonce = b
	}
	if req.AKName != "" {
		b, err := readAKName(req.AKName, src)
		if err != nil {
			return nil, err
		}
		p.AKName = b
	}
	var err error
	if req.AKCert != "" || len(req.AKRoots) > 0 {
		p.AKCert = &tpmcert.AKCertPolicy{}
		if p.AKCert.Roots, err = readCertsPaths(src.files(), src.name("ak_roots"), src.paths(req.AKRoots)); err != nil {
			return nil, err
		}
		if p.AKCert.Intermediates, err = readCertsPaths(src.files(), src.name("ak_intermediates"), src.paths(req.AKIntermediates)); err != nil {
			return nil, err
		}
	}
	if req.EKCert != "" {
		p.EK = &tpmcert.EKPolicy{}
		if p.EK.Roots, err = readCertsPaths(src.files(), src.name("ek_roots"), src.paths(req.EKRoots)); err != nil {
			return nil, err
		}
		if p.EK.Intermediates, err = readCertsPaths(src.files(), src.name("ek_intermediates"), src.paths(req.EKIntermediates)); err != nil {
			return nil, err
		}
		if req.EKPub != "" {
			if p.EK.EKPub, err = loadFile(src, "ek_pub", req.EKPub, "ak", maxKeyFile, tpmstruct.ParsePublic); err != nil {
				return nil, err
			}
		}
	}
	if req.UnloggedPCRs != "" {
		if p.UnloggedPCRs, err = pcr.ParsePCRList(req.UnloggedPCRs); err != nil {
			return nil, fmt.Errorf("%s: %w", src.name("unlogged_pcrs"), err)
		}
	}
	if req.Expected != "" {
		ref, err := loadReference(src, "expected", req.Expected, req.ExpectedFormat, req.ExpectedSel, src.name("expected_format"), src.name("expected_sel"))
		if err != nil {
			return nil, err
		}
		p.Expected = &ref.Reference
	}
	return p, nil
}

// quoteOptionFlags word the verifier's options as goldenpcr's flags, in
// the reports of single quotes, attestations and batch lines alike.
var quoteOptionFlags = map[quote.Option]string{
	quote.OptNonce:             "--nonce or --nonce-file",
	quote.OptNoNonce:           "--no-nonce",
	quote.OptAllowUnrestricted: "--allow-unrestricted",
	quote.OptAKCert:            "--ak-cert, an --ak certificate, or the attestation's ak_cert",
	quote.OptAKRoots:           "--ak-roots",
	quote.OptEKRoots:           "--ek-roots",
}

func quoteOptionFlag(o quote.Option) string { return quoteOptionFlags[o] }

// readAKName reads an expected AK Name: a file holding the binary Name
// (as tpm2_createak -n writes it) or its hex, or a hex string.
func readAKName(v string, src requestSource) ([]byte, error) {
	flag := src.name("ak_name")
	b, err := loadcache.Load(src.files(), src.path(v), "ak-name", 1024, func(b []byte) ([]byte, error) { return maybeHex(b), nil })
	if err == nil {
		if len(b) == 0 {
			return nil, fmt.Errorf("%s %s is empty", flag, v)
		}
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if b, err = parseHexArg(flag, v); err != nil {
		return nil, fmt.Errorf("%w (or a file holding the Name)", err)
	}
	return b, nil
}

// readInline returns the hex-decoded bytes of a field or reads its file;
// nil when the request names neither.
func readInline(src requestSource, field string, data []byte, path string, max int64) ([]byte, error) {
	if data != nil || path == "" {
		return data, nil
	}
	d, err := readSmall(src.path(path), max)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.name(field), err)
	}
	return d, nil
}

// readAKCert reads the AK's certificate: ak_cert, else the trusted AK
// when it was given as a certificate; nil when neither.
func readAKCert(req *Request, src requestSource, ak *tpmstruct.PublicKey) (*tpmcert.TPMCertificate, error) {
	switch {
	case req.AKCert != "":
		return loadFile(src, "ak_cert", req.AKCert, "tpm-certificate", maxKeyFile, tpmcert.ParseTPMCertificate)
	case ak != nil && ak.Certificate != nil && len(req.AKRoots) > 0:
		c, err := tpmcert.ParseTPMCertificate(ak.Certificate.Raw)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", src.name("ak"), req.AK, err)
		}
		return c, nil
	}
	return nil, nil
}

func readEKCert(req *Request, src requestSource) (*tpmcert.TPMCertificate, error) {
	if req.EKCert == "" {
		return nil, nil
	}
	return loadFile(src, "ek_cert", req.EKCert, "tpm-certificate", maxKeyFile, tpmcert.ParseTPMCertificate)
}

// loadQuoteEvidence reads a single quote: message, signature, PCR values
// and event log (the AK is the policy's trusted key).
func loadQuoteEvidence(req *Request, src requestSource) (*quote.Evidence, error) {
	ev := &quote.Evidence{PCRs: pcr.Values(req.PCRValues)}
	msg, err := readInline(src, "message", req.MessageBytes, req.Message, maxQuoteFile)
	if err != nil {
		return nil, err
	}
	if req.MessageBytes == nil {
		msg = maybeHex(msg)
	}
	if ev.Attest, err = tpmstruct.ParseAttest(msg); err != nil {
		return nil, fmt.Errorf("%s %s: %w", src.name("message"), req.Message, err)
	}
	sig, err := readInline(src, "signature", req.SignatureBytes, req.Signature, maxQuoteFile)
	if err != nil {
		return nil, err
	}
	if req.SigFormat == "plain" {
		ev.Signature, err = tpmstruct.ParsePlainSignature(sig, req.SigAlg)
	} else {
		if req.SignatureBytes == nil {
			sig = maybeHex(sig)
		}
		ev.Signature, err = tpmstruct.ParseSignature(sig)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", src.name("signature"), req.Signature, err)
	}
	if req.PCRs != "" {
		sel := req.PCRsSel
		if sel == "" && ev.Attest.Quote != nil {
			if f, err := pcr.ParseFormat(req.PCRsFormat); err == nil && f == pcr.FormatValues {
				s, err := ev.Attest.Quote.Selection()
				if err != nil {
					return nil, fmt.Errorf("%s: a values file needs a selection, and the quote's is unusable: %w", src.name("pcrs"), err)
				}
				sel = s.String()
			}
		}
		doc, err := readPCRFile(src.path(req.PCRs), req.PCRsFormat, sel, src.name("pcrs_format"), src.name("pcrs_sel"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.name("pcrs"), err)
		}
		if len(doc.Sets) != 1 {
			return nil, fmt.Errorf("%s %s holds %d alternative sets; the values a quote covers are one set", src.name("pcrs"), req.PCRs, len(doc.Sets))
		}
		ev.PCRs = doc.Sets[0]
	}
	if ev.EventLog, err = replayEventLog(nil, req.eventLogs(), src); err != nil {
		return nil, err
	}
	return ev, nil
}

// eventLogs lists every log file the request names.
func (req *Request) eventLogs() []string {
	if req.EventLog == "" {
		return nil
	}
	return append([]string{req.EventLog}, req.MoreEventLogs...)
}

// replayEventLog replays the log an attestation carries and the eventlog
// files into one PCR history; nil when there are none. Next to an
// attestation's own log, the files may only be Canonical Event Logs.
func replayEventLog(embedded []byte, paths []string, src requestSource) (*eventlog.Replay, error) {
	opts := &eventlog.ReplayOptions{CheckDigests: true}
	if len(embedded) > 0 && len(paths) == 0 {
		// The machines of one image send the same log: a batch replays
		// each distinct one once.
		return src.logs().Load(embedded, func(data []byte) (*eventlog.Replay, error) {
			l, err := readEmbeddedLog(data)
			if err != nil {
				return nil, err
			}
			rp, err := eventlog.ReplayLogs([]*eventlog.Log{l}, opts)
			if err != nil {
				return nil, fmt.Errorf("the attestation's event log: %w", err)
			}
			return rp, nil
		})
	}
	var logs []*eventlog.Log
	if len(embedded) > 0 {
		l, err := readEmbeddedLog(embedded)
		if err != nil {
			return nil, err
		}
		logs = append(logs, l)
	}
	for _, path := range paths {
		f, err := os.Open(src.path(path))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.name("eventlog"), err)
		}
		l, err := eventlog.ReadLog(f)
		f.Close()
		switch {
		case len(embedded) > 0 && (err != nil || !l.Format.IsCEL()):
			return nil, fmt.Errorf("%s %s: the attestation carries its own event log, and this is no Canonical Event Log to replay after it", src.name("eventlog"), path)
		case err != nil:
			return nil, fmt.Errorf("%s %s: %w", src.name("eventlog"), path, err)
		}
		l.Name = path
		logs = append(logs, l)
	}
	switch {
	case len(logs) == 0:
		return nil, nil
	case len(logs) == 1:
		rp, err := eventlog.ReplayLogs(logs, opts)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", src.name("eventlog"), paths[0], err)
		}
		return rp, nil
	}
	rp, err := eventlog.ReplayLogs(logs, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.name("eventlog"), err)
	}
	return rp, nil
}

// readEmbeddedLog reads the event log an attestation carries.
func readEmbeddedLog(data []byte) (*eventlog.Log, error) {
	l, err := eventlog.ReadLog(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the attestation's event log: %w", err)
	}
	l.Name = "the attestation's event log"
	return l, nil
}

// readCertsPaths reads the certificates of every path an option was given.
func readCertsPaths(c *loadcache.Files, flag string, paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		certs, err := readCertsPath(c, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, certs...)
	}
	return out, nil
}
