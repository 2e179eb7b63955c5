package quote

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// Evidence is what a verifier was handed. Only Attest is required; every
// check whose input is missing fails (or, for the optional event log and
// expected values, is skipped).
type Evidence struct {
	Attest    *tpmstruct.Attest
	Signature *tpmstruct.Signature
	// AK verifies Signature; nil fails the signature check.
	AK *tpmstruct.PublicKey
	// PCRs are the PCR values the quote is claimed to cover.
	PCRs pcr.Values
	// EventLog is the replay of the TCG event log of the boot, if any.
	EventLog *eventlog.Replay
	// AKCert is the AK's certificate, checked when Policy.AKCert is set;
	// AKIntermediates came with it (an attestation's intermediate_certs).
	AKCert          *tpmcert.TPMCertificate
	AKIntermediates []*x509.Certificate
	// EKCert is the TPM's EK certificate, checked against Policy.EK.
	EKCert *tpmcert.TPMCertificate
}

// Policy says what the verifier expects. The zero Policy accepts nothing
// that lacks a nonce: freshness has to be opted out of explicitly.
type Policy struct {
	// Nonce is the qualifying data the verifier sent; extraData must
	// equal it byte for byte.
	Nonce []byte
	// NoNonce accepts a quote without checking its freshness (the nonce
	// check is then reported as skipped, never as passed).
	NoNonce bool
	// AllowUnrestricted accepts an AK that is not a restricted signing key
	// (GyroidOS CML quotes with an unrestricted sign+decrypt key) or whose
	// attributes are unknown (PEM, DER, certificate).
	AllowUnrestricted bool
	// AKName, if set, must equal the AK's TPM Name (nameAlg || digest),
	// as tpm2_createak -n writes it.
	AKName []byte
	// Selection, if set, is the selection the verifier asked the device
	// to quote: the quote's must equal it exactly (banks that select
	// nothing aside), or pcr-selection fails. A device that quotes other
	// PCRs than it was asked for is answering another question.
	Selection pcr.Selection
	// Expected PCR values, compared with the quoted values: every PCR a
	// baseline names must be quoted with its value or one of its variants;
	// some alternative of a PCR file must match every PCR it names.
	Expected *baseline.Reference
	// ExpectedBanks, if set, limits the comparison to these banks of
	// Expected: a device that quotes only its SHA-256 bank is compared
	// with a baseline's SHA-256 values, not failed for its SHA-1 ones.
	ExpectedBanks []pcr.Alg
	// Freshness limits on clockInfo; zero means no limit.
	MinResetCount   uint32
	MinRestartCount uint32
	MinClock        uint64
	MaxClock        uint64
	// RequireSafe fails a quote whose clockInfo.safe is NO.
	RequireSafe bool

	// TrustedAKs are keys the verifier vouches for. The AK must be one of
	// them, have the AKName, or be certified under AKCert; else the
	// ak-trust check fails, unless AllowUntrustedAK accepts that (the
	// check is then reported as skipped, with a warning).
	TrustedAKs []*tpmstruct.PublicKey
	// TrustedAKOrigins, where set, say why TrustedAKs[i] is trusted, for
	// the ak-trust reason ("the trust anchor of CoRIM c.cbor, which the
	// verifier gave"); by default a trusted key is the verifier's own copy.
	TrustedAKOrigins []string
	AllowUntrustedAK bool
	// AKCert, if set, requires Evidence.AKCert to chain to its roots and
	// certify the AK.
	AKCert *tpmcert.AKCertPolicy
	// EK, if set, requires Evidence.EKCert to chain to its roots; an
	// EKCert without EK fails for want of roots.
	EK *tpmcert.EKPolicy

	// RequireEventLog fails the event-log check when no log is given.
	RequireEventLog bool
	// UnloggedPCRs are PCRs the verifier knows to be extended outside
	// the TCG event log (IMA's PCR 10, GyroidOS's PCR 11): the event-log
	// check does not require the log to explain them. Any other quoted
	// PCR that is off its reset value fails the check unless the log or
	// the expected values explain it.
	UnloggedPCRs []int

	// OptionName, if set, words an Option in the caller's terms for the
	// reasons of the report (a CLI names its flags); nil or "" keeps the
	// library's words, the Go fields that set them.
	OptionName func(Option) string

	// terse leaves out what only a full report shows: the reasons and
	// details of passed and skipped checks, and the summaries (see
	// VerifyVerdict). Failed checks are worded in full either way.
	terse bool
}

// Names of the checks, in report order.
const (
	CheckAttestHeader = "attest-header"
	CheckSignature    = "signature"
	CheckAKAttributes = "ak-attributes"
	CheckAKName       = "ak-name"
	CheckNonce        = "nonce"
	CheckPCRSelection = "pcr-selection"
	CheckPCRDigest    = "pcr-digest"
	CheckEventLog     = "event-log"
	CheckExpected     = "expected-pcrs"
	CheckClock        = "clock"
)

// Check is one verification step (verdict.Check): a check is skipped
// only when the policy opted out of it or its optional input was not
// given.
type Check = verdict.Check

// QuoteSummary is what the quote says, for the report.
type QuoteSummary struct {
	Magic           string `json:"magic" yaml:"magic"`
	Type            string `json:"type" yaml:"type"`
	QualifiedSigner string `json:"qualified_signer" yaml:"qualified_signer"`
	ExtraData       string `json:"extra_data" yaml:"extra_data"`
	Clock           uint64 `json:"clock" yaml:"clock"`
	ResetCount      uint32 `json:"reset_count" yaml:"reset_count"`
	RestartCount    uint32 `json:"restart_count" yaml:"restart_count"`
	Safe            bool   `json:"safe" yaml:"safe"`
	FirmwareVersion string `json:"firmware_version" yaml:"firmware_version"`
	Selection       string `json:"pcr_selection,omitempty" yaml:"pcr_selection,omitempty"`
	PCRDigest       string `json:"pcr_digest,omitempty" yaml:"pcr_digest,omitempty"`
	Signature       string `json:"signature,omitempty" yaml:"signature,omitempty"`
}

