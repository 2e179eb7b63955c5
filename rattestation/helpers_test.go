package rattestation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

const fixturePCRs = "../fixtures/cml/pcrs-sha256.txt"

// testCert is a self-signed certificate standing in for the key that
// signs kernel modules and IMA signatures, and its DER.
func testCert(t testing.TB) (pemText, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(14),
		Subject:      pkix.Name{CommonName: "GyroidOS kernel module signing (test)"},
		NotBefore:    time.Unix(0, 0), NotAfter: time.Unix(4102444800, 0),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), der
}

// fixtureRef is the twelve SHA-256 values of the real GyroidOS response.
func fixtureRef(t testing.TB) *baseline.Reference {
	t.Helper()
	ref, err := baseline.Load(fixturePCRs, pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// synthetic is a baseline with SHA-1 and SHA-256 values for the given
// PCRs, none of them zero, as refvals computes for both banks.
func synthetic(pcrs ...int) *baseline.Baseline {
	b := &baseline.Baseline{Version: baseline.SchemaVersion, Metadata: baseline.Metadata{Tool: "goldenpcr"}}
	for _, i := range pcrs {
		s2 := sha256.Sum256([]byte(fmt.Sprintf("sha256 PCR %d", i)))
		s1 := pcr.SHA1.Sum([]byte(fmt.Sprintf("sha1 PCR %d", i)))
		b.PCRs = append(b.PCRs, baseline.PCR{Index: i, Values: map[string]string{
			"sha256": hex.EncodeToString(s2[:]), "sha1": hex.EncodeToString(s1),
		}})
	}
	return b
}

func span(lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

// writerCase is golden values and options the writer must turn into a
// config rattestation reads as meant.
type writerCase struct {
	name string
	ref  *baseline.Reference
	opts Options
}

// writerCases cover every usable atype: BASIC from the real response and
// from a two-bank baseline, ADVANCED over several PCR sets, with and
// without IMA and containers, and a name that needs escapes.
func writerCases(t testing.TB) []writerCase {
	cert, _ := testCert(t)
	all := &baseline.Reference{Baseline: synthetic(span(0, 23)...)}
	noIMA := &baseline.Reference{Baseline: synthetic(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11)}
	return []writerCase{
		{"BASIC real response", fixtureRef(t), Options{KmodCert: cert}},
		{"BASIC two banks", all, Options{Name: "device \"A\" \\ lab", KmodCert: cert}},
		{"BASIC no IMA, PCR 10 left out", noIMA, Options{NoIMA: true, KmodCert: cert}},
		{"ADVANCED 0-7,10,11", all, Options{AType: Advanced, PCRs: []int{0, 1, 2, 3, 4, 5, 6, 7, 10, 11}, KmodCert: cert}},
		{"ADVANCED 4,7 without IMA and containers", all, Options{AType: Advanced, PCRs: []int{4, 7}, NoIMA: true, NoContainers: true, KmodCert: cert}},
		{"ADVANCED 0-23", all, Options{AType: Advanced, PCRs: span(0, 23), Name: "every PCR", KmodCert: cert}},
		{"ADVANCED real response 0-11", fixtureRef(t), Options{AType: Advanced, PCRs: span(0, 11), KmodCert: cert}},
	}
}
