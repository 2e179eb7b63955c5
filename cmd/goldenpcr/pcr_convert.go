package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/internal/atomicfile"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type pcrConvertOptions struct {
	In      string
	To      string
	Read    pcrReadFlags
	OutFile string
}

func newPCRConvertCmd() *cobra.Command {
	opts := &pcrConvertOptions{}
	c := &cobra.Command{
		Use:   "convert IN --to FORMAT",
		Short: "Convert a PCR value file between tpm2-tools, evmctl, JSON/YAML, map and CHARRA formats",
		Long: `Convert a file of PCR values to another format. The input format is detected
unless --from names it; a tpm2 -F values file holds bare digests, so it needs
--from values and the --sel it was read with.

Formats:
` + pcrFormatHelp() + `

--sel also restricts the output to the selected PCRs, in the selection's
bank order (the order of a quote's pcrDigest); without it the input's bank
order is kept. --bank names the bank of map and evmctl input, and picks one
bank of a multi-bank input for map and evmctl output, which hold one bank.
A CHARRA file's alternatives convert to json, yaml or charra only.

The result goes to stdout, or with -O to a file written atomically; -O never
overwrites the input, nor a symbolic link, FIFO or device.`,
		Example: `  tpm2_pcrread -o pcrs.bin -F serialized sha1:0,1,2,7+sha256:0,1,2,7
  goldenpcr pcr convert pcrs.bin --to json
  goldenpcr pcr convert pcrs.values --from values --sel sha256:0-7 --to tpm2-yaml -O pcrs.yaml
  goldenpcr pcr convert pcrs.yaml --to evmctl --bank sha256 -O sha256.pcrs
  evmctl ima_measurement --pcrs sha256,sha256.pcrs /sys/kernel/security/ima/binary_runtime_measurements
  goldenpcr pcr convert golden.json --to map --bank sha256 --sel sha256:0,7`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.In = args[0]
			return runPCRConvert(opts, c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&opts.To, "to", "", "output format (required): "+formatNames())
	c.Flags().StringVar(&opts.Read.From, "from", "", "input format (default: detected)")
	c.Flags().StringVar(&opts.Read.Sel, "sel", "", "PCR selection, e.g. sha1:0-7+sha256:0,7: reads values files, restricts and orders output")
	c.Flags().StringVar(&opts.Read.Bank, "bank", "", "bank of map/evmctl input; the one bank to write as map/evmctl")
	c.Flags().StringVarP(&opts.OutFile, "output-file", "O", "", "write to this file atomically instead of stdout")
	return c
}

func formatNames() string {
	names := make([]string, len(pcr.Formats))
	for i, fi := range pcr.Formats {
		names[i] = string(fi.Format)
	}
	return strings.Join(names, ", ")
}

func runPCRConvert(opts *pcrConvertOptions, stdout io.Writer) error {
	if opts.To == "" {
		return errors.New("--to is required: " + formatNames())
	}
	to, err := pcr.ParseFormat(opts.To)
	if err != nil {
		return err
	}
	ro, err := opts.Read.options("--from", "--sel")
	if err != nil {
		return err
	}
	doc, err := pcr.ReadFile(opts.In, ro)
	if err != nil {
		return err
	}
	sets := doc.Sets
	if ro.Bank != 0 && (to == pcr.FormatMap || to == pcr.FormatEvmctl) {
		if sets, err = onlyBank(doc, ro.Bank, opts.In); err != nil {
			return err
		}
	}
	data, err := pcr.MarshalWith(to, sets, pcr.MarshalOptions{Selection: ro.Selection, BankOrder: doc.BankOrder, OptionName: pcrOptionFlag})
	if err != nil {
		return err
	}
	if opts.OutFile != "" {
		if err := atomicfile.Write(opts.OutFile, data, 0o644, opts.In); err != nil {
			return fmt.Errorf("-O: %w", err)
		}
		return nil
	}
	_, err = stdout.Write(data)
	return err
}
