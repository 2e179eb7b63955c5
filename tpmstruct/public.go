package tpmstruct

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/goldenpcr/goldenpcr/internal/tpmwire"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// KeyType is the TPMI_ALG_PUBLIC of a TPMT_PUBLIC.
type KeyType uint16

// The object types of TPMT_PUBLIC. Only RSA and ECC keys can sign quotes.
const (
	KeyRSA       KeyType = 0x0001
	KeyKeyedHash KeyType = 0x0008
	KeyECC       KeyType = 0x0023
	KeySymCipher KeyType = 0x0025
)

func (t KeyType) String() string {
	switch t {
	case KeyRSA:
		return "rsa"
	case KeyKeyedHash:
		return "keyedhash"
	case KeyECC:
		return "ecc"
	case KeySymCipher:
		return "symcipher"
	}
	return fmt.Sprintf("alg_0x%04x", uint16(t))
}

// Curve is a TPM_ECC_CURVE.
type Curve uint16

// The curves of TPM_ECC_CURVE that a TPM may use for an AK.
const (
	CurveP192    Curve = 0x0001
	CurveP224    Curve = 0x0002
	CurveP256    Curve = 0x0003
	CurveP384    Curve = 0x0004
	CurveP521    Curve = 0x0005
	CurveBNP256  Curve = 0x0010
	CurveBNP638  Curve = 0x0011
	CurveSM2P256 Curve = 0x0020
)

func (c Curve) String() string {
	switch c {
	case CurveP192:
		return "P-192"
	case CurveP224:
		return "P-224"
	case CurveP256:
		return "P-256"
	case CurveP384:
		return "P-384"
	case CurveP521:
		return "P-521"
	case CurveBNP256:
		return "BN-P256"
	case CurveBNP638:
		return "BN-P638"
	case CurveSM2P256:
		return "SM2-P256"
	}
	return fmt.Sprintf("curve_0x%04x", uint16(c))
}

// ecdsaCurve returns the Go curve for c, or nil when Go has none.
func (c Curve) ecdsaCurve() elliptic.Curve {
	switch c {
	case CurveP224:
		return elliptic.P224()
	case CurveP256:
		return elliptic.P256()
	case CurveP384:
		return elliptic.P384()
	case CurveP521:
		return elliptic.P521()
	}
	return nil
}

// ObjectAttributes is TPMA_OBJECT.
type ObjectAttributes uint32

// TPMA_OBJECT bits.
const (
	AttrFixedTPM             ObjectAttributes = 0x00000002
	AttrSTClear              ObjectAttributes = 0x00000004
	AttrFixedParent          ObjectAttributes = 0x00000010
	AttrSensitiveDataOrigin  ObjectAttributes = 0x00000020
	AttrUserWithAuth         ObjectAttributes = 0x00000040
	AttrAdminWithPolicy      ObjectAttributes = 0x00000080
	AttrNoDA                 ObjectAttributes = 0x00000400
	AttrEncryptedDuplication ObjectAttributes = 0x00000800
	AttrRestricted           ObjectAttributes = 0x00010000
	AttrDecrypt              ObjectAttributes = 0x00020000
	AttrSign                 ObjectAttributes = 0x00040000
	AttrX509Sign             ObjectAttributes = 0x00080000
)

var attrNames = []struct {
	bit  ObjectAttributes
	name string
}{
	{AttrFixedTPM, "fixedtpm"}, {AttrSTClear, "stclear"}, {AttrFixedParent, "fixedparent"},
	{AttrSensitiveDataOrigin, "sensitivedataorigin"}, {AttrUserWithAuth, "userwithauth"},
	{AttrAdminWithPolicy, "adminwithpolicy"}, {AttrNoDA, "noda"},
	{AttrEncryptedDuplication, "encryptedduplication"}, {AttrRestricted, "restricted"},
	{AttrDecrypt, "decrypt"}, {AttrSign, "sign"}, {AttrX509Sign, "x509sign"},
}

