package cml

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/cml/tpm2dpb"
	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/internal/optname"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// The PCRs GyroidOS extends outside the boot: IMA's and cmld's.
const (
	IMAPCR       = 10
	ContainerPCR = 11
)

// Names of the checks cml adds to those of quote.Verify, in report order.
const (
	CheckResponse        = "response"
	CheckDeviceCert      = quote.CheckAKCert
	CheckIMAList         = "ima-list"
	CheckIMADigests      = "ima-template-digests"
	CheckIMAViolations   = "ima-violations"
	CheckIMAPCR          = "ima-pcr"
	CheckIMABoot         = "ima-boot-aggregate"
	CheckIMASignatures   = "ima-signatures"
	CheckContainers      = "containers"
	CheckContainerImages = "container-images"
	CheckPCRCoverage     = "pcr-coverage"
)

// Option names a Policy field for the reasons of a report; a caller words
// it in its own terms through Policy.OptionName.
type Option string

// The options reasons name, in the library's words.
const (
	OptRoots        Option = "Policy.Roots"
	OptInsecureNoCA Option = "Policy.InsecureNoCA"
	OptKmodKeys     Option = "Policy.KmodKeys"
	OptExpected     Option = "Policy.Expected"
)

// Policy says what a device's answer is checked against. The zero Policy
// verifies nothing: without Roots the device certificate fails, without
// Expected the boot PCRs are explained by nothing.
type Policy struct {
	// Roots are the operator's device CAs: the device certificate must
	// chain to one of them (through Intermediates) and certify the key
	// that signed the quote. That is what makes the quote key, which CML
	// creates unrestricted, trusted.
	Roots, Intermediates []*x509.Certificate
	// InsecureNoCA accepts a device certificate nothing vouches for: the
	// certificate and AK trust checks are then reported NOT CHECKED with
	// a warning, and the verdict says only that the answer is
	// self-consistent.
	InsecureNoCA bool
	// Expected are the golden values the quoted PCRs are compared with
	// (its SHA-256 bank); every quoted PCR other than 10 (IMA) and 11
	// (containers) must be one it names.
	Expected *baseline.Reference
	// KmodKeys verify the ima-sig and ima-modsig signatures of the IMA
	// list (GyroidOS's kmod_sign_cert). Nil: signatures are not checked
	// and the check is skipped.
	KmodKeys *ima.Keyring
	// Now is the time certificates are checked at; zero means now.
	Now time.Time
	// OptionName words an Option in the caller's terms (a CLI names its
	// flags); nil keeps the library's words.
	OptionName func(Option) string
}

func (p *Policy) name(o Option) string { return optname.Word(p.OptionName, o) }

// RequestSummary is what was asked, for the report.
type RequestSummary struct {
	AType     string `json:"atype" yaml:"atype"`
	Selection string `json:"pcr_selection" yaml:"pcr_selection"`
	Nonce     string `json:"nonce" yaml:"nonce"`
}

// CertSummary describes the device certificate: tpmcert's summary of a
// TPM key's certificate, and whether it is self-signed.
type CertSummary struct {
	*tpmcert.EKSummary `yaml:",inline"`
	SelfSigned         bool `json:"self_signed" yaml:"self_signed"`
}

// ContainerSummary is one entry of the container list.
type ContainerSummary struct {
	PCR             int32  `json:"pcr" yaml:"pcr"`
	Filename        string `json:"filename" yaml:"filename"`
	TemplateHashAlg string `json:"template_hash_alg" yaml:"template_hash_alg"`
	DataHashAlg     string `json:"data_hash_alg" yaml:"data_hash_alg"`
	DataHash        string `json:"data_hash" yaml:"data_hash"`
}