// AKSummary describes the attestation key, for the report.
type AKSummary struct {
	Format     string `json:"format" yaml:"format"`
	Key        string `json:"key" yaml:"key"`
	Attributes string `json:"attributes,omitempty" yaml:"attributes,omitempty"`
	Scheme     string `json:"scheme,omitempty" yaml:"scheme,omitempty"`
	Name       string `json:"name,omitempty" yaml:"name,omitempty"`
}

// Report is the outcome of Verify: every check, and the verdict.
type Report struct {
	// Verified: a check passed and none failed (verdict.Checks.Verified).
	Verified bool               `json:"verified" yaml:"verified"`
	Quote    *QuoteSummary      `json:"quote,omitempty" yaml:"quote,omitempty"`
	AK       *AKSummary         `json:"ak,omitempty" yaml:"ak,omitempty"`
	EK       *tpmcert.EKSummary `json:"ek,omitempty" yaml:"ek,omitempty"`
	// Checks are every check, in report order; their Failed, Check and Err
	// methods are the report's.
	verdict.Checks `json:"checks" yaml:"checks"`
}

func pass(name, reason string) Check { return Check{Name: name, Passed: true, Reason: reason} }
func skip(name, reason string) Check { return Check{Name: name, Skipped: true, Reason: reason} }

// reasoner is implemented by the typed errors: the message without the
// "topic: " prefix, which the check name already says.
type reasoner interface{ reason() string }

// fail builds a failed check carrying err.
func fail(name string, err error) Check {
	msg := err.Error()
	if r, ok := err.(reasoner); ok {
		msg = r.reason()
	}
	return Check{Name: name, Reason: msg, Err: err}
}

// Verify checks in against policy p (nil means the zero Policy) and
// returns a report listing every check. It never stops at the first
// failure, so the report shows everything that is wrong.
func Verify(in *Evidence, p *Policy) *Report {
	if p == nil {
		p = &Policy{}
	}
	return verify(in, p)
}

// VerifyVerdict is Verify for a caller that shows only the verdict and
// what failed (see VerifyBundleVerdict).
func VerifyVerdict(in *Evidence, p *Policy) *Report {
	return verify(in, tersePolicy(p))
}

// tersePolicy is a copy of p (nil: the zero Policy) that asks for a terse
// report.
func tersePolicy(p *Policy) *Policy {
	t := Policy{}
	if p != nil {
		t = *p
	}
	t.terse = true
	return &t
}

func verify(in *Evidence, p *Policy) *Report {
	if in == nil || in.Attest == nil {
		c := fail(CheckAttestHeader, &AttestHeaderError{})
		c.Reason = "no TPMS_ATTEST given"
		return &Report{Checks: []Check{c}}
	}
	akChecks, cert := checkAK(in, p)
	rep := verifyQuote(in, p, akChecks)
	if cert != nil {
		rep.Checks = append(rep.Checks, *cert)
	}
	if in.EKCert != nil || p.EK != nil {
		var checks []Check
		rep.EK, checks = verifyEKEvidence(in.EKCert, p)
		rep.Checks = append(rep.Checks, checks...)
	}
	rep.Verified = rep.Checks.Verified()
	return rep
}

// checkAK runs the checks that concern the AK alone: its attributes, its
// Name and whether anything vouches for it, and its certificate when the
// policy asks for one (nil otherwise). They are the same for every quote
// the AK signed.
func checkAK(in *Evidence, p *Policy) (quoteChecks []Check, cert *Check) {
	name := checkAKName(in.AK, p)
	if p.AKCert != nil {
		cp := *p.AKCert
		cp.Intermediates = append(cp.Intermediates[:len(cp.Intermediates):len(cp.Intermediates)], in.AKIntermediates...)
		c := VerifyAKCert(in.AKCert, in.AK, &cp, p)
		cert = &c
	}
	return []Check{checkAKAttributes(in.AK, p), name, checkAKTrust(in.AK, p, name, cert)}, cert
}

// verifyQuote runs the checks of one quote, with the AK's checks made
// once by checkAK.
func verifyQuote(in *Evidence, p *Policy, akChecks []Check) *Report {
	a := in.Attest
	rep := &Report{}
	if !p.terse {
		rep.Quote, rep.AK = summarize(a, in.Signature), summarizeAK(in.AK)
	}

	var sel pcr.Selection
	var selErr error
	if a.Quote == nil {
		selErr = fmt.Errorf("the TPMS_ATTEST is %s, not a quote, so it holds no PCR selection", a.Type)
	} else if sel, selErr = a.Quote.Selection(); selErr != nil {
		selErr = fmt.Errorf("quoted selection: %w", selErr)
	}

	expected, explained := checkExpected(in, p, sel, selErr)
	rep.Checks = make(verdict.Checks, 0, 8+len(akChecks))
	rep.Checks = append(rep.Checks, checkHeader(a), checkSignature(in, p.terse))
	rep.Checks = append(rep.Checks, akChecks...)
	rep.Checks = append(rep.Checks,
		checkNonce(a, p),
		checkSelection(sel, selErr, in.PCRs, p),
		checkPCRDigest(a, in, sel, selErr, p.terse),
		checkEventLog(in, p, sel, selErr, explained),
		expected,
		checkClock(a, p),
	)
	// Values that passed the log or expected-value checks are only worth
	// something if the quote authenticates them: say so where it does not.
	if c1, c2 := rep.Check(CheckSignature), rep.Check(CheckPCRDigest); !p.terse && (!c1.Passed || !c2.Passed) {
		for _, name := range []string{CheckEventLog, CheckExpected} {
			if c := rep.Check(name); c.Passed {
				c.Reason += " (but these PCR values are not authenticated: the signature or pcr-digest check failed)"
			}
		}
	}
	rep.Verified = rep.Checks.Verified()
	return rep
}

