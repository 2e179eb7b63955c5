package tpmstruct

import (
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"

	"github.com/goldenpcr/goldenpcr/internal/tpmwire"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// SigScheme is the TPM_ALG_ID of a signature scheme.
type SigScheme uint16

// Signature schemes of TPMT_SIGNATURE. Verify checks RSASSA, RSAPSS and
// ECDSA; the parser also reads the others so it can say what it got.
const (
	SchemeHMAC      SigScheme = 0x0005
	SchemeNull      SigScheme = 0x0010
	SchemeRSASSA    SigScheme = 0x0014
	SchemeRSAPSS    SigScheme = 0x0016
	SchemeECDSA     SigScheme = 0x0018
	SchemeECDAA     SigScheme = 0x001A
	SchemeSM2       SigScheme = 0x001B
	SchemeECSchnorr SigScheme = 0x001C
)

var schemeNames = map[SigScheme]string{
	SchemeHMAC: "hmac", SchemeNull: "null", SchemeRSASSA: "rsassa", SchemeRSAPSS: "rsapss",
	SchemeECDSA: "ecdsa", SchemeECDAA: "ecdaa", SchemeSM2: "sm2", SchemeECSchnorr: "ecschnorr",
}

func (s SigScheme) String() string {
	if n, ok := schemeNames[s]; ok {
		return n
	}
	return fmt.Sprintf("alg_0x%04x", uint16(s))
}

// isECC reports whether the scheme carries an (r, s) pair.
func (s SigScheme) isECC() bool {
	return s == SchemeECDSA || s == SchemeECDAA || s == SchemeSM2 || s == SchemeECSchnorr
}

// Signature is a parsed TPMT_SIGNATURE, or a plain signature with the
// scheme and hash its user named.
type Signature struct {
	Scheme SigScheme
	// Hash is the hash the signer used over the TPMS_ATTEST; for a quote
	// it is also the hash of pcrDigest.
	Hash pcr.Alg
	// RSA is the signature of the RSASSA and RSAPSS schemes.
	RSA []byte
	// R and S are the ECC schemes' signature, big-endian as in the TPM
	// structure (plain DER signatures are stored without leading zeros).
	R, S []byte
	// HMAC is the digest of the HMAC scheme.
	HMAC []byte
	// Plain is true when the signature came from a plain file
	// (ParsePlainSignature) rather than a TPMT_SIGNATURE.
	Plain bool
}

// ParseSignature reads a TPMT_SIGNATURE, as tpm2_quote -s writes by
// default (-f tss) and as GyroidOS tpm2d sends it.
func ParseSignature(data []byte) (*Signature, error) {
	r, _ := newReader(data, 0, "TPMT_SIGNATURE")
	s := &Signature{}
	algAt := r.Pos()
	s.Scheme = SigScheme(r.U16("sigAlg"))
	if r.Err() != nil {
		return nil, r.Err()
	}
	switch {
	case s.Scheme == SchemeNull:
	case s.Scheme == SchemeRSASSA || s.Scheme == SchemeRSAPSS:
		r.Struct = "TPMS_SIGNATURE_RSA"
		s.Hash = pcr.Alg(r.U16("hash"))
		s.RSA = r.TPM2B(maxRSABytes, "sig")
	case s.Scheme.isECC():
		r.Struct = "TPMS_SIGNATURE_ECC"
		s.Hash = pcr.Alg(r.U16("hash"))
		s.R = r.TPM2B(maxECCBytes, "signatureR")
		s.S = r.TPM2B(maxECCBytes, "signatureS")
	case s.Scheme == SchemeHMAC:
		r.Struct = "TPMT_HA"
		hashAt := r.Pos()
		s.Hash = pcr.Alg(r.U16("hashAlg"))
		if r.Err() == nil && !s.Hash.Valid() {
			r.Failf(hashAt, "hashAlg 0x%04x: unknown, so the digest size is unknown", uint16(s.Hash))
		}
		s.HMAC = r.Bytes(s.Hash.Size(), "digest")
	default:
		r.Failf(algAt, "sigAlg 0x%04x is not a signature scheme (known: rsassa 0x0014, rsapss 0x0016, ecdsa 0x0018, ecdaa, sm2, ecschnorr, hmac, null)", uint16(s.Scheme))
	}
	r.Struct = "TPMT_SIGNATURE"
	r.End()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return s, nil
}

// Marshal returns the TPMT_SIGNATURE wire encoding.
func (s *Signature) Marshal() []byte {
	var w tpmwire.Writer
	w.U16(uint16(s.Scheme))
	switch {
	case s.Scheme == SchemeRSASSA || s.Scheme == SchemeRSAPSS:
		w.U16(uint16(s.Hash))
		w.TPM2B(s.RSA)
	case s.Scheme.isECC():
		w.U16(uint16(s.Hash))
		w.TPM2B(s.R)
		w.TPM2B(s.S)
	case s.Scheme == SchemeHMAC:
		w.U16(uint16(s.Hash))
		w.Raw(s.HMAC)
	}
	return w.B
}

// ParseSigAlg reads a plain signature's algorithm as "SCHEME-HASH":
// rsassa-sha256, rsapss-sha384, ecdsa-sha256, … (":" or "_" also separate).
func ParseSigAlg(spec string) (SigScheme, pcr.Alg, error) {
	n := strings.ToLower(strings.TrimSpace(spec))
	i := strings.IndexAny(n, "-:_+")
	if i < 0 {
		return 0, 0, fmt.Errorf("signature algorithm %q: want SCHEME-HASH, e.g. rsassa-sha256, rsapss-sha256 or ecdsa-sha256", spec)
	}
	var scheme SigScheme
	switch n[:i] {
	case "rsassa", "rsa", "pkcs1", "rsassa_pkcs1v15":
		scheme = SchemeRSASSA
	case "rsapss", "pss":
		scheme = SchemeRSAPSS
	case "ecdsa":
		scheme = SchemeECDSA
	default:
		return 0, 0, fmt.Errorf("signature algorithm %q: scheme %q is not rsassa, rsapss or ecdsa", spec, n[:i])
	}
	h, err := pcr.ParseAlg(n[i+1:])
	if err != nil {
		return 0, 0, fmt.Errorf("signature algorithm %q: %w", spec, err)
	}
	return scheme, h, nil
}

// ParsePlainSignature reads a signature without TPM framing, as
// tpm2_quote -f plain or OpenSSL write it: the raw RSA signature, or an
// ECDSA signature as DER (SEQUENCE of two INTEGERs) or as raw r||s.
// sigAlg names scheme and hash (see ParseSigAlg).
func ParsePlainSignature(data []byte, sigAlg string) (*Signature, error) {
	scheme, h, err := ParseSigAlg(sigAlg)
	if err != nil {
		return nil, err
	}
	s := &Signature{Scheme: scheme, Hash: h, Plain: true}
	switch scheme {
	case SchemeRSASSA, SchemeRSAPSS:
		if len(data) == 0 || len(data) > maxRSABytes {
			return nil, &ParseError{Struct: "plain RSA signature", Offset: 0, Msg: fmt.Sprintf("%d bytes, want 1-%d", len(data), maxRSABytes)}
		}
		s.RSA = append([]byte{}, data...)
		return s, nil
	}
	if r, sv, ok := parseDERECDSA(data); ok {
		s.R, s.S = r, sv
		return s, nil
	}
	if len(data) == 0 || len(data)%2 != 0 || len(data) > 2*maxECCBytes {
		return nil, &ParseError{Struct: "plain ECDSA signature", Offset: 0,
			Msg: fmt.Sprintf("%d bytes are neither DER (SEQUENCE of r, s) nor r||s of two equal halves of at most %d bytes", len(data), maxECCBytes)}
	}
	half := len(data) / 2
	s.R, s.S = append([]byte{}, data[:half]...), append([]byte{}, data[half:]...)
	return s, nil
}

// parseDERECDSA reads an ECDSA-Sig-Value, SEQUENCE { r INTEGER, s INTEGER },
// with nothing after it and r, s positive and at most maxECCBytes long.
func parseDERECDSA(data []byte) (r, s []byte, ok bool) {
	if len(data) == 0 || data[0] != 0x30 {
		return nil, nil, false
	}
	var der struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(data, &der)
	if err != nil || len(rest) != 0 || der.R.Sign() <= 0 || der.S.Sign() <= 0 ||
		len(der.R.Bytes()) > maxECCBytes || len(der.S.Bytes()) > maxECCBytes {
		return nil, nil, false
	}
	return der.R.Bytes(), der.S.Bytes(), true
}

// String describes the signature: "rsassa/sha256, 256 bytes".
func (s *Signature) String() string {
	switch {
	case s.Scheme == SchemeRSASSA || s.Scheme == SchemeRSAPSS:
		return fmt.Sprintf("%s/%s, %d-byte signature", s.Scheme, s.Hash, len(s.RSA))
	case s.Scheme.isECC():
		return fmt.Sprintf("%s/%s, r %d bytes, s %d bytes", s.Scheme, s.Hash, len(s.R), len(s.S))
	case s.Scheme == SchemeHMAC:
		return fmt.Sprintf("hmac/%s", s.Hash)
	}
	return s.Scheme.String()
}
