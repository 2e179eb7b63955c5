package corim

import (
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

func decodeGolden(t testing.TB, name string) *Decoded {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if !IsCoRIM(data) {
		t.Fatalf("%s: IsCoRIM false", name)
	}
	d, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// baselineValues are the values of testdata/baseline.yaml in bank alg,
// with PCR 7 at its variant when variant is set.
func baselineValues(t *testing.T, alg pcr.Alg, variant bool) pcr.Values {
	t.Helper()
	b := testRef(t).Baseline
	v := pcr.Values{}
	for _, p := range b.PCRs {
		m := p.Values
		if variant && len(p.Variants) > 0 {
			m = p.Variants[0]
		}
		if h, ok := m[alg.String()]; ok {
			d, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			v.Set(alg, p.Index, d)
		}
	}
	return v
}

// TestReferenceParsec: the golden PARSEC_TPM CoRIM read back as a
// reference is the baseline it was made from (less the banks a CoRIM
// cannot carry), variants included, and it must cover every quoted PCR.
func TestReferenceParsec(t *testing.T) {
	d := decodeGolden(t, "parsec-tpm.cbor")
	if _, err := Reference(d, pcr.Selection{{Alg: pcr.SHA256, PCRs: []int{0}}}); !errors.Is(err, ErrSelectionUnused) {
		t.Fatalf("a selection for PARSEC_TPM: %v", err)
	}
	ref, err := Reference(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ref.CoversQuoted || ref.Baseline == nil || ref.Format() != "CoRIM PARSEC_TPM" || len(ref.Notes) != 1 || !strings.Contains(ref.Notes[0], "unsigned") {
		t.Fatalf("reference %+v", ref)
	}
	want := testRef(t).Baseline
	if len(ref.Baseline.PCRs) != len(want.PCRs) {
		t.Fatalf("%d PCRs, want %d", len(ref.Baseline.PCRs), len(want.PCRs))
	}
	for i, p := range ref.Baseline.PCRs {
		w := want.PCRs[i]
		if p.Index != w.Index || p.Values["sha256"] != w.Values["sha256"] || p.Values["sha1"] != "" || len(p.Variants) != len(w.Variants) {
			t.Errorf("PCR %d: %+v, want %+v", w.Index, p, w)
		}
	}
	if ref.Baseline.PCRs[1].Values["sha384"] != want.PCRs[1].Values["sha384"] {
		t.Errorf("PCR 4 lost its sha384 value")
	}
	sel, _ := pcr.ParseSelection("sha256:0,4,7")
	for _, variant := range []bool{false, true} {
		got := sel.Filter(baselineValues(t, pcr.SHA256, variant))
		m, err := ref.CompareQuoted(sel, got)
		if err != nil || !m.OK {
			t.Errorf("variant %v: %+v %v", variant, m, err)
		}
	}
	// A quoted PCR the CoRIM has no reference value for fails, as in
	// Veraison, and so does a reference PCR the quote lacks.
	wider, _ := pcr.ParseSelection("sha256:0,1,4,7")
	got := baselineValues(t, pcr.SHA256, false)
	got.Set(pcr.SHA256, 1, make([]byte, 32))
	m, err := ref.CompareQuoted(wider, got)
	if err != nil || m.OK || len(m.Reasons) != 1 || !strings.Contains(m.Reasons[0], "sha256:1: quoted, but the reference names no value for it") {
		t.Errorf("uncovered PCR 1: %+v %v", m, err)
	}
	narrow, _ := pcr.ParseSelection("sha256:0,4")
	if m, _ := ref.CompareQuoted(narrow, narrow.Filter(got)); m.OK {
		t.Error("a quote lacking PCR 7 matched")
	}
	if a := d.Anchors(); len(a) != 1 || a[0].Kind != "RSA-2048" || !strings.HasPrefix(a[0].String(), "class cd1f0e55-") {
		t.Errorf("anchors %+v", a)
	}
}

// TestReferenceEnactTrust: the composite digest needs its selection,
// matches the values it was made from over exactly that selection, and
// fails on another value, another selection or another bank order.
func TestReferenceEnactTrust(t *testing.T) {
	d := decodeGolden(t, "enacttrust.cbor")
	if _, err := Reference(d, nil); !errors.Is(err, ErrNoSelection) {
		t.Fatalf("no selection: %v", err)
	}
	sel, _ := pcr.ParseSelection("sha256:0,4")
	ref, err := Reference(d, sel)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Composite == nil || ref.CoversQuoted || ref.Format() != "CoRIM TPM_ENACTTRUST" {
		t.Fatalf("reference %+v", ref)
	}
	vals := baselineValues(t, pcr.SHA256, false)
	if m, err := ref.CompareQuoted(sel, sel.Filter(vals)); err != nil || !m.OK || m.Composite.Computed != m.Composite.Expected {
		t.Fatalf("genuine values: %+v %v", m, err)
	}
	// Compare (an event-log replay, no quote) takes the selection's
	// values from whatever it is given.
	if m, _ := ref.Compare(vals, nil); !m.OK {
		t.Errorf("replayed values: %+v", m)
	}
	bad := sel.Filter(vals)
	bad.Set(pcr.SHA256, 4, make([]byte, 32))
	if m, _ := ref.CompareQuoted(sel, bad); m.OK || !strings.Contains(m.Reasons[0], "cannot say which") {
		t.Errorf("PCR 4 changed: %+v", m)
	}
	other, _ := pcr.ParseSelection("sha256:0,4,7")
	if m, _ := ref.CompareQuoted(other, other.Filter(vals)); m.OK || !strings.Contains(m.Reasons[0], "quoted but not in the composite: sha256:7") {
		t.Errorf("wider selection: %+v", m)
	}
	two, _ := pcr.ParseSelection("sha1:0+sha256:0,4")
	ref2, err := Reference(d, two)
	if err != nil {
		t.Fatal(err)
	}
	swapped, _ := pcr.ParseSelection("sha256:0,4+sha1:0")
	both := baselineValues(t, pcr.SHA256, false)
	for a, m := range baselineValues(t, pcr.SHA1, false) {
		for i, v := range m {
			both.Set(a, i, v)
		}
	}
	if m, _ := ref2.CompareQuoted(swapped, swapped.Filter(both)); m.OK || !strings.Contains(m.Reasons[0], "in the quote's order") {
		t.Errorf("banks in another order: %+v", m)
	}
	if a := d.Anchors(); len(a) != 1 || a[0].String() != "node "+nodeID.String() {
		t.Errorf("anchors %+v", a)
	}
}

// TestReferenceSigned: a signed CoRIM names its signer in the notes; one
// whose signature no longer verifies is refused.
func TestReferenceSigned(t *testing.T) {
	sel, _ := pcr.ParseSelection("sha256:0,4")
	r, err := NewEnactTrust(EnactTrustInput{Reference: testRef(t), Selection: sel, NodeID: nodeID, AK: testAK(t, "ak-ecdsa.pem")}, Options{Sign: testSigner(t)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(r.CBOR)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Reference(d, sel)
	if err != nil || !strings.Contains(ref.Notes[0], `signed (ES256) by "goldenpcr test CoRIM signer"`) {
		t.Fatalf("signed: %v %v", ref, err)
	}
	bad := append([]byte{}, r.CBOR...)
	bad[len(bad)-1] ^= 0x01 // the last byte of the signature
	d, err = Decode(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Reference(d, sel); err == nil || !strings.Contains(err.Error(), "signed CoRIM: the signature does not verify") {
		t.Fatalf("tampered signature: %v", err)
	}
}

// FuzzReference: whatever Decode accepts, Reference turns into a
// reference or refuses with an error, never a panic; an accepted
// reference compares without error.
func FuzzReference(f *testing.F) {
	addGoldenSeeds(f)
	sel, _ := pcr.ParseSelection("sha256:0,4")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(data)
		if err != nil {
			return
		}
		s := sel
		if d.Scheme != EnactTrust {
			s = nil
		}
		ref, err := Reference(d, s)
		if err != nil {
			return
		}
		if _, err := ref.CompareQuoted(sel, pcr.Values{}); err != nil {
			t.Fatal(err)
		}
	})
}
