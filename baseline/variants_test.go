package baseline

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Values of PCR 7 for the variant tests: "right" is what the machine
// reports, "wrong" anything else.
var (
	right1, wrong1     = bytes.Repeat([]byte{0x11}, 20), bytes.Repeat([]byte{0xee}, 20)
	right256, wrong256 = bytes.Repeat([]byte{0x22}, 32), bytes.Repeat([]byte{0xdd}, 32)
)

func hexMap(sha1, sha256 []byte) map[string]string {
	m := map[string]string{}
	if sha1 != nil {
		m["sha1"] = hex.EncodeToString(sha1)
	}
	if sha256 != nil {
		m["sha256"] = hex.EncodeToString(sha256)
	}
	return m
}

func oneBaseline(primary map[string]string, variants ...map[string]string) *Baseline {
	return &Baseline{Version: SchemaVersion, PCRs: []PCR{{Index: 7, Values: primary, Variants: variants}}}
}

func machine(sha1, sha256 []byte) pcr.Values {
	v := pcr.Values{}
	if sha1 != nil {
		v.Set(pcr.SHA1, 7, sha1)
	}
	if sha256 != nil {
		v.Set(pcr.SHA256, 7, sha256)
	}
	return v
}

// A primary value right in sha1 only and a variant right in sha256 only do
// not add up to a match: no single candidate explains both banks. (Before
// issue #11 each bank was matched on its own and this passed.)
func TestVariantsDoNotMixBanks(t *testing.T) {
	got := machine(right1, right256)
	for name, b := range map[string]*Baseline{
		"primary sha1, variant sha256": oneBaseline(hexMap(right1, wrong256), hexMap(wrong1, right256)),
		"primary sha256, variant sha1": oneBaseline(hexMap(wrong1, right256), hexMap(right1, wrong256)),
		"two variants, one bank each":  oneBaseline(hexMap(wrong1, wrong256), hexMap(right1, wrong256), hexMap(wrong1, right256)),
	} {
		rows, ok, err := b.Compare(got)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Errorf("%s: matched: %+v", name, rows)
		}
		// The rows agree with the verdict: something is not a match.
		allMatch := true
		for _, r := range rows {
			allMatch = allMatch && r.Status == pcr.Match
		}
		if allMatch {
			t.Errorf("%s: every row matches but the PCR does not: %+v", name, rows)
		}
		// So does a Reference built on it, which reads the rows.
		m, err := (&Reference{Baseline: b}).Compare(got, nil)
		if err != nil || m.OK {
			t.Errorf("%s: reference matched: %+v, %v", name, m, err)
		}
	}
}

// A variant right in every bank matches, and is the candidate reported.
func TestVariantMatchingEveryBank(t *testing.T) {
	b := oneBaseline(hexMap(wrong1, wrong256), hexMap(right1, wrong256), hexMap(right1, right256))
	res, err := b.Evaluate(machine(right1, right256))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.PCRs) != 1 || !res.PCRs[0].Matched || res.PCRs[0].Candidate != 2 || res.PCRs[0].Reason != "" {
		t.Fatalf("%+v", res)
	}
	if len(res.Rows) != 2 {
		t.Fatalf("rows %+v", res.Rows)
	}
	for _, r := range res.Rows {
		if r.Status != pcr.Match || r.Variant != 2 || r.Got != r.Expected {
			t.Errorf("row %+v", r)
		}
	}
	// The primary value is reported as candidate 0.
	res, _ = b.Evaluate(machine(wrong1, wrong256))
	if !res.OK || res.PCRs[0].Candidate != 0 || res.Rows[0].Variant != 0 {
		t.Errorf("primary: %+v", res)
	}
}

// When the primary value is partly right and a variant the other part,
// the PCR fails with a reason that names it, and the rows show the primary
// value.
func TestMixedCandidatesReason(t *testing.T) {
	b := oneBaseline(hexMap(right1, wrong256), hexMap(wrong1, right256))
	res, err := b.Evaluate(machine(right1, right256))
	if err != nil {
		t.Fatal(err)
	}
	pr := res.PCRs[0]
	if res.OK || pr.Matched || pr.Candidate != -1 {
		t.Fatalf("%+v", res)
	}
	for _, want := range []string{"PCR 7", "no single candidate", "primary value: sha256 differs", "variant 1: sha1 differs"} {
		if !strings.Contains(pr.Reason, want) {
			t.Errorf("reason %q lacks %q", pr.Reason, want)
		}
	}
	if res.Rows[0].Bank != "sha1" || res.Rows[0].Status != pcr.Match || res.Rows[1].Status != pcr.Mismatch || res.Rows[1].Variant != 0 {
		t.Errorf("rows %+v", res.Rows)
	}
}

