package charra

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/internal/optname"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// IMAPCR is the PCR the IMA list extends.
const IMAPCR = 10

// Names of the checks charra adds to those of quote.Verify, in report order.
const (
	CheckResponse    = "response"
	CheckResponseKey = "response-public-key"
	CheckBootLog     = "tcg-boot-log"
	CheckIMAList     = "ima-list"
	CheckIMADigests  = "ima-template-digests"
	CheckIMAViol     = "ima-violations"
	CheckIMAPCR      = "ima-pcr"
	CheckIMABoot     = "ima-boot-aggregate"
)

// Option names a Policy field for the reasons of a report; a caller words
// it in its own terms through Policy.OptionName.
type Option string

// The options reasons name, in the library's words.
const (
	OptAK                Option = "Policy.AK"
	OptExpected          Option = "Policy.Expected"
	OptAllowUnrestricted Option = "Policy.AllowUnrestricted"
)

// Policy says what an attester's answer is checked against. The zero
// Policy verifies nothing: without AK the signature fails.
type Policy struct {
	// AK is the pinned attestation key: the quote must verify with it (it
	// is not on CHARRA's wire), and a 3mdeb response's key must be it.
	AK *tpmstruct.PublicKey
	// AllowUnrestricted accepts an AK whose attributes are unknown (PEM,
	// DER) or that is not restricted.
	AllowUnrestricted bool
	// Expected are the golden values, compared PCR by PCR in the
	// requested banks.
	Expected *baseline.Reference
	// OptionName words an Option in the caller's terms; nil keeps the
	// library's words.
	OptionName func(Option) string
}

func (p *Policy) name(o Option) string { return optname.Word(p.OptionName, o) }

// RequestSummary is what was asked, for the report.
type RequestSummary struct {
	Selection string   `json:"pcr_selection" yaml:"pcr_selection"`
	Nonce     string   `json:"nonce" yaml:"nonce"`
	Logs      []string `json:"logs,omitempty" yaml:"logs,omitempty"`
}

// LogSummary is one returned log.
type LogSummary struct {
	Identifier string `json:"identifier" yaml:"identifier"`
	Start      uint64 `json:"start" yaml:"start"`
	Count      uint64 `json:"count" yaml:"count"`
	Bytes      int    `json:"bytes" yaml:"bytes"`
	Entries    int    `json:"entries,omitempty" yaml:"entries,omitempty"`
}

// Report is the verdict on one answer: every check, in order.
type Report struct {
	Verified bool                `json:"verified" yaml:"verified"`
	Request  *RequestSummary     `json:"request,omitempty" yaml:"request,omitempty"`
	Form     Form                `json:"form,omitempty" yaml:"form,omitempty"`
	Quote    *quote.QuoteSummary `json:"quote,omitempty" yaml:"quote,omitempty"`
	AK       *quote.AKSummary    `json:"ak,omitempty" yaml:"ak,omitempty"`
	Logs     []LogSummary        `json:"logs,omitempty" yaml:"logs,omitempty"`
	// PCRSources says where each quoted value the composite was computed
	// from came from: a log's replay, the expected values, a reset value.
	PCRSources     []string `json:"pcr_sources,omitempty" yaml:"pcr_sources,omitempty"`
	verdict.Checks `json:"checks" yaml:"checks"`
}

func pass(name, format string, args ...any) verdict.Check {
	return verdict.Check{Name: name, Passed: true, Reason: fmt.Sprintf(format, args...)}
}

func skip(name, format string, args ...any) verdict.Check {
	return verdict.Check{Name: name, Skipped: true, Reason: fmt.Sprintf(format, args...)}
}

// CheckError is the typed error of a check charra makes itself.
type CheckError struct {
	Check  string
	Reason string
}

func (e *CheckError) Error() string { return e.Reason }

func failf(name, format string, args ...any) verdict.Check {
	err := &CheckError{Check: name, Reason: fmt.Sprintf(format, args...)}
	return verdict.Check{Name: name, Reason: err.Reason, Err: err}
}

