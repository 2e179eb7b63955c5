package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

func hexOf(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }

// The digests follow TPM 2.0 Part 3 (TPM2_PolicyPCR, TPM2_PolicyOR),
// written out here byte by byte rather than with go-tpm's calculator.
func TestPolicyPCRAndORBytes(t *testing.T) {
	sel, err := pcr.ParseSelection("sha256:0,7")
	if err != nil {
		t.Fatal(err)
	}
	v := pcr.Values{}
	v.Set(pcr.SHA256, 0, bytes.Repeat([]byte{0xaa}, 32))
	v.Set(pcr.SHA256, 7, bytes.Repeat([]byte{0xbb}, 32))
	pd, d, err := PolicyPCR(pcr.SHA256, sel, v)
	if err != nil {
		t.Fatal(err)
	}
	wantPD := sha256.Sum256(append(bytes.Repeat([]byte{0xaa}, 32), bytes.Repeat([]byte{0xbb}, 32)...))
	// policyDigest' = H(policyDigest ‖ TPM_CC_PolicyPCR ‖ pcrs ‖ pcrDigest);
	// pcrs is TPML_PCR_SELECTION: count, hash, sizeofSelect, the bitmap.
	msg := make([]byte, 32)
	msg = binary.BigEndian.AppendUint32(msg, 0x17f)
	msg = append(msg, 0, 0, 0, 1, 0, 0x0b, 3, 0x81, 0, 0)
	msg = append(msg, wantPD[:]...)
	want := sha256.Sum256(msg)
	if !bytes.Equal(pd, wantPD[:]) || !bytes.Equal(d, want[:]) {
		t.Errorf("PolicyPCR: pcrDigest %x digest %x, want %x %x", pd, d, wantPD, want)
	}
	or, err := PolicyOR(pcr.SHA256, [][]byte{d, wantPD[:]})
	if err != nil {
		t.Fatal(err)
	}
	msg = binary.BigEndian.AppendUint32(make([]byte, 32), 0x171)
	msg = append(append(msg, d...), wantPD[:]...)
	if want := sha256.Sum256(msg); !bytes.Equal(or, want[:]) {
		t.Errorf("PolicyOR %x, want %x", or, want)
	}
	for _, n := range []int{1, MaxORBranches + 1} {
		if _, err := PolicyOR(pcr.SHA256, make([][]byte, n)); err == nil {
			t.Errorf("PolicyOR of %d branches accepted", n)
		}
	}
	if _, err := PolicyOR(pcr.SHA256, [][]byte{d, d[:20]}); err == nil {
		t.Error("PolicyOR of a 20-byte branch in a SHA-256 policy accepted")
	}
}

func TestFromBaseline(t *testing.T) {
	b := &baseline.Baseline{PCRs: []baseline.PCR{
		{Index: 0, Values: map[string]string{"sha256": hexOf(1)}},
		{Index: 4, Values: map[string]string{"sha256": hexOf(2)}, Variants: []map[string]string{{"sha256": hexOf(3)}}},
		{Index: 7, Values: map[string]string{"sha256": hexOf(4)}},
		{Index: 9, Values: map[string]string{"sha256": hexOf(5), "sha1": strings.Repeat("05", 20)}, Variants: []map[string]string{{"sha256": hexOf(6)}}},
	}}
	for sel, want := range map[string]struct {
		branches int
		err      string
	}{
		"sha256:0,7":  {branches: 1},
		"sha256:0,4":  {branches: 2},
		"sha256:4,9":  {branches: 4},
		"sha256:0,10": {err: "PCR sha256:10: the baseline does not predict it"},
		"sha1:0":      {err: "PCR sha1:0: the baseline predicts no sha1 value for it"},
		"sha1:9":      {err: "variant 1 names no sha1 value"},
	} {
		s, err := pcr.ParseSelection(sel)
		if err != nil {
			t.Fatal(err)
		}
		pol, err := FromBaseline(b, s, pcr.SHA256)
		if want.err != "" {
			var se *SelectionError
			if err == nil || !strings.Contains(err.Error(), want.err) || !errors.As(err, &se) {
				t.Errorf("%s: %v, want %q", sel, err, want.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		if len(pol.Branches) != want.branches || pol.OR != (want.branches > 1) {
			t.Errorf("%s: %d branches (OR %v), want %d", sel, len(pol.Branches), pol.OR, want.branches)
		}
		if !pol.OR && !bytes.Equal(pol.Digest, pol.Branches[0].Digest) {
			t.Errorf("%s: the policy is not its only branch", sel)
		}
	}
	// PCR 0 with variants that change only PCR 4: one branch over PCR 0.
	s, _ := pcr.ParseSelection("sha256:0")
	if pol, err := FromBaseline(b, s, pcr.SHA256); err != nil || len(pol.Branches) != 1 {
		t.Errorf("variants outside the selection made branches: %v", err)
	}
	if _, err := FromBaseline(b, nil, pcr.SHA256); err == nil {
		t.Error("an empty selection accepted")
	}
	// Nine distinct sets of values are more than PolicyOR joins.
	wide := &baseline.Baseline{}
	for i := 0; i < 2; i++ {
		p := baseline.PCR{Index: i, Values: map[string]string{"sha256": hexOf(byte(10 * i))}}
		for k := 1; k < 3; k++ {
			p.Variants = append(p.Variants, map[string]string{"sha256": hexOf(byte(10*i + k))})
		}
		wide.PCRs = append(wide.PCRs, p)
	}
	s, _ = pcr.ParseSelection("sha256:0,1")
	if _, err := FromBaseline(wide, s, pcr.SHA256); err == nil || !strings.Contains(err.Error(), "at most 8") {
		t.Errorf("9 branches: %v", err)
	}
}
