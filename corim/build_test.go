package corim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// TestParsecRoundTrip decodes the golden PARSEC_TPM CoRIM and checks it
// carries what the baseline says: every candidate of every PCR, each
// bank a CoRIM can name, the AK and its default key id.
func TestParsecRoundTrip(t *testing.T) {
	ref := testRef(t)
	ak := testAK(t, "ak-rsa.pem")
	r, err := NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID, AK: ak}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(r.CBOR)
	if err != nil {
		t.Fatal(err)
	}
	if d.Scheme != ParsecTPM || d.Profile != ProfileParsecTPM || d.Signed || len(d.Comids) != 1 {
		t.Fatalf("decoded %+v", d)
	}
	type entry struct {
		pcr  uint64
		bank string
	}
	got := map[entry][]string{}
	for _, rv := range d.Comids[0].ReferenceValues {
		if rv.Environment.ClassID != classID.String() || rv.Environment.Instance != "" {
			t.Errorf("reference value environment %+v", rv.Environment)
		}
		for _, m := range rv.Measurements {
			for _, dg := range m.Digests {
				got[entry{*m.PCR, dg.Alg}] = append(got[entry{*m.PCR, dg.Alg}], dg.Value)
			}
		}
	}
	for _, p := range ref.Baseline.PCRs {
		for ci, cand := range append([]map[string]string{p.Values}, p.Variants...) {
			for bank, v := range cand {
				name := map[string]string{"sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}[bank]
				if name == "" {
					continue
				}
				vals := got[entry{uint64(p.Index), name}]
				if ci >= len(vals) || vals[ci] != v {
					t.Errorf("PCR %d candidate %d %s: CoRIM has %v, baseline %s", p.Index, ci, bank, vals, v)
				}
			}
		}
	}
	if n := len(d.Comids[0].ReferenceValues); n != 4 {
		t.Errorf("%d reference values, want 4 (PCRs 0, 4, 7 and PCR 7's variant)", n)
	}
	ta := d.Comids[0].TrustAnchors
	id, _ := DefaultKeyID(ak)
	if len(ta) != 1 || ta[0].Environment.Instance != hex.EncodeToString(id) || ta[0].Keys[0].Kind != "RSA-2048" {
		t.Errorf("trust anchor %+v", ta)
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "bank sha1 of PCRs 0,4,7 not carried") {
		t.Errorf("notes %q", r.Notes)
	}
}

func TestEnactTrustDigest(t *testing.T) {
	ref := testRef(t)
	sel, _ := pcr.ParseSelection("sha256:0,4")
	r, err := NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel, NodeID: nodeID, AK: testAK(t, "ak-ecdsa.pem")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ref.Baseline.Values()
	p0, _ := v.Get(pcr.SHA256, 0)
	p4, _ := v.Get(pcr.SHA256, 4)
	want := pcr.SHA256.Sum(append(append([]byte{}, p0...), p4...))
	d := r.Decoded.Comids[0].ReferenceValues[0].Measurements[0].Digests
	if len(d) != 1 || d[0].Alg != "sha-256" || d[0].Value != hex.EncodeToString(want) {
		t.Fatalf("digest %+v, want sha-256 %x", d, want)
	}
	if r.Decoded.Comids[0].TrustAnchors[0].Environment.Instance != nodeID.String() {
		t.Fatalf("trust anchor %+v", r.Decoded.Comids[0].TrustAnchors[0])
	}
}

