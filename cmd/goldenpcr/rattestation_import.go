package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/rattestation"
)

type rattestationImportOptions struct {
	File    string
	Output  string
	OutFile string
}

func newRattestationImportCmd() *cobra.Command {
	opts := &rattestationImportOptions{}
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Read a rattestation.conf back into a baseline",
		Long: `Read a rattestation.conf (FILE, or - for stdin) with the rules of GyroidOS's
protobuf-c-text parser and rattestation's checks, and write its PCR values
as a baseline document, so that a hand-made config can be compared with
computed golden values (pcr diff, eventlog replay --against, verify quote
--expected) or turned back into a config (rattestation config
--baseline).

Refused, with the line: anything protobuf-c-text refuses (comments, CRLF,
separators, single quotes, unknown escapes, unknown or miscased fields,
enum values that are not bare names, numbers that are not decimal, a
sub-message written with a colon, a field set twice, a missing name or
kmod_sign_cert, bytes that are not ASCII), and what rattestation would
misread or fail on later: a value with a lowercase 0x (only 0X is
stripped), empty or not 64 hex digits, values out of order or repeated,
a quoted PCR without a value or a value for a PCR not quoted, ADVANCED
without pcrs, atype ALL, a halg other than SHA256, a zero PCR 10 or 11
while IMA or container verification is on, and a kmod_sign_cert that is
broken PEM. A kmod_sign_cert that is a file name (as in the upstream
example) and an unused tpm_cert are accepted with a warning on stderr.

-o baseline (the default) or yaml writes the baseline as YAML, json as
JSON, text a summary, pcrs the values as tpm2_pcrread YAML; -O writes it
atomically to a file. docs/cml.md has the rules.

Exit codes: 0 = read, 2 = bad usage or a config rattestation would refuse
or misread.`,
		Example: `  goldenpcr rattestation import rattestation.conf -O from-device-a.yaml
  goldenpcr rattestation import rattestation.conf -o pcrs > golden.pcrs.yaml
  goldenpcr pcr diff golden.pcrs.yaml measured.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			return runRattestationImport(opts, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	registerOutput(c, &opts.Output, "baseline", "output: baseline or yaml (the baseline as YAML), json, text (a summary) or pcrs (tpm2_pcrread YAML)", refvalsFormats...)
	c.Flags().StringVarP(&opts.OutFile, "output-file", "O", "", "write to this file atomically instead of stdout (never over the config read)")
	return c
}

func runRattestationImport(opts *rattestationImportOptions, stdin io.Reader, out, errOut io.Writer) error {
	f, err := openInput(opts.File, stdin)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	c, err := rattestation.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	if opts.File != "-" {
		if err := rattestation.CheckFileName(opts.File); err != nil {
			fmt.Fprintf(errOut, "goldenpcr: warning: %v\n", err)
		}
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(errOut, "goldenpcr: warning: %s: %s\n", opts.File, w)
	}
	doc := c.Baseline()
	sum := sha256.Sum256(data)
	doc.Metadata.Inputs = append(doc.Metadata.Inputs, baseline.Input{Role: "rattestation-conf", Path: opts.File, SHA256: hex.EncodeToString(sum[:])})
	enc, err := encodeBaseline(doc, opts.Output)
	if err != nil {
		return err
	}
	return writeOutput(out, enc, opts.OutFile, opts.File)
}
