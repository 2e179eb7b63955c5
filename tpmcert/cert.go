// Package tpmcert owns the certificates of TPM keys: it reads EK and AK
// certificates (PEM or DER) with the TCG fields Go's x509 package leaves
// undecoded (the subjectAltName directoryName with the TPM's
// manufacturer, model and version, the tpmSpecification attribute, an
// RSAES-OAEP key), names TPM vendors, classifies the EK extended key
// usage, and builds a certificate's chain to given roots. Turning those
// facts into the ek-cert, ek-pub and ak-cert checks of a verdict is
// package quote's.
package tpmcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// TCG object identifiers of EK certificates (TCG EK Credential Profile
// for TPM Family 2.0, section 3.2; TCG PC Client Platform TPM Profile).
var (
	oidTPMManufacturer  = asn1.ObjectIdentifier{2, 23, 133, 2, 1}
	oidTPMModel         = asn1.ObjectIdentifier{2, 23, 133, 2, 2}
	oidTPMVersion       = asn1.ObjectIdentifier{2, 23, 133, 2, 3}
	oidTPMSpecification = asn1.ObjectIdentifier{2, 23, 133, 2, 16}
	oidEKCertificateEKU = asn1.ObjectIdentifier{2, 23, 133, 8, 1}
	oidSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidSubjectDirAttrs  = asn1.ObjectIdentifier{2, 5, 29, 9}
	oidRSAESOAEP        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
)

// TPMCertificate is a parsed certificate for a TPM key, an endorsement
// key (EK) or an attestation key (AK), with the TCG fields Go's x509
// package leaves undecoded.
type TPMCertificate struct {
	Cert *x509.Certificate
	// Key is the certified public key; it is also read when the certificate
	// marks an RSA key as RSAES-OAEP (as some TPM vendors do), which Go's
	// x509 package does not parse.
	Key crypto.PublicKey
	// TPM identity from the subjectAltName directoryName.
	Manufacturer string // e.g. "id:00001014"
	Model        string
	Version      string
	// SANCritical says the subjectAltName is marked critical (TCG
	// requires that when the subject is empty); goldenpcr handles it.
	SANCritical bool
	// SANDecoded says a directoryName with TCG attributes was found.
	SANDecoded bool
	// Spec is the tpmSpecification subject directory attribute,
	// "family 2.0, level 0, revision 164", if present.
	Spec string
	// EKU lists the extended key usages as dotted OIDs or Go names.
	EKU []string
}

// ParseTPMCertificate reads an EK or AK certificate, PEM or DER.
func ParseTPMCertificate(data []byte) (*TPMCertificate, error) {
	der := data
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		der = nil
		for rest := data; der == nil; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				return nil, errors.New("PEM: no CERTIFICATE block")
			}
			if b.Type == "CERTIFICATE" {
				der = b.Bytes
			}
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("X.509: %w", err)
	}
	ek := &TPMCertificate{Cert: c, Key: c.PublicKey}
	if ek.Key == nil {
		ek.Key, err = oaepKey(c.RawSubjectPublicKeyInfo)
		if err != nil {
			return nil, err
		}
	}
	for _, e := range c.Extensions {
		switch {
		case e.Id.Equal(oidSubjectAltName):
			ek.SANCritical = e.Critical
			if err := ek.decodeSAN(e.Value); err != nil {
				return nil, fmt.Errorf("subjectAltName: %w", err)
			}
		case e.Id.Equal(oidSubjectDirAttrs):
			ek.decodeDirAttrs(e.Value)
		}
	}
	for _, u := range c.ExtKeyUsage {
		ek.EKU = append(ek.EKU, extKeyUsageName(u))
	}
	for _, u := range c.UnknownExtKeyUsage {
		s := u.String()
		if u.Equal(oidEKCertificateEKU) {
			s += " (tcg-kp-EKCertificate)"
		}
		ek.EKU = append(ek.EKU, s)
	}
	return ek, nil
}

// oaepKey reads an RSA key whose SubjectPublicKeyInfo says RSAES-OAEP.
func oaepKey(spki []byte) (crypto.PublicKey, error) {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("subjectPublicKeyInfo: %w", err)
	}
	if !info.Algorithm.Algorithm.Equal(oidRSAESOAEP) {
		return nil, fmt.Errorf("subjectPublicKeyInfo: key algorithm %s is not RSA, RSAES-OAEP or ECDSA", info.Algorithm.Algorithm)
	}
	k, err := x509.ParsePKCS1PublicKey(info.PublicKey.Bytes)
	if err != nil {
		return nil, fmt.Errorf("RSAES-OAEP key: %w", err)
	}
	return k, nil
}

