package ima

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	_ "crypto/sha3" // registers SHA3 for version 3 signatures
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Signature types: the first byte of a security.ima (or EVM) xattr value
// (enum evm_ima_xattr_type).
const (
	XattrDigsig         = 0x03 // EVM_IMA_XATTR_DIGSIG: a file signature
	XattrPortableDigsig = 0x05 // EVM_XATTR_PORTABLE_DIGSIG: an EVM portable signature
	XattrVerityDigsig   = 0x06 // IMA_VERITY_DIGSIG: a signature over an fs-verity digest
)

// signatureHeaderSize is type, version, hash algorithm, key id, size.
const signatureHeaderSize = 1 + 1 + 1 + 4 + 2

// Signature is a decoded IMA signature (struct signature_v2_hdr preceded
// by the xattr type byte). Version 1 (the old RSA-only format) is decoded
// only as far as its version.
type Signature struct {
	Type     byte     `json:"type" yaml:"type"`
	Version  byte     `json:"version" yaml:"version"`
	HashAlgo HashAlgo `json:"-" yaml:"-"`
	// KeyID is the big-endian key identifier: the last 4 bytes of the
	// signing key's X.509 subject key identifier (how the kernel finds the
	// key), which evmctl sets to the last 4 bytes of the SHA-1 of the
	// public key bits.
	KeyID uint32 `json:"keyid" yaml:"keyid"`
	Value []byte `json:"-" yaml:"-"`
}

// SignatureError is a malformed signature field.
type SignatureError struct{ Msg string }

func (e *SignatureError) Error() string { return "signature: " + e.Msg }

// ParseSignature decodes a sig field. The size in the header must match
// the bytes that follow, as the kernel's asymmetric_verify requires.
func ParseSignature(b []byte) (*Signature, error) {
	if len(b) < 2 {
		return nil, &SignatureError{fmt.Sprintf("%d bytes, too short for a header", len(b))}
	}
	s := &Signature{Type: b[0], Version: b[1]}
	switch s.Type {
	case XattrDigsig, XattrPortableDigsig, XattrVerityDigsig:
	default:
		return nil, &SignatureError{fmt.Sprintf("type 0x%02x is not a signature (want 0x03, 0x05 or 0x06)", s.Type)}
	}
	if s.Version == 1 {
		return s, nil
	}
	if s.Version != 2 && s.Version != 3 {
		return nil, &SignatureError{fmt.Sprintf("unknown version %d", s.Version)}
	}
	if len(b) < signatureHeaderSize {
		return nil, &SignatureError{fmt.Sprintf("%d bytes, too short for a version %d header (%d)", len(b), s.Version, signatureHeaderSize)}
	}
	s.HashAlgo = HashAlgo(b[2])
	s.KeyID = binary.BigEndian.Uint32(b[3:])
	size := int(binary.BigEndian.Uint16(b[7:]))
	if size != len(b)-signatureHeaderSize {
		return nil, &SignatureError{fmt.Sprintf("header says %d signature bytes, %d follow", size, len(b)-signatureHeaderSize)}
	}
	if !s.HashAlgo.Valid() {
		return nil, &SignatureError{fmt.Sprintf("unknown hash algorithm %d", b[2])}
	}
	s.Value = b[signatureHeaderSize:]
	return s, nil
}

// Key is a public key IMA signatures may be checked with.
type Key struct {
	Public crypto.PublicKey
	// ID is evmctl's key id: the last 4 bytes of SHA-1 over the public key
	// bits (the subjectPublicKey BIT STRING, not the whole
	// SubjectPublicKeyInfo).
	ID uint32
	// SKID is the kernel's: the last 4 bytes of the certificate's subject
	// key identifier; HasSKID is false for bare public keys and
	// certificates without the extension.
	SKID    uint32
	HasSKID bool
	Source  string // file (and certificate subject)
	// Cert is the certificate the key came from, nil for a bare key;
	// appended (PKCS#7) signatures name their signer by its issuer and
	// serial number or subject key identifier.
	Cert *x509.Certificate
}

// Keyring holds the keys signatures are checked with, found by key id.
type Keyring struct {
	Keys []*Key
}

// Find returns the keys whose id (either rule) equals keyid.
func (k *Keyring) Find(keyid uint32) []*Key {
	var out []*Key
	for _, key := range k.Keys {
		if key.ID == keyid || key.HasSKID && key.SKID == keyid {
			out = append(out, key)
		}
	}
	return out
}

// LoadKeyFile adds the keys of a file: X.509 certificates or public keys,
// PEM (any number of blocks) or DER.
func (k *Keyring) LoadKeyFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	n := 0
	rest := data
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if err := k.add(blk.Bytes, blk.Type, path); err != nil {
			return fmt.Errorf("%s: PEM block %d (%s): %w", path, n+1, blk.Type, err)
		}
		n++
	}
	if n > 0 {
		return nil
	}
	if err := k.add(data, "", path); err != nil {
		return fmt.Errorf("%s: not a PEM file, and as DER: %w", path, err)
	}
	return nil
}

// AddCertificate adds a parsed certificate's key.
func (k *Keyring) AddCertificate(cert *x509.Certificate, source string) error {
	key, err := keyFromSPKI(cert.RawSubjectPublicKeyInfo)
	if err != nil {
		return err
	}
	key.Source = source + " (" + cert.Subject.String() + ")"
	key.Cert = cert
	if len(cert.SubjectKeyId) >= 4 {
		key.SKID = binary.BigEndian.Uint32(cert.SubjectKeyId[len(cert.SubjectKeyId)-4:])
		key.HasSKID = true
	}
	k.Keys = append(k.Keys, key)
	return nil
}

