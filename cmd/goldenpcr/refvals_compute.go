package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/refvals"
)

type refvalsComputeOptions struct {
	artifactFlags
	ReferenceLog string
}

func newRefvalsComputeCmd() *cobra.Command {
	opts := &refvalsComputeOptions{}
	c := &cobra.Command{
		Use:   "compute",
		Short: "Compute the baseline a correct boot of these artifacts must measure",
		Long: `Compute, from files alone, the events and PCR values a correct boot of the
given artifacts must produce, and write them as a baseline document
(docs/baseline.md) or as tpm2_pcrread-style PCR values.

` + artifactHelp,
		Example: `  goldenpcr refvals compute --uki build/uki.efi --phase enter-initrd
  goldenpcr refvals compute --efi-app shimx64.efi --efi-app grubx64.efi --secure-boot \
      --pk PK.esl --kek KEK.esl --db db.esl -O baseline.yaml
  goldenpcr refvals compute --uki uki.efi --efi-vars OVMF_VARS.fd -o pcrs
  goldenpcr refvals compute --yocto-deploy tmp/deploy/images/genericx86-64 \
      --reference-log target-binary_bios_measurements -O gyroidos.yaml`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.changed(c)
			return runRefvalsCompute(opts, c.OutOrStdout())
		},
	}
	opts.register(c)
	c.Flags().StringVar(&opts.ReferenceLog, "reference-log", "", "TCG event log of the target hardware: PCRs 0-3 and 5-7 the artifacts do not determine are taken from it (PCR 5 unless --disk is given)")
	return c
}

func runRefvalsCompute(opts *refvalsComputeOptions, out io.Writer) error {
	in, err := opts.inputs()
	defer opts.close()
	if err != nil {
		return err
	}
	in.ReferenceLog = opts.ReferenceLog
	doc, err := refvals.Compute(in)
	if err != nil {
		return err
	}
	opts.noteYocto(doc)
	return opts.write(doc, out, opts.ReferenceLog)
}