// Report is the verdict on one answer of a device: every check, in order.
type Report struct {
	// Verified: a check passed and none failed (verdict.Checks.Verified).
	Verified       bool                `json:"verified" yaml:"verified"`
	Request        *RequestSummary     `json:"request,omitempty" yaml:"request,omitempty"`
	Quote          *quote.QuoteSummary `json:"quote,omitempty" yaml:"quote,omitempty"`
	AK             *quote.AKSummary    `json:"ak,omitempty" yaml:"ak,omitempty"`
	Certificate    *CertSummary        `json:"certificate,omitempty" yaml:"certificate,omitempty"`
	IMA            *IMASummary         `json:"ima,omitempty" yaml:"ima,omitempty"`
	Containers     []ContainerSummary  `json:"containers,omitempty" yaml:"containers,omitempty"`
	verdict.Checks `json:"checks" yaml:"checks"`
}

func pass(name, format string, args ...any) verdict.Check {
	return verdict.Check{Name: name, Passed: true, Reason: fmt.Sprintf(format, args...)}
}

func skip(name, format string, args ...any) verdict.Check {
	return verdict.Check{Name: name, Skipped: true, Reason: fmt.Sprintf(format, args...)}
}

func fail(name string, err error) verdict.Check {
	return verdict.Check{Name: name, Reason: err.Error(), Err: err}
}

// CheckError is the typed error of a check cml makes itself.
type CheckError struct {
	Check  string
	Reason string
}

func (e *CheckError) Error() string { return e.Reason }

func failf(name, format string, args ...any) verdict.Check {
	return fail(name, &CheckError{Check: name, Reason: fmt.Sprintf(format, args...)})
}

// VerifyExchange decodes the answer of an exchange and verifies it.
func VerifyExchange(ex *Exchange, p *Policy) *Report {
	if ex.FrameErr != nil {
		return failedResponse(ex.Request, ex.FrameErr)
	}
	resp, err := DecodeResponse(ex.Payload)
	if err != nil {
		return failedResponse(ex.Request, err)
	}
	return Verify(ex.Request, resp, p)
}

// failedResponse is the report on an answer that is not a response.
func failedResponse(req *Request, err error) *Report {
	rep := &Report{Request: summarizeRequest(req)}
	rep.Checks = verdict.Checks{fail(CheckResponse, err)}
	return rep
}

func summarizeRequest(req *Request) *RequestSummary {
	if req == nil {
		return nil
	}
	s := &RequestSummary{AType: req.AType.String(), Nonce: hex.EncodeToString(req.Nonce)}
	if sel, err := req.Selection(); err == nil {
		s.Selection = sel.String()
	}
	return s
}

// Verify checks resp, the device's answer to req, against p (nil: the zero
// Policy) and returns every check.
func Verify(req *Request, resp *Response, p *Policy) *Report {
	if p == nil {
		p = &Policy{}
	}
	rep := &Report{Request: summarizeRequest(req)}
	requested, reqErr := req.Selection()
	rep.Checks = append(rep.Checks, checkResponse(req, resp, reqErr))

	qrep := verifyQuote(req, resp, requested, p)
	rep.Quote, rep.AK = qrep.Quote, qrep.AK
	rep.Checks = append(rep.Checks, qrep.Checks...)
	if resp.Cert != nil {
		rep.Certificate = summarizeCert(resp.Cert)
	}
	if p.InsecureNoCA {
		rep.Checks = append(rep.Checks, skip(CheckDeviceCert, "NOT CHECKED, accepted by %s: the device certificate is not checked against any CA", p.name(OptInsecureNoCA)).
			With("warning", "without a device CA anyone who can make a key can answer for this device: the verdict says only that the answer is self-consistent"))
	}

	// The PCR values the other checks read are the response's, authenticated
	// only when the quote's signature and digest checks passed.
	quoted := pcr.Values{}
	if resp.Attest != nil && resp.Attest.Quote != nil {
		if sel, err := resp.Attest.Quote.Selection(); err == nil {
			quoted = sel.Filter(resp.PCRs)
		}
	}
	passed := func(name string) bool { c := rep.Check(name); return c != nil && c.Passed }
	authentic := passed(quote.CheckSignature) && passed(quote.CheckPCRDigest)

	imaChecks, imaSummary := checkIMA(resp, quoted, p)
	rep.IMA = imaSummary
	rep.Checks = append(rep.Checks, imaChecks...)
	cChecks, containers := checkContainers(resp, quoted)
	rep.Containers = containers
	rep.Checks = append(rep.Checks, cChecks...)
	rep.Checks = append(rep.Checks, checkContainerImages(resp, quoted, p), checkCoverage(quoted, p, rep.Checks))
	if !authentic {
		for _, name := range []string{CheckIMAPCR, CheckContainers, CheckPCRCoverage} {
			if c := rep.Check(name); c != nil && c.Passed {
				c.Reason += " (but these PCR values are not authenticated: the signature or pcr-digest check failed)"
			}
		}
	}
	rep.Verified = rep.Checks.Verified()
	return rep
}