func summarize(a *tpmstruct.Attest, sig *tpmstruct.Signature) *QuoteSummary {
	s := &QuoteSummary{
		Magic:           fmt.Sprintf("0x%08x", a.Magic),
		Type:            fmt.Sprintf("%s (0x%04x)", a.Type, uint16(a.Type)),
		QualifiedSigner: hex.EncodeToString(a.QualifiedSigner),
		ExtraData:       hex.EncodeToString(a.ExtraData),
		Clock:           a.ClockInfo.Clock,
		ResetCount:      a.ClockInfo.ResetCount,
		RestartCount:    a.ClockInfo.RestartCount,
		Safe:            a.ClockInfo.Safe,
		FirmwareVersion: fmt.Sprintf("0x%016x", a.FirmwareVersion),
	}
	if a.Quote != nil {
		if sel, err := a.Quote.Selection(); err == nil {
			s.Selection = sel.String()
		} else {
			s.Selection = "invalid: " + err.Error()
		}
		s.PCRDigest = hex.EncodeToString(a.Quote.PCRDigest)
	}
	if sig != nil {
		s.Signature = sig.String()
	}
	return s
}

func summarizeAK(k *tpmstruct.PublicKey) *AKSummary {
	if k == nil {
		return nil
	}
	s := &AKSummary{Format: k.Format, Key: k.String()}
	if t := k.TPM; t != nil {
		s.Attributes = t.Attributes.String()
		s.Scheme = t.Scheme.String()
		if t.Scheme != tpmstruct.SchemeNull {
			s.Scheme += "/" + t.SchemeHash.String()
		}
		if n, err := t.Name(); err == nil {
			s.Name = hex.EncodeToString(n)
		}
	}
	return s
}

func checkHeader(a *tpmstruct.Attest) Check {
	if a.Magic != tpmstruct.GeneratedValue || a.Type != tpmstruct.AttestQuote {
		return fail(CheckAttestHeader, &AttestHeaderError{Magic: a.Magic, Type: a.Type})
	}
	return pass(CheckAttestHeader, "magic 0xff544347 (TPM_GENERATED_VALUE), type TPM_ST_ATTEST_QUOTE (0x8018)")
}

func checkSignature(in *Evidence, terse bool) Check {
	sig, ak := in.Signature, in.AK
	sigErr := func(reason string) Check {
		e := &SignatureError{Reason: reason}
		if sig != nil {
			e.Scheme, e.Hash = sig.Scheme, sig.Hash
		}
		return fail(CheckSignature, e)
	}
	if sig == nil {
		return sigErr("no signature given: nothing in the quote is authenticated")
	}
	if ak == nil {
		return sigErr(fmt.Sprintf("no AK public key given, so the %s signature cannot be checked and nothing in the quote is authenticated", sig.Scheme))
	}
	h, ok := sig.Hash.CryptoHash()
	if !ok {
		return sigErr(fmt.Sprintf("hash %s (0x%04x) is not one goldenpcr verifies signatures with (sha1, sha256, sha384, sha512)", sig.Hash, uint16(sig.Hash)))
	}
	if t := ak.TPM; t != nil && t.Scheme != tpmstruct.SchemeNull && (t.Scheme != sig.Scheme || t.SchemeHash != sig.Hash) {
		return sigErr(fmt.Sprintf("the AK is fixed to %s/%s, but the signature is %s/%s", t.Scheme, t.SchemeHash, sig.Scheme, sig.Hash))
	}
	if terse {
		if signatureVerifies(in) {
			return pass(CheckSignature, "")
		}
		return checkSignature(in, false)
	}
	msg := in.Attest.Raw
	if msg == nil {
		msg = in.Attest.Marshal() // an Attest built by hand, not parsed
	}
	hh := h.New()
	hh.Write(msg)
	digest := hh.Sum(nil)
	over := fmt.Sprintf("%s over the %d-byte TPMS_ATTEST", sig.Hash, len(msg))
	details := []string{"scheme", sig.Scheme.String(), "hash", sig.Hash.String(), "key", ak.String(), "message_digest", hex.EncodeToString(digest)}
	switch sig.Scheme {
	case tpmstruct.SchemeRSASSA, tpmstruct.SchemeRSAPSS:
		pub, ok := ak.Key.(*rsa.PublicKey)
		if !ok {
			return sigErr(fmt.Sprintf("an RSA (%s) signature, but the AK is %s", sig.Scheme, ak))
		}
		if sig.Scheme == tpmstruct.SchemeRSASSA {
			if err := rsa.VerifyPKCS1v15(pub, h, digest, sig.RSA); err != nil {
				return sigErr(fmt.Sprintf("RSASSA-PKCS1-v1_5 with %s does not verify under the AK (%s): %v", over, ak, err)).With(details...)
			}
			return pass(CheckSignature, fmt.Sprintf("RSASSA-PKCS1-v1_5 with %s verifies under the AK (%s)", over, ak)).With(details...)
		}
		if err := rsa.VerifyPSS(pub, h, digest, sig.RSA, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: h}); err != nil {
			return sigErr(fmt.Sprintf("RSASSA-PSS with %s does not verify under the AK (%s): %v", over, ak, err)).With(details...)
		}
		salt := pssSaltLength(pub, h, sig.RSA)
		return pass(CheckSignature, fmt.Sprintf("RSASSA-PSS with %s (salt %d bytes) verifies under the AK (%s)", over, salt, ak)).
			With(details...).With("pss_salt_length", fmt.Sprint(salt))
	case tpmstruct.SchemeECDSA:
		pub, ok := ak.Key.(*ecdsa.PublicKey)
		if !ok {
			return sigErr(fmt.Sprintf("an ECDSA signature, but the AK is %s", ak))
		}
		r, s := new(big.Int).SetBytes(sig.R), new(big.Int).SetBytes(sig.S)
		if !ecdsa.Verify(pub, digest, r, s) {
			return sigErr(fmt.Sprintf("ECDSA with %s does not verify under the AK (%s)", over, ak)).With(details...)
		}
		return pass(CheckSignature, fmt.Sprintf("ECDSA with %s verifies under the AK (%s)", over, ak)).With(details...)
	}
	return sigErr(fmt.Sprintf("scheme %s is not one goldenpcr verifies (rsassa, rsapss, ecdsa)", sig.Scheme))
}

