package quote

import (
	"fmt"
	"strings"

	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// Names of the certificate checks.
const (
	CheckEKCert = "ek-cert"
	CheckEKPub  = "ek-pub"
	CheckAKCert = "ak-cert"
)

// AKCertError: the AK certificate is missing, does not verify, or
// certifies another key than the one that signed the quote.
type AKCertError struct {
	// Missing names the input that was not given (OptAKCert, OptAKRoots),
	// "" when the certificate was checked and failed.
	Missing Option
	Reason  string
}

func (e *AKCertError) Error() string  { return "AK certificate: " + e.Reason }
func (e *AKCertError) reason() string { return e.Reason }

// EKError: the EK certificate does not verify or does not certify the
// expected EK.
type EKError struct {
	// Missing names the input that was not given (OptEKRoots), "" when
	// the certificate was checked and failed.
	Missing Option
	Reason  string
}

func (e *EKError) Error() string  { return "EK: " + e.Reason }
func (e *EKError) reason() string { return e.Reason }

// VerifyAKCert checks that cert, the certificate of the attestation key,
// chains to one of p.Roots (through p.Intermediates, for any extended key
// usage, a TCG subjectAltName handled as for EK certificates) and
// certifies ak, the key the quote was verified with. A nil cert fails:
// roots were given, so a certified AK is required. names words the
// missing inputs (nil: the library's words).
func VerifyAKCert(cert *tpmcert.TPMCertificate, ak *tpmstruct.PublicKey, p *tpmcert.AKCertPolicy, names *Policy) Check {
	if cert == nil {
		return fail(CheckAKCert, &AKCertError{Missing: OptAKCert,
			Reason: "AK roots were given but there is no AK certificate (" + names.name(OptAKCert) + ")"})
	}
	details := []string{"subject", cert.Cert.Subject.String(), "issuer", cert.Cert.Issuer.String()}
	if len(p.Roots) == 0 {
		return fail(CheckAKCert, &AKCertError{Missing: OptAKRoots,
			Reason: "no AK root CAs given (" + names.name(OptAKRoots) + "), so nothing shows who certified the AK"}).With(details...)
	}
	chain, err := cert.Chain(p.Roots, p.Intermediates, p.Now)
	if err != nil {
		return fail(CheckAKCert, &AKCertError{Reason: "it " + err.Error()}).With(details...)
	}
	details = append(details, "chain", strings.Join(chain, " ← "))
	if ak == nil || !tpmcert.SamePublicKey(cert.Key, ak.Key) {
		return fail(CheckAKCert, &AKCertError{Reason: fmt.Sprintf("it certifies %s, not the AK that signed the quote (%s)", tpmcert.KeyString(cert.Key), akString(ak))}).With(details...)
	}
	return pass(CheckAKCert, fmt.Sprintf("certifies the quoting AK and chains to a given root (%s)", strings.Join(chain, " ← "))).With(details...)
}

func akString(ak *tpmstruct.PublicKey) string {
	if ak == nil {
		return "none"
	}
	return ak.String()
}

// VerifyEK checks an EK certificate: its chain to one of p.Roots (through
// p.Intermediates), its extended key usage, its critical extensions, and
// optionally that it certifies p.EKPub. It returns the summary and the
// ek-cert and ek-pub checks; names words the missing inputs (nil: the
// library's words).
//
// Go's x509 verifier is used with two deliberate adjustments (see
// tpmcert.TPMCertificate.Chain): the TCG subjectAltName, which Go does
// not decode and so lists as unhandled when critical, is decoded and only
// then taken off the unhandled list; and the chain is built for any
// extended key usage (TPM CAs carry no serverAuth). The leaf must then
// name tcg-kp-EKCertificate (2.23.133.8.1), or carry no EKU at all, which
// older EK certificates do and the report notes.
func VerifyEK(ek *tpmcert.TPMCertificate, p *tpmcert.EKPolicy, names *Policy) (*tpmcert.EKSummary, []Check) {
	if p == nil {
		p = &tpmcert.EKPolicy{}
	}
	s := ek.Summary()
	return s, []Check{checkEKChain(ek, p, s, names), checkEKPub(ek, p)}
}

// verifyEKEvidence checks the EK certificate, failing when the policy
// names roots but there is no certificate to check.
func verifyEKEvidence(ek *tpmcert.TPMCertificate, p *Policy) (*tpmcert.EKSummary, []Check) {
	if ek == nil {
		return nil, []Check{fail(CheckEKCert, &EKError{Reason: "EK roots were given but there is no EK certificate"})}
	}
	return VerifyEK(ek, p.EK, p)
}

func checkEKChain(ek *tpmcert.TPMCertificate, p *tpmcert.EKPolicy, s *tpmcert.EKSummary, names *Policy) Check {
	details := []string{"subject", s.Subject, "issuer", s.Issuer}
	if ek.Manufacturer != "" {
		details = append(details, "tpm_manufacturer", ek.Manufacturer)
	}
	if len(p.Roots) == 0 {
		return fail(CheckEKCert, &EKError{Missing: OptEKRoots,
			Reason: "no EK root CAs given (" + names.name(OptEKRoots) + "), so nothing shows the EK belongs to a real TPM"}).With(details...)
	}
	chain, err := ek.Chain(p.Roots, p.Intermediates, p.Now)
	if err != nil {
		return fail(CheckEKCert, &EKError{Reason: "the EK certificate " + err.Error()}).With(details...)
	}
	s.Chain = chain
	details = append(details, "chain", strings.Join(chain, " ← "))
	ekuNote := ""
	switch ek.EKUKind() {
	case tpmcert.EKUNone:
		ekuNote = "; it has no extended key usage (older EK certificates lack tcg-kp-EKCertificate)"
	case tpmcert.EKUTCG:
		ekuNote = ", EKU tcg-kp-EKCertificate"
	default:
		return fail(CheckEKCert, &EKError{Reason: "the EK certificate's extended key usage (" + strings.Join(ek.EKU, ", ") +
			") does not include tcg-kp-EKCertificate (2.23.133.8.1): it is not an EK certificate"}).With(details...)
	}
	sanNote := ""
	if ek.SANDecoded {
		sanNote = fmt.Sprintf("; TPM %s %s %s from the TCG subjectAltName", ek.Manufacturer, ek.Model, ek.Version)
		if ek.SANCritical {
			sanNote += " (critical, decoded by goldenpcr)"
		}
	}
	return pass(CheckEKCert, fmt.Sprintf("chains to a given root (%s)%s%s", strings.Join(chain, " ← "), ekuNote, sanNote)).With(details...)
}

func checkEKPub(ek *tpmcert.TPMCertificate, p *tpmcert.EKPolicy) Check {
	if p.EKPub == nil {
		return skip(CheckEKPub, "no EK public key given")
	}
	if !tpmcert.SamePublicKey(ek.Key, p.EKPub.Key) {
		return fail(CheckEKPub, &EKError{Reason: fmt.Sprintf("the EK certificate certifies %s, not the given EK (%s %s)",
			tpmcert.KeyString(ek.Key), p.EKPub.Format, p.EKPub)})
	}
	return pass(CheckEKPub, fmt.Sprintf("the EK certificate certifies the given EK (%s %s)", p.EKPub.Format, p.EKPub))
}
