package eventlog

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
)

// SignatureList is one decoded EFI_SIGNATURE_LIST of PK, KEK, db or dbx.
type SignatureList struct {
	Type       GUID            `json:"type" yaml:"type"`
	TypeName   string          `json:"type_name,omitempty" yaml:"type_name,omitempty"`
	Signatures []SignatureData `json:"signatures" yaml:"signatures"`
}

// SignatureData is one EFI_SIGNATURE_DATA entry: an owner and either a
// certificate or a hash.
type SignatureData struct {
	Owner GUID `json:"owner" yaml:"owner"`
	// Hash is set for hash entries (EFI_CERT_SHA256 and friends).
	Hash string `json:"hash,omitempty" yaml:"hash,omitempty"`
	// Certificate is set for X.509 entries.
	Certificate *CertInfo `json:"certificate,omitempty" yaml:"certificate,omitempty"`
	// Data holds other entry types as hex.
	Data string `json:"data,omitempty" yaml:"data,omitempty"`
	// Raw is the entry's data (certificate DER or hash); not rendered.
	Raw []byte `json:"-" yaml:"-"`
}

// CertInfo summarises an X.509 certificate found in a log.
type CertInfo struct {
	Subject string `json:"subject" yaml:"subject"`
	Issuer  string `json:"issuer" yaml:"issuer"`
	Serial  string `json:"serial" yaml:"serial"`
	// SHA256 is the fingerprint of the DER encoding.
	SHA256 string `json:"sha256" yaml:"sha256"`
	// ParseError is set when crypto/x509 rejects the DER.
	ParseError string `json:"parse_error,omitempty" yaml:"parse_error,omitempty"`
}

func certInfo(der []byte) *CertInfo {
	sum := sha256.Sum256(der)
	ci := &CertInfo{SHA256: hex.EncodeToString(sum[:])}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		ci.ParseError = err.Error()
		return ci
	}
	ci.Subject = c.Subject.String()
	ci.Issuer = c.Issuer.String()
	ci.Serial = c.SerialNumber.Text(16)
	return ci
}

// efiSignatureListHeader is the fixed part of an EFI_SIGNATURE_LIST.
const efiSignatureListHeader = 16 + 4 + 4 + 4

// ParseSignatureLists decodes a concatenation of EFI_SIGNATURE_LISTs (the
// contents of PK, KEK, db, dbx, MokList). Errors give the byte offset.
func ParseSignatureLists(b []byte) ([]SignatureList, error) {
	var out []SignatureList
	off := 0
	for off < len(b) {
		d := decoder{buf: b, off: off}
		typ := d.guid()
		listSize, hdrSize, sigSize := d.u32(), d.u32(), d.u32()
		if d.err != nil {
			return out, fmt.Errorf("signature list at byte %d: %w", off, d.err)
		}
		if uint64(listSize) > uint64(len(b)-off) || listSize < efiSignatureListHeader {
			return out, fmt.Errorf("signature list at byte %d: list size %d out of range %d-%d", off, listSize, efiSignatureListHeader, len(b)-off)
		}
		body := uint64(listSize) - efiSignatureListHeader
		if uint64(hdrSize) > body {
			return out, fmt.Errorf("signature list at byte %d: header size %d exceeds list body %d", off, hdrSize, body)
		}
		body -= uint64(hdrSize)
		if sigSize < 16 || body%uint64(sigSize) != 0 {
			return out, fmt.Errorf("signature list at byte %d: signature size %d does not divide the %d bytes of entries", off, sigSize, body)
		}
		d.bytes(int(hdrSize))
		sl := SignatureList{Type: typ, TypeName: typ.Name()}
		for n := body / uint64(sigSize); n > 0; n-- {
			owner := d.guid()
			sl.Signatures = append(sl.Signatures, signatureData(typ, owner, d.bytes(int(sigSize)-16)))
		}
		out = append(out, sl)
		off += int(listSize)
	}
	return out, nil
}

func signatureData(typ, owner GUID, data []byte) SignatureData {
	sd := SignatureData{Owner: owner, Raw: data}
	switch typ {
	case GUIDCertX509:
		sd.Certificate = certInfo(data)
	case GUIDCertSHA256, GUIDCertSHA1, GUIDCertSHA384, GUIDCertSHA512:
		sd.Hash = hex.EncodeToString(data)
	default:
		sd.Data = hex.EncodeToString(data)
	}
	return sd
}