// decodeSAN reads the GeneralNames of the subjectAltName and takes the
// TCG attributes from a directoryName ([4], a Name).
func (ek *TPMCertificate) decodeSAN(v []byte) error {
	var names []asn1.RawValue
	rest, err := asn1.Unmarshal(v, &names)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New("trailing data")
	}
	for _, n := range names {
		if n.Class != asn1.ClassContextSpecific || n.Tag != 4 {
			continue
		}
		var rdns pkix.RDNSequence
		if rest, err := asn1.Unmarshal(n.Bytes, &rdns); err != nil || len(rest) > 0 {
			return fmt.Errorf("directoryName: not a Name (%v)", err)
		}
		for _, set := range rdns {
			for _, atv := range set {
				s, ok := atv.Value.(string)
				if !ok {
					continue
				}
				switch {
				case atv.Type.Equal(oidTPMManufacturer):
					ek.Manufacturer, ek.SANDecoded = s, true
				case atv.Type.Equal(oidTPMModel):
					ek.Model, ek.SANDecoded = s, true
				case atv.Type.Equal(oidTPMVersion):
					ek.Version, ek.SANDecoded = s, true
				}
			}
		}
	}
	return nil
}

// decodeDirAttrs reads tpmSpecification from subjectDirectoryAttributes:
// SEQUENCE OF Attribute { type, SET OF TPMSpecification { family
// UTF8String, level INTEGER, revision INTEGER } }. Anything else is
// ignored: the extension is informative.
func (ek *TPMCertificate) decodeDirAttrs(v []byte) {
	var attrs []struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}
	if _, err := asn1.Unmarshal(v, &attrs); err != nil {
		return
	}
	for _, a := range attrs {
		if !a.Type.Equal(oidTPMSpecification) || len(a.Values) == 0 {
			continue
		}
		var spec struct {
			Family   string `asn1:"utf8"`
			Level    int
			Revision int
		}
		if _, err := asn1.Unmarshal(a.Values[0].FullBytes, &spec); err == nil {
			ek.Spec = fmt.Sprintf("family %s, level %d, revision %d", spec.Family, spec.Level, spec.Revision)
		}
	}
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageAny:
		return "any"
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	}
	return "eku#" + strconv.Itoa(int(u))
}

// tcgVendors are TPM manufacturer IDs of the TCG vendor registry.
var tcgVendors = map[uint32]string{
	0x414D4400: "AMD", 0x41544D4C: "Atmel", 0x4252434D: "Broadcom", 0x4353434F: "Cisco", 0x464C5953: "Flyslice",
	0x474F4F47: "Google", 0x48504500: "HPE", 0x48504900: "HP", 0x48495349: "Huawei", 0x49424D00: "IBM",
	0x49465800: "Infineon", 0x494E5443: "Intel", 0x4C454E00: "Lenovo", 0x4D534654: "Microsoft",
	0x4E534D20: "National Semiconductor", 0x4E545A00: "Nationz", 0x4E544300: "Nuvoton", 0x51434F4D: "Qualcomm",
	0x524F4343: "Fuzhou Rockchip", 0x534D5343: "SMSC", 0x53544D20: "STMicroelectronics", 0x534D534E: "Samsung",
	0x534E5300: "Sinosun", 0x54584E00: "Texas Instruments", 0x57454300: "Winbond",
	0x00001014: "IBM, by its PCI vendor id (swtpm, libtpms)",
}

// ManufacturerName decodes "id:XXXXXXXX" to the vendor's name, or "".
func (ek *TPMCertificate) ManufacturerName() string {
	s, ok := strings.CutPrefix(strings.ToLower(ek.Manufacturer), "id:")
	if !ok {
		return ""
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return ""
	}
	id := binary.BigEndian.Uint32(b)
	if n, ok := tcgVendors[id]; ok {
		return n
	}
	return ""
}

// EKPolicy says how to check an EK certificate.
type EKPolicy struct {
	// Roots are the TPM manufacturer root CAs; none fails the chain check.
	Roots []*x509.Certificate
	// Intermediates may help build the chain.
	Intermediates []*x509.Certificate
	// EKPub, if set, must be the certificate's public key.
	EKPub *tpmstruct.PublicKey
	// Now is the verification time; zero means time.Now().
	Now time.Time
}

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

