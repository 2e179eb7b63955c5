package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type eventlogReplayOptions struct {
	Logs          []string
	Banks         []string
	PCRs          string
	All           bool
	Against       string
	AgainstFormat string
	AgainstSel    string
	Output        string
}

func newEventlogReplayCmd() *cobra.Command {
	opts := &eventlogReplayOptions{}
	c := &cobra.Command{
		Use:   "replay LOG...",
		Short: "Replay a TCG event log to the PCR values it predicts",
		Long: `Replay a TCG event log: extend every measured event, bank by bank, from the
PC Client starting values (PCR 0 from the StartupLocality event, PCRs 17-22
all ones), never extending EV_NO_ACTION. Prints each PCR the log touched with
the number of events and the last event that extended it. LOG "-" reads
stdin.

A LOG may also be a TCG Canonical Event Log, CEL-JSON (systemd's
/run/log/systemd/tpm2-measure.log) or CEL-TLV, detected from its content.
Several LOGs of one boot replay into one PCR history: the firmware log's
events first, then each CEL's records in order, so a PCR both extend is
the fold of both.

With --against FILE the replayed values are compared with every PCR named
by a goldenpcr baseline (docs/baseline.md; a PCR may allow variants) or a
PCR file (tpm2_pcrread YAML or -F values/serialized/marshaled, evmctl PCR-NN
lines, JSON/YAML maps, "0:hex,7:hex" maps, CHARRA reference files: see
'goldenpcr pcr convert --help'). The command exits 1 if any PCR differs
or is missing, 0 if all match; a CHARRA file matches if any document does.

Digests that contradict their event data are reported as warnings, like
tpm2_eventlog does; firmware quirks the replay met are listed as notes.`,
		Example: `  goldenpcr eventlog replay /sys/kernel/security/tpm0/binary_bios_measurements
  goldenpcr eventlog replay boot.log --bank sha256 --against pcrs.yaml
  goldenpcr eventlog replay boot.log /run/log/systemd/tpm2-measure.log --pcr 11
  tpm2_pcrread -o pcrs.bin -F serialized sha256:0-9 && goldenpcr eventlog replay boot.log --against pcrs.bin`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Logs = args
			return runEventlogReplay(opts, c.InOrStdin(), c.OutOrStdout())
		},
	}
	c.Flags().StringSliceVar(&opts.Banks, "bank", nil, "banks to replay, e.g. sha256 or sha1,sha256 (default: every bank in the log)")
	c.Flags().StringVar(&opts.PCRs, "pcr", "", "PCRs to print, e.g. 0-7,14 (default: those the log touched)")
	c.Flags().BoolVar(&opts.All, "all", false, "print all 24 PCRs, untouched ones included")
	c.Flags().StringVar(&opts.Against, "against", "", "baseline or PCR file to compare the replay with; exit 1 on any difference")
	c.Flags().StringVar(&opts.AgainstFormat, "against-format", "", "format of the --against file (default: detected)")
	c.Flags().StringVar(&opts.AgainstSel, "against-sel", "", "PCR selection of a --against file in tpm2 -F values format, e.g. sha256:0-7")
	outputFlag(c, &opts.Output)
	return c
}

type replayedPCR struct {
	Bank      string `json:"bank" yaml:"bank"`
	Index     int    `json:"pcr" yaml:"pcr"`
	Value     string `json:"value" yaml:"value"`
	Events    int    `json:"events" yaml:"events"`
	LastEvent int    `json:"last_event" yaml:"last_event"`
	// LastLog names the log of LastEvent when several were replayed.
	LastLog string `json:"last_log,omitempty" yaml:"last_log,omitempty"`
}

type replayReport struct {
	File         string                 `json:"file" yaml:"file"`
	Logs         []eventlog.ReplayedLog `json:"logs,omitempty" yaml:"logs,omitempty"`
	Format       string                 `json:"format" yaml:"format"`
	Events       int                    `json:"events" yaml:"events"`
	Locality     byte                   `json:"startup_locality" yaml:"startup_locality"`
	PCRs         []replayedPCR          `json:"pcrs" yaml:"pcrs"`
	Dropped      []string               `json:"dropped_banks,omitempty" yaml:"dropped_banks,omitempty"`
	Quirks       []eventlog.Quirk       `json:"quirks,omitempty" yaml:"quirks,omitempty"`
	DigestIssues []eventlog.DigestIssue `json:"digest_issues,omitempty" yaml:"digest_issues,omitempty"`
	Comparison   *comparisonReport      `json:"comparison,omitempty" yaml:"comparison,omitempty"`
}