// checkResponse: the answer is the response to this request.
func checkResponse(req *Request, resp *Response, reqErr error) verdict.Check {
	if reqErr != nil {
		return failf(CheckResponse, "the request itself is invalid: %v", reqErr)
	}
	var problems []string
	if resp.AType != req.AType {
		problems = append(problems, fmt.Sprintf("atype is %s, the request asked for %s", resp.AType, req.AType))
	}
	if resp.Bank != pcr.SHA256 {
		problems = append(problems, fmt.Sprintf("halg is %s (%d bytes): tpm2d quotes its SHA-256 bank, and IMA and the container list are checked in it", resp.Msg.GetHalg(), resp.Bank.Size()))
	}
	if len(problems) > 0 {
		return failf(CheckResponse, "%s", strings.Join(problems, "; "))
	}
	parts := []string{fmt.Sprintf("ATTESTATION_RES, atype %s as requested, halg %s, %d PCR values", resp.AType, resp.Msg.GetHalg(), len(resp.PCRNumbers))}
	if resp.Cert == nil {
		parts = append(parts, "no certificate")
	}
	parts = append(parts, fmt.Sprintf("IMA list of %d bytes, %d container entries", len(resp.IMA), len(resp.Containers)))
	return pass(CheckResponse, "%s", strings.Join(parts, ", "))
}

// verifyQuote runs quote.Verify with the device certificate's key as the
// AK: unrestricted keys allowed (CML's quote key is), the AK trusted when
// the certificate chains to a device CA.
func verifyQuote(req *Request, resp *Response, requested pcr.Selection, p *Policy) *quote.Report {
	ev := &quote.Evidence{Attest: resp.Attest, Signature: resp.Signature, PCRs: resp.PCRs}
	if resp.Cert != nil {
		ev.AK = &tpmstruct.PublicKey{Key: resp.Cert.Key, Format: "device certificate"}
		ev.AKCert = resp.Cert
	}
	qp := &quote.Policy{
		Nonce:             req.Nonce,
		AllowUnrestricted: true,
		Selection:         requested,
		Expected:          p.Expected,
		ExpectedBanks:     []pcr.Alg{pcr.SHA256},
		UnloggedPCRs:      []int{IMAPCR, ContainerPCR},
		OptionName: func(o quote.Option) string {
			switch o {
			case quote.OptAKRoots:
				return p.name(OptRoots)
			case quote.OptAKCert:
				return "the response's certificate field"
			case quote.OptAllowUnrestricted:
				return "the CML policy (tpm2d's quote key is unrestricted by design)"
			}
			return ""
		},
	}
	if p.InsecureNoCA {
		qp.AllowUntrustedAK = true
	} else {
		qp.AKCert = &tpmcert.AKCertPolicy{Roots: p.Roots, Intermediates: p.Intermediates, Now: p.Now}
	}
	rep := quote.Verify(ev, qp)
	if c := rep.Check(quote.CheckEventLog); c != nil && c.Skipped {
		c.Reason = "tpm2d sends no TCG event log: the boot PCRs are checked against the expected values"
	}
	if resp.Attest == nil {
		if c := rep.Check(quote.CheckAttestHeader); c != nil {
			c.Reason = "the response carries no quote (its quoted field is empty)"
		}
	}
	if c := rep.Check(quote.CheckAKCert); c != nil && !c.Passed {
		if len(p.Roots) == 0 {
			c.Reason = "no device CA given (" + p.name(OptRoots) + "), so nothing shows who issued the device certificate; " + p.name(OptInsecureNoCA) + " accepts that, insecurely"
		} else if resp.Cert != nil && isSelfSigned(resp.Cert.Cert) {
			c.Reason += " (the device certificate is self-signed, as tpm2d's is before the device is enrolled in the GyroidOS PKI)"
		}
	}
	return rep
}

