package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type eventlogShowOptions struct {
	Logs   []string
	PCRs   string
	Types  []string
	Bank   string
	Output string
}

func newEventlogShowCmd() *cobra.Command {
	opts := &eventlogShowOptions{}
	c := &cobra.Command{
		Use:   "show LOG...",
		Short: "Decode every event of a TCG event log",
		Long: `Decode every event of a TCG PC Client event log (SHA-1 or crypto-agile,
e.g. /sys/kernel/security/tpm0/binary_bios_measurements); LOG "-" reads
stdin. A LOG may also be a TCG Canonical Event Log, CEL-JSON (systemd's
/run/log/systemd/tpm2-measure.log) or CEL-TLV, detected from its content.
Several LOGs are shown one after another; JSON and YAML then print a list
with one entry per log.

Text output prints one line per event: index, PCR, type, one digest and the
decoded meaning (variable names and contents, device paths, GRUB commands,
certificates…). JSON and YAML print everything: all digests, raw data,
decoded fields, and whether each digest matches its data where the rule is
known.

In text each digest the log can prove is marked ✓ (it equals the hash its
event type prescribes), ~ (it does, under a known firmware quirk, named at
the end) or ✗ (it contradicts its data). An event shown with ✗ exits 1, in
every output format: the log's data is not what was measured.

Exit codes: 0 = read, every shown digest the log can prove matches; 1 = a
shown event's digest contradicts its data; 2 = bad usage or a malformed log.`,
		Example: `  goldenpcr eventlog show /sys/kernel/security/tpm0/binary_bios_measurements
  goldenpcr eventlog show boot.log --pcr 4,7 --type EV_EFI_VARIABLE_AUTHORITY
  goldenpcr eventlog show boot.log -o json | jq '.events[] | select(.pcr == 7)'
  ssh device cat /sys/kernel/security/tpm0/binary_bios_measurements | goldenpcr eventlog show -
  goldenpcr eventlog show /run/log/systemd/tpm2-measure.log`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Logs = args
			return runEventlogShow(opts, c.InOrStdin(), c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&opts.PCRs, "pcr", "", "only events of these PCRs, e.g. 0,4,7 or 8-9")
	c.Flags().StringSliceVar(&opts.Types, "type", nil, "only events of these types, e.g. EV_SEPARATOR or efi_action (repeatable)")
	c.Flags().StringVar(&opts.Bank, "bank", "", "digest shown in text output (default: sha256 if logged, else the first bank)")
	outputFlag(c, &opts.Output)
	return c
}

// shownEvent is one event as `eventlog show` renders it in JSON and YAML.
type shownEvent struct {
	Index       int                   `json:"index" yaml:"index"`
	Offset      int64                 `json:"offset" yaml:"offset"`
	PCR         int                   `json:"pcr" yaml:"pcr"`
	Type        string                `json:"type" yaml:"type"`
	TypeID      uint32                `json:"type_id" yaml:"type_id"`
	Digests     map[string]string     `json:"digests" yaml:"digests"`
	Size        int                   `json:"size" yaml:"size"`
	Data        string                `json:"data" yaml:"data"`
	Decoded     eventlog.Payload      `json:"decoded" yaml:"decoded"`
	DecodeError string                `json:"decode_error,omitempty" yaml:"decode_error,omitempty"`
	DigestCheck *eventlog.DigestCheck `json:"digest_check" yaml:"digest_check"`
	// CEL is a Canonical Event Log record's content.
	CEL     *eventlog.CELContent `json:"cel,omitempty" yaml:"cel,omitempty"`
	summary string
	digest  string
}

type shownLog struct {
	File   string       `json:"file" yaml:"file"`
	Format string       `json:"format" yaml:"format"`
	Banks  []string     `json:"banks" yaml:"banks"`
	Events []shownEvent `json:"events" yaml:"events"`
	// DigestMismatches counts the shown events whose digest contradicts
	// their data; any makes the command exit 1.
	DigestMismatches int    `json:"digest_mismatches" yaml:"digest_mismatches"`
	Partial          string `json:"error,omitempty" yaml:"error,omitempty"`
	firstMismatch    int
}

func runEventlogShow(opts *eventlogShowOptions, stdin io.Reader, out io.Writer) error {
	var pcrFilter []int
	if opts.PCRs != "" {
		var err error
		if pcrFilter, err = pcr.ParsePCRList(opts.PCRs); err != nil {
			return fmt.Errorf("--pcr: %w", err)
		}
	}
	var typeFilter []eventlog.EventType
	for _, t := range opts.Types {
		et, err := eventlog.ParseEventType(t)
		if err != nil {
			return fmt.Errorf("--type: %w", err)
		}
		typeFilter = append(typeFilter, et)
	}
	var shown []*shownLog
	var firstErr error
	for i, p := range opts.Logs {
		log, err := showLog(p, opts.Logs[:i], stdin, opts.Bank, pcrFilter, typeFilter)
		if log == nil {
			return err
		}
		shown = append(shown, log)
		if firstErr == nil {
			firstErr = err
		}
	}
	var doc any = shown[0]
	if len(shown) > 1 {
		doc = shown
	}
	if err := render(out, opts.Output, doc, func(w io.Writer) error {
		for _, l := range shown {
			if err := showText(w, l); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}
	for _, l := range shown {
		if l.DigestMismatches > 0 {
			return mismatch("%s: %d shown events' digests contradict their data (first: event %d)", l.File, l.DigestMismatches, l.firstMismatch)
		}
	}
	return nil
}

// showLog reads one log and describes the events the filters keep. A log
// that breaks off is returned with the events before the break and the
// error; a nil log means nothing could be shown.
func showLog(path string, before []string, stdin io.Reader, bankFlag string, pcrFilter []int, typeFilter []eventlog.EventType) (*shownLog, error) {
	if path == "-" && slices.Contains(before, "-") {
		return nil, fmt.Errorf("\"-\" (stdin) given twice")
	}
	f, err := openInput(path, stdin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, readErr := eventlog.ReadLog(f)
	if readErr != nil {
		readErr = fmt.Errorf("%s: %w", path, readErr)
		if rd == nil || len(rd.Events) == 0 {
			return nil, readErr
		}
	}
	bank, err := textBank(rd.Banks, bankFlag)
	if err != nil {
		return nil, err
	}
	log := &shownLog{File: path, Format: rd.Format.String(), Events: []shownEvent{}}
	if readErr != nil {
		log.Partial = readErr.Error()
	}
	for _, a := range rd.Banks {
		log.Banks = append(log.Banks, a.String())
	}
	for _, ev := range rd.Events {
		if pcrFilter != nil && !slices.Contains(pcrFilter, int(ev.PCR)) {
			continue
		}
		if typeFilter != nil && !slices.Contains(typeFilter, ev.Type) {
			continue
		}
		se := describeEvent(ev, bank)
		if se.DigestCheck.Status == eventlog.DigestMismatch {
			if log.DigestMismatches == 0 {
				log.firstMismatch = se.Index
			}
			log.DigestMismatches++
		}
		log.Events = append(log.Events, se)
	}
	return log, readErr
}

// textBank picks the bank whose digest the one-line text form shows.
func textBank(banks []pcr.Alg, flag string) (pcr.Alg, error) {
	if flag != "" {
		a, err := pcr.ParseAlg(flag)
		if err != nil {
			return 0, fmt.Errorf("--bank: %w", err)
		}
		if !slices.Contains(banks, a) {
			return 0, fmt.Errorf("--bank: %w", &eventlog.BankNotInLogError{Alg: a, Have: banks})
		}
		return a, nil
	}
	if slices.Contains(banks, pcr.SHA256) || len(banks) == 0 {
		return pcr.SHA256, nil
	}
	return banks[0], nil
}

func describeEvent(ev *eventlog.Event, bank pcr.Alg) shownEvent {
	se := shownEvent{
		Index:   ev.Index,
		Offset:  ev.Offset,
		PCR:     int(int32(ev.PCR)),
		Type:    ev.Type.String(),
		TypeID:  uint32(ev.Type),
		Digests: map[string]string{},
		Size:    len(ev.Data),
		Data:    hex.EncodeToString(ev.Data),
	}
	for _, d := range ev.Digests {
		se.Digests[d.Alg.String()] = hex.EncodeToString(d.Value)
	}
	if d, ok := ev.Digest(bank); ok {
		se.digest = bank.String() + ":" + hex.EncodeToString(d)
	}
	p, err := eventlog.Decode(ev)
	se.Decoded = p
	se.summary = p.Summary()
	if err != nil {
		se.DecodeError = err.Error()
	}
	check := eventlog.CheckDigest(ev)
	se.DigestCheck = &check
	if ev.CEL != nil {
		se.CEL = ev.CEL
		if ev.Type == eventlog.EvCELRecord {
			se.Type = "CEL " + ev.CEL.Type
		}
	}
	return se
}

func showText(w io.Writer, log *shownLog) error {
	fmt.Fprintf(w, "%s: %s log, banks %s, %d %s shown\n", log.File, log.Format, strings.Join(log.Banks, ","), len(log.Events), eventWord(log.Format))
	quirks := map[string]int{}
	var quirkOrder []string
	for _, e := range log.Events {
		mark := " "
		switch e.DigestCheck.Status {
		case eventlog.DigestMismatch:
			mark = "✗"
		case eventlog.DigestOK:
			mark = "✓"
			if q := e.DigestCheck.Quirk; q != "" {
				mark = "~"
				if quirks[q] == 0 {
					quirkOrder = append(quirkOrder, q)
				}
				quirks[q]++
			}
		}
		digest := e.digest
		if len(digest) > 20 {
			digest = digest[:20] + "…"
		}
		fmt.Fprintf(w, "%4d  PCR %-2d %-34s %s %-21s %s\n", e.Index, e.PCR, e.Type, mark, digest, e.summary)
		if e.DecodeError != "" {
			fmt.Fprintf(w, "      ! %s\n", e.DecodeError)
		}
		if e.DigestCheck.Status == eventlog.DigestMismatch {
			fmt.Fprintf(w, "      ✗ digest does not match %s for %s\n", e.DigestCheck.Rule, strings.Join(e.DigestCheck.Mismatched, ","))
		}
	}
	for _, q := range quirkOrder {
		fmt.Fprintf(w, "~ %d events: the digest matches under a known firmware quirk: %s\n", quirks[q], q)
	}
	if log.DigestMismatches > 0 {
		fmt.Fprintf(w, "✗ %d events' digests contradict their data\n", log.DigestMismatches)
	}
	return nil
}
