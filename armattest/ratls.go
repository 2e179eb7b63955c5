package armattest

import (
	"bytes"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/goldenpcr/goldenpcr/verdict"
)

// OIDRATLSToken is the X.509 extension in which Islet's RA-TLS client
// carries its CCA token.
var OIDRATLSToken = asn1.ObjectIdentifier{1, 3, 3, 3, 7}

// RATLSCert is an Islet RA-TLS certificate: a (self-signed) certificate
// whose extension 1.3.3.3.7 holds a CCA token whose realm challenge binds
// the certificate's public key.
type RATLSCert struct {
	Cert  *x509.Certificate
	Token []byte
}

// CertSummary names an RA-TLS certificate in a report.
type CertSummary struct {
	Subject   string `json:"subject" yaml:"subject"`
	Issuer    string `json:"issuer" yaml:"issuer"`
	Key       string `json:"key" yaml:"key"`
	NotBefore string `json:"not_before" yaml:"not_before"`
	NotAfter  string `json:"not_after" yaml:"not_after"`
	TokenSize int    `json:"token_bytes" yaml:"token_bytes"`
}

// ReadRATLS reads an RA-TLS certificate (PEM or DER) and the token in its
// extension 1.3.3.3.7: the extension's value is the token, or a DER OCTET
// STRING holding it.
func ReadRATLS(data []byte) (*RATLSCert, error) {
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM %s: want a CERTIFICATE", b.Type)
		}
		der = b.Bytes
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("not an X.509 certificate: %w", err)
	}
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(OIDRATLSToken) {
			continue
		}
		tok := ext.Value
		if !bytes.HasPrefix(tok, ccaTag) {
			var inner []byte
			if rest, err := asn1.Unmarshal(tok, &inner); err == nil && len(rest) == 0 {
				tok = inner
			}
		}
		if len(tok) == 0 {
			return nil, fmt.Errorf("certificate %q: extension %s is empty", cert.Subject, OIDRATLSToken)
		}
		return &RATLSCert{Cert: cert, Token: tok}, nil
	}
	return nil, fmt.Errorf("certificate %q has no extension %s: not an RA-TLS certificate", cert.Subject, OIDRATLSToken)
}

// RATLSChallenge is the realm challenge an RA-TLS certificate's token must
// carry: SHA-512(nonce ‖ the certificate's DER SubjectPublicKeyInfo).
func RATLSChallenge(nonce []byte, cert *x509.Certificate) []byte {
	h := sha512.New()
	h.Write(nonce)
	h.Write(cert.RawSubjectPublicKeyInfo)
	return h.Sum(nil)
}

// VerifyRATLS reads the CCA token of an RA-TLS certificate and verifies it
// as VerifyCCA does, with the realm challenge bound to the certificate's
// key: SHA-512(nonce ‖ SubjectPublicKeyInfo). The certificate must be
// valid now and, when self-signed, its signature must verify. p.Challenge
// is ignored. A token that does not read is an error.
func VerifyRATLS(c *RATLSCert, nonce []byte, p CCAPolicy) (*CCAReport, error) {
	if c == nil || c.Cert == nil {
		return nil, errors.New("no RA-TLS certificate")
	}
	tok, err := ReadCCA(c.Token)
	if err != nil {
		return nil, fmt.Errorf("the token in extension %s: %w", OIDRATLSToken, err)
	}
	if nonce == nil {
		p.Challenge = nil
	} else {
		p.Challenge = RATLSChallenge(nonce, c.Cert)
	}
	p.ChallengeIs = "SHA-512(nonce ‖ the certificate's SubjectPublicKeyInfo)"
	rep := VerifyCCA(tok, p)
	rep.Certificate = &CertSummary{Subject: c.Cert.Subject.String(), Issuer: c.Cert.Issuer.String(), Key: keyName(c.Cert),
		NotBefore: c.Cert.NotBefore.UTC().Format(time.RFC3339), NotAfter: c.Cert.NotAfter.UTC().Format(time.RFC3339), TokenSize: len(c.Token)}
	checks := verdict.Checks{certCheck(c.Cert)}
	rep.Checks = append(checks, rep.Checks...)
	rep.Verified = rep.Checks.Verified()
	return rep, nil
}

func certCheck(cert *x509.Certificate) verdict.Check {
	now := time.Now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fail("ratls-certificate", "not valid now (%s to %s)", cert.NotBefore.UTC().Format(time.DateOnly), cert.NotAfter.UTC().Format(time.DateOnly))
	}
	if bytes.Equal(cert.RawIssuer, cert.RawSubject) {
		// Not CheckSignatureFrom: an RA-TLS certificate is no CA.
		if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
			return fail("ratls-certificate", "self-signed, but its signature does not verify with its own key: %v", err)
		}
		return pass("ratls-certificate", fmt.Sprintf("self-signed %s, valid now, token in extension %s", keyName(cert), OIDRATLSToken))
	}
	return pass("ratls-certificate", fmt.Sprintf("%s issued by %s, valid now, token in extension %s (its issuer is not checked)", keyName(cert), cert.Issuer, OIDRATLSToken))
}

func keyName(cert *x509.Certificate) string {
	return cert.PublicKeyAlgorithm.String() + " key"
}