func summarizeRequest(req *Request) *RequestSummary {
	s := &RequestSummary{Selection: req.QuoteSelection().String(), Nonce: hex.EncodeToString(req.Nonce)}
	for _, l := range req.Logs {
		s.Logs = append(s.Logs, l.Identifier)
	}
	return s
}

// VerifyExchange decodes the answer of an exchange and verifies it.
func VerifyExchange(ex *Exchange, p *Policy) *Report {
	rep := &Report{Request: summarizeRequest(ex.Request)}
	if ex.Code != codes.Content {
		rep.Checks = verdict.Checks{failf(CheckResponse, "CoAP response code %s, want 2.05 Content (CHARRA's attester answers 4.05 to other methods than FETCH, 4.04 to other paths, 4.15 to a FETCH without Content-Format)", ex.Code)}
		return rep
	}
	resp, err := ParseResponse(ex.Payload)
	if err != nil {
		rep.Checks = verdict.Checks{failf(CheckResponse, "%v", err)}
		return rep
	}
	rep = Verify(ex.Request, resp, p)
	if ex.ContentFormat != int(60) {
		if c := rep.Check(CheckResponse); c != nil {
			*c = c.Note(fmt.Sprintf("Content-Format %d, not 60 (application/cbor) as CHARRA's attester sends", ex.ContentFormat))
		}
	}
	return rep
}

// Verify checks resp, the attester's answer to req, against p (nil: the
// zero Policy) and returns every check.
func Verify(req *Request, resp *Response, p *Policy) *Report {
	if p == nil {
		p = &Policy{}
	}
	rep := &Report{Request: summarizeRequest(req), Form: resp.Form}
	requested := req.QuoteSelection()
	rep.Checks = append(rep.Checks, checkResponse(req, resp))
	if resp.Form == Form3mdeb {
		rep.Checks = append(rep.Checks, checkResponseKey(resp, p))
	}

	// The selection the values are for: the quote's (the selection check
	// holds it to the request), else the request's.
	sel := requested
	if resp.Attest != nil && resp.Attest.Quote != nil {
		if s, err := resp.Attest.Quote.Selection(); err == nil {
			sel = s
		}
	}
	boot, bootCheck := replayBoot(req, resp)
	imaRes, imaFirst, imaChecks, imaSum := replayIMA(req, resp, sel)
	vals, sources := derive(resp, p, sel, boot, imaRes)
	rep.PCRSources = sources

	ev := &quote.Evidence{Attest: resp.Attest, Signature: resp.Signature, AK: p.AK, PCRs: sel.Filter(vals)}
	if boot != nil {
		ev.EventLog = boot
	}
	qp := &quote.Policy{
		Nonce:             req.Nonce,
		Selection:         requested,
		Expected:          p.Expected,
		ExpectedBanks:     banksOf(requested),
		AllowUnrestricted: p.AllowUnrestricted,
		UnloggedPCRs:      []int{IMAPCR},
		OptionName: func(o quote.Option) string {
			if o == quote.OptAllowUnrestricted {
				return p.name(OptAllowUnrestricted)
			}
			return ""
		},
	}
	if p.AK != nil {
		qp.TrustedAKs = []*tpmstruct.PublicKey{p.AK}
		qp.TrustedAKOrigins = []string{"the AK the verifier pinned (" + p.name(OptAK) + ")"}
	}
	qrep := quote.Verify(ev, qp)
	rep.Quote, rep.AK = qrep.Quote, qrep.AK
	if c := qrep.Check(quote.CheckSignature); c != nil && p.AK == nil {
		c.Reason = "no AK given (" + p.name(OptAK) + "): CHARRA sends no public key, so the quote is authenticated by nothing"
	}
	if c := qrep.Check(quote.CheckPCRDigest); c != nil {
		c.Reason += "; the values are " + strings.Join(sources, ", ")
		if !c.Passed {
			c.Reason += ": CHARRA sends no PCR values, so the returned logs (and, for PCRs no log extends, the expected values or reset values) must hash to the quote's pcrDigest, and they do not: a log does not match the PCRs, or a PCR no log extends has another value"
		}
	}
	if c := qrep.Check(quote.CheckEventLog); c != nil && c.Skipped {
		c.Reason = "no tcg-boot log requested or returned"
	}
	rep.Checks = append(rep.Checks, qrep.Checks...)
	rep.Checks = append(rep.Checks, bootCheck)

	authentic := func() bool {
		c1, c2 := rep.Check(quote.CheckSignature), rep.Check(quote.CheckPCRDigest)
		return c1 != nil && c1.Passed && c2 != nil && c2.Passed
	}()
	rep.Checks = append(rep.Checks, imaChecks...)
	rep.Checks = append(rep.Checks, verifyIMA(imaRes, imaFirst, sel.Filter(vals), sel)...)
	if !authentic {
		for _, name := range []string{CheckIMAPCR, CheckBootLog} {
			if c := rep.Check(name); c != nil && c.Passed {
				c.Reason += " (but these PCR values are not authenticated: the signature or pcr-digest check failed)"
			}
		}
	}
	for _, l := range resp.Logs {
		s := LogSummary{Identifier: l.Identifier, Start: l.Start, Count: l.Count, Bytes: len(l.Content)}
		switch {
		case l.Identifier == LogTCGBoot && boot != nil:
			s.Entries = boot.Events
		case l.Identifier == LogIMA && imaSum > 0:
			s.Entries = imaSum
		}
		rep.Logs = append(rep.Logs, s)
	}
	rep.Verified = rep.Checks.Verified()
	return rep
}

