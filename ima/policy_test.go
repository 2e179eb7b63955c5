package ima

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

func TestParseChecksumList(t *testing.T) {
	in := "# comment\n" +
		"AB" + strings.Repeat("0", 62) + "  /usr/bin/a\n" +
		strings.Repeat("1", 64) + " */usr/bin/b b\n" +
		"\\" + strings.Repeat("2", 64) + "  /odd\\nname\\\\x\r\n\n"
	p, err := ParseChecksumList([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Digests["/usr/bin/a"]; len(got) != 1 || got[0] != "ab"+strings.Repeat("0", 62) {
		t.Errorf("a: %v", got)
	}
	if p.Digests["/usr/bin/b b"] == nil || p.Digests["/odd\nname\\x"] == nil {
		t.Errorf("%v", p.Digests)
	}
	for _, bad := range []string{"nothex  /a\n", strings.Repeat("1", 64) + " /a\n", "", strings.Repeat("1", 10) + "  /a\n"} {
		if _, err := ParseChecksumList([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	_, err = ParseChecksumList([]byte("\n" + strings.Repeat("1", 64) + "  /a\nbroken line\n"))
	if pe, ok := err.(*PolicyError); !ok || pe.Line != 3 {
		t.Errorf("error %v does not name line 3", err)
	}
}

func TestParseKeylimePolicy(t *testing.T) {
	good := `{"meta": {"version": 1, "generator": 3}, "digests": {"/a": ["AA"]}, "excludes": ["/tmp/.*", "boot_aggregate"],
	  "keyrings": {".ima": ["bb"]}, "ima": {"ignored_keyrings": [".builtin"], "log_hash_alg": "sha1", "dm_policy": null},
	  "ima-buf": {"kexec-cmdline": ["cc"]}, "verification-keys": ""}`
	p, err := ParsePolicy([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != "keylime" || p.Digests["/a"][0] != "aa" || !p.Excluded("/tmp/x") || p.Excluded("/var/tmp/x") || !p.Excluded("boot_aggregate") ||
		p.Keyrings[".ima"][0] != "bb" || p.IMABuf["kexec-cmdline"][0] != "cc" || p.IgnoredKeyrings[0] != ".builtin" {
		t.Errorf("%+v", p)
	}
	for _, bad := range []string{`{"digests": {}}`, `{"meta": {"version": 2}, "digests": {}}`, `{"meta": {"version": 1}, "digests": {"/a": ["xyz"]}}`,
		`{"meta": {"version": 1}, "digests": {}, "excludes": ["("]}`, "{\n\"meta\": }"} {
		if _, err := ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestBootAggregateStatuses(t *testing.T) {
	data, res := generate(t, imagen.Options{N: 1})
	rd, _, _ := NewReader(bytes.NewReader(data), nil)
	e, _ := rd.Next()
	d, ok := BootAggregateOf(e)
	if !ok || d.Algo != HashSHA256 {
		t.Fatalf("%+v %v", d, ok)
	}
	if c := CheckBootAggregate(d, refOf(e), res.PerBank); c.Status != BootAggregateMatch || c.Rule != BootAggregatePCR0to9 {
		t.Errorf("match: %+v", c)
	}
	only7 := pcr.Values{}
	for i := 0; i < 8; i++ {
		v, _ := res.PerBank.Get(pcr.SHA256, i)
		only7.Set(pcr.SHA256, i, v)
	}
	if c := CheckBootAggregate(d, refOf(e), only7); c.Status != BootAggregateMissingPCRs || !strings.Contains(c.String(), "lack PCRs [8 9]") {
		t.Errorf("missing: %+v %s", c, c)
	}
	other := pcr.Values{}
	for i := 0; i < 10; i++ {
		other.Set(pcr.SHA256, i, make([]byte, 32))
	}
	if c := CheckBootAggregate(d, refOf(e), other); c.Status != BootAggregateMismatch {
		t.Errorf("mismatch: %+v", c)
	}
	zero := &FileDigest{Algo: HashSHA256, Value: make([]byte, 32)}
	if c := CheckBootAggregate(zero, refOf(e), res.PerBank); c.Status != BootAggregateNoTPM {
		t.Errorf("zero: %+v", c)
	}
}

// A key the list loads onto the .ima keyring (an ima-buf entry) is checked
// against the policy's keyrings and then verifies later signatures, as in
// keylime; a key the policy does not allow is a finding and verifies
// nothing.
func TestCheckerKeyringLoads(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ima"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	var kr Keyring
	cert, _ := x509.ParseCertificate(certDER)
	kr.AddCertificate(cert, "test")
	certSum := sha256.Sum256(certDER)
	loads, _ := generate(t, imagen.Options{Template: "ima-buf", N: 1,
		Path: func(int) string { return ".ima" }, Buffer: func(int) []byte { return certDER },
		FileDigest: func(int) []byte { return certSum[:] }})
	signed, _ := generate(t, imagen.Options{Template: "ima-sig", N: 2, Signature: func(i int, _ pcr.Alg, d []byte) []byte {
		sig, _ := ecdsa.SignASN1(rand.Reader, key, d)
		return sigBytes(XattrDigsig, 2, HashSHA256, kr.Keys[0].ID, sig)
	}})
	for _, allow := range []bool{true, false} {
		pol := &Policy{Digests: map[string][]string{}, Keyrings: map[string][]string{".ima": {"00"}}}
		if allow {
			pol.Keyrings[".ima"] = []string{hex.EncodeToString(certSum[:])}
		}
		c := &Checker{Policy: pol}
		for _, list := range [][]byte{loads, signed} {
			rd, _, _ := NewReader(bytes.NewReader(list), nil)
			for {
				e, err := rd.Next()
				if err != nil {
					break
				}
				c.Check(e)
			}
		}
		r := c.Report()
		if allow && (r.KeysLoaded != 1 || r.Signed != 2 || !r.OK()) {
			t.Errorf("allowed key: %+v", r)
		}
		if !allow && (r.KeysLoaded != 0 || r.Signed != 0 || r.Failed != 3 || r.Findings[0].Kind != FindingWrongDigest) {
			t.Errorf("key not allowed: %+v", r)
		}
	}
}