// pssSaltLength recovers the salt length of a valid RSASSA-PSS signature
// (EMSA-PSS decoding, RFC 8017 9.1.2), for the report: TPMs differ in
// using the hash length or the maximum. It returns -1 when decoding fails.
func pssSaltLength(pub *rsa.PublicKey, h crypto.Hash, sig []byte) int {
	m := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(pub.E)), pub.N)
	emBits := pub.N.BitLen() - 1
	emLen := (emBits + 7) / 8
	hLen := h.Size()
	if m.BitLen() > emBits || emLen < hLen+2 {
		return -1
	}
	em := m.FillBytes(make([]byte, emLen))
	if em[emLen-1] != 0xbc {
		return -1
	}
	dbLen := emLen - hLen - 1
	db := append([]byte{}, em[:dbLen]...)
	seed := em[dbLen : emLen-1]
	var counter [4]byte
	for done := 0; done < dbLen; {
		hh := h.New()
		hh.Write(seed)
		hh.Write(counter[:])
		for _, b := range hh.Sum(nil) {
			if done < dbLen {
				db[done] ^= b
				done++
			}
		}
		for i := 3; i >= 0; i-- {
			counter[i]++
			if counter[i] != 0 {
				break
			}
		}
	}
	db[0] &= 0xff >> (8*emLen - emBits)
	i := 0
	for i < dbLen && db[i] == 0 {
		i++
	}
	if i == dbLen || db[i] != 1 {
		return -1
	}
	return dbLen - i - 1
}

func checkAKAttributes(ak *tpmstruct.PublicKey, p *Policy) Check {
	if ak == nil {
		return fail(CheckAKAttributes, &AKAttributesError{Reason: "no AK given"})
	}
	t := ak.TPM
	if t == nil {
		if p.AllowUnrestricted {
			return skip(CheckAKAttributes, fmt.Sprintf("not checked: a %s key carries no TPM object attributes; accepted by %s", ak.Format, p.name(OptAllowUnrestricted)))
		}
		return fail(CheckAKAttributes, &AKAttributesError{OptOut: OptAllowUnrestricted, Reason: fmt.Sprintf(
			"a %s key carries no TPM object attributes, so nothing shows it is a restricted TPM signing key; give its TPM2B_PUBLIC (tpm2_createak -u, tpm2_readpublic -f tss) or pass %s", ak.Format, p.name(OptAllowUnrestricted))})
	}
	attrs := t.Attributes
	if p.terse && attrs&(tpmstruct.AttrSign|tpmstruct.AttrRestricted) == tpmstruct.AttrSign|tpmstruct.AttrRestricted {
		return pass(CheckAKAttributes, "")
	}
	details := []string{"attributes", attrs.String(), "name_alg", t.NameAlg.String()}
	var notes []string
	if attrs&tpmstruct.AttrFixedTPM == 0 {
		notes = append(notes, "not fixedtpm: the key may exist outside this TPM")
	}
	var missing []string
	if attrs&tpmstruct.AttrSign == 0 {
		missing = append(missing, "sign")
	}
	if attrs&tpmstruct.AttrRestricted == 0 {
		missing = append(missing, "restricted")
	}
	switch {
	case len(missing) == 0:
		return pass(CheckAKAttributes, "restricted signing key ("+attrs.String()+")").With(details...).Note(notes...)
	case attrs&tpmstruct.AttrSign == 0:
		return fail(CheckAKAttributes, &AKAttributesError{Known: true, Attributes: attrs, Missing: missing,
			Reason: "the AK is not a signing key (" + attrs.String() + ")"}).With(details...).Note(notes...)
	case p.AllowUnrestricted:
		return pass(CheckAKAttributes, "unrestricted signing key accepted by "+p.name(OptAllowUnrestricted)+" ("+attrs.String()+"); such a key can sign a forged TPMS_ATTEST, so trust rests on who holds it").With(details...).Note(notes...)
	}
	return fail(CheckAKAttributes, &AKAttributesError{Known: true, Attributes: attrs, Missing: missing, OptOut: OptAllowUnrestricted,
		Reason: "the AK is not restricted (" + attrs.String() + "): an unrestricted signing key signs any data, a forged TPMS_ATTEST included; quote with a restricted AK, or pass " + p.name(OptAllowUnrestricted) + " (GyroidOS CML keys are unrestricted)"}).With(details...).Note(notes...)
}

