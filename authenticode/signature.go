package authenticode

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"
)

// Signature is one Authenticode signature of the attribute certificate
// table: the digest the signer signed and the certificates it carries.
type Signature struct {
	// Offset is the file offset of the WIN_CERTIFICATE entry.
	Offset int64
	// DigestAlgorithm names the hash of SignedDigest (e.g. "sha256").
	DigestAlgorithm string
	// SignedDigest is the image digest inside SpcIndirectDataContent.
	SignedDigest []byte
	// Certificates are the certificates the PKCS#7 SignedData carries,
	// signer first when it can be told, then the rest of the chain.
	Certificates []*x509.Certificate
	// content is the signed SpcIndirectDataContent without its tag and
	// length, signerInfos the SignedData's SignerInfos (for Signer).
	content, signerInfos []byte
}

// winCertificate is the header of an attribute certificate table entry
// (WIN_CERTIFICATE); the certificate itself follows it.
type winCertificate struct {
	Length          uint32 // of the entry, this header included
	Revision        uint16
	CertificateType uint16
}

const (
	winCertRevision2  = 0x0200
	winCertTypePKCS7  = 0x0002
	winCertHeaderSize = int(unsafe.Sizeof(winCertificate{}))
)

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	digestOIDs    = map[string]string{
		"1.3.14.3.2.26":          "sha1",
		"2.16.840.1.101.3.4.2.1": "sha256",
		"2.16.840.1.101.3.4.2.2": "sha384",
		"2.16.840.1.101.3.4.2.3": "sha512",
	}
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	ContentInfo      contentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      asn1.RawValue
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

// spcIndirectDataContent is Authenticode's signed content: a description
// of the image and its digest.
type spcIndirectDataContent struct {
	Data          asn1.RawValue
	MessageDigest struct {
		Algorithm algorithmIdentifier
		Digest    []byte
	}
}

// Signatures reads every entry of the attribute certificate table.
func (img *Image) Signatures(r io.ReaderAt) ([]Signature, error) {
	if img.CertTable.Size == 0 {
		return nil, nil
	}
	table := make([]byte, img.CertTable.Size)
	if _, err := r.ReadAt(table, img.CertTable.Offset); err != nil {
		return nil, errAt(img.CertTable.Offset, "reading the certificate table: %v", err)
	}
	var sigs []Signature
	for off := 0; off+winCertHeaderSize <= len(table); {
		at := img.CertTable.Offset + int64(off)
		var h winCertificate
		binary.Decode(table[off:], binary.LittleEndian, &h) // the loop condition leaves room for it
		length := int(h.Length)
		if length == 0 {
			break // zero padding after the last entry
		}
		if length < winCertHeaderSize || length > len(table)-off {
			return sigs, errAt(at, "WIN_CERTIFICATE length %d out of range %d-%d", length, winCertHeaderSize, len(table)-off)
		}
		if h.Revision == winCertRevision2 && h.CertificateType == winCertTypePKCS7 {
			s, err := parsePKCS7(table[off+winCertHeaderSize : off+length])
			if err != nil {
				return sigs, errAt(at+int64(winCertHeaderSize), "PKCS#7 signature: %v", err)
			}
			s.Offset = at
			sigs = append(sigs, *s)
		}
		off += (length + 7) &^ 7 // entries are 8-byte aligned
	}
	return sigs, nil
}

func parsePKCS7(der []byte) (*Signature, error) {
	var ci contentInfo
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, err
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("content type %v is not signedData", ci.ContentType)
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("signedData: %w", err)
	}
	var spc spcIndirectDataContent
	if _, err := asn1.Unmarshal(sd.ContentInfo.Content.Bytes, &spc); err != nil {
		return nil, fmt.Errorf("SpcIndirectDataContent: %w", err)
	}
	var content asn1.RawValue
	if _, err := asn1.Unmarshal(sd.ContentInfo.Content.Bytes, &content); err != nil {
		return nil, fmt.Errorf("SpcIndirectDataContent: %w", err)
	}
	s := &Signature{
		DigestAlgorithm: digestOIDs[spc.MessageDigest.Algorithm.Algorithm.String()],
		SignedDigest:    spc.MessageDigest.Digest,
		content:         content.Bytes,
		signerInfos:     sd.SignerInfos.Bytes,
	}
	if s.DigestAlgorithm == "" {
		s.DigestAlgorithm = spc.MessageDigest.Algorithm.Algorithm.String()
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	s.Certificates = orderChain(certs)
	return s, nil
}

// orderChain puts the leaf first: the certificate that issued no other
// one, followed by its issuers as far as the set goes.
func orderChain(certs []*x509.Certificate) []*x509.Certificate {
	if len(certs) < 2 {
		return certs
	}
	issuedOther := func(c *x509.Certificate) bool {
		for _, o := range certs {
			if o != c && bytes.Equal(o.RawIssuer, c.RawSubject) && !bytes.Equal(o.RawSubject, c.RawSubject) {
				return true
			}
		}
		return false
	}
	var leaf *x509.Certificate
	for _, c := range certs {
		if !issuedOther(c) {
			leaf = c
			break
		}
	}
	if leaf == nil {
		return certs
	}
	out := []*x509.Certificate{leaf}
	used := map[*x509.Certificate]bool{leaf: true}
	for cur := leaf; ; {
		var next *x509.Certificate
		for _, c := range certs {
			if !used[c] && bytes.Equal(cur.RawIssuer, c.RawSubject) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		out = append(out, next)
		used[next] = true
		cur = next
	}
	for _, c := range certs {
		if !used[c] {
			out = append(out, c)
		}
	}
	return out
}
