package authenticode

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// signerInfo is PKCS#7's SignerInfo (RFC 2315 9.2).
type signerInfo struct {
	Version         int
	IssuerAndSerial struct {
		Issuer asn1.RawValue
		Serial asn1.RawValue
	}
	DigestAlgorithm     algorithmIdentifier
	AuthAttributes      asn1.RawValue `asn1:"optional,tag:0"`
	EncryptionAlgorithm algorithmIdentifier
	EncryptedDigest     []byte
	UnauthAttributes    asn1.RawValue `asn1:"optional,tag:1"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

var (
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	hashes           = map[string]crypto.Hash{"sha1": crypto.SHA1, "sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}
	// signatureAlgs: (digest, key type) → the x509 algorithm that checks
	// a signature over that digest.
	signatureAlgs = map[crypto.Hash][2]x509.SignatureAlgorithm{
		crypto.SHA1:   {x509.SHA1WithRSA, x509.ECDSAWithSHA1},
		crypto.SHA256: {x509.SHA256WithRSA, x509.ECDSAWithSHA256},
		crypto.SHA384: {x509.SHA384WithRSA, x509.ECDSAWithSHA384},
		crypto.SHA512: {x509.SHA512WithRSA, x509.ECDSAWithSHA512},
	}
)

// Signer checks the PKCS#7 signature itself: the signer's authenticated
// attributes carry the digest of the signed content (the
// SpcIndirectDataContent, its tag and length left out, as Authenticode
// specifies) and are signed by the key of the certificate the SignerInfo
// names. It returns that certificate followed by its issuers among the
// signature's certificates.
func (s *Signature) Signer() ([]*x509.Certificate, error) {
	if s.signerInfos == nil {
		return nil, errors.New("no SignerInfo")
	}
	var si signerInfo
	if rest, err := asn1.Unmarshal(s.signerInfos, &si); err != nil {
		return nil, fmt.Errorf("SignerInfo: %w", err)
	} else if len(rest) > 0 {
		return nil, errors.New("more than one SignerInfo")
	}
	var cert *x509.Certificate
	for _, c := range s.Certificates {
		if bytes.Equal(c.RawIssuer, si.IssuerAndSerial.Issuer.FullBytes) && bytes.Equal(c.SerialNumber.Bytes(), bytes.TrimLeft(si.IssuerAndSerial.Serial.Bytes, "\x00")) {
			cert = c
		}
	}
	if cert == nil {
		return nil, errors.New("the SignerInfo's certificate is not in the signature")
	}
	h, ok := hashes[digestOIDs[si.DigestAlgorithm.Algorithm.String()]]
	if !ok || !h.Available() {
		return nil, fmt.Errorf("SignerInfo digest algorithm %v not supported", si.DigestAlgorithm.Algorithm)
	}
	if len(si.AuthAttributes.FullBytes) == 0 {
		return nil, errors.New("SignerInfo without authenticated attributes")
	}
	var digest []byte
	for rest := si.AuthAttributes.Bytes; len(rest) > 0; {
		var a attribute
		var err error
		if rest, err = asn1.Unmarshal(rest, &a); err != nil {
			return nil, fmt.Errorf("authenticated attribute: %w", err)
		}
		if a.Type.Equal(oidMessageDigest) {
			if _, err := asn1.Unmarshal(a.Values.Bytes, &digest); err != nil {
				return nil, fmt.Errorf("messageDigest: %w", err)
			}
		}
	}
	hh := h.New()
	hh.Write(s.content)
	if !bytes.Equal(hh.Sum(nil), digest) {
		return nil, errors.New("messageDigest is not the digest of the signed content")
	}
	// The attributes are signed as a SET OF, not with their [0] tag.
	signed := append([]byte{0x31}, si.AuthAttributes.FullBytes[1:]...)
	// The certificate's key decides RSA or ECDSA (the SignerInfo may name
	// rsaEncryption or sha256WithRSAEncryption alike).
	alg := signatureAlgs[h][0]
	if cert.PublicKeyAlgorithm == x509.ECDSA {
		alg = signatureAlgs[h][1]
	}
	if err := cert.CheckSignature(alg, signed, si.EncryptedDigest); err != nil {
		return nil, fmt.Errorf("the signer's signature does not verify: %w", err)
	}
	chain := []*x509.Certificate{cert}
	for cur := cert; len(chain) <= len(s.Certificates); {
		var next *x509.Certificate
		for _, c := range s.Certificates {
			if c != cur && bytes.Equal(cur.RawIssuer, c.RawSubject) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain, nil
}
