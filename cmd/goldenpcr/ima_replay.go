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
}

func (f *imaReplayFlags) register(c *cobra.Command) {
	c.Flags().StringArrayVar(&f.PCRs, "pcrs", nil, "PCR values to compare the replay with, [BANK,]FILE (repeatable)")
	c.Flags().StringVar(&f.PCRsFormat, "pcrs-format", "", "format of the --pcrs files (default: detected)")
	c.Flags().StringSliceVar(&f.Banks, "bank", nil, "banks to replay, e.g. sha256 or sha1,sha256 (default: those of --pcrs, else sha1,sha256)")
	c.Flags().StringVar(&f.TCGLog, "tcg-log", "", "TCG event log (binary_bios_measurements) whose replayed PCRs 0-9 the boot_aggregate must match")
	c.Flags().BoolVar(&f.FailOnViolations, "fail-on-violations", false, "exit 1 if the list records any violation")
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
(other banks, Linux 5.8+) of --tcg-log's replay, or of the --pcrs values if
they hold those PCRs, and the rule that matched is named.

Exit codes: 0 = everything checked matched, 1 = a PCR, the boot_aggregate
or a template digest does not match (or violations with
--fail-on-violations), 2 = bad usage or a malformed list.`,
		Example: `  goldenpcr ima replay binary_runtime_measurements --pcrs sha1,pcrs-sha1 --pcrs sha256,pcrs-sha256
  tpm2_pcrread sha256:0-10 > pcrs.yaml
  goldenpcr ima replay binary_runtime_measurements --pcrs pcrs.yaml --tcg-log binary_bios_measurements
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
	Problems         []string          `json:"problems" yaml:"problems"`
	Notes            []string          `json:"notes,omitempty" yaml:"notes,omitempty"`
	replay           *ima.Replay
}

func orderName(o binary.ByteOrder) string {
	if o == binary.BigEndian {
		return "big-endian"
	}
	return "little-endian"
}

// imaReplayCore replays a list and runs the checks replay and check share:
// PCR comparison, boot_aggregate, template digests, violations. onEntry
// sees every entry (policy checks hook in here).
func imaReplayCore(list string, lf *imaListFlags, rf *imaReplayFlags, onEntry func(*ima.Entry) error) (*imaReplayReport, error) {
	sets, files, err := readIMAPCRs(rf.PCRs, rf.PCRsFormat)
	if err != nil {
		return nil, err
	}
	banks, err := replayBanks(rf.Banks, sets)
	if err != nil {
		return nil, err
	}
	rd, format, f, err := openIMAList(list, lf)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var boot *ima.FileDigest
	var bootRef ima.EntryRef
	firstName := ""
	res, err := ima.ReplayList(rd, &ima.ReplayOptions{Banks: banks, Expect: sets}, func(e *ima.Entry) error {
		if e.Index == 0 {
			firstName = e.Path()
			if d, ok := ima.BootAggregateOf(e); ok {
				boot, bootRef = d, ima.EntryRef{Index: e.Index, Offset: e.Offset, Line: e.Line, PCR: e.PCR, Path: ima.BootAggregateName}
			}
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
		Problems: []string{}, replay: res}
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
	if res.DigestMismatches > 0 {
		rep.problem("%d entries' template digests do not match their data (first: %s)", res.DigestMismatches, res.DigestIssues[0].EntryRef)
	}
	if res.Violations > 0 {
		if rf.FailOnViolations {
			rep.problem("the list records %d violations (first: %s)", res.Violations, res.ViolationEntries[0])
		} else {
			rep.note("%d violations (open-writers/ToMToU): all ones extended; --fail-on-violations makes them fail", res.Violations)
		}
	}
	if res.PaddedSkipped {
		rep.note("sha1-padded values not computed: the per-bank values match")
	}
	if sets != nil {
		rep.Against = &imaAgainst{Files: files}
		for i, set := range sets {
			v := res.Match(set)
			if i == 0 || v.OK {
				rep.Against.Alternative, rep.Against.Verdict = i, v
			}
			if v.OK {
				break
			}
		}
		if !rep.Against.Verdict.OK {
			rep.problem("the replay does not match the PCR values in %s", strings.Join(files, ", "))
		}
	}
	values, source, err := bootValues(rf.TCGLog, sets)
	if err != nil {
		return nil, err
	}
	switch {
	case res.Entries == 0:
		rep.problem("the list is empty")
	case boot == nil:
		rep.note("the first entry is %q, not boot_aggregate: the list is not tied to a boot", firstName)
	case values != nil:
		c := ima.CheckBootAggregate(boot, bootRef, values)
		rep.BootAggregate = &imaBootReport{BootAggregateCheck: c, Source: source}
		// PCR values without PCRs 0-9 just cannot say; a log given for the
		// purpose must.
		if !c.OK() && (rf.TCGLog != "" || c.Status != ima.BootAggregateMissingPCRs) {
			rep.problem("%s", c.String())
		}
	}
	return rep, nil
}

func (r *imaReplayReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
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
	if len(rep.Problems) > 0 {
		return mismatch("%s", strings.Join(rep.Problems, "; "))
	}
	return nil
}

func imaReplayText(w io.Writer, rep *imaReplayReport) error {
	desc := rep.Format + " list"
	if rep.ByteOrder != "" {
		desc += ", " + rep.ByteOrder
	}
	fmt.Fprintf(w, "%s: %s, %s template digests, %d entries, %d violations\n", rep.File, desc, rep.TemplateHash, rep.Entries, rep.Violations)
	if b := rep.BootAggregate; b != nil {
		mark := "✓"
		if !b.OK() {
			mark = "✗"
		}
		fmt.Fprintf(w, "%s %s (from %s)\n", mark, b.String(), b.Source)
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
				fmt.Fprintf(w, "  - %-7s not in the PCR values, not checked\n", b.Bank)
				continue
			}
			for _, p := range b.PCRs {
				mark, how := "✓", "match ("+joinRules(p.Rules)+")"
				if len(p.Rules) == 0 {
					mark, how = "✗", "mismatch"
					if p.Expected == "" {
						how = "missing from the PCR values"
					}
				}
				fmt.Fprintf(w, "  %s %-7s %2d  %s\n", mark, b.Bank, p.Index, how)
				if len(p.Rules) == 0 {
					fmt.Fprintf(w, "      expected    %s\n      per-bank    %s\n", hexOrDash(p.Expected), p.PerBank)
					if p.Padded != "" && b.Bank != "sha1" {
						fmt.Fprintf(w, "      sha1-padded %s\n", p.Padded)
					}
				}
			}
		}
		if a.Verdict.OK {
			fmt.Fprintf(w, "kernel rule: %s\n", ruleText(a.Verdict.Rules))
		} else if len(a.Verdict.Banks) > 0 && mixedRules(a.Verdict) {
			fmt.Fprintln(w, "the banks match under different rules, which no kernel produces")
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
