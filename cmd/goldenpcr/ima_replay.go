package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/verdict"
)

type imaReplayOptions struct {
	List      string
	Replay    imaReplayFlags
	ListFlags imaListFlags
	Output    string
}

// imaReplayFlags say what a replayed list is checked against; ima replay
// and ima check share them.
type imaReplayFlags struct {
	PCRs             []string
	PCRsFormat       string
	Banks            []string
	TCGLog           string
	FailOnViolations bool
	NoBootAggregate  bool
}

func (f *imaReplayFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.PCRs, "pcrs", nil, "PCR values to compare the replay with, [BANK,]FILE (repeatable)")
	c.Flags().StringVar(&f.PCRsFormat, "pcrs-format", "", "format of the --pcrs files (default: detected)")
	c.Flags().StringSliceVar(&f.Banks, "bank", nil, "banks to replay, e.g. sha256 or sha1,sha256 (default: those of --pcrs, else sha1,sha256)")
	c.Flags().StringVar(&f.TCGLog, "tcg-log", "", "TCG event log (binary_bios_measurements) whose replayed PCRs 0-9 the boot_aggregate must match")
	c.Flags().BoolVar(&f.FailOnViolations, "fail-on-violations", false, "exit 1 if the list records any violation")
	c.Flags().BoolVar(&f.NoBootAggregate, "no-boot-aggregate", false, "do not check the boot_aggregate against PCRs 0-9 (the list is then tied to no boot); without it, a boot_aggregate that cannot be checked fails")
}

// given reports whether the replay is checked against anything.
func (f *imaReplayFlags) given() bool { return len(f.PCRs) > 0 || f.TCGLog != "" }

