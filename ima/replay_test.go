package ima

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

var allTemplates = []string{"ima", "ima-ng", "ima-sig", "ima-buf", "ima-modsig", "ima-ngv2", "ima-sigv2", "evm-sig"}

func generate(t testing.TB, opts imagen.Options) ([]byte, *imagen.Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := imagen.Write(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

func replayBytes(t testing.TB, data []byte, ro *ReadOptions, opts *ReplayOptions) *Replay {
	t.Helper()
	rd, _, err := NewReader(bytes.NewReader(data), ro)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReplayList(rd, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every template, both byte orders, with and without violations, replays
// to the values the generator's kernel model extended, under the rule
// each bank was extended with.
func TestReplayGeneratedLists(t *testing.T) {
	banks := []pcr.Alg{pcr.SHA1, pcr.SHA256, pcr.SHA384, pcr.SHA512, pcr.SM3256}
	for _, tmpl := range allTemplates {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			for _, viol := range [][]int{nil, {3, 7}} {
				name := fmt.Sprintf("%s/%s/violations=%d", tmpl, order, len(viol))
				t.Run(name, func(t *testing.T) {
					data, want := generate(t, imagen.Options{Template: tmpl, N: 12, ByteOrder: order, Banks: banks, Violations: viol, Seed: 7})
					r := replayBytes(t, data, nil, &ReplayOptions{Banks: banks})
					if r.Entries != 13 || r.Violations != len(viol) || r.DigestMismatches != 0 {
						t.Fatalf("entries %d violations %d mismatches %d: %+v", r.Entries, r.Violations, r.DigestMismatches, r.DigestIssues)
					}
					v := r.Match(want.PerBank)
					if !v.OK || v.Rule != RulePerBank {
						t.Errorf("per-bank values: %+v", v)
					}
					v = r.Match(want.Padded)
					if !v.OK || v.Rule != RuleSHA1Padded {
						t.Errorf("padded values: %+v", v)
					}
				})
			}
		}
	}
}

// Per-bank lists (binary_runtime_measurements_sha256) carry the bank's own
// template digests; the layout is detected and the padded rule does not
// apply.
func TestReplayPerBankList(t *testing.T) {
	for _, alg := range []pcr.Alg{pcr.SHA256, pcr.SHA384, pcr.SHA512} {
		data, want := generate(t, imagen.Options{N: 5, TemplateHash: alg, Banks: []pcr.Alg{alg}, Violations: []int{2}})
		rd, _, err := NewReader(bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		if rd.TemplateHash() != alg {
			t.Fatalf("detected %s, want %s", rd.TemplateHash(), alg)
		}
		r, err := ReplayList(rd, &ReplayOptions{Banks: []pcr.Alg{alg}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Padded != nil || r.DigestMismatches != 0 || r.Violations != 1 {
			t.Fatalf("%s: %+v", alg, r)
		}
		if v := r.Match(want.PerBank); !v.OK {
			t.Errorf("%s: %+v", alg, v)
		}
	}
}

func TestReplayTamperedEntry(t *testing.T) {
	data, want := generate(t, imagen.Options{Template: "ima-sig", N: 10, Tamper: []int{4}})
	r := replayBytes(t, data, nil, nil)
	if r.DigestMismatches != 1 || r.DigestIssues[0].Index != 4 || r.DigestIssues[0].Offset <= 0 {
		t.Fatalf("digest issues: %+v", r.DigestIssues)
	}
	if v := r.Match(want.PerBank); v.OK {
		t.Errorf("tampered list matched: %+v", v)
	}
}

// With Expect, the padded chain is only computed when the per-bank values
// do not explain the PCRs; either way the verdict is the same.
func TestReplayDeferredPadded(t *testing.T) {
	data, want := generate(t, imagen.Options{N: 5000, Violations: []int{17}})
	for _, c := range []struct {
		values  pcr.Values
		skipped bool
		rule    Rule
	}{{want.PerBank, true, RulePerBank}, {want.Padded, false, RuleSHA1Padded}} {
		r := replayBytes(t, data, nil, &ReplayOptions{Expect: []pcr.Values{c.values}})
		if r.PaddedSkipped != c.skipped {
			t.Errorf("PaddedSkipped = %v, want %v", r.PaddedSkipped, c.skipped)
		}
		if v := r.Match(c.values); !v.OK || v.Rule != c.rule {
			t.Errorf("%s: %+v", c.rule, v)
		}
	}
}