func banksOf(sel pcr.Selection) []pcr.Alg {
	var out []pcr.Alg
	for _, b := range sel {
		out = append(out, b.Alg)
	}
	return out
}

// checkResponse: the answer is the response to this request, its logs
// those asked for, in request order.
func checkResponse(req *Request, resp *Response) verdict.Check {
	var problems []string
	if resp.Form == FormTAP {
		if len(resp.Logs) != len(req.Logs) {
			problems = append(problems, fmt.Sprintf("%d logs returned, %d requested", len(resp.Logs), len(req.Logs)))
		}
		for i := 0; i < len(resp.Logs) && i < len(req.Logs); i++ {
			if got, want := resp.Logs[i].Identifier, req.Logs[i].Identifier; got != want {
				problems = append(problems, fmt.Sprintf("log %d is %q, the request's log %d is %q", i, got, i, want))
			}
		}
	} else if len(req.Logs) > 0 {
		problems = append(problems, fmt.Sprintf("the 3mdeb response form carries no logs, and %d were requested", len(req.Logs)))
	}
	if len(problems) > 0 {
		return failf(CheckResponse, "%s", strings.Join(problems, "; "))
	}
	form := "TAP response (PCR attestation IE 9, TPM2_Quote subtype 4)"
	if resp.Form == Form3mdeb {
		form = "3mdeb-fork response (attestation-data, tpm2-signature, tpm2-public-key)"
	}
	var logs []string
	for _, l := range resp.Logs {
		logs = append(logs, fmt.Sprintf("%s (%d bytes)", l.Identifier, len(l.Content)))
	}
	if len(logs) == 0 {
		logs = []string{"no logs"}
	}
	return pass(CheckResponse, "%s, %d-byte TPMS_ATTEST, %s signature, %s", form, len(resp.AttestData), resp.Signature.Scheme, strings.Join(logs, ", "))
}

// checkResponseKey: the 3mdeb response's key is the pinned AK. A key the
// attester names itself proves nothing: anyone can sign with their own.
func checkResponseKey(resp *Response, p *Policy) verdict.Check {
	if p.AK == nil {
		return failf(CheckResponseKey, "the response names its own key (%s), and no AK was pinned (%s) to hold it to: a key an attester names itself proves nothing", resp.PublicKey, p.name(OptAK))
	}
	k, ok := resp.PublicKey.Key.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !k.Equal(p.AK.Key) {
		return failf(CheckResponseKey, "the response's public key (%s) is not the pinned AK (%s): the quote is checked with the pinned AK only", resp.PublicKey, p.AK)
	}
	return pass(CheckResponseKey, "the response's public key is the pinned AK (%s)", p.AK)
}

