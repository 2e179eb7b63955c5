package charra

import (
	"encoding/binary"
	"fmt"

	"github.com/goldenpcr/goldenpcr/internal/tpmwire"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// The attester memcpys tpm2-tss's in-memory structs onto the wire, not
// their TPM marshalling: on x86-64 every integer is little-endian and the
// unions take their largest member's room. Offsets measured with gcc
// against tpm2-tss 4.0 headers (the same in 3.x).
const (
	// RawSignatureSize is sizeof(TPMT_SIGNATURE).
	RawSignatureSize = 518
	rawSigMaxRSA     = 512 // TPM2_MAX_RSA_KEY_BYTES
	rawSigMaxECC     = 128 // TPM2_MAX_ECC_KEY_BYTES
	rawSigRSAAt      = 4
	rawSigRAt        = 4
	rawSigSAt        = 134

	// RawPublicSize is sizeof(TPM2B_PUBLIC), the 3mdeb fork's public key.
	RawPublicSize   = 616
	rawPubType      = 4
	rawPubNameAlg   = 6
	rawPubAttrs     = 8
	rawPubPolicy    = 12 // TPM2B_DIGEST: u16 size, 64-byte buffer
	rawPubParms     = 80
	rawPubUnique    = 100
	rawPubPolicyMax = 64
)

// RawError is a raw C struct that is not what the attester sends.
type RawError struct {
	Struct string
	Offset int
	Reason string
}

func (e *RawError) Error() string {
	return fmt.Sprintf("%s (raw tpm2-tss C struct) at byte %d: %s", e.Struct, e.Offset, e.Reason)
}

func rawErr(st string, off int, format string, args ...any) *RawError {
	return &RawError{Struct: st, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

func le16(b []byte, off int) int { return int(binary.LittleEndian.Uint16(b[off:])) }

// zeroFrom checks that b[from:to] is zero: ESYS callocs the struct, so a
// byte past a size field's end is the size field lying.
func zeroFrom(st string, b []byte, from, to int, what string) error {
	for i := from; i < to; i++ {
		if b[i] != 0 {
			return rawErr(st, i, "byte 0x%02x after the %s (zero in what tpm2-tss returns: the size field before it is wrong)", b[i], what)
		}
	}
	return nil
}

// ParseRawSignature reads the 518-byte in-memory TPMT_SIGNATURE CHARRA's
// attester sends (RSASSA, RSAPSS, ECDSA) into the signature type package
// quote verifies.
func ParseRawSignature(b []byte) (*tpmstruct.Signature, error) {
	const st = "TPMT_SIGNATURE"
	if len(b) != RawSignatureSize {
		return nil, rawErr(st, 0, "%d bytes, want sizeof(TPMT_SIGNATURE) = %d", len(b), RawSignatureSize)
	}
	s := &tpmstruct.Signature{Scheme: tpmstruct.SigScheme(le16(b, 0)), Hash: pcr.Alg(le16(b, 2))}
	switch s.Scheme {
	case tpmstruct.SchemeRSASSA, tpmstruct.SchemeRSAPSS, tpmstruct.SchemeECDSA:
	default:
		return nil, rawErr(st, 0, "sigAlg 0x%04x (little-endian) is not rsassa 0x0014, rsapss 0x0016 or ecdsa 0x0018", uint16(s.Scheme))
	}
	if !s.Hash.Valid() {
		return nil, rawErr(st, 2, "hash 0x%04x is not sha1, sha256, sha384 or sha512", uint16(s.Hash))
	}
	if s.Scheme != tpmstruct.SchemeECDSA {
		n := le16(b, rawSigRSAAt)
		switch n {
		case 128, 256, 384, 512: // the modulus of an RSA-1024 to -4096 key
		default:
			return nil, rawErr(st, rawSigRSAAt, "sig.size %d is not the size of a 1024-, 2048-, 3072- or 4096-bit RSA signature", n)
		}
		start := rawSigRSAAt + 2
		if err := zeroFrom(st, b, start+n, RawSignatureSize, fmt.Sprintf("%d-byte RSA signature", n)); err != nil {
			return nil, err
		}
		s.RSA = append([]byte(nil), b[start:start+n]...)
		return s, nil
	}
	var err error
	if s.R, err = rawECC(b, rawSigRAt, rawSigSAt, "signatureR"); err != nil {
		return nil, err
	}
	if s.S, err = rawECC(b, rawSigSAt, RawSignatureSize, "signatureS"); err != nil {
		return nil, err
	}
	if len(s.R) != len(s.S) {
		return nil, rawErr(st, rawSigSAt, "signatureS.size %d, signatureR.size %d: a TPM pads both to the curve's size", len(s.S), len(s.R))
	}
	return s, nil
}

// rawECC reads a TPM2B_ECC_PARAMETER at off whose room ends at end.
func rawECC(b []byte, off, end int, field string) ([]byte, error) {
	const st = "TPMT_SIGNATURE"
	n := le16(b, off)
	switch n {
	case 32, 48, 66: // P-256 (and BN-256, SM2), P-384, P-521
	default:
		return nil, rawErr(st, off, "%s.size %d is not the coordinate size of P-256, P-384 or P-521 (32, 48, 66)", field, n)
	}
	if err := zeroFrom(st, b, off+2+n, end, fmt.Sprintf("%d-byte %s", n, field)); err != nil {
		return nil, err
	}
	return append([]byte(nil), b[off+2:off+2+n]...), nil
}

// ParseRawPublic reads the 3mdeb fork's tpm2-public-key: the in-memory
// TPM2B_PUBLIC (616 bytes) of an RSA or ECC key, or a TPM-marshalled
// TPM2B_PUBLIC. The key is what the response claims; a verifier compares
// it with the AK it pinned.
func ParseRawPublic(b []byte) (*tpmstruct.PublicKey, error) {
	const st = "TPM2B_PUBLIC"
	if len(b) != RawPublicSize {
		if len(b) >= 2 && int(binary.BigEndian.Uint16(b)) == len(b)-2 {
			return tpmstruct.ParsePublic(b) // already TPM-marshalled
		}
		return nil, rawErr(st, 0, "%d bytes, want sizeof(TPM2B_PUBLIC) = %d (or a marshalled TPM2B_PUBLIC)", len(b), RawPublicSize)
	}
	// Re-marshal big-endian and let tpmstruct read it, so the checks of a
	// public area are tpmstruct's.
	var w tpmwire.Writer
	typ := le16(b, rawPubType)
	w.U16(uint16(typ))
	w.U16(uint16(le16(b, rawPubNameAlg)))
	w.U32(binary.LittleEndian.Uint32(b[rawPubAttrs:]))
	n := le16(b, rawPubPolicy)
	if n > rawPubPolicyMax {
		return nil, rawErr(st, rawPubPolicy, "authPolicy.size %d, at most %d", n, rawPubPolicyMax)
	}
	w.TPM2B(b[rawPubPolicy+2 : rawPubPolicy+2+n])
	p := rawPubParms
	sym := le16(b, p)
	w.U16(uint16(sym))
	if sym != 0x0010 { // TPM_ALG_NULL: no keyBits and mode follow
		w.U16(uint16(le16(b, p+2)))
		w.U16(uint16(le16(b, p+4)))
	}
	scheme := le16(b, p+6)
	w.U16(uint16(scheme))
	if scheme != 0x0010 {
		w.U16(uint16(le16(b, p+8)))
	}
	u := rawPubUnique
	switch typ {
	case 0x0001: // TPM_ALG_RSA
		w.U16(uint16(le16(b, p+12)))
		w.U32(binary.LittleEndian.Uint32(b[p+16:]))
		n := le16(b, u)
		if n == 0 || n > rawSigMaxRSA {
			return nil, rawErr(st, u, "unique.rsa.size %d, want 1 to %d", n, rawSigMaxRSA)
		}
		w.TPM2B(b[u+2 : u+2+n])
	case 0x0023: // TPM_ALG_ECC
		w.U16(uint16(le16(b, p+12)))
		kdf := le16(b, p+14)
		w.U16(uint16(kdf))
		if kdf != 0x0010 {
			w.U16(uint16(le16(b, p+16)))
		}
		for _, at := range []int{u, u + 2 + rawSigMaxECC} {
			n := le16(b, at)
			if n == 0 || n > rawSigMaxECC {
				return nil, rawErr(st, at, "unique.ecc coordinate size %d, want 1 to %d", n, rawSigMaxECC)
			}
			w.TPM2B(b[at+2 : at+2+n])
		}
	default:
		return nil, rawErr(st, rawPubType, "type 0x%04x is not rsa 0x0001 or ecc 0x0023", typ)
	}
	t, err := tpmstruct.ParseTPMTPublic(w.B)
	if err != nil {
		return nil, rawErr(st, 0, "as a public area: %v", err)
	}
	return tpmstruct.FromTPM(t, "raw TPM2B_PUBLIC (3mdeb response)")
}
