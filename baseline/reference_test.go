package baseline

import (
	"bytes"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// A baseline and a PCR document holding the same values compare alike;
// a variant match is counted, and a bank filter leaves the other bank out.
func TestReferenceCompare(t *testing.T) {
	one, two := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	got := pcr.Values{}
	got.Set(pcr.SHA256, 7, two)
	got.Set(pcr.SHA1, 7, one[:20])
	primary, variant := pcr.Values{}, pcr.Values{}
	primary.Set(pcr.SHA256, 7, one)
	primary.Set(pcr.SHA1, 7, one[:20])
	variant.Set(pcr.SHA256, 7, two)
	variant.Set(pcr.SHA1, 7, one[:20])
	for _, tc := range []struct {
		name  string
		ref   Reference
		banks []pcr.Alg
		ok    bool
		rows  int
		alt   int
		byVar int
	}{
		// Both banks are matched by the variant: a PCR's banks are never
		// taken from different candidates, though here the primary value's
		// sha1 equals the variant's (issue #11); ByVariant counts PCRs.
		{"baseline with variant", Reference{Baseline: FromValues([]pcr.Values{primary, variant}, "t")}, nil, true, 2, 0, 1},
		{"baseline, primary only", Reference{Baseline: FromValues([]pcr.Values{primary}, "t")}, nil, false, 2, 0, 0},
		{"baseline, sha1 bank", Reference{Baseline: FromValues([]pcr.Values{primary}, "t")}, []pcr.Alg{pcr.SHA1}, true, 1, 0, 0},
		{"document alternatives", Reference{Doc: &pcr.Document{Sets: []pcr.Values{primary, variant}}}, nil, true, 2, 1, 0},
		{"document, sha1 bank", Reference{Doc: &pcr.Document{Sets: []pcr.Values{primary}}}, []pcr.Alg{pcr.SHA1}, true, 1, 0, 0},
	} {
		m, err := tc.ref.Compare(got, tc.banks)
		if err != nil {
			t.Fatal(err)
		}
		if m.OK != tc.ok || len(m.Rows) != tc.rows || m.Alternative != tc.alt || m.ByVariant != tc.byVar {
			t.Errorf("%s: %+v", tc.name, m)
		}
	}
}
