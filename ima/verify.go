package ima

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// The checks of a Report, in the order it lists them.
const (
	CheckTemplateDigests = "template-digests"
	CheckViolations      = "violations"
	CheckPCRs            = "pcrs"
	CheckBoot            = "boot-aggregate"
	CheckPolicy          = "policy"
)

// Check is one check of a Report (verdict.Check). It passed, was skipped
// (not asked for, or opted out of: a skipped check decides nothing), or
// failed: it ran and found the evidence wrong, or could not run (NotRun)
// because what it needs is missing; both fail the verdict, since nothing
// verifies unless something proves it.
type Check = verdict.Check

func passed(name, format string, args ...any) Check {
	return Check{Name: name, Passed: true, Reason: fmt.Sprintf(format, args...)}
}

func skipped(name, format string, args ...any) Check {
	return Check{Name: name, Skipped: true, Reason: fmt.Sprintf(format, args...)}
}

func failed(name, format string, args ...any) Check {
	return Check{Name: name, Reason: fmt.Sprintf(format, args...)}
}

func notRun(name, format string, args ...any) Check {
	return Check{Name: name, NotRun: true, Reason: fmt.Sprintf(format, args...)}
}

// VerifyOptions say what a replayed list is checked against, and which
// checks the caller opted out of.
type VerifyOptions struct {
	// Expect are PCR values read from the TPM, alternatives one of which
	// the replay must match (as ReplayOptions.Expect). Empty: no PCR
	// comparison is asked for.
	Expect []pcr.Values
	// RequireBanks are banks the caller named: one the PCR values do not
	// hold fails the comparison instead of being left out as not given.
	RequireBanks []pcr.Alg
	// Boot holds the PCRs 0-9 the boot_aggregate is recomputed from, e.g.
	// a TCG event log's replay. Nil: the values of the alternative of
	// Expect that was compared.
	Boot pcr.Values
	// SkipBootAggregate opts out of the boot_aggregate check, which is
	// otherwise asked for whenever Expect or Boot is given.
	SkipBootAggregate bool
	// FailOnViolations makes a list that records violations fail; without
	// it they are counted and the check is skipped.
	FailOnViolations bool
}

// Report is the verdict on a replayed list: every check, and whether they
// verify it. The library decides; callers only render.
type Report struct {
	// Verified: at least one check passed and none failed.
	Verified bool `json:"verified" yaml:"verified"`
	// Checks are every check, in report order; their Failed and Check
	// methods are the report's.
	verdict.Checks `json:"checks" yaml:"checks"`
	// Alternative is the index of the Expect alternative compared: the
	// first that matched, else 0. PCRs is that comparison (nil without
	// Expect).
	Alternative int      `json:"alternative" yaml:"alternative"`
	PCRs        *Verdict `json:"pcrs,omitempty" yaml:"pcrs,omitempty"`
	// BootAggregate is the boot_aggregate check, when values were there
	// to recompute it from.
	BootAggregate *BootAggregateCheck `json:"boot_aggregate,omitempty" yaml:"boot_aggregate,omitempty"`
	// BootFromExpect: the boot_aggregate was recomputed from the Expect
	// alternative, not from VerifyOptions.Boot.
	BootFromExpect bool `json:"-" yaml:"-"`
}

// Add appends a check (e.g. PolicyCheck's) and recomputes the verdict.
func (r *Report) Add(c Check) {
	r.Checks = append(r.Checks, c)
	r.Verified = r.Checks.Verified()
}

// Verify decides a replayed list: its template digests, its violations,
// the replay against the PCR values of opts.Expect, and its boot_aggregate
// against the boot PCRs. first is the list's first entry, nil when the
// list is empty.
func Verify(res *Replay, first *Entry, opts *VerifyOptions) *Report {
	var o VerifyOptions
	if opts != nil {
		o = *opts
	}
	r := &Report{}
	r.Add(templateDigestCheck(res))
	r.Add(violationCheck(res, o.FailOnViolations))
	if len(o.Expect) == 0 {
		r.Add(skipped(CheckPCRs, "no PCR values to compare the replay with"))
	} else {
		for i, set := range o.Expect {
			v := res.Match(set)
			if i == 0 || (v.OK && !lacksBank(v, o.RequireBanks)) {
				r.Alternative, r.PCRs = i, v
			}
			if v.OK && !lacksBank(v, o.RequireBanks) {
				break
			}
		}
		r.Add(pcrCheck(res, r.PCRs, o.RequireBanks, r.Alternative, len(o.Expect)))
	}
	boot := o.Boot
	if boot == nil && len(o.Expect) > 0 {
		boot, r.BootFromExpect = o.Expect[r.Alternative], true
	}
	r.Add(r.bootCheck(first, boot, o.Boot != nil || len(o.Expect) > 0, o.SkipBootAggregate))
	return r
}

func templateDigestCheck(res *Replay) Check {
	switch {
	case res.Entries == 0:
		return notRun(CheckTemplateDigests, "the list is empty: nothing to check")
	case !res.DigestsChecked:
		return skipped(CheckTemplateDigests, "template digests not checked, as asked")
	case res.DigestMismatches > 0:
		return failed(CheckTemplateDigests, "%d entries' template digests do not match their data (first: %s)", res.DigestMismatches, res.DigestIssues[0].EntryRef)
	}
	return passed(CheckTemplateDigests, "all %d non-violation entries match their data", res.Entries-res.Violations)
}