// The verdict does not depend on the order of the variants: forwards,
// backwards or in any order, the PCR matches exactly when one of its
// candidates matches alone.
func TestVariantOrderDoesNotChangeTheVerdict(t *testing.T) {
	cands := []map[string]string{
		hexMap(right1, wrong256), hexMap(wrong1, right256), hexMap(wrong1, wrong256),
		hexMap(right1, right256), hexMap(nil, right256), {},
	}
	perms := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}, {0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0}, {4, 5}, {5, 4, 0}, {4, 3}}
	matches := func(b *Baseline, got pcr.Values) bool {
		t.Helper()
		_, ok, err := b.Compare(got)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, got := range []pcr.Values{machine(right1, right256), machine(nil, right256), machine(right1, nil)} {
		for _, primary := range []map[string]string{hexMap(wrong1, wrong256), hexMap(nil, wrong256)} {
			for _, perm := range perms {
				var fwd, rev []map[string]string
				for _, i := range perm {
					fwd = append(fwd, cands[i])
				}
				for i := len(fwd) - 1; i >= 0; i-- {
					rev = append(rev, fwd[i])
				}
				alone := matches(oneBaseline(primary), got)
				for _, v := range fwd {
					alone = alone || matches(oneBaseline(primary, v), got)
				}
				ok1, ok2 := matches(oneBaseline(primary, fwd...), got), matches(oneBaseline(primary, rev...), got)
				if ok1 != alone || ok2 != alone {
					t.Errorf("got %v, primary %v, variants %v: %v forwards, %v backwards, %v one by one", got, primary, perm, ok1, ok2, alone)
				}
			}
		}
	}
}

// What counts as compared: the banks both the candidate and the values
// hold. A bank of the primary value the values lack is missing (the PCR
// fails); a candidate lacking a bank the values hold proves nothing about
// it and does not match; a variant's extra bank the values lack is not
// compared; a candidate with nothing to compare never matches.
func TestVariantBanks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       *Baseline
		got     pcr.Values
		ok      bool
		cand    int
		reason  string
		missing string // bank of a Missing row
	}{
		{"values lack a primary bank", oneBaseline(hexMap(right1, right256)), machine(nil, right256), false, 0, "lack its sha1 bank", "sha1"},
		{"variant matches, values lack a bank", oneBaseline(hexMap(wrong1, wrong256), hexMap(right1, right256)), machine(nil, right256), false, 1, "lack its sha1 bank", "sha1"},
		{"PCR not in the values", oneBaseline(hexMap(right1, right256)), pcr.Values{}, false, -1, "PCR 7 is not in the values compared", "sha1"},
		{"variant lacks a quoted bank", oneBaseline(hexMap(wrong1, wrong256), hexMap(nil, right256)), machine(right1, right256), false, -1, "variant 1: names no sha1 value", ""},
		{"variant names an extra bank", oneBaseline(hexMap(nil, wrong256), hexMap(right1, right256)), machine(nil, right256), true, 1, "", ""},
		{"extra bank compared when present", oneBaseline(hexMap(nil, wrong256), hexMap(wrong1, right256)), machine(right1, right256), false, -1, "variant 1: sha1 differs", ""},
		{"empty variant", oneBaseline(hexMap(nil, wrong256), map[string]string{}), machine(nil, right256), false, -1, "variant 1: names no sha256 value", ""},
		{"primary only, other bank unnamed", oneBaseline(hexMap(nil, right256)), machine(wrong1, right256), true, 0, "", ""},
	} {
		res, err := tc.b.Evaluate(tc.got)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		pr := res.PCRs[0]
		if res.OK != tc.ok || pr.Matched != tc.ok || pr.Candidate != tc.cand || !strings.Contains(pr.Reason, tc.reason) || (tc.ok && pr.Reason != "") {
			t.Errorf("%s: %+v", tc.name, res)
		}
		allMatch := true
		for _, r := range res.Rows {
			allMatch = allMatch && r.Status == pcr.Match
			if tc.missing != "" && r.Bank == tc.missing && r.Status != pcr.Missing {
				t.Errorf("%s: row %+v, want missing", tc.name, r)
			}
		}
		if allMatch != tc.ok {
			t.Errorf("%s: rows %+v disagree with the verdict %v", tc.name, res.Rows, tc.ok)
		}
	}
}