func checkAKName(ak *tpmstruct.PublicKey, p *Policy) Check {
	if p.AKName == nil {
		return skip(CheckAKName, "no expected AK name given")
	}
	if ak == nil || ak.TPM == nil {
		format := "no"
		if ak != nil {
			format = "a " + ak.Format
		}
		return fail(CheckAKName, &AKNameError{Expected: p.AKName, Reason: format + " AK has no TPM Name; give its TPM2B_PUBLIC"})
	}
	name, err := ak.TPM.Name()
	if err != nil {
		return fail(CheckAKName, &AKNameError{Expected: p.AKName, Reason: err.Error()})
	}
	if !bytes.Equal(name, p.AKName) {
		return fail(CheckAKName, &AKNameError{Expected: p.AKName, Got: name,
			Reason: fmt.Sprintf("the AK's Name is %x, expected %x", name, p.AKName)})
	}
	if p.terse {
		return pass(CheckAKName, "")
	}
	return pass(CheckAKName, fmt.Sprintf("the AK's Name %x is the expected one", name))
}

func checkNonce(a *tpmstruct.Attest, p *Policy) Check {
	if p.terse && len(p.Nonce) > 0 && bytes.Equal(a.ExtraData, p.Nonce) {
		return pass(CheckNonce, "")
	}
	got := hexOrEmpty(a.ExtraData)
	if len(p.Nonce) == 0 {
		if p.NoNonce {
			return skip(CheckNonce, "not checked ("+p.name(OptNoNonce)+"): without a nonce this quote may be replayed from any earlier time; extraData is "+got).
				With("extra_data", got)
		}
		c := fail(CheckNonce, &NonceError{Got: a.ExtraData})
		c.Reason = "no nonce given: a recorded quote without a fresh nonce can be replayed forever (give " + p.name(OptNonce) + ", or " + p.name(OptNoNonce) + " to accept that); extraData is " + got
		return c.With("extra_data", got)
	}
	if !bytes.Equal(a.ExtraData, p.Nonce) {
		c := fail(CheckNonce, &NonceError{Expected: p.Nonce, Got: a.ExtraData})
		if len(a.ExtraData) > len(p.Nonce) && bytes.HasPrefix(a.ExtraData, p.Nonce) {
			c.Reason = fmt.Sprintf("extraData %s starts with the nonce but has %d more bytes (rattestation compares only the first 8 bytes; goldenpcr the whole field)", got, len(a.ExtraData)-len(p.Nonce))
		}
		return c.With("extra_data", got, "nonce", hex.EncodeToString(p.Nonce))
	}
	return pass(CheckNonce, fmt.Sprintf("extraData equals the %d-byte nonce %s", len(p.Nonce), got))
}

// selectsAny reports whether a selection names a PCR.
func selectsAny(sel pcr.Selection) bool {
	for _, b := range sel {
		if len(b.PCRs) > 0 {
			return true
		}
	}
	return false
}

// refs lists the PCRs of a selection.
func refs(sel pcr.Selection) []PCRRef {
	var out []PCRRef
	for _, b := range sel {
		for _, i := range b.PCRs {
			out = append(out, PCRRef{Bank: b.Alg, PCR: i})
		}
	}
	return out
}

func checkSelection(sel pcr.Selection, selErr error, vals pcr.Values, p *Policy) Check {
	requested := p.Selection
	if selErr != nil {
		return fail(CheckPCRSelection, &SelectionError{Reason: selErr.Error()})
	}
	if vals == nil {
		return fail(CheckPCRSelection, &SelectionError{Quoted: sel,
			Reason: "no PCR values given, so the quote's pcrDigest is not tied to any values (give the values tpm2_quote -o wrote)"})
	}
	if !selectsAny(sel) {
		return fail(CheckPCRSelection, &SelectionError{Quoted: sel,
			Reason: "the quote selects no PCR, so it says nothing about the platform's state"})
	}
	if p.terse && requested == nil && selectionIsExactly(sel, vals) {
		return pass(CheckPCRSelection, "")
	}
	supplied := vals.Selection()
	missing, extra, why := selectionDiff(sel, supplied, "quoted but not supplied", "supplied but not quoted")
	if len(missing) == 0 && len(extra) == 0 {
		if requested != nil {
			return checkRequested(sel, requested)
		}
		return pass(CheckPCRSelection, fmt.Sprintf("the quote selects %s, exactly the supplied PCRs", sel))
	}
	return fail(CheckPCRSelection, &SelectionError{Quoted: sel, Supplied: supplied, Missing: missing, Extra: extra,
		Reason: fmt.Sprintf("the quote selects %s, the supplied values are %s (%s)", sel, supplied, why)})
}

// selectionDiff lists the PCRs of a that b lacks and those of b that a
// lacks, and words both with the labels given.
func selectionDiff(a, b pcr.Selection, onlyA, onlyB string) (inA, inB []PCRRef, why string) {
	for _, r := range refs(a) {
		if !b.Contains(r.Bank, r.PCR) {
			inA = append(inA, r)
		}
	}
	for _, r := range refs(b) {
		if !a.Contains(r.Bank, r.PCR) {
			inB = append(inB, r)
		}
	}
	var parts []string
	if len(inA) > 0 {
		parts = append(parts, onlyA+": "+refList(inA))
	}
	if len(inB) > 0 {
		parts = append(parts, onlyB+": "+refList(inB))
	}
	return inA, inB, strings.Join(parts, "; ")
}

// checkRequested compares the quote's selection, which the supplied
// values match, with the one the verifier asked for.
func checkRequested(sel, requested pcr.Selection) Check {
	unquoted, unrequested, why := selectionDiff(requested, sel, "requested but not quoted", "quoted but not requested")
	if len(unquoted) == 0 && len(unrequested) == 0 {
		return pass(CheckPCRSelection, fmt.Sprintf("the quote selects %s, exactly the requested and supplied PCRs", sel))
	}
	return fail(CheckPCRSelection, &SelectionError{Quoted: sel, Supplied: sel, Requested: requested, Unquoted: unquoted, Unrequested: unrequested,
		Reason: fmt.Sprintf("the quote selects %s, the verifier asked for %s (%s)", sel, requested, why)})
}

