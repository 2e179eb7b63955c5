package ima

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// verifyList replays a generated list and verifies it with opts.
func verifyList(t *testing.T, data []byte, opts *VerifyOptions) *Report {
	t.Helper()
	rd, _, err := NewReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	var first *Entry
	ro := &ReplayOptions{}
	if opts != nil {
		ro.Expect, ro.Banks = opts.Expect, opts.RequireBanks // as the CLI does
	}
	res, err := ReplayList(rd, ro, func(e *Entry) error {
		if e.Index == 0 {
			first = e.Clone()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return Verify(res, first, opts)
}

func only(v pcr.Values, alg pcr.Alg, pcrs ...int) pcr.Values {
	out := pcr.Values{}
	for _, i := range pcrs {
		if d, ok := v.Get(alg, i); ok {
			out.Set(alg, i, bytes.Clone(d))
		}
	}
	return out
}

// checkState is a check's outcome as one word, for the table below.
func checkState(c *Check) string {
	switch {
	case c == nil:
		return "absent"
	case c.Passed:
		return "passed"
	case c.Skipped:
		return "skipped"
	case c.NotRun:
		return "not-run"
	}
	return "failed"
}

// Every check is passed, skipped (not asked for or opted out), not run
// (asked for, impossible: fails) or failed; the verdict is the library's.
func TestVerifyChecks(t *testing.T) {
	data, res := generate(t, imagen.Options{N: 4, Violations: []int{2}})
	all := res.PerBank
	pcr10 := only(all, pcr.SHA256, 10)
	tampered := only(all, pcr.SHA256, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	tampered[pcr.SHA256][10] = bytes.Repeat([]byte{1}, 32)
	zeros := only(all, pcr.SHA256, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	for i := range zeros[pcr.SHA256] {
		zeros[pcr.SHA256][i] = make([]byte, 32)
	}
	for _, tc := range []struct {
		name     string
		opts     *VerifyOptions
		verified bool
		pcrs     string
		boot     string
		viol     string
		reason   string // in the failing check's reason
	}{
		{"replay only", nil, true, "skipped", "skipped", "skipped", ""},
		{"all PCRs", &VerifyOptions{Expect: []pcr.Values{all}}, true, "passed", "passed", "skipped", ""},
		{"PCR 10 only", &VerifyOptions{Expect: []pcr.Values{pcr10}}, false, "passed", "not-run", "skipped", "lack PCRs"},
		{"PCR 10 only, opted out", &VerifyOptions{Expect: []pcr.Values{pcr10}, SkipBootAggregate: true}, true, "passed", "skipped", "skipped", ""},
		{"boot values of another machine", &VerifyOptions{Expect: []pcr.Values{pcr10}, Boot: zeros}, false, "passed", "failed", "skipped", "matches no rule"},
		{"boot values only", &VerifyOptions{Boot: all}, true, "skipped", "passed", "skipped", ""},
		{"empty boot values", &VerifyOptions{Boot: pcr.Values{}}, false, "skipped", "not-run", "skipped", "lack PCRs"},
		{"tampered PCR 10", &VerifyOptions{Expect: []pcr.Values{tampered}}, false, "failed", "passed", "skipped", "sha256 PCR 10 differs"},
		{"required bank not given", &VerifyOptions{Expect: []pcr.Values{all}, RequireBanks: []pcr.Alg{pcr.SHA256, pcr.SHA384}}, false, "not-run", "passed", "skipped", "no sha384 bank"},
		{"required banks given", &VerifyOptions{Expect: []pcr.Values{all}, RequireBanks: []pcr.Alg{pcr.SHA1, pcr.SHA256}}, true, "passed", "passed", "skipped", ""},
		{"violations fail when asked", &VerifyOptions{Expect: []pcr.Values{all}, FailOnViolations: true}, false, "passed", "passed", "failed", "1 violations"},
	} {
		rep := verifyList(t, data, tc.opts)
		got := []string{checkState(rep.Check(CheckPCRs)), checkState(rep.Check(CheckBoot)), checkState(rep.Check(CheckViolations))}
		want := []string{tc.pcrs, tc.boot, tc.viol}
		if rep.Verified != tc.verified || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: verified %v, checks %v, want %v %v: %+v", tc.name, rep.Verified, got, tc.verified, want, rep.Checks)
		}
		if c := rep.Check(CheckTemplateDigests); !c.Passed {
			t.Errorf("%s: template digests %+v", tc.name, c)
		}
		failed := rep.Failed()
		if tc.verified != (len(failed) == 0) {
			t.Errorf("%s: failed checks %+v", tc.name, failed)
		}
		if tc.reason != "" && (len(failed) != 1 || !strings.Contains(failed[0].Reason, tc.reason)) {
			t.Errorf("%s: failed %+v, want one whose reason has %q", tc.name, failed, tc.reason)
		}
	}
}

// A list whose first entry is not boot_aggregate cannot be tied to a boot:
// asked for, the check fails as not run.
func TestVerifyNoBootAggregateEntry(t *testing.T) {
	data, res := generate(t, imagen.Options{N: 3})
	rd, _, err := NewReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	rd.Next() // drop boot_aggregate
	rp, err := NewReplayer(pcr.SHA1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var first *Entry
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = e.Clone()
		}
		rp.Extend(e)
	}
	replay := rp.Result()
	rep := Verify(replay, first, &VerifyOptions{Expect: []pcr.Values{replay.PerBank}, Boot: res.PerBank})
	c := rep.Check(CheckBoot)
	if rep.Verified || !c.NotRun || !strings.Contains(c.Reason, "not boot_aggregate") || rep.BootAggregate != nil {
		t.Errorf("%+v", rep)
	}
	rep = Verify(replay, first, &VerifyOptions{Expect: []pcr.Values{replay.PerBank}, SkipBootAggregate: true})
	if !rep.Verified {
		t.Errorf("opted out: %+v", rep.Checks)
	}
}

// Nothing verifies unless something proves it: an empty list, and a
// report whose every check was skipped, are not verified.
func TestVerifyNothingProven(t *testing.T) {
	rp, err := NewReplayer(pcr.SHA1, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := Verify(rp.Result(), nil, nil)
	if rep.Verified || !rep.Check(CheckTemplateDigests).NotRun {
		t.Errorf("empty list: %+v", rep)
	}
	rep = &Report{}
	rep.Add(skipped(CheckPCRs, "not asked"))
	if rep.Verified {
		t.Error("only skipped checks verified")
	}
	rep.Add(passed(CheckTemplateDigests, "ok"))
	rep.Add(notRun(CheckBoot, "no values"))
	rep.Add(passed(CheckPolicy, "ok"))
	if rep.Verified || len(rep.Failed()) != 1 {
		t.Errorf("a check that could not run did not fail: %+v", rep)
	}
}

// The first alternative that matches is compared, and the boot_aggregate
// is recomputed from it.
func TestVerifyAlternatives(t *testing.T) {
	data, res := generate(t, imagen.Options{N: 3})
	other := only(res.PerBank, pcr.SHA256, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	other[pcr.SHA256][10] = make([]byte, 32)
	rep := verifyList(t, data, &VerifyOptions{Expect: []pcr.Values{other, res.PerBank}})
	if !rep.Verified || rep.Alternative != 1 || !rep.BootFromExpect || rep.BootAggregate == nil || !rep.BootAggregate.OK() {
		t.Errorf("%+v", rep)
	}
	if c := rep.Check(CheckPCRs); !strings.Contains(c.Reason, "alternative 2 of the PCR values") {
		t.Errorf("%+v", c)
	}
}

// A bank the caller requires that was not even replayed cannot be
// compared: the comparison fails as not run.
func TestVerifyRequiredBankNotReplayed(t *testing.T) {
	data, res := generate(t, imagen.Options{N: 2})
	rd, _, err := NewReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	replay, err := ReplayList(rd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := Verify(replay, nil, &VerifyOptions{Expect: []pcr.Values{res.PerBank}, RequireBanks: []pcr.Alg{pcr.SHA384}, SkipBootAggregate: true})
	if c := rep.Check(CheckPCRs); rep.Verified || !c.NotRun || !strings.Contains(c.Reason, "no replay of the sha384 bank") {
		t.Errorf("%+v", rep.Checks)
	}
}