func violationCheck(res *Replay, fail bool) Check {
	switch {
	case res.Violations == 0:
		return passed(CheckViolations, "the list records no violation")
	case fail:
		return failed(CheckViolations, "the list records %d violations (first: %s)", res.Violations, res.ViolationEntries[0])
	}
	return skipped(CheckViolations, "%d violations (open-writers/ToMToU) recorded, all ones extended; not asked to fail on them", res.Violations)
}

// lacksBank reports whether v leaves out a bank of require as not given.
func lacksBank(v *Verdict, require []pcr.Alg) bool {
	for _, b := range v.Banks {
		if b.Status == BankNotGiven && slices.Contains(require, b.Alg) {
			return true
		}
	}
	return false
}

// pcrCheck turns the comparison with alternative alt of n into a check:
// a value that differs fails it; values that are missing, and nothing
// else, mean it could not run.
func pcrCheck(res *Replay, v *Verdict, require []pcr.Alg, alt, n int) Check {
	where := "the PCR values"
	if n > 1 {
		where = fmt.Sprintf("alternative %d of the PCR values", alt+1)
	}
	var differ, lack []string
	checked := 0
	for _, b := range v.Banks {
		if b.Status == BankNotGiven {
			if slices.Contains(require, b.Alg) {
				lack = append(lack, "no "+b.Bank+" bank")
			}
			continue
		}
		checked++
		bad := 0
		for _, p := range b.PCRs {
			switch {
			case p.Expected == "":
				lack = append(lack, fmt.Sprintf("no %s PCR %d", b.Bank, p.Index))
			case len(p.Rules) == 0:
				differ = append(differ, fmt.Sprintf("%s PCR %d differs", b.Bank, p.Index))
				bad++
			}
		}
		if b.Status == BankMismatch && bad == 0 {
			differ = append(differ, "the "+b.Bank+" PCRs match only under different rules, which no kernel produces")
		}
	}
	for _, a := range require {
		if !slices.ContainsFunc(v.Banks, func(b BankMatch) bool { return b.Alg == a }) {
			lack = append(lack, "no replay of the "+a.String()+" bank")
		}
	}
	if checked == 0 {
		lack = append(lack, "none of the replayed banks")
	}
	if len(res.PCRs) == 0 {
		lack = append(lack, "nothing to compare: the list extended no PCR")
	}
	if v.OK && len(lack) == 0 {
		rule := "the " + string(v.Rule) + " rule"
		if len(v.Rules) > 1 {
			rule = "either rule (only SHA-1 was checked, where they agree)"
		}
		return passed(CheckPCRs, "the replay matches %s under %s", where, rule)
	}
	if len(differ) == 0 && len(lack) == 0 {
		differ = append(differ, "the banks match under different rules, which no kernel produces")
	}
	if len(differ) > 0 {
		return failed(CheckPCRs, "the replay does not match %s: %s", where, strings.Join(append(differ, lackText(lack)...), "; "))
	}
	return notRun(CheckPCRs, "the replay cannot be compared with %s: %s", where, strings.Join(lackText(lack), "; "))
}

func lackText(lack []string) []string {
	if len(lack) == 0 {
		return nil
	}
	return []string{"they hold " + strings.Join(lack, ", ")}
}

// bootCheck checks the first entry, boot_aggregate, against the boot PCRs
// when asked (there are values to check against) and not opted out of.
func (r *Report) bootCheck(first *Entry, boot pcr.Values, asked, skip bool) Check {
	switch {
	case skip:
		return skipped(CheckBoot, "not checked, as asked: nothing ties the list to a boot")
	case !asked:
		return skipped(CheckBoot, "no PCR values to recompute the boot_aggregate from")
	case first == nil:
		return notRun(CheckBoot, "the list is empty: no boot_aggregate ties it to a boot")
	}
	d, ok := BootAggregateOf(first)
	if !ok {
		return notRun(CheckBoot, "the first entry is %q, not boot_aggregate: nothing ties the list to a boot", first.Path())
	}
	if boot == nil {
		boot = pcr.Values{}
	}
	c := CheckBootAggregate(d, EntryRef{Index: first.Index, Offset: first.Offset, Line: first.Line, PCR: first.PCR, Path: BootAggregateName}, boot)
	r.BootAggregate = c
	switch c.Status {
	case BootAggregateMatch:
		return passed(CheckBoot, "%s", c.String())
	case BootAggregateMissingPCRs, BootAggregateUnsupported:
		return notRun(CheckBoot, "%s", c.String())
	}
	return failed(CheckBoot, "%s", c.String())
}

// PolicyCheck is the check of every entry against a policy and keys.
func PolicyCheck(p *PolicyReport) Check {
	if !p.OK() {
		return failed(CheckPolicy, "%d entries fail the policy", p.Failed)
	}
	return passed(CheckPolicy, "all %d entries pass the policy", p.Entries)
}