func checkPCRDigest(a *tpmstruct.Attest, in *Evidence, sel pcr.Selection, selErr error, terse bool) Check {
	if selErr != nil {
		return fail(CheckPCRDigest, &PCRDigestError{Reason: selErr.Error()})
	}
	quoted := a.Quote.PCRDigest
	var alg pcr.Alg
	note := ""
	switch {
	case in.Signature != nil:
		alg = in.Signature.Hash
		if !alg.Valid() {
			return fail(CheckPCRDigest, &PCRDigestError{Alg: alg, Quoted: quoted,
				Reason: fmt.Sprintf("the signature's hash %s, which a TPM also uses for pcrDigest, is unknown", alg)})
		}
	default:
		var ok bool
		if alg, ok = pcr.AlgForSize(len(quoted)); !ok {
			return fail(CheckPCRDigest, &PCRDigestError{Quoted: quoted,
				Reason: fmt.Sprintf("no signature names the hash, and a %d-byte pcrDigest fits none", len(quoted))})
		}
		note = " (hash taken from the digest size: no signature)"
	}
	if in.PCRs == nil {
		return fail(CheckPCRDigest, &PCRDigestError{Alg: alg, Quoted: quoted, Reason: "no PCR values given to compute it from"})
	}
	got, err := sel.CompositeDigest(alg, in.PCRs)
	if err != nil {
		return fail(CheckPCRDigest, &PCRDigestError{Alg: alg, Quoted: quoted, Reason: "cannot compute: " + err.Error()})
	}
	if terse && bytes.Equal(got, quoted) {
		return pass(CheckPCRDigest, "")
	}
	details := []string{"hash", alg.String(), "quoted", hex.EncodeToString(quoted), "computed", hex.EncodeToString(got)}
	if !bytes.Equal(got, quoted) {
		return fail(CheckPCRDigest, &PCRDigestError{Alg: alg, Quoted: quoted, Computed: got,
			Reason: fmt.Sprintf("%s of the supplied values in quote order is %x, the quote's pcrDigest is %x: a supplied value differs from what the TPM quoted%s", alg, got, quoted, note)}).With(details...)
	}
	return pass(CheckPCRDigest, fmt.Sprintf("%s of the %d supplied values in quote order equals pcrDigest %x%s", alg, len(refs(sel)), quoted, note)).With(details...)
}

// refSet is a set of bank:PCR references.
type refSet map[PCRRef]bool

// lastEventName names the last event extended into PCR i: "event #9", or
// in a combined replay "record #2 of tpm2-measure.log".
func lastEventName(rp *eventlog.Replay, i int) string {
	if len(rp.Logs) < 2 {
		return fmt.Sprintf("event #%d", rp.LastEvent[i])
	}
	l := rp.Logs[rp.LastLog[i]]
	unit := "event"
	if strings.HasPrefix(l.Format, "cel-") {
		unit = "record"
	}
	return fmt.Sprintf("%s #%d of %s", unit, rp.LastEvent[i], l.Name)
}