// A comparison restricted to one bank (eventlog replay --bank) compares
// the candidates in that bank only: a variant matching it is accepted
// though it would fail in the other bank.
func TestReferenceOneBankPicksItsCandidate(t *testing.T) {
	b := oneBaseline(hexMap(right1, wrong256), hexMap(wrong1, right256))
	m, err := (&Reference{Baseline: b}).Compare(machine(nil, right256), []pcr.Alg{pcr.SHA256})
	if err != nil || !m.OK || len(m.Rows) != 1 || m.ByVariant != 1 {
		t.Errorf("sha256: %+v %v", m, err)
	}
	m, err = (&Reference{Baseline: b}).Compare(machine(right1, nil), []pcr.Alg{pcr.SHA1})
	if err != nil || !m.OK || len(m.Rows) != 1 || m.ByVariant != 0 {
		t.Errorf("sha1: %+v %v", m, err)
	}
}

// A PCR without a primary value is an error, not a silent pass.
func TestEvaluateRejectsPCRWithoutValues(t *testing.T) {
	b := &Baseline{PCRs: []PCR{{Index: 7, Variants: []map[string]string{hexMap(nil, right256)}}}}
	if _, err := b.Evaluate(machine(nil, right256)); err == nil || !strings.Contains(err.Error(), "PCR 7 has no values") {
		t.Errorf("err %v", err)
	}
	b = oneBaseline(hexMap(nil, right256), map[string]string{"sha256": "zz"})
	if _, err := b.Evaluate(machine(nil, right256)); err == nil || !strings.Contains(err.Error(), "not hex") {
		t.Errorf("bad variant: err %v", err)
	}
}

// An event with alternatives (a per-boot DRTM value's allow-list) makes
// every candidate value of its PCR a variant: the primary value is the
// first digests' path; each alternative at each event is one more
// candidate, and candidates that coincide are kept once.
func TestBuilderAlternatives(t *testing.T) {
	b := NewBuilder(pcr.SHA256)
	digest := func(s string) func(pcr.Alg) ([]byte, error) {
		return func(alg pcr.Alg) ([]byte, error) { return alg.Sum([]byte(s)), nil }
	}
	b.HashStart()
	steps := []Measurement{
		{Type: "a", Digest: digest("a")},
		{Type: "params", Digest: digest("p1"), Alternatives: []func(pcr.Alg) ([]byte, error){digest("p2"), digest("p1")}},
		{Type: "map", Digest: digest("m1"), Alternatives: []func(pcr.Alg) ([]byte, error){digest("m2")}},
	}
	for _, m := range steps {
		if err := b.Extend(18, m); err != nil {
			t.Fatal(err)
		}
	}
	ext := func(path ...string) string {
		v := make([]byte, 32)
		for _, s := range path {
			v = pcr.Extend(pcr.SHA256, v, pcr.SHA256.Sum([]byte(s)))
		}
		return hex.EncodeToString(v)
	}
	p := b.Baseline().PCRs[0]
	if p.Values["sha256"] != ext("a", "p1", "m1") {
		t.Errorf("primary %s, want the first digests' path", p.Values["sha256"])
	}
	var got []string
	for _, v := range p.Variants {
		got = append(got, v["sha256"])
	}
	want := []string{ext("a", "p1", "m2"), ext("a", "p2", "m1"), ext("a", "p2", "m2")}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("variants %v, want %v (the repeated p1 counted once)", got, want)
	}
	if len(p.Events[1].Alternatives) != 2 || p.Events[1].Alternatives[0]["sha256"] != hex.EncodeToString(pcr.SHA256.Sum([]byte("p2"))) {
		t.Errorf("the event's alternatives: %v", p.Events[1].Alternatives)
	}

	// More candidates than MaxVariants is an error, not a silent cut.
	wide := NewBuilder(pcr.SHA256)
	var err error
	for i := 0; err == nil && i < 20; i++ {
		err = wide.Extend(17, Measurement{Type: "x", Digest: digest(fmt.Sprint(i)), Alternatives: []func(pcr.Alg) ([]byte, error){digest(fmt.Sprint("alt", i))}})
	}
	if err == nil || !strings.Contains(err.Error(), "candidate values") {
		t.Errorf("2^20 candidates: %v", err)
	}
}