func (k *Keyring) add(der []byte, pemType, source string) error {
	switch pemType {
	case "CERTIFICATE", "":
		cert, err := x509.ParseCertificate(der)
		if err == nil {
			return k.AddCertificate(cert, source)
		}
		if pemType != "" {
			return err
		}
		fallthrough
	case "PUBLIC KEY":
		key, err := keyFromSPKI(der)
		if err != nil {
			return err
		}
		key.Source = source
		k.Keys = append(k.Keys, key)
		return nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return err
		}
		spki, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return err
		}
		return k.add(spki, "PUBLIC KEY", source)
	}
	return fmt.Errorf("PEM type %q holds no public key", pemType)
}

type spki struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

func keyFromSPKI(der []byte) (*Key, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("%T keys cannot sign IMA signatures (want RSA or ECDSA)", pub)
	}
	var s spki
	if _, err := asn1.Unmarshal(der, &s); err != nil {
		return nil, err
	}
	sum := sha1.Sum(s.PublicKey.Bytes)
	return &Key{Public: pub, ID: binary.BigEndian.Uint32(sum[16:])}, nil
}

// SigStatus is the outcome of verifying one signature.
type SigStatus string

// Signature outcomes.
const (
	SigGood        SigStatus = "good"
	SigBad         SigStatus = "bad"
	SigUnknownKey  SigStatus = "unknown-key"
	SigUnsupported SigStatus = "unsupported"
	SigMalformed   SigStatus = "malformed"
	SigMissing     SigStatus = "unsigned"
)

// SigResult is a verification outcome with the key that decided it.
type SigResult struct {
	Status SigStatus `json:"status" yaml:"status"`
	KeyID  string    `json:"keyid,omitempty" yaml:"keyid,omitempty"`
	Key    string    `json:"key,omitempty" yaml:"key,omitempty"`
	// Rule says how the key id matched: "skid" (the kernel's) or "pubkey"
	// (evmctl's SHA-1 of the key).
	Rule   string `json:"keyid_rule,omitempty" yaml:"keyid_rule,omitempty"`
	Reason string `json:"reason,omitempty" yaml:"reason,omitempty"`
}

// Verify checks sig over a file digest of algorithm algo. Version 2
// signs the digest itself; version 3 signs the hash of struct ima_file_id
// (type, algorithm, digest), which disambiguates fs-verity digests.
func (k *Keyring) Verify(sig *Signature, algo HashAlgo, digest []byte) SigResult {
	res := SigResult{KeyID: fmt.Sprintf("%08x", sig.KeyID)}
	if sig.Version == 1 {
		res.Status, res.Reason, res.KeyID = SigUnsupported, "version 1 (RSA-only, evmctl --rsa) signatures are not supported", ""
		return res
	}
	if sig.HashAlgo != algo {
		res.Status = SigBad
		res.Reason = fmt.Sprintf("signature is over a %s digest, the file digest is %s", sig.HashAlgo, algo)
		return res
	}
	h := algo.Crypto()
	if h == 0 || sig.Version == 3 && !h.Available() {
		res.Status, res.Reason = SigUnsupported, fmt.Sprintf("%s signatures cannot be checked (Go has no %s)", algo, algo)
		return res
	}
	signed := digest
	if sig.Version == 3 {
		hh := h.New()
		hh.Write([]byte{sig.Type, byte(algo)})
		hh.Write(digest)
		signed = hh.Sum(nil)
	}
	keys := k.Find(sig.KeyID)
	if len(keys) == 0 {
		res.Status, res.Reason = SigUnknownKey, fmt.Sprintf("no key with id %08x", sig.KeyID)
		return res
	}
	var lastErr error
	for _, key := range keys {
		err := verifyWith(key.Public, h, signed, sig.Value)
		if err == nil {
			res.Status, res.Key = SigGood, key.Source
			res.Rule = "pubkey"
			if key.HasSKID && key.SKID == sig.KeyID {
				res.Rule = "skid"
			}
			return res
		}
		lastErr = err
		res.Key = key.Source
	}
	res.Status, res.Reason = SigBad, lastErr.Error()
	return res
}

func verifyWith(pub crypto.PublicKey, h crypto.Hash, digest, sig []byte) error {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(p, h, digest, sig); err != nil {
			return errors.New("RSA PKCS#1 v1.5 signature does not verify")
		}
		return nil
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("%T keys are not supported", pub)
}

// VerifyEntry checks the signature of an ima-sig, ima-sigv2 or ima-modsig
// entry: the sig field (the security.ima xattr) over the file digest, and
// failing that, as the kernel's appraisal does, an appended signature
// (modsig) over the d-modsig digest.
func (k *Keyring) VerifyEntry(ev *Event) SigResult {
	res := k.verifyXattr(ev)
	if res.Status == SigGood || len(ev.Modsig) == 0 {
		return res
	}
	if ev.ModsigDigest == nil {
		return SigResult{Status: SigMalformed, Reason: "appended signature without a d-modsig digest"}
	}
	return k.VerifyModsig(ev.Modsig, ev.ModsigDigest.Algo, bytes.Clone(ev.ModsigDigest.Value))
}

func (k *Keyring) verifyXattr(ev *Event) SigResult {
	if len(ev.Signature) == 0 {
		return SigResult{Status: SigMissing}
	}
	sig, err := ParseSignature(ev.Signature)
	if err != nil {
		return SigResult{Status: SigMalformed, Reason: err.Error()}
	}
	if ev.Digest == nil {
		return SigResult{Status: SigMalformed, Reason: "the entry has no file digest"}
	}
	if ev.Digest.Type == "verity" && sig.Type != XattrVerityDigsig {
		return SigResult{Status: SigBad, Reason: "fs-verity digest with a non-verity signature"}
	}
	return k.Verify(sig, ev.Digest.Algo, bytes.Clone(ev.Digest.Value))
}