func TestProfiles(t *testing.T) {
	ref := testRef(t)
	ec := testAK(t, "ak-ecdsa.pem")
	sel, _ := pcr.ParseSelection("sha256:0")
	for _, tc := range []struct {
		opts                   Options
		profile, media, verais string
	}{
		{Options{}, ProfileEnactTrust, `application/rim+cbor; profile="https://enacttrust.com/veraison/1.0.0"`, "current"},
		{Options{Generation: Legacy}, ProfileEnactTrustLegacy, `application/corim-unsigned+cbor; profile="http://enacttrust.com/veraison/1.0.0"`, "legacy"},
		{Options{Profile: "https://example.com/tpm/2"}, "https://example.com/tpm/2", `application/rim+cbor; profile="https://example.com/tpm/2"`, "current"},
		// Legacy Veraison takes signed CoRIMs as rim+cose.
		{Options{Generation: Legacy, Sign: testSigner(t)}, ProfileEnactTrustLegacy, `application/rim+cose; profile="http://enacttrust.com/veraison/1.0.0"`, "legacy"},
		{Options{Generation: Legacy2502}, ProfileEnactTrustLegacy, `application/corim-unsigned+cbor; profile="http://enacttrust.com/veraison/1.0.0"`, "legacy-2502"},
	} {
		r, err := NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel, NodeID: nodeID, AK: ec}, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if r.Decoded.Profile != tc.profile || r.Decoded.MediaType != tc.media || r.Decoded.Veraison != tc.verais {
			t.Errorf("%+v: profile %q media %q veraison %q", tc.opts, r.Decoded.Profile, r.Decoded.MediaType, r.Decoded.Veraison)
		}
		// An overridden profile is unknown to Decode: only the CoRIM rules
		// apply unless the scheme is named.
		d, err := Decode(r.CBOR)
		if err != nil {
			t.Fatal(err)
		}
		if tc.opts.Profile != "" && d.Scheme != "" {
			t.Errorf("overridden profile decoded as %s", d.Scheme)
		}
	}
}

func TestBuildRefusals(t *testing.T) {
	ref := testRef(t)
	ec := testAK(t, "ak-ecdsa.pem")
	rsaKey := testAK(t, "ak-rsa.pem")
	sel := func(s string) pcr.Selection {
		v, err := pcr.ParseSelection(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	sha1Only, err := baseline.Parse([]byte("version: goldenpcr.baseline/v1\nmetadata: {tool: goldenpcr}\npcrs:\n  - pcr: 0\n    values: {sha1: 0f2d3d2a1adaa479aeeca8f5df76aadc41b862ea}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, want string
		build      func() (*Result, error)
	}{
		{"enacttrust PCRs missing", "no value for sha256:1, sha256:2, sha256:3, sha256:5, sha256:6", func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel("sha256:0-7"), NodeID: nodeID, AK: ec}, Options{})
		}},
		{"enacttrust variants", "PCR 7 of the reference allow variants", func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel("sha256:0,7"), NodeID: nodeID, AK: ec}, Options{})
		}},
		{"enacttrust bank missing", "no value for sha384:0", func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel("sha384:0,4"), NodeID: nodeID, AK: ec}, Options{})
		}},
		{"enacttrust unknown bank", "unknown bank", func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: pcr.Selection{{Alg: pcr.Alg(0x99), PCRs: []int{0}}}, NodeID: nodeID, AK: ec}, Options{})
		}},
		{"enacttrust RSA", "AK: RSA-2048, want an ECDSA key", func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel("sha256:0"), NodeID: nodeID, AK: rsaKey}, Options{})
		}},
		{"enacttrust nil node", "node-id: the nil UUID", func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel("sha256:0"), AK: ec}, Options{})
		}},
		{"parsec nil class", "class-id: the nil UUID", func() (*Result, error) {
			return NewParsecTPM(ParsecTPMInput{Reference: ref, AK: ec}, Options{})
		}},
		{"parsec short key id", "key id: 32 bytes", func() (*Result, error) {
			return NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID, AK: ec, KeyID: make([]byte, 32)}, Options{})
		}},
		{"parsec sha1 only", "PCR 0: no bank a CoRIM can carry (it has sha1", func() (*Result, error) {
			return NewParsecTPM(ParsecTPMInput{Reference: &baseline.Reference{Baseline: sha1Only}, ClassID: classID, AK: ec}, Options{})
		}},
		{"parsec no AK", "AK: missing", func() (*Result, error) {
			return NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID}, Options{})
		}},
		{"legacy-2502 signed", "written unsigned", func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel("sha256:0"), NodeID: nodeID, AK: ec}, Options{Generation: Legacy2502, Sign: testSigner(t)})
		}},
		{"bad profile", "want a URI or an OID", func() (*Result, error) {
			return NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID, AK: ec}, Options{Profile: "not a uri"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("error names a command-line option: %v", err)
			}
		})
	}
}