// Sets combines one candidate of each PCR, the primary values first, and
// refuses more than its limit.
func TestSets(t *testing.T) {
	h := func(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }
	b := &Baseline{PCRs: []PCR{
		{Index: 0, Values: map[string]string{"sha256": h(1)}, Variants: []map[string]string{{"sha256": h(2)}}},
		{Index: 7, Values: map[string]string{"sha256": h(3)}, Variants: []map[string]string{{"sha256": h(4)}, {"sha256": h(5)}}},
	}}
	sets, err := b.Sets(6)
	if err != nil || len(sets) != 6 {
		t.Fatalf("%d sets, %v", len(sets), err)
	}
	seen := map[string]bool{}
	for _, s := range sets {
		v0, _ := s.Get(pcr.SHA256, 0)
		v7, _ := s.Get(pcr.SHA256, 7)
		seen[hex.EncodeToString(v0[:1])+hex.EncodeToString(v7[:1])] = true
	}
	if len(seen) != 6 {
		t.Errorf("sets repeat: %v", seen)
	}
	if v0, _ := sets[0].Get(pcr.SHA256, 0); v0[0] != 1 {
		t.Error("the first set is not the primary values")
	}
	if v7, _ := sets[0].Get(pcr.SHA256, 7); v7[0] != 3 {
		t.Error("the first set is not the primary values")
	}
	if _, err := b.Sets(5); err == nil {
		t.Error("6 sets under a limit of 5")
	}
}

// A measurement whose Digest is nil in a bank (tboot's one-bank extend
// policy) extends only the other banks, alternatives included, and its
// event carries no digest for that bank; the document still validates.
func TestBuilderOneBankMeasurement(t *testing.T) {
	b := NewBuilder(pcr.SHA1, pcr.SHA256)
	b.HashStart()
	sha256Only := func(s string) func(pcr.Alg) ([]byte, error) {
		return func(alg pcr.Alg) ([]byte, error) {
			if alg != pcr.SHA256 {
				return nil, nil
			}
			return alg.Sum([]byte(s)), nil
		}
	}
	if err := b.Extend(17, Measurement{Type: "both", Digest: HashOf([]byte("acm"))}); err != nil {
		t.Fatal(err)
	}
	if err := b.Extend(17, Measurement{Type: "tboot", Digest: sha256Only("t1"), Alternatives: []func(pcr.Alg) ([]byte, error){sha256Only("t2")}}); err != nil {
		t.Fatal(err)
	}
	doc := b.Baseline()
	if err := doc.Validate(); err != nil {
		t.Fatal(err)
	}
	p := doc.PCRs[0]
	sha1 := hex.EncodeToString(pcr.Extend(pcr.SHA1, make([]byte, 20), pcr.SHA1.Sum([]byte("acm"))))
	acm256 := pcr.Extend(pcr.SHA256, make([]byte, 32), pcr.SHA256.Sum([]byte("acm")))
	if p.Values["sha1"] != sha1 || p.Values["sha256"] != hex.EncodeToString(pcr.Extend(pcr.SHA256, acm256, pcr.SHA256.Sum([]byte("t1")))) {
		t.Errorf("values %v", p.Values)
	}
	if _, ok := p.Events[1].Digests["sha1"]; ok || len(p.Events[1].Alternatives) != 1 || len(p.Events[1].Alternatives[0]) != 1 {
		t.Errorf("event %+v: want sha256 digests only", p.Events[1])
	}
	if len(p.Variants) != 1 || p.Variants[0]["sha1"] != sha1 || p.Variants[0]["sha256"] != hex.EncodeToString(pcr.Extend(pcr.SHA256, acm256, pcr.SHA256.Sum([]byte("t2")))) {
		t.Errorf("variants %v", p.Variants)
	}
}