func checkEventLog(in *Evidence, p *Policy, sel pcr.Selection, selErr error, explained refSet) Check {
	rp := in.EventLog
	if rp == nil {
		if p.RequireEventLog {
			return fail(CheckEventLog, &ReplayError{PCR: -1, LastEvent: -1,
				Reason: "an event log is required, and none was given: nothing explains the quoted PCR values"})
		}
		return skip(CheckEventLog, "no event log given")
	}
	if selErr != nil {
		return fail(CheckEventLog, &ReplayError{PCR: -1, Reason: selErr.Error()})
	}
	if in.PCRs == nil {
		return fail(CheckEventLog, &ReplayError{PCR: -1, Reason: "no PCR values given to compare the replay with"})
	}
	var first *ReplayError
	// A terse report keeps only what a failure words: the count of
	// matched PCRs, not their lists.
	var failing, matched, notLogged, unexplained, byOther []PCRRef
	nMatched := 0
	for _, b := range sel {
		if !containsAlg(rp.Banks, b.Alg) {
			failing = append(failing, PCRRef{Bank: b.Alg, PCR: -1})
			if first == nil {
				first = &ReplayError{Bank: b.Alg, PCR: -1, LastEvent: -1,
					Reason: fmt.Sprintf("the quote covers bank %s, but the event log has no %s digests (banks in log: %s)", b.Alg, b.Alg, algList(rp.Banks))}
			}
			continue
		}
		quotedBank, replayedBank := in.PCRs[b.Alg], rp.Values[b.Alg]
		for _, i := range b.PCRs {
			ref := PCRRef{Bank: b.Alg, PCR: i}
			quoted, ok := quotedBank[i]
			if !ok {
				continue // the selection and digest checks report this
			}
			replayed := replayedBank[i]
			if !rp.Touched(i) {
				switch {
				case bytes.Equal(quoted, replayed):
					if !p.terse {
						notLogged = append(notLogged, ref)
					}
				case explained[ref] || slices.Contains(p.UnloggedPCRs, i):
					if !p.terse {
						byOther = append(byOther, ref)
					}
				default:
					unexplained = append(unexplained, ref)
				}
				continue
			}
			if bytes.Equal(quoted, replayed) {
				nMatched++
				if !p.terse {
					matched = append(matched, ref)
				}
				continue
			}
			failing = append(failing, ref)
			if first == nil {
				first = &ReplayError{Bank: b.Alg, PCR: i, Replayed: replayed, Quoted: quoted, LastEvent: rp.LastEvent[i]}
			}
		}
	}
	if p.terse && first == nil && len(rp.DigestIssues) == 0 && len(unexplained) == 0 && nMatched > 0 {
		return pass(CheckEventLog, "")
	}
	details := []string{"events", fmt.Sprint(rp.Events), "log_banks", algList(rp.Banks)}
	if len(rp.Logs) > 1 {
		var names []string
		for _, l := range rp.Logs {
			names = append(names, l.Name)
		}
		details = append(details, "logs", strings.Join(names, " + "))
	}
	if len(notLogged) > 0 {
		details = append(details, "not_in_log", refList(notLogged))
	}
	if len(byOther) > 0 {
		details = append(details, "outside_log", refList(byOther))
	}
	if first == nil && len(rp.DigestIssues) > 0 {
		d := rp.DigestIssues[0]
		first = &ReplayError{PCR: d.PCR, LastEvent: d.Event,
			Reason: fmt.Sprintf("event #%d (%s, PCR %d, at byte %d) has a digest that contradicts its data (%s), so what the log says about it is forged or corrupt; %d such events in all",
				d.Event, d.Type, d.PCR, d.Offset, d.Check.Status, len(rp.DigestIssues))}
	}
	if first == nil && len(unexplained) > 0 {
		first = &ReplayError{PCR: -1, LastEvent: -1, Reason: fmt.Sprintf(
			"%s: quoted off their reset value, but no event of the log extends them and nothing else explains them (events removed from the log, or PCRs extended outside it: name those as extended outside the log, or give expected values for them)",
			refList(unexplained))}
		failing = unexplained
	}
	if len(rp.DigestIssues) > 0 {
		details = append(details, "digest_issues", fmt.Sprintf("%d events' digests do not match their data (see goldenpcr eventlog show)", len(rp.DigestIssues)))
	}
	if len(unexplained) > 0 {
		details = append(details, "unexplained", refList(unexplained))
	}
	if first != nil {
		first.Failing = failing
		c := fail(CheckEventLog, first)
		if first.PCR >= 0 && first.Replayed != nil {
			c.Reason = fmt.Sprintf("%s PCR %d replays to %x, the quote says %x (last extended by %s)",
				first.Bank, first.PCR, first.Replayed, first.Quoted, lastEventName(rp, first.PCR))
			if len(failing) > 1 {
				c.Reason += fmt.Sprintf("; %d PCRs differ in all: %s", len(failing), refList(failing))
			}
		}
		return c.With(details...)
	}
	if nMatched == 0 {
		c := fail(CheckEventLog, &ReplayError{PCR: -1, LastEvent: -1,
			Reason: fmt.Sprintf("the event log extends none of the quoted PCRs (%s), so it explains nothing the quote says", sel)}).With(details...)
		return c
	}
	reason := fmt.Sprintf("the log's %d events replay to the quoted value of %s", rp.Events, refList(matched))
	if len(notLogged) > 0 {
		reason += fmt.Sprintf("; %s not in the log (at their reset value)", refList(notLogged))
	}
	if len(byOther) > 0 {
		reason += fmt.Sprintf("; %s extended outside the log (the log does not vouch for them)", refList(byOther))
	}
	return pass(CheckEventLog, reason).With(details...)
}

func containsAlg(list []pcr.Alg, a pcr.Alg) bool {
	for _, b := range list {
		if a == b {
			return true
		}
	}
	return false
}

func algList(list []pcr.Alg) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.String()
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// checkExpected compares the quoted values with the expected ones and
// returns the PCRs it found equal to them, which the event-log check
// counts as explained.
func checkExpected(in *Evidence, p *Policy, sel pcr.Selection, selErr error) (Check, refSet) {
	if p.Expected == nil {
		return skip(CheckExpected, "no expected PCR values given"), nil
	}
	if selErr != nil {
		c := fail(CheckExpected, &PCRMismatchError{Alternative: -1})
		c.Reason = selErr.Error()
		return c, nil
	}
	quoted := pcr.Values{}
	if in.PCRs != nil {
		quoted = sel.Filter(in.PCRs)
	}
	// ExpectedBanks narrows the comparison to some banks (CML's SHA-256);
	// otherwise a reference that must name every quoted PCR (a CoRIM) is
	// held to that.
	var m *baseline.Match
	var err error
	if len(p.ExpectedBanks) > 0 {
		m, err = p.Expected.Compare(quoted, p.ExpectedBanks)
	} else {
		m, err = p.Expected.CompareQuoted(sel, quoted)
	}
	if err != nil {
		c := fail(CheckExpected, &PCRMismatchError{Alternative: -1})
		c.Reason = "baseline: " + err.Error()
		return c.Note(p.Expected.Notes...), nil
	}
	if p.terse && m.OK && (m.Composite != nil || len(m.Rows) > 0) {
		return pass(CheckExpected, ""), matchedRefs(m.Rows)
	}
	c, explained := expectedCheck(m)
	return c.Note(p.Expected.Notes...), explained
}

// matchedRefs is the set of PCRs the comparison found equal.
func matchedRefs(rows []pcr.Comparison) refSet {
	out := refSet{}
	for _, r := range rows {
		if r.Status == pcr.Match {
			out[PCRRef{Bank: r.Alg, PCR: r.Index}] = true
		}
	}
	return out
}

