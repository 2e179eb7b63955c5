package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/diff"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/atomicfile"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type diffOptions struct {
	Expected  string
	Actual    []string
	PCRValues string
	PCRs      string
	Bank      string
	Output    string
	Color     string
	HTML      string
}

func newDiffCmd() *cobra.Command {
	opts := &diffOptions{}
	c := &cobra.Command{
		Use:   "diff EXPECTED ACTUAL...",
		Short: "Explain why PCRs differ: the first divergent event, the component, the likely cause",
		Long: `Hold a boot's event logs against what was expected, PCR by PCR, and say
which event diverged first, what it is, which artifact the expectation came
from, and the likely cause.

EXPECTED is a goldenpcr baseline (refvals compute), a golden TCG event log or
a Canonical Event Log. ACTUAL is the device's logs: a TCG event log
(binary_bios_measurements) and any Canonical Event Logs of the same boot
(systemd's tpm2-measure.log), replayed into one history; or one other
baseline, to see which artifact moved each PCR between two builds.

Events are aligned by type and decoded identity (variable name, GRUB
command, UKI section, tag), not by position, so one inserted event leaves
the rest aligned. Each PCR that differs shows its first divergent event with
both sides decoded, then every other difference (changed, missing, extra),
each with hints: firmware version or code, a secure-boot variable and the
entries added or removed (a dbx update), a new authority, the SBAT level,
boot order and boot entries, another boot application and the artifact it
should have been, the kernel command line as a word diff, the initrd, a UKI
section, a GRUB command, and the firmware quirks goldenpcr knows.

--pcrs gives the device's real PCR values (any format pcr convert reads,
e.g. tpm2_pcrread YAML, or the PCR file a verified quote carried): a log
that does not replay to them is reported as "log does not match the PCRs"
(truncated or tampered: its events are no evidence), not as a boot change.

--html FILE also writes the report as one self-contained page (no network,
no external script or font): a timeline of each PCR's extends, the
differences coloured and the first divergence marked, and each event's
decoded details, both sides, on click. It is written atomically, never over
an input, a link or a device; the text, JSON or YAML report still goes to
stdout, and the exit code is the same.

Exit codes: 0 = nothing differs, 1 = some PCR differs or a log does not
match the device's PCRs, 2 = bad usage or unreadable input.`,
		Example: `  goldenpcr diff golden.yaml /sys/kernel/security/tpm0/binary_bios_measurements
  goldenpcr diff golden.yaml eventlog.bin tpm2-measure.log --pcrs pcrs.yaml --pcr 4,7,11
  goldenpcr diff build-41.yaml build-42.yaml
  goldenpcr diff last-good.bin eventlog.bin -o json
  goldenpcr diff golden.yaml eventlog.bin --html report.html`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Expected, opts.Actual = args[0], args[1:]
			return runDiff(opts, c.InOrStdin(), c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&opts.PCRValues, "pcrs", "", "the device's PCR values, to tell a log that does not replay to them from a changed boot")
	c.Flags().StringVar(&opts.PCRs, "pcr", "", "only these PCRs, e.g. 4,7 or 8-9 (default: every PCR EXPECTED has)")
	c.Flags().StringVar(&opts.Bank, "bank", "", "bank to compare (default: sha256 when both sides have it)")
	c.Flags().StringVar(&opts.Color, "color", "auto", "colour text output: auto (when stdout is a terminal and NO_COLOR is unset), always or never")
	c.Flags().StringVar(&opts.HTML, "html", "", "also write the report as a self-contained HTML page to this file, atomically (never over an input, a link, FIFO or device)")
	outputFlag(c, &opts.Output)
	return c
}

func runDiff(opts *diffOptions, stdin io.Reader, stdout io.Writer) error {
	var o diff.Options
	if opts.PCRs != "" {
		var err error
		if o.PCRs, err = pcr.ParsePCRList(opts.PCRs); err != nil {
			return fmt.Errorf("--pcr: %w", err)
		}
	}
	if opts.Bank != "" {
		alg, err := pcr.ParseAlg(opts.Bank)
		if err != nil {
			return fmt.Errorf("--bank: %w", err)
		}
		o.Bank = alg
	}
	color, err := useColor(opts.Color, stdout)
	if err != nil {
		return err
	}
	exp, err := diffSide([]string{opts.Expected}, stdin)
	if err != nil {
		return err
	}
	act, err := diffSide(opts.Actual, stdin)
	if err != nil {
		return err
	}
	if opts.PCRValues != "" {
		if act.Kind == "baseline" {
			return fmt.Errorf("--pcrs: the device's PCR values go with its event logs, not with a baseline")
		}
		doc, err := pcr.ReadFile(opts.PCRValues, pcr.ReadOptions{})
		if err != nil {
			return err
		}
		if len(doc.Sets) != 1 {
			return fmt.Errorf("%s: %d sets of PCR values; a device has one", opts.PCRValues, len(doc.Sets))
		}
		act.Device = doc.Sets[0]
	}
	rep, err := diff.Compare(exp, act, o)
	if err != nil {
		return err
	}
	if opts.HTML != "" {
		if err := writeDiffHTML(opts, rep); err != nil {
			return err
		}
	}
	if err := render(stdout, opts.Output, rep, func(w io.Writer) error { return writeDiffText(w, rep, color) }); err != nil {
		return err
	}
	if rep.Differs {
		return mismatch("%s differs from %s", opts.Actual[0], opts.Expected)
	}
	return nil
}

// writeDiffHTML writes the --html page, never over what the diff read.
func writeDiffHTML(opts *diffOptions, rep *diff.Report) error {
	if opts.HTML == "-" {
		return fmt.Errorf("--html: give a file: the text, JSON or YAML report goes to stdout")
	}
	var b bytes.Buffer
	if err := diff.WriteHTML(&b, rep); err != nil {
		return err
	}
	inputs := append([]string{opts.Expected, opts.PCRValues}, opts.Actual...)
	if err := atomicfile.Write(opts.HTML, b.Bytes(), 0o644, inputs...); err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	return nil
}

// diffSide reads one side: a baseline document alone, or event logs.
func diffSide(paths []string, stdin io.Reader) (*diff.Side, error) {
	var logs []*eventlog.Log
	for i, p := range paths {
		if p == "-" && slices.Contains(paths[:i], "-") {
			return nil, fmt.Errorf("\"-\" (stdin) given twice")
		}
		f, err := openInput(p, stdin)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(f, eventlog.MaxLogSize+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if baseline.IsDocument(data) {
			if len(paths) > 1 {
				return nil, fmt.Errorf("%s is a baseline: it is compared alone, not with event logs", p)
			}
			b, err := baseline.Parse(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			return diff.FromBaseline(p, b)
		}
		l, err := eventlog.ReadLog(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		l.Name = p
		logs = append(logs, l)
	}
	return diff.FromLogs(strings.Join(paths, " + "), logs)
}

// useColor decides whether text output is coloured.
func useColor(mode string, stdout io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		f, ok := stdout.(*os.File)
		return ok && isTerminal(f) && os.Getenv("NO_COLOR") == "", nil
	}
	return false, fmt.Errorf("--color: %q is not auto, always or never", mode)
}

// ANSI colours of the text report.
const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

func writeDiffText(w io.Writer, r *diff.Report, color bool) error {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "expected: %s (%s)\nactual:   %s (%s)\nbank:     %s\n", r.Expected.Name, r.Expected.Kind, r.Actual.Name, r.Actual.Kind, r.Bank)
	for _, p := range r.PCRs {
		b.WriteByte('\n')
		switch {
		case p.Same:
			fmt.Fprintf(&b, "%s PCR %d same %s\n", paint(ansiGreen, "✓"), p.Index, p.Actual)
			continue
		case p.LogMismatch != nil && p.LogMismatch.BootMatches:
			fmt.Fprintf(&b, "%s PCR %d log does not match the PCRs: the device's value is the expected %s, but its log replays to %s (truncated or tampered log)\n",
				paint(ansiRed, "✗"), p.Index, p.LogMismatch.Device, p.LogMismatch.Replayed)
		case p.LogMismatch != nil:
			fmt.Fprintf(&b, "%s PCR %d log does not match the PCRs: the device holds %s, its log replays to %s (truncated or tampered log: its events are no evidence); expected %s\n",
				paint(ansiRed, "✗"), p.Index, p.LogMismatch.Device, p.LogMismatch.Replayed, p.Expected)
		default:
			fmt.Fprintf(&b, "%s PCR %d differs: expected %s, actual %s\n", paint(ansiRed, "✗"), p.Index, orNone(p.Expected), orNone(p.Actual))
		}
		if p.Note != "" {
			fmt.Fprintf(&b, "  note: %s\n", p.Note)
		}
		for _, q := range p.Quirks {
			fmt.Fprintf(&b, "  %s %s\n", paint(ansiYellow, "firmware quirk:"), q)
		}
		if p.First < 0 {
			continue
		}
		s := p.Steps[p.First]
		fmt.Fprintf(&b, "  %s %s\n", paint(ansiBold, "first divergence:"), s.Kind)
		writeDiffStep(&b, s, "    ", paint)
		var rest []diff.Step
		for k, s := range p.Steps {
			if k != p.First && s.Kind != diff.Same {
				rest = append(rest, s)
			}
		}
		if len(rest) > 0 {
			fmt.Fprintf(&b, "  other differences (%d):\n", len(rest))
			for _, s := range rest {
				fmt.Fprintf(&b, "  - %s\n", s.Kind)
				writeDiffStep(&b, s, "    ", paint)
			}
		}
	}
	for _, in := range r.Inputs {
		switch {
		case in.Before == "":
			fmt.Fprintf(&b, "\nartifact added: %s %s (sha256 %s)\n", in.Role, in.Path, in.After)
		case in.After == "":
			fmt.Fprintf(&b, "\nartifact removed: %s %s (sha256 %s)\n", in.Role, in.Path, in.Before)
		default:
			fmt.Fprintf(&b, "\nartifact changed: %s %s (sha256 %s → %s)\n", in.Role, in.Path, in.Before, in.After)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeDiffStep(b *bytes.Buffer, s diff.Step, indent string, paint func(string, string) string) {
	side := func(label string, e *diff.Entry, code string) {
		if e == nil {
			fmt.Fprintf(b, "%s%s —\n", indent, label)
			return
		}
		where := fmt.Sprintf("event %d", e.Index)
		if e.Log != "" {
			where = e.Log + " " + where
		}
		fmt.Fprintf(b, "%s%s %s %s %s", indent, label, paint(code, e.Type), e.Summary, "["+where)
		if e.Artifact != "" {
			fmt.Fprintf(b, ", %s", e.Artifact)
		}
		fmt.Fprintf(b, "]\n")
	}
	side("expected:", s.Expected, ansiGreen)
	side("actual:  ", s.Actual, ansiRed)
	for _, h := range s.Hints {
		fmt.Fprintf(b, "%s%s %s\n", indent, paint(ansiYellow, "hint ("+h.Cause+"):"), h.Detail)
	}
}
