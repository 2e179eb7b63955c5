package tpmcert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// tcgSAN builds the TCG subjectAltName value: a directoryName with
// tpmManufacturer, tpmModel and tpmVersion, one RDN each.
func tcgSAN(t *testing.T) []byte {
	name := pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 23, 133, 2, 1}, Value: "id:49465800"}},
		{{Type: asn1.ObjectIdentifier{2, 23, 133, 2, 2}, Value: "SLB9670"}},
		{{Type: asn1.ObjectIdentifier{2, 23, 133, 2, 3}, Value: "id:0007003D"}},
	}
	inner, err := asn1.Marshal(name)
	if err != nil {
		t.Fatal(err)
	}
	san, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: inner}})
	if err != nil {
		t.Fatal(err)
	}
	return san
}

// ekChain issues a root and an EK certificate with the given EKUs and
// extra extensions.
func ekChain(t *testing.T, ekus []asn1.ObjectIdentifier, extra []pkix.Extension) (root *x509.Certificate, ek []byte, ekKey *rsa.PrivateKey) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test TPM root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(caDER)
	ekKey, err = rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	exts := []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Critical: true, Value: tcgSAN(t)}}
	if ekus != nil {
		v, _ := asn1.Marshal(ekus)
		exts = append(exts, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: v})
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageKeyEncipherment, ExtraExtensions: append(exts, extra...)}
	ek, err = x509.CreateCertificate(rand.Reader, tmpl, root, &ekKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return root, ek, ekKey
}

func TestVerifyEKExtensions(t *testing.T) {
	tcgEKU := []asn1.ObjectIdentifier{asn1.ObjectIdentifier{2, 23, 133, 8, 1}}
	for _, c := range []struct {
		name   string
		ekus   []asn1.ObjectIdentifier
		extra  []pkix.Extension
		pass   bool
		reason string
	}{
		{"TCG EKU, critical TCG SAN with an empty subject", tcgEKU, nil, true, "EKU tcg-kp-EKCertificate; TPM id:49465800 SLB9670 id:0007003D from the TCG subjectAltName (critical, decoded by goldenpcr)"},
		{"no EKU", nil, nil, true, "it has no extended key usage"},
		{"serverAuth EKU only", []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}}, nil, false, "does not include tcg-kp-EKCertificate"},
		{"another unhandled critical extension", tcgEKU, []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{5, 0}}},
			false, "critical extensions goldenpcr does not handle: 1.2.3.4"},
	} {
		root, der, key := ekChain(t, c.ekus, c.extra)
		ek, err := tpmcert.ParseTPMCertificate(der)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ek.ManufacturerName() != "Infineon" || !ek.SANCritical {
			t.Errorf("%s: manufacturer %q (%s), critical %v", c.name, ek.Manufacturer, ek.ManufacturerName(), ek.SANCritical)
		}
		pub := &tpmstruct.PublicKey{Format: "test", Key: &key.PublicKey}
		_, checks := quote.VerifyEK(ek, &tpmcert.EKPolicy{Roots: []*x509.Certificate{root}, EKPub: pub}, nil)
		chain := checks[0]
		if chain.Passed != c.pass || !strings.Contains(chain.Reason, c.reason) {
			t.Errorf("%s: %+v, want passed %v saying %q", c.name, chain, c.pass, c.reason)
		}
		if !checks[1].Passed {
			t.Errorf("%s: ek-pub %+v", c.name, checks[1])
		}
	}
}

// TestEKOAEPKey: an RSA EK key marked RSAES-OAEP, which Go's x509 does not
// parse, is still read for the ek-pub binding.
func TestEKOAEPKey(t *testing.T) {
	_, der, key := ekChain(t, nil, nil)
	c, _ := x509.ParseCertificate(der)
	// Rewrite the SubjectPublicKeyInfo's algorithm OID in place:
	// rsaEncryption 1.2.840.113549.1.1.1 → RSAES-OAEP …1.7 (same length).
	spki := c.RawSubjectPublicKeyInfo
	rsaOID := []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01}
	i := strings.Index(string(der), string(spki))
	j := strings.Index(string(spki), string(rsaOID))
	if i < 0 || j < 0 {
		t.Fatal("SPKI not found")
	}
	mod := append([]byte{}, der...)
	mod[i+j+len(rsaOID)-1] = 0x07
	ek, err := tpmcert.ParseTPMCertificate(mod)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := ek.Key.(*rsa.PublicKey); !ok || !k.Equal(&key.PublicKey) {
		t.Fatalf("key %T", ek.Key)
	}
}