// certFor issues a certificate for key, signed by parent (self-signed when
// parent is nil).
func certFor(t testing.TB, cn string, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, ca bool) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testSigner is a leaf key with a chain leaf → intermediate → root.
func testSigner(t testing.TB) *Signer {
	rootKey, interKey, leafKey := newKey(t), newKey(t), newKey(t)
	root := certFor(t, "goldenpcr test root", rootKey, nil, nil, true)
	inter := certFor(t, "goldenpcr test intermediate", interKey, root, rootKey, true)
	leaf := certFor(t, "goldenpcr test CoRIM signer", leafKey, inter, interKey, false)
	return &Signer{Key: leafKey, Cert: leaf, Chain: []*x509.Certificate{inter, root}}
}

func TestSignedRoundTrip(t *testing.T) {
	ref := testRef(t)
	s := testSigner(t)
	r, err := NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID, AK: testAK(t, "ak-ecdsa.pem")}, Options{Sign: s})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(r.CBOR)
	if err != nil {
		t.Fatal(err)
	}
	sig := d.Signature
	if !d.Signed || sig == nil || !sig.Verified || !sig.ChainLinked || sig.ChainProblem != "" || len(sig.Chain) != 3 ||
		sig.Algorithm != "ES256" || sig.Signer != "goldenpcr test CoRIM signer" {
		t.Fatalf("signature %+v", sig)
	}
	if d.MediaType != `application/rim+cose; profile="tag:github.com/parallaxsecond,2023-03-03:tpm"` {
		t.Errorf("media type %q", d.MediaType)
	}
	// The unsigned CoRIM inside carries the same triples as the unsigned
	// build.
	u, err := NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID, AK: testAK(t, "ak-ecdsa.pem")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Decoded.Comids[0].ReferenceValues) != len(d.Comids[0].ReferenceValues) || u.Decoded.ID != d.ID {
		t.Errorf("signed and unsigned builds differ")
	}

	// A flipped byte inside the payload: the signature no longer verifies
	// (or the payload no longer decodes).
	i := strings.Index(string(r.CBOR), ProfileParsecTPM) + 4
	bad := append([]byte{}, r.CBOR...)
	bad[i] ^= 0x01
	if d, err := Decode(bad); err == nil && d.Signature.Verified {
		t.Fatal("a tampered signed CoRIM verified")
	}

	// A chain whose intermediate did not sign the leaf is reported.
	other := testSigner(t)
	s2 := &Signer{Key: s.Key, Cert: s.Cert, Chain: other.Chain}
	if _, err := NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID, AK: testAK(t, "ak-ecdsa.pem")}, Options{Sign: s2}); err == nil ||
		!strings.Contains(err.Error(), "does not sign") {
		t.Fatalf("broken chain: %v", err)
	}
	// A certificate of another key is refused.
	s3 := &Signer{Key: other.Key, Cert: s.Cert}
	if _, err := NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID, AK: testAK(t, "ak-ecdsa.pem")}, Options{Sign: s3}); err == nil ||
		!strings.Contains(err.Error(), "not the signing key's") {
		t.Fatalf("wrong certificate: %v", err)
	}
}

func TestDecodeNotCorim(t *testing.T) {
	golden, err := os.ReadFile("testdata/parsec-tpm.cbor")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":     {},
		"text":      []byte("version: goldenpcr.baseline/v1\n"),
		"tag only":  {0xd9, 0x01, 0xf5},
		"truncated": golden[:len(golden)/2],
		"sign1 tag": {0xd2, 0x84},
	} {
		if _, err := Decode(data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// addGoldenSeeds seeds a fuzz target with the golden CoRIMs.
func addGoldenSeeds(f *testing.F) {
	for _, g := range []string{"parsec-tpm.cbor", "enacttrust.cbor", "enacttrust-legacy.cbor", "psa.cbor", "cca-platform.cbor", "cca-realm.cbor",
		"psa-legacy.cbor", "cca-platform-legacy.cbor", "cca-realm-legacy.cbor", "psa-legacy-2502.cbor", "cca-platform-legacy-2502.cbor", "cca-realm-legacy-2502.cbor"} {
		data, err := os.ReadFile("testdata/" + g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzDecode feeds Decode arbitrary bytes, seeded with the golden CoRIMs:
// it must return an error or a result, never panic or hang.
func FuzzDecode(f *testing.F) {
	addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(data)
		if err == nil && d == nil {
			t.Fatal("no result and no error")
		}
	})
}
