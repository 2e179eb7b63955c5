package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/refvals"
)

type refvalsPredictOptions struct {
	artifactFlags
	EventLog string
}

func newRefvalsPredictCmd() *cobra.Command {
	opts := &refvalsPredictOptions{}
	c := &cobra.Command{
		Use:   "predict --eventlog REFERENCE.log [artifacts]",
		Short: "Predict a machine's next boot: its firmware PCRs from its log, the rest from new artifacts",
		Long: `Predict the PCRs of a machine's next boot after an update (new UKI, kernel,
GRUB configuration, db/dbx): the PCRs the given artifacts determine are
computed from them, and every other PCR the machine's event log touches —
firmware code and data (0-3, 6), and PCR 5 unless --disk is given — keeps the
events and value that log recorded. The result is a baseline with every event.

` + artifactHelp,
		Example: `  goldenpcr refvals predict --eventlog /sys/kernel/security/tpm0/binary_bios_measurements \
      --uki /boot/efi/EFI/Linux/new.efi --efi-vars vars.fd -o pcrs`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.changed(c)
			return runRefvalsPredict(opts, c.OutOrStdout())
		},
	}
	opts.register(c)
	c.Flags().StringVar(&opts.EventLog, "eventlog", "", "the machine's TCG event log (binary_bios_measurements), required")
	return c
}

func runRefvalsPredict(opts *refvalsPredictOptions, out io.Writer) error {
	if opts.EventLog == "" {
		return fmt.Errorf("--eventlog is required: the reference log of the machine")
	}
	in, err := opts.inputs()
	defer opts.close()
	if err != nil {
		return err
	}
	if !opts.banksSet {
		in.Banks = nil // every bank the reference log carries
	}
	f, err := os.Open(opts.EventLog)
	if err != nil {
		return err
	}
	defer f.Close()
	doc, err := refvals.Predict(f, in)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.EventLog, err)
	}
	opts.noteYocto(doc)
	return opts.write(doc, out, opts.EventLog)
}