// expectedCheck words the outcome of comparing the quoted values with the
// expected ones, and returns the PCRs found equal to them.
func expectedCheck(m *baseline.Match) (Check, refSet) {
	rows, idx := m.Rows, m.Alternative
	explained := matchedRefs(rows)
	alt, closest, variants := "", "", ""
	if m.Alternatives > 1 {
		alt = fmt.Sprintf(" of alternative %d", idx+1)
		closest = fmt.Sprintf(" (closest: alternative %d of %d)", idx+1, m.Alternatives)
	}
	if m.ByVariant > 0 {
		variants = fmt.Sprintf(" (%d by an accepted variant)", m.ByVariant)
	}
	if cm := m.Composite; cm != nil {
		if m.OK {
			return pass(CheckExpected, fmt.Sprintf("%s of the quoted values of %s in selection order equals the composite digest %s", cm.Hash, cm.Selection, cm.Expected)), explained
		}
		var bad []pcr.Comparison
		for _, r := range rows {
			if r.Status != pcr.Match {
				bad = append(bad, r)
			}
		}
		c := fail(CheckExpected, &PCRMismatchError{Alternative: -1, PCRs: bad})
		c.Reason = strings.Join(m.Reasons, "; ")
		c = c.With("composite_selection", cm.Selection, "composite_digest", cm.Expected)
		if cm.Computed != "" {
			c = c.With("computed", cm.Computed)
		}
		return c, explained
	}
	if m.OK {
		if len(rows) == 0 {
			c := fail(CheckExpected, &PCRMismatchError{Alternative: -1})
			c.Reason = "the expected values name no PCR, so they check nothing"
			return c, nil
		}
		return pass(CheckExpected, fmt.Sprintf("all %d expected PCRs%s equal the quoted values%s", len(rows), alt, variants)), explained
	}
	var bad []pcr.Comparison
	details := []string{}
	for _, r := range rows {
		if r.Status != pcr.Match {
			bad = append(bad, r)
			got := r.Got
			if got == "" {
				got = "(not quoted)"
			}
			details = append(details, fmt.Sprintf("%s:%d", r.Bank, r.Index), "quoted "+got+", expected "+r.Expected)
		}
	}
	c := fail(CheckExpected, &PCRMismatchError{Alternative: idx, PCRs: bad})
	c.Reason = fmt.Sprintf("%d of %d expected PCRs differ%s: %s", len(bad), len(rows), closest, c.Reason)
	if len(m.Reasons) > 0 {
		c.Reason += " (" + strings.Join(m.Reasons, "; ") + ")"
	}
	return c.With(details...), explained
}

// obfuscationNote: TPM 2.0 Part 1, "Obfuscation": a key outside the
// endorsement and platform hierarchies gets these fields XORed with a
// per-key value (seen with GyroidOS CML and any key under the owner's SRK).
const obfuscationNote = "resetCount, restartCount and firmwareVersion are obfuscated (XORed with a per-key value) when the AK is not in the endorsement or platform hierarchy, e.g. a key under the owner's SRK; limits on them only mean something for an AK under the EK (tpm2_createak) or between quotes of one key"

// clockWithinLimits reports whether clockInfo meets every limit of p.
func clockWithinLimits(ci tpmstruct.ClockInfo, p *Policy) bool {
	return (p.MinResetCount == 0 || ci.ResetCount >= p.MinResetCount) &&
		(p.MinRestartCount == 0 || ci.RestartCount >= p.MinRestartCount) &&
		(p.MinClock == 0 || ci.Clock >= p.MinClock) &&
		(p.MaxClock == 0 || ci.Clock <= p.MaxClock) &&
		(!p.RequireSafe || ci.Safe)
}

func checkClock(a *tpmstruct.Attest, p *Policy) Check {
	ci := a.ClockInfo
	if p.terse && clockWithinLimits(ci, p) {
		if p.MinResetCount == 0 && p.MinRestartCount == 0 && p.MinClock == 0 && p.MaxClock == 0 && !p.RequireSafe {
			return skip(CheckClock, "")
		}
		return pass(CheckClock, "")
	}
	safe := "no"
	if ci.Safe {
		safe = "yes"
	}
	state := fmt.Sprintf("clock %d ms, resetCount %d, restartCount %d, safe %s, firmwareVersion 0x%016x",
		ci.Clock, ci.ResetCount, ci.RestartCount, safe, a.FirmwareVersion)
	// The values themselves are in the report's quote summary.
	details := []string{"note", obfuscationNote}
	var notes []string
	if p.MinResetCount > 0 || p.MinRestartCount > 0 {
		notes = append(notes, obfuscationNote)
	}
	var errs []*FreshnessError
	if p.MinResetCount > 0 && ci.ResetCount < p.MinResetCount {
		errs = append(errs, &FreshnessError{Field: "resetCount", Got: uint64(ci.ResetCount), Limit: uint64(p.MinResetCount), Rule: "at least"})
	}
	if p.MinRestartCount > 0 && ci.RestartCount < p.MinRestartCount {
		errs = append(errs, &FreshnessError{Field: "restartCount", Got: uint64(ci.RestartCount), Limit: uint64(p.MinRestartCount), Rule: "at least"})
	}
	if p.MinClock > 0 && ci.Clock < p.MinClock {
		errs = append(errs, &FreshnessError{Field: "clock", Got: ci.Clock, Limit: p.MinClock, Rule: "at least"})
	}
	if p.MaxClock > 0 && ci.Clock > p.MaxClock {
		errs = append(errs, &FreshnessError{Field: "clock", Got: ci.Clock, Limit: p.MaxClock, Rule: "at most"})
	}
	if p.RequireSafe && !ci.Safe {
		errs = append(errs, &FreshnessError{Field: "safe", Got: 0, Limit: 1, Rule: "must be"})
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.reason()
		}
		c := fail(CheckClock, errs[0])
		c.Reason = strings.Join(msgs, "; ") + " (" + state + ")"
		return c.With(details...).Note(notes...)
	}
	if p.MinResetCount == 0 && p.MinRestartCount == 0 && p.MinClock == 0 && p.MaxClock == 0 && !p.RequireSafe {
		return skip(CheckClock, "no limits set; "+state).With(details...).Note(notes...)
	}
	return pass(CheckClock, "within the limits: "+state).With(details...).Note(notes...)
}