func newIMAReplayCmd() *cobra.Command {
	opts := &imaReplayOptions{}
	c := &cobra.Command{
		Use:   "replay LIST",
		Short: "Replay an IMA list to PCR values per bank and check them, the boot_aggregate and every template digest",
		Long: `Replay an IMA measurement list (binary or ASCII) into PCR banks under both
kernel rules:

  per-bank     Linux 5.8+: each bank is extended with its own hash of the
               template data
  sha1-padded  before 5.8: every bank is extended with the SHA-1 template
               digest, zero-padded to the bank size

Violations (open-writers, ToMToU) are listed with an all-zero template
digest but extended as all ones; they are counted, and with
--fail-on-violations they fail the check. Every entry's template digest is
checked against its data; a mismatch names the entry index and byte offset.

With --pcrs the replay is compared with PCR values read from the TPM, and the
rule that matched is named. --pcrs takes "[BANK,]FILE" like evmctl and may
be repeated; FILE is any PCR format goldenpcr reads (evmctl PCR-NN lines,
tpm2_pcrread YAML or -F serialized/marshaled, JSON/YAML maps, …). The banks
replayed are those of the PCR values (or --bank, or sha1 and sha256).

The first entry, boot_aggregate, is recomputed from PCRs 0-7 (SHA-1) or 0-9
(other banks, Linux 5.8+) of --tcg-log's replay, or else of the --pcrs
values, and the rule that matched is named. Whenever --pcrs or --tcg-log is
given this check is part of the verdict: if it cannot run (the values lack
PCRs 0-9, the first entry is not boot_aggregate) it is shown as "-" with the
reason and fails, unless --no-boot-aggregate opts out of it. Likewise a bank
named with --bank that the --pcrs values lack fails.

Every check is shown as ✓ (passed), ✗ (ran and failed) or - (could not
run, or not asked for); a ✗, or a - that was asked for, exits 1, in every
output format.

Exit codes: 0 = everything checked matched, 1 = a PCR, the boot_aggregate
or a template digest does not match or could not be checked (or violations
with --fail-on-violations), 2 = bad usage or a malformed list.`,
		Example: `  goldenpcr ima replay binary_runtime_measurements --pcrs sha1,pcrs-sha1 --pcrs sha256,pcrs-sha256
  tpm2_pcrread sha256:0-10 > pcrs.yaml
  goldenpcr ima replay binary_runtime_measurements --pcrs pcrs.yaml --tcg-log binary_bios_measurements
  goldenpcr ima replay binary_runtime_measurements --pcrs sha256,pcr10-only.txt --no-boot-aggregate
  goldenpcr ima replay ascii_runtime_measurements --bank sha256 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.List = args[0]
			return runIMAReplay(opts, c.OutOrStdout())
		},
	}
	opts.Replay.register(c)
	opts.ListFlags.register(c)
	outputFlag(c, &opts.Output)
	return c
}

type imaReplayedPCR struct {
	Bank    string `json:"bank" yaml:"bank"`
	PCR     int    `json:"pcr" yaml:"pcr"`
	PerBank string `json:"per_bank" yaml:"per_bank"`
	Padded  string `json:"sha1_padded,omitempty" yaml:"sha1_padded,omitempty"`
}

type imaAgainst struct {
	Files       []string     `json:"files" yaml:"files"`
	Alternative int          `json:"alternative" yaml:"alternative"`
	Verdict     *ima.Verdict `json:"verdict" yaml:"verdict"`
}

type imaBootReport struct {
	*ima.BootAggregateCheck `yaml:",inline"`
	Source                  string `json:"source,omitempty" yaml:"source,omitempty"`
}

type imaReplayReport struct {
	File             string            `json:"file" yaml:"file"`
	Format           string            `json:"format" yaml:"format"`
	ByteOrder        string            `json:"byte_order,omitempty" yaml:"byte_order,omitempty"`
	TemplateHash     string            `json:"template_hash" yaml:"template_hash"`
	Entries          int               `json:"entries" yaml:"entries"`
	PCRs             []imaReplayedPCR  `json:"pcrs" yaml:"pcrs"`
	Violations       int               `json:"violations" yaml:"violations"`
	ViolationEntries []ima.EntryRef    `json:"violation_entries,omitempty" yaml:"violation_entries,omitempty"`
	DigestsChecked   bool              `json:"template_digests_checked" yaml:"template_digests_checked"`
	DigestMismatches int               `json:"template_digest_mismatches" yaml:"template_digest_mismatches"`
	DigestIssues     []ima.DigestIssue `json:"template_digest_issues,omitempty" yaml:"template_digest_issues,omitempty"`
	BootAggregate    *imaBootReport    `json:"boot_aggregate,omitempty" yaml:"boot_aggregate,omitempty"`
	Against          *imaAgainst       `json:"against,omitempty" yaml:"against,omitempty"`
	// Verified and Checks are ima.Verify's verdict; Problems the reasons
	// of the checks that fail it.
	Verified bool        `json:"verified" yaml:"verified"`
	Checks   []ima.Check `json:"checks" yaml:"checks"`
	Problems []string    `json:"problems" yaml:"problems"`
	Notes    []string    `json:"notes,omitempty" yaml:"notes,omitempty"`
	replay   *ima.Replay
	verdict  *ima.Report
	// boot is what the text shows for the boot_aggregate: set when the
	// check was asked for.
	boot        *ima.Check
	requireBank []pcr.Alg
}

func orderName(o binary.ByteOrder) string {
	if o == binary.BigEndian {
		return "big-endian"
	}
	return "little-endian"
}

// imaReplayCore replays a list and runs the checks replay and check share:
// PCR comparison, boot_aggregate, template digests, violations; ima.Verify
// decides. onEntry sees every entry (policy checks hook in here).
func imaReplayCore(list string, lf *imaListFlags, rf *imaReplayFlags, onEntry func(*ima.Entry) error) (*imaReplayReport, error) {
	if rf.NoBootAggregate && rf.TCGLog != "" {
		return nil, fmt.Errorf("--no-boot-aggregate and --tcg-log contradict each other: the TCG log is read only to check the boot_aggregate")
	}
	sets, files, err := readIMAPCRs(rf.PCRs, rf.PCRsFormat)
	if err != nil {
		return nil, err
	}
	banks, err := replayBanks(rf.Banks, sets)
	if err != nil {
		return nil, err
	}
	var required []pcr.Alg
	if len(rf.Banks) > 0 {
		required = banks
	}
	bootVals, err := tcgLogValues(rf.TCGLog)
	if err != nil {
		return nil, err
	}
	rd, format, f, err := openIMAList(list, lf)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var first *ima.Entry
	res, err := ima.ReplayList(rd, &ima.ReplayOptions{Banks: banks, Expect: sets}, func(e *ima.Entry) error {
		if e.Index == 0 {
			first = e.Clone()
		}
		if onEntry != nil {
			return onEntry(e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", list, err)
	}
	rep := &imaReplayReport{File: list, Format: string(format), TemplateHash: res.TemplateHash.String(), Entries: res.Entries,
		PCRs: []imaReplayedPCR{}, Violations: res.Violations, ViolationEntries: res.ViolationEntries,
		DigestsChecked: res.DigestsChecked, DigestMismatches: res.DigestMismatches, DigestIssues: res.DigestIssues,
		Problems: []string{}, replay: res, requireBank: required}
	if format == ima.FormatBinary {
		rep.ByteOrder = orderName(rd.ByteOrder())
	}
	for _, a := range res.Banks {
		for _, i := range res.PCRs {
			p := imaReplayedPCR{Bank: a.String(), PCR: i}
			v, _ := res.PerBank.Get(a, i)
			p.PerBank = hex.EncodeToString(v)
			if res.Padded != nil && a != pcr.SHA1 {
				v, _ = res.Padded.Get(a, i)
				p.Padded = hex.EncodeToString(v)
			}
			rep.PCRs = append(rep.PCRs, p)
		}
	}
	v := ima.Verify(res, first, &ima.VerifyOptions{Expect: sets, RequireBanks: required, Boot: bootVals,
		SkipBootAggregate: rf.NoBootAggregate, FailOnViolations: rf.FailOnViolations})
	rep.verdict = v
	if sets != nil {
		rep.Against = &imaAgainst{Files: files, Alternative: v.Alternative, Verdict: v.PCRs}
	}
	if v.BootAggregate != nil {
		source := "the replay of " + rf.TCGLog
		if v.BootFromExpect {
			source = "the --pcrs values"
			if len(sets) > 1 {
				source = fmt.Sprintf("alternative %d of the --pcrs values", v.Alternative+1)
			}
		}
		rep.BootAggregate = &imaBootReport{BootAggregateCheck: v.BootAggregate, Source: source}
	}
	if c := v.Check(ima.CheckBoot); c != nil && (!c.Skipped || rf.NoBootAggregate) {
		shown := *c
		rep.boot = &shown
	}
	if res.Violations > 0 && !rf.FailOnViolations {
		rep.note("%d violations (open-writers/ToMToU): all ones extended; --fail-on-violations makes them fail", res.Violations)
	}
	if res.PaddedSkipped {
		rep.note("sha1-padded values not computed: the per-bank values match")
	}
	if rep.boot == nil && first != nil {
		if _, ok := ima.BootAggregateOf(first); !ok {
			rep.note("the first entry is %q, not boot_aggregate: the list is not tied to a boot", first.Path())
		}
	}
	rep.finish()
	return rep, nil
}

// finish copies the verdict into the report, after every check is in.
func (r *imaReplayReport) finish() {
	r.Verified, r.Checks, r.Problems = r.verdict.Verified, r.verdict.Checks, []string{}
	for _, c := range r.verdict.Failed() {
		r.Problems = append(r.Problems, c.Reason)
	}
	if !r.Verified && len(r.Problems) == 0 {
		r.Problems = append(r.Problems, "no check passed: nothing was verified")
	}
}

func (r *imaReplayReport) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func runIMAReplay(opts *imaReplayOptions, out io.Writer) error {
	rep, err := imaReplayCore(opts.List, &opts.ListFlags, &opts.Replay, nil)
	if err != nil {
		return err
	}
	if err := render(out, opts.Output, rep, func(w io.Writer) error { return imaReplayText(w, rep) }); err != nil {
		return err
	}
	return rep.exit()
}

// exit maps the verdict to the exit code: 1 unless verified.
func (r *imaReplayReport) exit() error {
	if !r.Verified {
		return mismatch("%s", strings.Join(r.Problems, "; "))
	}
	return nil
}

// checkMark is how text shows a check, in every report: ✓ passed, ✗ ran
// and failed, - could not run (which fails) or was not asked for.
func checkMark(c *verdict.Check) string {
	switch {
	case c.Passed:
		return "✓"
	case c.Skipped, c.NotRun:
		return "-"
	}
	return "✗"
}

func imaReplayText(w io.Writer, rep *imaReplayReport) error {
	desc := rep.Format + " list"
	if rep.ByteOrder != "" {
		desc += ", " + rep.ByteOrder
	}
	fmt.Fprintf(w, "%s: %s, %s template digests, %d entries, %d violations\n", rep.File, desc, rep.TemplateHash, rep.Entries, rep.Violations)
	if c := rep.boot; c != nil {
		switch b := rep.BootAggregate; {
		case b != nil:
			fmt.Fprintf(w, "%s %s (from %s)\n", checkMark(c), b.String(), b.Source)
		case c.Skipped:
			fmt.Fprintf(w, "- boot_aggregate not checked (--no-boot-aggregate): the list is tied to no boot\n")
		default:
			fmt.Fprintf(w, "%s boot_aggregate: %s\n", checkMark(c), c.Reason)
		}
		switch {
		case c.NotRun && rep.BootAggregate != nil && rep.BootAggregate.Status == ima.BootAggregateMissingPCRs:
			fmt.Fprintln(w, "  this fails the verdict: give --tcg-log or PCR values holding PCRs 0-9, or --no-boot-aggregate to accept a list not tied to a boot")
		case c.NotRun:
			fmt.Fprintln(w, "  this fails the verdict; --no-boot-aggregate accepts a list not tied to a boot")
		}
	}
	if rep.Against == nil {
		fmt.Fprintln(w, "replayed:")
		for _, p := range rep.PCRs {
			fmt.Fprintf(w, "  %-7s %2d : %s", p.Bank, p.PCR, p.PerBank)
			if p.Padded != "" {
				fmt.Fprintf(w, "  (sha1-padded: %s)", p.Padded)
			}
			fmt.Fprintln(w)
		}
	} else {
		a := rep.Against
		alt := ""
		if a.Alternative > 0 {
			alt = fmt.Sprintf(" (alternative %d)", a.Alternative+1)
		}
		fmt.Fprintf(w, "against %s%s:\n", strings.Join(a.Files, ", "), alt)
		for _, b := range a.Verdict.Banks {
			if b.Status == ima.BankNotGiven {
				if containsAlg(rep.requireBank, b.Alg) {
					fmt.Fprintf(w, "  - %-7s not in the PCR values: asked for with --bank, so this fails\n", b.Bank)
				} else {
					fmt.Fprintf(w, "  - %-7s not in the PCR values, not checked\n", b.Bank)
				}
				continue
			}
			bad := 0
			for _, p := range b.PCRs {
				mark, how := "✓", "match ("+joinRules(p.Rules)+")"
				switch {
				case p.Expected == "":
					mark, how = "-", "missing from the PCR values: not checked, so this fails"
				case len(p.Rules) == 0:
					mark, how = "✗", "mismatch"
					bad++
				}
				fmt.Fprintf(w, "  %s %-7s %2d  %s\n", mark, b.Bank, p.Index, how)
				if len(p.Rules) == 0 {
					fmt.Fprintf(w, "      expected    %s\n      per-bank    %s\n", hexOrDash(p.Expected), p.PerBank)
					if p.Padded != "" && b.Bank != "sha1" {
						fmt.Fprintf(w, "      sha1-padded %s\n", p.Padded)
					}
				}
			}
			if b.Status == ima.BankMismatch && bad == 0 {
				fmt.Fprintf(w, "  ✗ %-7s its PCRs match only under different rules, which no kernel produces\n", b.Bank)
			}
		}
		if a.Verdict.OK {
			fmt.Fprintf(w, "kernel rule: %s\n", ruleText(a.Verdict.Rules))
		} else if len(a.Verdict.Banks) > 0 && mixedRules(a.Verdict) {
			fmt.Fprintln(w, "✗ the banks match under different rules, which no kernel produces")
		}
	}
	if rep.DigestsChecked && rep.DigestMismatches == 0 {
		fmt.Fprintf(w, "template digests: all %d non-violation entries match their data\n", rep.Entries-rep.Violations)
	}
	for _, d := range rep.DigestIssues {
		fmt.Fprintf(w, "✗ %s (%s): template digest %s, data hashes to %s\n", d.EntryRef, d.Path, d.Listed, d.Computed)
	}
	if rep.DigestMismatches > len(rep.DigestIssues) {
		fmt.Fprintf(w, "  … and %d more\n", rep.DigestMismatches-len(rep.DigestIssues))
	}
	for _, v := range rep.ViolationEntries {
		fmt.Fprintf(w, "violation: %s (%s)\n", v, v.Path)
	}
	if rep.Violations > len(rep.ViolationEntries) {
		fmt.Fprintf(w, "  … and %d more violations\n", rep.Violations-len(rep.ViolationEntries))
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func joinRules(rules []ima.Rule) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func ruleText(rules []ima.Rule) string {
	switch {
	case len(rules) > 1:
		return "either (only SHA-1 was checked, where both rules agree)"
	case rules[0] == ima.RuleSHA1Padded:
		return "sha1-padded (kernel before 5.8)"
	}
	return "per-bank (Linux 5.8 or later)"
}

// mixedRules reports whether every checked bank matched, each under a rule
// the others do not share.
func mixedRules(v *ima.Verdict) bool {
	matched := 0
	for _, b := range v.Banks {
		switch b.Status {
		case ima.BankMatched:
			matched++
		case ima.BankNotGiven:
		default:
			return false
		}
	}
	return matched > 1
}
