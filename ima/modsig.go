package ima

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// An ima-modsig entry's modsig field is the PKCS#7 (CMS SignedData)
// appended to a kernel module or kexec image, without the module_signature
// trailer; its d-modsig field is the file's digest without the appended
// signature, in the PKCS#7's digest algorithm. The content is detached.

var (
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
)

// digestOIDs maps digest algorithm identifiers to kernel hash algorithms.
var digestOIDs = []struct {
	oid  asn1.ObjectIdentifier
	algo HashAlgo
}{
	{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, HashSHA1},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, HashSHA256},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, HashSHA384},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, HashSHA512},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}, HashSHA224},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}, HashSHA3256},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 9}, HashSHA3384},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 10}, HashSHA3512},
}

type pkcs7ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type pkcs7SignedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	ContentInfo      asn1.RawValue
	Certificates     asn1.RawValue     `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue     `asn1:"optional,tag:1"`
	SignerInfos      []pkcs7SignerInfo `asn1:"set"`
}

type pkcs7SignerInfo struct {
	Version         int
	SID             asn1.RawValue
	DigestAlgorithm pkix.AlgorithmIdentifier
	AuthAttrs       asn1.RawValue `asn1:"optional,tag:0"`
	SigAlgorithm    pkix.AlgorithmIdentifier
	Signature       []byte
	UnauthAttrs     asn1.RawValue `asn1:"optional,tag:1"`
}

type pkcs7IssuerSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type pkcs7Attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

// Modsig is a decoded appended signature.
type Modsig struct {
	Signers []ModsigSigner
}

// ModsigSigner is one SignerInfo.
type ModsigSigner struct {
	HashAlgo HashAlgo
	// Issuer and Serial, or SubjectKeyID, name the signing certificate.
	Issuer       []byte
	Serial       *big.Int
	SubjectKeyID []byte
	// Attrs is the DER of the authenticated attributes as signed (a SET),
	// nil when the signature is over the content digest itself (the
	// kernel's sign-file uses no attributes).
	Attrs         []byte
	MessageDigest []byte // from Attrs
	Signature     []byte
}

// ParseModsig decodes a PKCS#7 SignedData with detached content.
func ParseModsig(der []byte) (*Modsig, error) {
	var ci pkcs7ContentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil {
		return nil, fmt.Errorf("modsig: not a PKCS#7 ContentInfo: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("modsig: %d bytes after the PKCS#7", len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("modsig: content type %v is not SignedData", ci.ContentType)
	}
	var sd pkcs7SignedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("modsig: SignedData: %w", err)
	}
	if len(sd.SignerInfos) == 0 {
		return nil, errors.New("modsig: no signer")
	}
	m := &Modsig{}
	for i, si := range sd.SignerInfos {
		s := ModsigSigner{Signature: si.Signature, HashAlgo: hashAlgoLast}
		for _, d := range digestOIDs {
			if si.DigestAlgorithm.Algorithm.Equal(d.oid) {
				s.HashAlgo = d.algo
			}
		}
		if s.HashAlgo == hashAlgoLast {
			return nil, fmt.Errorf("modsig: signer %d: unknown digest algorithm %v", i, si.DigestAlgorithm.Algorithm)
		}
		switch {
		case si.SID.Class == asn1.ClassContextSpecific && si.SID.Tag == 0:
			s.SubjectKeyID = si.SID.Bytes
		case si.SID.Class == asn1.ClassUniversal && si.SID.Tag == asn1.TagSequence:
			var is pkcs7IssuerSerial
			if _, err := asn1.Unmarshal(si.SID.FullBytes, &is); err != nil {
				return nil, fmt.Errorf("modsig: signer %d: issuer and serial: %w", i, err)
			}
			s.Issuer, s.Serial = is.Issuer.FullBytes, is.Serial
		default:
			return nil, fmt.Errorf("modsig: signer %d: unknown signer identifier", i)
		}
		if len(si.AuthAttrs.FullBytes) > 0 {
			// Signed as a SET OF, not as the [0] IMPLICIT that carries it.
			s.Attrs = append([]byte{0x31}, si.AuthAttrs.FullBytes[1:]...)
			var attrs []pkcs7Attribute
			if _, err := asn1.UnmarshalWithParams(s.Attrs, &attrs, "set"); err != nil {
				return nil, fmt.Errorf("modsig: signer %d: authenticated attributes: %w", i, err)
			}
			for _, a := range attrs {
				if a.Type.Equal(oidMessageDigest) {
					var md []byte
					if _, err := asn1.Unmarshal(a.Values.Bytes, &md); err != nil {
						return nil, fmt.Errorf("modsig: signer %d: messageDigest: %w", i, err)
					}
					s.MessageDigest = md
				}
			}
			if s.MessageDigest == nil {
				return nil, fmt.Errorf("modsig: signer %d: authenticated attributes without messageDigest", i)
			}
		}
		m.Signers = append(m.Signers, s)
	}
	return m, nil
}

// VerifyModsig checks an appended signature over the file digest of an
// ima-modsig entry (its d-modsig field) with the keyring's certificates,
// matched by issuer and serial number or subject key identifier, as the
// kernel's PKCS#7 verifier does. Bare public keys cannot be matched.
func (k *Keyring) VerifyModsig(der []byte, algo HashAlgo, digest []byte) SigResult {
	m, err := ParseModsig(der)
	if err != nil {
		return SigResult{Status: SigMalformed, Reason: err.Error()}
	}
	res := SigResult{Status: SigUnknownKey, Reason: "no certificate of the keyring matches the signer"}
	for _, s := range m.Signers {
		if s.HashAlgo != algo {
			return SigResult{Status: SigBad, Reason: fmt.Sprintf("the PKCS#7 signs a %s digest, the d-modsig field holds %s", s.HashAlgo, algo)}
		}
		if s.MessageDigest != nil && !bytes.Equal(s.MessageDigest, digest) {
			return SigResult{Status: SigBad, Reason: "the PKCS#7 messageDigest is not the file's digest"}
		}
		h := algo.Crypto()
		if h == 0 || !h.Available() {
			return SigResult{Status: SigUnsupported, Reason: fmt.Sprintf("%s cannot be checked", algo)}
		}
		signed := digest
		if s.Attrs != nil {
			hh := h.New()
			hh.Write(s.Attrs)
			signed = hh.Sum(nil)
		}
		for _, key := range k.Keys {
			if !key.matchesSigner(&s) {
				continue
			}
			if err := verifyWith(key.Public, h, signed, s.Signature); err != nil {
				res = SigResult{Status: SigBad, Key: key.Source, Reason: err.Error()}
				continue
			}
			return SigResult{Status: SigGood, Key: key.Source, Rule: "pkcs7"}
		}
	}
	return res
}

func (key *Key) matchesSigner(s *ModsigSigner) bool {
	if key.Cert == nil {
		return false
	}
	if s.SubjectKeyID != nil {
		return bytes.Equal(key.Cert.SubjectKeyId, s.SubjectKeyID)
	}
	return bytes.Equal(key.Cert.RawIssuer, s.Issuer) && key.Cert.SerialNumber.Cmp(s.Serial) == 0
}
