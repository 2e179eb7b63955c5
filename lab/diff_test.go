package lab

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/diff"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/refvals"
)

// The mismatch debugger on real boots: the baseline refvals computes for a
// boot's artifacts, held against that boot's log and its TPM's PCRs, shows
// nothing; a baseline of the same boot with one artifact rebuilt — the
// UKI with another command line, or another kernel — names the UKI
// section and the artifact.
func TestDiffRealBoot(t *testing.T) {
	l := requireLab(t)
	c := allCaptures(t)["uki"]
	pcrs := []int{4, 5, 7, 9, 11}
	device := func(t *testing.T) *diff.Side {
		lg, err := eventlog.ReadLogFile(c.Path("eventlog.bin"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := diff.FromLogs("uki boot", []*eventlog.Log{lg})
		if err != nil {
			t.Fatal(err)
		}
		s.Device = c.PCRs
		return s
	}
	golden := func(t *testing.T, uki string) *baseline.Baseline {
		in, _ := labInputs(t, c)
		in.UKI, in.StubLoadsKernel = uki, nil
		in.Banks = Banks
		b, err := refvals.Compute(in)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	compare := func(t *testing.T, b *baseline.Baseline) *diff.Report {
		exp, err := diff.FromBaseline("baseline", b)
		if err != nil {
			t.Fatal(err)
		}
		r, err := diff.Compare(exp, device(t), diff.Options{PCRs: pcrs})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := compare(t, golden(t, c.Path("uki.efi"))); r.Differs {
		for _, p := range r.PCRs {
			if !p.Same {
				t.Errorf("PCR %d: %s %s %s first %d", p.Index, p.Expected, p.Actual, p.Note, p.First)
				for _, s := range p.Steps {
					t.Logf("  %s %+v %+v", s.Kind, s.Expected, s.Actual)
				}
			}
		}
		t.FailNow()
	}
	k, initrd, err := l.kernelAndInitrd()
	if err != nil {
		t.Fatal(err)
	}
	otherKernel, err := l.SignKernel(k.Vmlinuz)
	if err != nil {
		t.Fatal(err)
	}
	for _, rebuilt := range []struct {
		name, kernel, cmdline, section string
	}{
		{"command line", k.Vmlinuz, Cmdline + " quiet", ".cmdline"},
		{"kernel", otherKernel, Cmdline, ".linux"},
	} {
		t.Run(rebuilt.name, func(t *testing.T) {
			u, err := l.BuildUKI(rebuilt.kernel, initrd, rebuilt.cmdline)
			if err != nil {
				t.Fatal(err)
			}
			// The next build's uki.efi, in its own directory.
			uki := filepath.Join(t.TempDir(), "uki.efi")
			if err := copyFile(u.Path, uki, 0o644); err != nil {
				t.Fatal(err)
			}
			r := compare(t, golden(t, uki))
			if !r.Differs {
				t.Fatal("no difference")
			}
			for _, p := range r.PCRs {
				if p.Index != 11 {
					continue
				}
				if p.Same || p.First < 0 {
					t.Fatalf("PCR 11 same: %+v", p)
				}
				s := p.Steps[p.First]
				ok := slices.ContainsFunc(s.Hints, func(h diff.Hint) bool {
					return h.Cause == diff.CauseUKISection && strings.Contains(h.Detail, rebuilt.section) && strings.Contains(h.Detail, uki)
				})
				if s.Kind != diff.Changed || !ok {
					t.Errorf("PCR 11 first divergence %s %+v, hints %+v; want the UKI section %s of %s", s.Kind, s.Expected, s.Hints, rebuilt.section, uki)
				}
			}
			// Two builds: the rebuilt UKI is the artifact that moved the PCRs.
			old, err := diff.FromBaseline("build 1", golden(t, c.Path("uki.efi")))
			if err != nil {
				t.Fatal(err)
			}
			next, err := diff.FromBaseline("build 2", golden(t, uki))
			if err != nil {
				t.Fatal(err)
			}
			r2, err := diff.Compare(old, next, diff.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !r2.Differs || !slices.ContainsFunc(r2.Inputs, func(in diff.InputChange) bool { return in.Path == uki && in.Before != "" && in.After != in.Before }) {
				t.Errorf("two baselines: inputs %+v", r2.Inputs)
			}
		})
	}
}