// EKSummary describes the EK certificate, for the report.
type EKSummary struct {
	Subject          string   `json:"subject" yaml:"subject"`
	Issuer           string   `json:"issuer" yaml:"issuer"`
	Serial           string   `json:"serial" yaml:"serial"`
	NotBefore        string   `json:"not_before" yaml:"not_before"`
	NotAfter         string   `json:"not_after" yaml:"not_after"`
	Key              string   `json:"key" yaml:"key"`
	Manufacturer     string   `json:"tpm_manufacturer,omitempty" yaml:"tpm_manufacturer,omitempty"`
	ManufacturerName string   `json:"tpm_manufacturer_name,omitempty" yaml:"tpm_manufacturer_name,omitempty"`
	Model            string   `json:"tpm_model,omitempty" yaml:"tpm_model,omitempty"`
	Version          string   `json:"tpm_version,omitempty" yaml:"tpm_version,omitempty"`
	Spec             string   `json:"tpm_specification,omitempty" yaml:"tpm_specification,omitempty"`
	EKU              []string `json:"eku,omitempty" yaml:"eku,omitempty"`
	SANCritical      bool     `json:"san_critical" yaml:"san_critical"`
	Chain            []string `json:"chain,omitempty" yaml:"chain,omitempty"`
}

// KeyString describes a certified key: "RSA 2048" or "ECC P-256".
func KeyString(k crypto.PublicKey) string {
	return (&tpmstruct.PublicKey{Key: k}).String()
}

// Summary describes the certificate, for a report; Chain is left for the
// caller that verified it.
func (tc *TPMCertificate) Summary() *EKSummary {
	c := tc.Cert
	return &EKSummary{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.String(),
		NotBefore: c.NotBefore.UTC().Format(time.RFC3339), NotAfter: c.NotAfter.UTC().Format(time.RFC3339),
		Key: KeyString(tc.Key), Manufacturer: tc.Manufacturer, ManufacturerName: tc.ManufacturerName(),
		Model: tc.Model, Version: tc.Version, Spec: tc.Spec, EKU: tc.EKU, SANCritical: tc.SANCritical,
	}
}

// EKUKind says what the extended key usage makes of an EK certificate.
type EKUKind int

// The EKU kinds.
const (
	// EKUTCG: the EKU names tcg-kp-EKCertificate (2.23.133.8.1).
	EKUTCG EKUKind = iota
	// EKUNone: the certificate has no EKU, as older EK certificates.
	EKUNone
	// EKUOther: the EKU names other purposes only: not an EK certificate.
	EKUOther
)

// EKUKind classifies the certificate's extended key usage.
func (tc *TPMCertificate) EKUKind() EKUKind {
	c := tc.Cert
	switch {
	case len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0:
		return EKUNone
	case hasOID(c.UnknownExtKeyUsage, oidEKCertificateEKU):
		return EKUTCG
	}
	return EKUOther
}

// Chain verifies the certificate's chain to one of roots through
// intermediates, for any extended key usage (TPM CAs carry no serverAuth),
// and returns the subjects from leaf to root. Go's verifier lists a
// critical subjectAltName it cannot decode as unhandled; the TCG one,
// which holds only a directoryName, is decoded here and taken off that
// list, and only it: every other unhandled critical extension fails.
func (tc *TPMCertificate) Chain(roots, intermediates []*x509.Certificate, now time.Time) ([]string, error) {
	var unhandled []asn1.ObjectIdentifier
	for _, oid := range tc.Cert.UnhandledCriticalExtensions {
		if oid.Equal(oidSubjectAltName) && tc.SANDecoded {
			continue
		}
		unhandled = append(unhandled, oid)
	}
	if len(unhandled) > 0 {
		names := make([]string, len(unhandled))
		for i, o := range unhandled {
			names[i] = o.String()
		}
		return nil, errors.New("has critical extensions goldenpcr does not handle: " + strings.Join(names, ", "))
	}
	leaf := *tc.Cert
	leaf.UnhandledCriticalExtensions = unhandled
	rootPool, interPool := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	for _, r := range intermediates {
		interPool.AddCert(r)
	}
	if now.IsZero() {
		now = time.Now()
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: rootPool, Intermediates: interPool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, errors.New("does not chain to the given roots: " + err.Error())
	}
	var subjects []string
	for _, c := range chains[0] {
		name := c.Subject.String()
		if name == "" {
			name = "(empty subject)" // as TCG asks of EK certificates
		}
		subjects = append(subjects, name)
	}
	return subjects, nil
}

func hasOID(list []asn1.ObjectIdentifier, o asn1.ObjectIdentifier) bool {
	for _, x := range list {
		if x.Equal(o) {
			return true
		}
	}
	return false
}

// SamePublicKey compares two RSA or ECDSA public keys.
func SamePublicKey(a, b crypto.PublicKey) bool {
	switch ka := a.(type) {
	case *rsa.PublicKey:
		kb, ok := b.(*rsa.PublicKey)
		return ok && ka.Equal(kb)
	case *ecdsa.PublicKey:
		kb, ok := b.(*ecdsa.PublicKey)
		return ok && ka.Equal(kb)
	}
	return false
}

// ParseCertificates reads every certificate of a PEM file (any number of
// CERTIFICATE blocks) or one DER certificate.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("DER certificate: %w", err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("PEM: no CERTIFICATE block")
	}
	return out, nil
}