type comparisonReport struct {
	File        string           `json:"file" yaml:"file"`
	Format      string           `json:"format" yaml:"format"`
	Alternative int              `json:"alternative" yaml:"alternative"`
	Matched     bool             `json:"matched" yaml:"matched"`
	Rows        []pcr.Comparison `json:"rows" yaml:"rows"`
}

func runEventlogReplay(opts *eventlogReplayOptions, stdin io.Reader, out io.Writer) error {
	var ropts eventlog.ReplayOptions
	ropts.CheckDigests = true
	for _, b := range opts.Banks {
		a, err := pcr.ParseAlg(b)
		if err != nil {
			return fmt.Errorf("--bank: %w", err)
		}
		ropts.Banks = append(ropts.Banks, a)
	}
	var show []int
	if opts.PCRs != "" {
		var err error
		if show, err = pcr.ParsePCRList(opts.PCRs); err != nil {
			return fmt.Errorf("--pcr: %w", err)
		}
	}
	var against *reference
	if opts.Against != "" {
		var err error
		if against, err = readReference(opts.Against, opts.AgainstFormat, opts.AgainstSel, "--against-format", "--against-sel"); err != nil {
			return err
		}
	}
	logs, err := readLogs(opts.Logs, stdin)
	if err != nil {
		return err
	}
	res, err := eventlog.ReplayLogs(logs, &ropts)
	if err != nil {
		if len(logs) == 1 {
			return fmt.Errorf("%s: %w", opts.Logs[0], err)
		}
		return err
	}
	name := strings.Join(opts.Logs, " + ")
	if len(logs) > 1 {
		// The replay order: the firmware log first.
		var names []string
		for _, l := range res.Logs {
			names = append(names, l.Name)
		}
		name = strings.Join(names, " + ")
	}
	rep := replayReport{File: name, Format: res.Format.String(), Events: res.Events, Locality: res.Locality,
		Quirks: res.Quirks, DigestIssues: res.DigestIssues, PCRs: []replayedPCR{}}
	for _, d := range res.Dropped {
		rep.Dropped = append(rep.Dropped, d.Alg.String()+": "+d.Reason)
	}
	for _, a := range res.Banks {
		for i := 0; i < pcr.NumPCRs; i++ {
			if !wantPCR(i, show, opts.All, res) {
				continue
			}
			v, _ := res.Values.Get(a, i)
			p := replayedPCR{Bank: a.String(), Index: i, Value: hex.EncodeToString(v), Events: res.Extends[i], LastEvent: res.LastEvent[i]}
			if len(res.Logs) > 1 && p.LastEvent >= 0 {
				p.LastLog = res.Logs[res.LastLog[i]].Name
			}
			rep.PCRs = append(rep.PCRs, p)
		}
	}
	if len(res.Logs) > 1 {
		rep.Logs = res.Logs
	}
	if against != nil {
		if rep.Comparison, err = against.compare(res.Values, ropts.Banks); err != nil {
			return err
		}
	}
	if err := render(out, opts.Output, rep, func(w io.Writer) error { return replayText(w, &rep, res) }); err != nil {
		return err
	}
	if c := rep.Comparison; c != nil && !c.Matched {
		if len(c.Rows) == 0 {
			return mismatch("%s names no PCR of the replayed banks: nothing was proven", opts.Against)
		}
		bad := 0
		for _, r := range c.Rows {
			if r.Status != pcr.Match {
				bad++
			}
		}
		return mismatch("%d of %d PCRs in %s do not match the replay of %s", bad, len(c.Rows), opts.Against, rep.File)
	}
	return nil
}