// String lists the set bits the way tpm2-tools prints them:
// "fixedtpm|fixedparent|…|restricted|sign".
func (a ObjectAttributes) String() string {
	var parts []string
	rest := a
	for _, n := range attrNames {
		if a&n.bit != 0 {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%08x", uint32(rest)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// SymDef is TPMT_SYM_DEF_OBJECT.
type SymDef struct {
	Alg     uint16 // TPM_ALG_NULL (0x0010) when the key is no storage key
	KeyBits uint16
	Mode    uint16
}

// TPMTPublic is a parsed TPMT_PUBLIC of an RSA or ECC key.
type TPMTPublic struct {
	Type       KeyType
	NameAlg    pcr.Alg
	Attributes ObjectAttributes
	AuthPolicy []byte
	Symmetric  SymDef
	// Scheme is the signing (or decryption) scheme the key is fixed to,
	// SchemeNull when it is not; SchemeHash is its hash and SchemeCount
	// the ECDAA count.
	Scheme      SigScheme
	SchemeHash  pcr.Alg
	SchemeCount uint16
	// RSA parameters and modulus.
	KeyBits  uint16
	Exponent uint32 // 0 means 65537
	Modulus  []byte
	// ECC parameters and point.
	Curve   Curve
	KDF     uint16
	KDFHash pcr.Alg
	X, Y    []byte
	// Raw is the TPMT_PUBLIC bytes; the Name is computed over them.
	Raw []byte
}

const algNull = 0x0010

// ParseTPM2BPublic reads a TPM2B_PUBLIC, as tpm2_createak -u and
// tpm2_readpublic -f tss write it.
func ParseTPM2BPublic(data []byte) (*TPMTPublic, error) {
	if len(data) < 2 {
		return nil, &ParseError{Struct: "TPM2B_PUBLIC", Offset: 0, Msg: fmt.Sprintf("size: need 2 bytes, %d left", len(data))}
	}
	if n := int(binary.BigEndian.Uint16(data)); n != len(data)-2 {
		return nil, &ParseError{Struct: "TPM2B_PUBLIC", Offset: 0, Msg: fmt.Sprintf("size %d, but %d bytes follow", n, len(data)-2)}
	}
	return parseTPMTPublic(data[2:], 2)
}

// ParseTPMTPublic reads a bare TPMT_PUBLIC.
func ParseTPMTPublic(data []byte) (*TPMTPublic, error) { return parseTPMTPublic(data, 0) }

func parseTPMTPublic(data []byte, base int) (*TPMTPublic, error) {
	r, raw := newReader(data, base, "TPMT_PUBLIC")
	p := &TPMTPublic{Raw: raw}
	typeAt := r.Pos()
	p.Type = KeyType(r.U16("type"))
	p.NameAlg = pcr.Alg(r.U16("nameAlg"))
	p.Attributes = ObjectAttributes(r.U32("objectAttributes"))
	p.AuthPolicy = r.TPM2B(maxDigest, "authPolicy")
	if r.Err() != nil {
		return nil, r.Err()
	}
	if p.Type != KeyRSA && p.Type != KeyECC {
		return nil, &ParseError{Struct: "TPMT_PUBLIC", Offset: typeAt,
			Msg: fmt.Sprintf("type 0x%04x (%s) is not an asymmetric key: an attestation key is rsa (0x0001) or ecc (0x0023)", uint16(p.Type), p.Type)}
	}
	r.Struct = "TPMT_SYM_DEF_OBJECT"
	p.Symmetric.Alg = r.U16("algorithm")
	if p.Symmetric.Alg != algNull {
		p.Symmetric.KeyBits = r.U16("keyBits")
		p.Symmetric.Mode = r.U16("mode")
	}
	if p.Type == KeyRSA {
		r.Struct = "TPMS_RSA_PARMS"
		p.Scheme = SigScheme(r.U16("scheme.scheme"))
		// RSAES (0x0015) has no details; every other non-null scheme a hash.
		if p.Scheme != SchemeNull && p.Scheme != 0x0015 {
			p.SchemeHash = pcr.Alg(r.U16("scheme.details.hashAlg"))
		}
		p.KeyBits = r.U16("keyBits")
		p.Exponent = r.U32("exponent")
		r.Struct = "TPMT_PUBLIC"
		modAt := r.Pos()
		p.Modulus = r.TPM2B(maxRSABytes, "unique.rsa")
		if r.Err() == nil && len(p.Modulus)*8 != int(p.KeyBits) {
			r.Failf(modAt, "unique.rsa is %d bytes, keyBits says %d bits", len(p.Modulus), p.KeyBits)
		}
	} else {
		r.Struct = "TPMS_ECC_PARMS"
		p.Scheme = SigScheme(r.U16("scheme.scheme"))
		if p.Scheme != SchemeNull {
			p.SchemeHash = pcr.Alg(r.U16("scheme.details.hashAlg"))
			if p.Scheme == SchemeECDAA {
				p.SchemeCount = r.U16("scheme.details.count")
			}
		}
		p.Curve = Curve(r.U16("curveID"))
		p.KDF = r.U16("kdf.scheme")
		if p.KDF != algNull {
			p.KDFHash = pcr.Alg(r.U16("kdf.details.hashAlg"))
		}
		r.Struct = "TPMS_ECC_POINT"
		p.X = r.TPM2B(maxECCBytes, "x")
		p.Y = r.TPM2B(maxECCBytes, "y")
		r.Struct = "TPMT_PUBLIC"
	}
	r.End()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return p, nil
}

// Marshal returns the TPMT_PUBLIC wire encoding.
func (p *TPMTPublic) Marshal() []byte {
	var w tpmwire.Writer
	w.U16(uint16(p.Type))
	w.U16(uint16(p.NameAlg))
	w.U32(uint32(p.Attributes))
	w.TPM2B(p.AuthPolicy)
	w.U16(p.Symmetric.Alg)
	if p.Symmetric.Alg != algNull {
		w.U16(p.Symmetric.KeyBits)
		w.U16(p.Symmetric.Mode)
	}
	w.U16(uint16(p.Scheme))
	if p.Type == KeyRSA {
		if p.Scheme != SchemeNull && p.Scheme != 0x0015 {
			w.U16(uint16(p.SchemeHash))
		}
		w.U16(p.KeyBits)
		w.U32(p.Exponent)
		w.TPM2B(p.Modulus)
		return w.B
	}
	if p.Scheme != SchemeNull {
		w.U16(uint16(p.SchemeHash))
		if p.Scheme == SchemeECDAA {
			w.U16(p.SchemeCount)
		}
	}
	w.U16(uint16(p.Curve))
	w.U16(p.KDF)
	if p.KDF != algNull {
		w.U16(uint16(p.KDFHash))
	}
	w.TPM2B(p.X)
	w.TPM2B(p.Y)
	return w.B
}

// Name returns the TPM Name of the key: nameAlg (2 bytes) followed by
// nameAlg's digest of the TPMT_PUBLIC, what tpm2_createak -n writes.
func (p *TPMTPublic) Name() ([]byte, error) {
	if !p.NameAlg.Valid() {
		return nil, fmt.Errorf("nameAlg 0x%04x: %w", uint16(p.NameAlg), &pcr.UnsupportedAlgError{ID: uint16(p.NameAlg)})
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(p.NameAlg)), p.NameAlg.Sum(p.Raw)...), nil
}

// CryptoKey returns the key as *rsa.PublicKey or *ecdsa.PublicKey.
func (p *TPMTPublic) CryptoKey() (crypto.PublicKey, error) {
	switch p.Type {
	case KeyRSA:
		if len(p.Modulus) == 0 || p.Modulus[0] == 0 {
			return nil, errors.New("RSA modulus is empty or has a leading zero byte")
		}
		e := int(p.Exponent)
		if p.Exponent == 0 {
			e = 65537
		}
		if p.Exponent > 1<<31-1 {
			return nil, fmt.Errorf("RSA exponent %d is too large", p.Exponent)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(p.Modulus), E: e}, nil
	case KeyECC:
		c := p.Curve.ecdsaCurve()
		if c == nil {
			return nil, fmt.Errorf("curve %s: goldenpcr verifies ECDSA on P-224, P-256, P-384 and P-521", p.Curve)
		}
		size := (c.Params().BitSize + 7) / 8
		if len(p.X) > size || len(p.Y) > size {
			return nil, fmt.Errorf("ECC point coordinates of %d and %d bytes are too long for %s", len(p.X), len(p.Y), p.Curve)
		}
		pt := make([]byte, 1+2*size)
		pt[0] = 4
		copy(pt[1+size-len(p.X):], p.X)
		copy(pt[1+2*size-len(p.Y):], p.Y)
		k, err := ecdsa.ParseUncompressedPublicKey(c, pt)
		if err != nil {
			return nil, fmt.Errorf("ECC point on %s: %w", p.Curve, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("key type %s cannot sign a quote", p.Type)
}

// PublicKey is an attestation key from any of the formats ParsePublic
// reads. TPM is set only for TPM structures, which carry the object
// attributes, scheme and Name that the other formats lack.
type PublicKey struct {
	// Format says what the input was, e.g. "TPM2B_PUBLIC" or
	// "PEM PUBLIC KEY".
	Format string
	// Key is *rsa.PublicKey or *ecdsa.PublicKey.
	Key         crypto.PublicKey
	TPM         *TPMTPublic
	Certificate *x509.Certificate
}

// ParsePublic reads an attestation key: PEM (PUBLIC KEY, RSA PUBLIC KEY or
// CERTIFICATE), DER (SubjectPublicKeyInfo, X.509 certificate or PKCS#1),
// TPM2B_PUBLIC or bare TPMT_PUBLIC. The format is detected from the data.
func ParsePublic(data []byte) (*PublicKey, error) {
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return parsePEMPublic(data)
	}
	if len(data) >= 2 && int(binary.BigEndian.Uint16(data)) == len(data)-2 {
		p, err := ParseTPM2BPublic(data)
		if err != nil {
			return nil, err
		}
		return FromTPM(p, "TPM2B_PUBLIC")
	}
	if len(data) > 0 && data[0] == 0x30 {
		return parseDERPublic(data, "DER")
	}
	p, err := ParseTPMTPublic(data)
	if err != nil {
		return nil, fmt.Errorf("not PEM, DER or TPM2B_PUBLIC, and as a TPMT_PUBLIC: %w", err)
	}
	return FromTPM(p, "TPMT_PUBLIC")
}

// FromTPM makes the attestation key of a parsed TPM public area; format
// names the input ("TPM2B_PUBLIC", "TPMT_PUBLIC").
func FromTPM(p *TPMTPublic, format string) (*PublicKey, error) {
	k, err := p.CryptoKey()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", format, err)
	}
	return &PublicKey{Format: format, Key: k, TPM: p}, nil
}

func parsePEMPublic(data []byte) (*PublicKey, error) {
	var seen []string
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY":
			return parseDERPublic(b.Bytes, "PEM "+b.Type)
		}
		seen = append(seen, b.Type)
	}
	if len(seen) == 0 {
		return nil, errors.New("PEM: no valid block found")
	}
	return nil, fmt.Errorf("PEM: blocks %s; want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", strings.Join(seen, ", "))
}

// parseDERPublic tries SubjectPublicKeyInfo, certificate and PKCS#1, or
// only the one a PEM block type names.
func parseDERPublic(der []byte, format string) (*PublicKey, error) {
	try := func(kind string) (*PublicKey, error) {
		switch kind {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(der)
			if err != nil {
				return nil, err
			}
			return &PublicKey{Format: format, Key: k}, nil
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, err
			}
			return &PublicKey{Format: format, Key: c.PublicKey, Certificate: c}, nil
		default:
			k, err := x509.ParsePKCS1PublicKey(der)
			if err != nil {
				return nil, err
			}
			return &PublicKey{Format: format, Key: k}, nil
		}
	}
	var k *PublicKey
	var err error
	if kind, ok := strings.CutPrefix(format, "PEM "); ok {
		k, err = try(kind)
	} else {
		for _, kind := range []string{"PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY"} {
			if k, err = try(kind); err == nil {
				k.Format = map[string]string{"PUBLIC KEY": "DER SubjectPublicKeyInfo", "CERTIFICATE": "DER certificate", "RSA PUBLIC KEY": "DER PKCS#1 RSAPublicKey"}[kind]
				break
			}
		}
		if err != nil {
			err = errors.New("neither SubjectPublicKeyInfo, X.509 certificate nor PKCS#1 RSAPublicKey")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", format, err)
	}
	switch k.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("%s: %T key; an attestation key is RSA or ECDSA", format, k.Key)
	}
	return k, nil
}

// String describes the key: "RSA 2048" or "ECC P-256".
func (k *PublicKey) String() string {
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", key.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECC " + key.Curve.Params().Name
	}
	return fmt.Sprintf("%T", k.Key)
}
