package quote

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// CheckAKCert names the AK certificate check.
const CheckAKCert = "ak-cert"

// AKCertPolicy says how to check an AK certificate.
type AKCertPolicy struct {
	// Roots are the CAs that certify AKs (a privacy CA, a cloud's AK CA);
	// none fails the check.
	Roots []*x509.Certificate
	// Intermediates may help build the chain.
	Intermediates []*x509.Certificate
	// Now is the verification time; zero means time.Now().
	Now time.Time
}

// AKCertError: the AK certificate is missing, does not verify, or
// certifies another key than the one that signed the quote.
type AKCertError struct {
	Reason string
}

func (e *AKCertError) Error() string  { return "AK certificate: " + e.Reason }
func (e *AKCertError) reason() string { return e.Reason }

// VerifyAKCert checks that cert, the certificate of the attestation key,
// chains to one of p.Roots (through p.Intermediates, for any extended key
// usage, a TCG subjectAltName handled as for EK certificates) and
// certifies ak, the key the quote was verified with. A nil cert fails:
// roots were given, so a certified AK is required.
func VerifyAKCert(cert *TPMCertificate, ak *PublicKey, p *AKCertPolicy) Check {
	if cert == nil {
		return fail(CheckAKCert, &AKCertError{Reason: "AK roots were given but there is no AK certificate (--ak-cert, an --ak certificate, or the attestation's ak_cert)"})
	}
	details := []string{"subject", cert.Cert.Subject.String(), "issuer", cert.Cert.Issuer.String()}
	if len(p.Roots) == 0 {
		return fail(CheckAKCert, &AKCertError{Reason: "no AK root CAs given (--ak-roots), so nothing shows who certified the AK"}).with(details...)
	}
	chain, err := cert.chain(p.Roots, p.Intermediates, p.Now)
	if err != nil {
		return fail(CheckAKCert, &AKCertError{Reason: "it " + err.Error()}).with(details...)
	}
	details = append(details, "chain", strings.Join(chain, " ← "))
	if ak == nil || !samePublicKey(cert.Key, ak.Key) {
		return fail(CheckAKCert, &AKCertError{Reason: fmt.Sprintf("it certifies %s, not the AK that signed the quote (%s)", keyString(cert.Key), akString(ak))}).with(details...)
	}
	return pass(CheckAKCert, fmt.Sprintf("certifies the quoting AK and chains to a given root (%s)", strings.Join(chain, " ← "))).with(details...)
}

func akString(ak *PublicKey) string {
	if ak == nil {
		return "none"
	}
	return ak.String()
}