// readLogs reads each log of the command line, "-" (once) from stdin; each
// is a TCG log or a CEL, detected from its content.
func readLogs(paths []string, stdin io.Reader) ([]*eventlog.Log, error) {
	var logs []*eventlog.Log
	for i, p := range paths {
		if p == "-" && slices.Contains(paths[:i], "-") {
			return nil, fmt.Errorf("\"-\" (stdin) given twice")
		}
		f, err := openInput(p, stdin)
		if err != nil {
			return nil, err
		}
		l, err := eventlog.ReadLog(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		l.Name = p
		logs = append(logs, l)
	}
	return logs, nil
}

func wantPCR(i int, show []int, all bool, res *eventlog.Replay) bool {
	switch {
	case show != nil:
		for _, s := range show {
			if s == i {
				return true
			}
		}
		return false
	case all:
		return true
	}
	return res.Touched(i)
}

// eventWord names a log's entries: a CEL's are records.
func eventWord(format string) string {
	if strings.HasPrefix(format, "cel-") {
		return "records"
	}
	return "events"
}

func replayText(w io.Writer, rep *replayReport, res *eventlog.Replay) error {
	banks := make([]string, len(res.Banks))
	for i, a := range res.Banks {
		banks[i] = a.String()
	}
	for _, l := range rep.Logs {
		fmt.Fprintf(w, "%s: %s log, %d %s\n", l.Name, l.Format, l.Events, eventWord(l.Format))
	}
	if len(rep.Logs) > 1 {
		fmt.Fprintf(w, "replayed in this order, %d events, banks %s", rep.Events, strings.Join(banks, ","))
	} else {
		fmt.Fprintf(w, "%s: %s log, %d %s, banks %s", rep.File, rep.Format, rep.Events, eventWord(rep.Format), strings.Join(banks, ","))
	}
	if rep.Locality != 0 {
		fmt.Fprintf(w, ", startup locality %d", rep.Locality)
	}
	fmt.Fprintln(w)
	if rep.Comparison == nil {
		bank := ""
		for _, p := range rep.PCRs {
			if p.Bank != bank {
				bank = p.Bank
				fmt.Fprintf(w, "%s:\n", bank)
			}
			last := "untouched"
			if p.LastEvent >= 0 {
				last = fmt.Sprintf("%d events, last #%d", p.Events, p.LastEvent)
				if p.LastLog != "" {
					last += " of " + p.LastLog
				}
			}
			fmt.Fprintf(w, "  %2d : %s  (%s)\n", p.Index, p.Value, last)
		}
	} else {
		c := rep.Comparison
		alt := ""
		if c.Alternative > 0 {
			alt = " document " + strconv.Itoa(c.Alternative+1)
		}
		fmt.Fprintf(w, "against %s (%s)%s:\n", c.File, c.Format, alt)
		for _, r := range c.Rows {
			mark := "✓"
			if r.Status != pcr.Match {
				mark = "✗"
			}
			got := r.Got
			if got == "" {
				got = "(not replayed)"
			}
			last := ""
			if r.Status == pcr.Mismatch && res.LastEvent[r.Index] >= 0 {
				last = fmt.Sprintf("  last extended by event #%d", res.LastEvent[r.Index])
				if len(res.Logs) > 1 {
					last += " of " + res.Logs[res.LastLog[r.Index]].Name
				}
			}
			fmt.Fprintf(w, "  %s %-7s %2d  %s%s\n", mark, r.Bank, r.Index, r.Status, last)
			if r.Status != pcr.Match {
				fmt.Fprintf(w, "      replayed %s\n      expected %s\n", got, r.Expected)
			}
		}
		if c.Matched {
			fmt.Fprintf(w, "all %d PCRs match\n", len(c.Rows))
		}
	}
	for _, d := range rep.Dropped {
		fmt.Fprintf(w, "note: bank not replayed: %s\n", d)
	}
	for _, q := range rep.Quirks {
		if q.Event >= 0 {
			fmt.Fprintf(w, "note: event %d (PCR %d): %s\n", q.Event, q.PCR, q.What)
		} else {
			fmt.Fprintf(w, "note: PCR %d: %s\n", q.PCR, q.What)
		}
	}
	for _, d := range rep.DigestIssues {
		in := ""
		if d.Log != "" {
			in = " of " + d.Log
		}
		fmt.Fprintf(w, "warning: event %d%s (PCR %d, %s) at byte offset %d: digest does not match %s for %s\n",
			d.Event, in, d.PCR, d.Type, d.Offset, d.Check.Rule, strings.Join(d.Check.Mismatched, ","))
	}
	return nil
}