// replayBoot replays the returned tcg-boot log.
func replayBoot(req *Request, resp *Response) (*eventlog.Replay, verdict.Check) {
	asked := slices.ContainsFunc(req.Logs, func(l LogRequest) bool { return l.Identifier == LogTCGBoot })
	l, ok := resp.Log(LogTCGBoot)
	switch {
	case !asked:
		return nil, skip(CheckBootLog, "not requested")
	case !ok:
		return nil, failf(CheckBootLog, "requested, but not in the response")
	case len(l.Content) == 0:
		return nil, failf(CheckBootLog, "requested, but the attester sent an empty log (start %d, count %d: no file configured, or it is missing), so nothing explains the boot PCRs", l.Start, l.Count)
	}
	rp, err := eventlog.ReplayLog(bytes.NewReader(l.Content), &eventlog.ReplayOptions{CheckDigests: true})
	if err != nil {
		return nil, failf(CheckBootLog, "the %d-byte log (at byte %d of the response): %v", len(l.Content), l.Offset, err)
	}
	return rp, pass(CheckBootLog, "%s log of %d events, banks %s (its replay against the quote is the event-log check)", rp.Format, rp.Events, algList(rp.Banks))
}

func algList(list []pcr.Alg) string {
	var s []string
	for _, a := range list {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

// replayIMA replays the returned IMA list in the selection's banks that
// hold PCR 10.
func replayIMA(req *Request, resp *Response, sel pcr.Selection) (*ima.Replay, *ima.Entry, []verdict.Check, int) {
	asked := slices.ContainsFunc(req.Logs, func(l LogRequest) bool { return l.Identifier == LogIMA })
	l, ok := resp.Log(LogIMA)
	var banks []pcr.Alg
	for _, b := range sel {
		if slices.Contains(b.PCRs, IMAPCR) {
			banks = append(banks, b.Alg)
		}
	}
	switch {
	case !asked:
		return nil, nil, []verdict.Check{skip(CheckIMAList, "not requested")}, 0
	case !ok:
		return nil, nil, []verdict.Check{failf(CheckIMAList, "requested, but not in the response")}, 0
	case len(l.Content) == 0:
		return nil, nil, []verdict.Check{failf(CheckIMAList, "requested, but the attester sent an empty list (start %d, count %d: no file configured, or it is missing)", l.Start, l.Count)}, 0
	case len(banks) == 0:
		return nil, nil, []verdict.Check{skip(CheckIMAList, "PCR %d is not quoted, so the %d-byte IMA list is tied to nothing", IMAPCR, len(l.Content))}, 0
	}
	rd, err := ima.NewBinaryReader(bytes.NewReader(l.Content), &ima.ReadOptions{Size: int64(len(l.Content))})
	if err != nil {
		return nil, nil, []verdict.Check{failf(CheckIMAList, "binary list at byte %d of the response: %v", l.Offset, err)}, 0
	}
	var first *ima.Entry
	res, err := ima.ReplayList(rd, &ima.ReplayOptions{Banks: banks}, func(e *ima.Entry) error {
		if e.Index == 0 {
			first = e.Clone()
		}
		return nil
	})
	if err != nil && err != io.EOF {
		return nil, nil, []verdict.Check{failf(CheckIMAList, "binary list at byte %d of the response: %v", l.Offset, err)}, 0
	}
	return res, first, []verdict.Check{pass(CheckIMAList, "%d entries (binary list, %s template digests, %d bytes)", res.Entries, res.TemplateHash, len(l.Content))}, res.Entries
}

var imaNames = map[string]string{
	ima.CheckTemplateDigests: CheckIMADigests,
	ima.CheckViolations:      CheckIMAViol,
	ima.CheckPCRs:            CheckIMAPCR,
	ima.CheckBoot:            CheckIMABoot,
}

// verifyIMA checks the replayed list against the quoted values: PCR 10,
// the template digests, the boot_aggregate against PCRs 0-9.
func verifyIMA(res *ima.Replay, first *ima.Entry, quoted pcr.Values, sel pcr.Selection) []verdict.Check {
	if res == nil {
		return nil
	}
	boot := true
	for i := 0; i < 10; i++ {
		if !sel.Contains(pcr.SHA256, i) && !sel.Contains(pcr.SHA1, i) {
			boot = false
		}
	}
	vo := &ima.VerifyOptions{Expect: []pcr.Values{quoted}, RequireBanks: res.Banks, SkipBootAggregate: !boot}
	if boot {
		vo.Boot = quoted
	}
	var out []verdict.Check
	for _, c := range ima.Verify(res, first, vo).Checks {
		if name, ok := imaNames[c.Name]; ok {
			c.Name = name
		}
		if c.Name == CheckIMABoot && !boot {
			c.Reason = "not checked: PCRs 0-9, which the boot_aggregate is the hash of, are not all quoted"
		}
		out = append(out, c)
	}
	return out
}

// derive builds the PCR values a CHARRA quote is claimed to cover, since
// none are on the wire: each PCR a returned log extends takes the log's
// replay (PCR 10 the IMA list's, under either kernel rule), every other
// one its reset value or, where the expected values name it, theirs. The
// first combination whose composite is the quote's pcrDigest is kept, so
// the pcr-digest check proves all of them at once; if none is, the logs'
// and reset values are kept and that check fails.
func derive(resp *Response, p *Policy, sel pcr.Selection, boot *eventlog.Replay, imaRes *ima.Replay) (pcr.Values, []string) {
	var locality byte
	if boot != nil {
		locality = boot.Locality
	}
	var imaSets []pcr.Values
	if imaRes != nil {
		imaSets = append(imaSets, imaRes.PerBank)
		if imaRes.Padded != nil {
			imaSets = append(imaSets, imaRes.Padded)
		}
	}
	if len(imaSets) == 0 {
		imaSets = []pcr.Values{nil}
	}
	alts := []pcr.Values{nil}
	if p.Expected != nil {
		switch {
		case p.Expected.Doc != nil:
			alts = append(alts, p.Expected.Doc.Sets...)
		case p.Expected.Baseline != nil:
			if v, err := p.Expected.Baseline.Values(); err == nil {
				alts = append(alts, v)
			}
		}
	}
	build := func(imaVals, alt pcr.Values) (pcr.Values, map[string][]string) {
		v := pcr.Values{}
		from := map[string][]string{}
		for _, b := range sel {
			for _, i := range b.PCRs {
				ref := fmt.Sprintf("%s:%d", b.Alg, i)
				if boot != nil && boot.Touched(i) {
					if d, ok := boot.Values.Get(b.Alg, i); ok {
						v.Set(b.Alg, i, d)
						from["the tcg-boot log"] = append(from["the tcg-boot log"], ref)
						continue
					}
				}
				if i == IMAPCR && imaVals != nil {
					if d, ok := imaVals.Get(b.Alg, i); ok {
						v.Set(b.Alg, i, d)
						from["the IMA list"] = append(from["the IMA list"], ref)
						continue
					}
				}
				if alt != nil {
					if d, ok := alt.Get(b.Alg, i); ok {
						v.Set(b.Alg, i, d)
						from["the expected values"] = append(from["the expected values"], ref)
						continue
					}
				}
				v.Set(b.Alg, i, pcr.InitialValue(b.Alg, i, locality))
				from["reset values"] = append(from["reset values"], ref)
			}
		}
		return v, from
	}
	describe := func(from map[string][]string) []string {
		var out []string
		for _, k := range []string{"the tcg-boot log", "the IMA list", "the expected values", "reset values"} {
			if len(from[k]) > 0 {
				out = append(out, strings.Join(from[k], ",")+" from "+k)
			}
		}
		return out
	}
	var digest []byte
	var alg pcr.Alg
	if resp.Attest != nil && resp.Attest.Quote != nil {
		digest = resp.Attest.Quote.PCRDigest
		if resp.Signature != nil {
			alg = resp.Signature.Hash
		}
	}
	for _, alt := range alts {
		for _, iv := range imaSets {
			v, from := build(iv, alt)
			if alg.Valid() {
				if got, err := sel.CompositeDigest(alg, v); err == nil && bytes.Equal(got, digest) {
					return v, describe(from)
				}
			}
		}
	}
	v, from := build(imaSets[0], nil)
	return v, describe(from)
}