func isSelfSigned(c *x509.Certificate) bool {
	// CheckSignatureFrom would insist on a CA; a device's own certificate is none.
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func summarizeCert(c *tpmcert.TPMCertificate) *CertSummary {
	return &CertSummary{EKSummary: c.Summary(), SelfSigned: isSelfSigned(c.Cert)}
}

// notQuoted is the skipped check of a list whose PCR the request left
// out; n things the device sent anyway are noted as unchecked.
func notQuoted(name string, index int, list string, n int, what string) verdict.Check {
	c := skip(name, "PCR %d is not quoted, so %s is tied to nothing", index, list)
	if n > 0 {
		c = c.Note(fmt.Sprintf("the device sent %d %s, which are not checked", n, what))
	}
	return c
}

// quotedPCR returns the quoted SHA-256 value of PCR i.
func quotedPCR(quoted pcr.Values, i int) ([]byte, bool) { return quoted.Get(pcr.SHA256, i) }

// checkContainers folds the container list the way cmld extends PCR 11:
// from zero, pcr = SHA-256(pcr || data_hash), and compares it with the
// quoted PCR 11.
func checkContainers(resp *Response, quoted pcr.Values) ([]verdict.Check, []ContainerSummary) {
	var list []ContainerSummary
	for _, e := range resp.Containers {
		list = append(list, summarizeContainer(e))
	}
	want, ok := quotedPCR(quoted, ContainerPCR)
	if !ok {
		return []verdict.Check{notQuoted(CheckContainers, ContainerPCR, "the container list", len(resp.Containers), "container entries")}, list
	}
	fold := make([]byte, pcr.SHA256.Size())
	for i, e := range resp.Containers {
		where := fmt.Sprintf("entry %d (%s)", i, e.GetFilename())
		switch {
		case e.GetPcrIndex() != ContainerPCR:
			return []verdict.Check{failf(CheckContainers, "%s names PCR %d; cmld extends containers into PCR %d", where, e.GetPcrIndex(), ContainerPCR)}, list
		case e.GetTemplateHashAlg() != "sha256" && e.GetTemplateHashAlg() != "sha1":
			return []verdict.Check{failf(CheckContainers, "%s has template_hash_alg %q, not sha256 or sha1", where, e.GetTemplateHashAlg())}, list
		case len(e.GetDataHash()) != pcr.SHA256.Size():
			return []verdict.Check{failf(CheckContainers, "%s has a %d-byte data_hash, not a SHA-256 digest", where, len(e.GetDataHash()))}, list
		}
		fold = pcr.Extend(pcr.SHA256, fold, e.GetDataHash())
	}
	details := []string{"folded", hex.EncodeToString(fold), "quoted", hex.EncodeToString(want)}
	if !bytes.Equal(fold, want) {
		return []verdict.Check{failf(CheckContainers, "the %d container entries fold to %x, the quoted PCR %d is %x: an entry was changed, added or left out",
			len(resp.Containers), fold, ContainerPCR, want).With(details...)}, list
	}
	return []verdict.Check{pass(CheckContainers, "the %d container entries' data hashes fold to the quoted PCR %d (%x)", len(resp.Containers), ContainerPCR, want).With(details...)}, list
}

func summarizeContainer(e *tpm2dpb.MlContainerEntry) ContainerSummary {
	return ContainerSummary{PCR: e.GetPcrIndex(), Filename: e.GetFilename(), TemplateHashAlg: e.GetTemplateHashAlg(),
		DataHashAlg: e.GetDataHashAlg(), DataHash: hex.EncodeToString(e.GetDataHash())}
}

// checkContainerImages holds each container the device reports against
// the baseline's expected PCR 11 events (refvals' GyroidOS flow records
// one per guest-OS image, its SHA-256 as the digest): every image the
// device measured must be one the build produced. A baseline without PCR
// 11 events (a PCR file, a hand-made config) has no list to hold them to.
func checkContainerImages(resp *Response, quoted pcr.Values, p *Policy) verdict.Check {
	if _, ok := quotedPCR(quoted, ContainerPCR); !ok {
		return skip(CheckContainerImages, "PCR %d is not quoted", ContainerPCR)
	}
	golden := map[string]bool{}
	if p.Expected != nil && p.Expected.Baseline != nil {
		for _, pc := range p.Expected.Baseline.PCRs {
			if pc.Index != ContainerPCR {
				continue
			}
			for _, e := range pc.Events {
				if d := e.Digests[pcr.SHA256.String()]; d != "" {
					golden[strings.ToLower(d)] = true
				}
			}
		}
	}
	if len(golden) == 0 {
		return skip(CheckContainerImages, "not checked: the baseline lists no PCR %d events (guest-OS images), so the %d images are tied to the quote by the fold alone (a PCR %d value in the baseline pins the whole set)", ContainerPCR, len(resp.Containers), ContainerPCR)
	}
	var unknown []string
	for _, e := range resp.Containers {
		if !golden[hex.EncodeToString(e.GetDataHash())] {
			unknown = append(unknown, fmt.Sprintf("%s (sha256 %x)", e.GetFilename(), e.GetDataHash()))
		}
	}
	if len(unknown) > 0 {
		return fail(CheckContainerImages, &CheckError{Check: CheckContainerImages, Reason: fmt.Sprintf("%d of %d images are none of the baseline's %d guest-OS images: %s",
			len(unknown), len(resp.Containers), len(golden), strings.Join(unknown, ", "))})
	}
	return pass(CheckContainerImages, "all %d images are guest-OS images of the baseline", len(resp.Containers))
}

// checkCoverage: every quoted PCR is accounted for, by the expected
// values or (10, 11) by the IMA and container checks, whatever their
// outcome (a failure is theirs to report).
func checkCoverage(quoted pcr.Values, p *Policy, checks verdict.Checks) verdict.Check {
	named := map[int]bool{}
	if p.Expected != nil {
		if m, err := p.Expected.Compare(quoted, []pcr.Alg{pcr.SHA256}); err == nil {
			for _, r := range m.Rows {
				named[r.Index] = true
			}
		}
	}
	ranBy := map[int]string{IMAPCR: CheckIMAPCR, ContainerPCR: CheckContainers}
	var byBaseline, byOther, unexplained []int
	for _, i := range quoted.Indices(pcr.SHA256) {
		// A special PCR is explained only by its check having run (an
		// answer without a quote has none).
		c := checks.Check(ranBy[i])
		switch {
		case named[i]:
			byBaseline = append(byBaseline, i)
		case c != nil && !c.Skipped:
			byOther = append(byOther, i)
		default:
			unexplained = append(unexplained, i)
		}
	}
	if len(quoted.Indices(pcr.SHA256)) == 0 {
		return failf(CheckPCRCoverage, "no quoted PCR value to account for")
	}
	if len(unexplained) > 0 {
		why := "the expected values do not name them"
		if p.Expected == nil {
			why = "no expected values given (" + p.name(OptExpected) + ")"
		}
		return failf(CheckPCRCoverage, "quoted PCRs %s are checked against nothing: %s (rattestation compares every quoted PCR with its config)",
			pcr.FormatPCRList(unexplained), why)
	}
	parts := []string{}
	if len(byBaseline) > 0 {
		parts = append(parts, pcr.FormatPCRList(byBaseline)+" by the expected values")
	}
	if len(byOther) > 0 {
		parts = append(parts, pcr.FormatPCRList(byOther)+" by the IMA and container lists")
	}
	return pass(CheckPCRCoverage, "every quoted PCR is checked: %s", strings.Join(parts, ", "))
}
