package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/ear"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// verdictFormats are the -o formats of the verify commands: the report
// formats, and ear, the verdict as an EAR JWT.
var verdictFormats = append(slices.Clip(reportFormats), "ear")

// verdictOutputFlags registers -o with ear and --ear-key.
func verdictOutputFlags(c *cobra.Command, format, earKey *string) {
	registerOutput(c, format, "text", "output format: text, json, yaml, or ear (the verdict as an EAR JWT signed with --ear-key)", verdictFormats...)
	c.Flags().StringVar(earKey, "ear-key", "", "with -o ear: PEM private key (ECDSA or RSA) that signs the EAR")
}

// renderResult prints a verification's report in the -o format, or with
// -o ear its verdict as an EAR JWT signed with earKey: status and trust
// vector from in's checks, eat_nonce only when in.Nonce is set (the
// caller sets it when the freshness check passed). The exit code is the
// verdict's either way.
func renderResult(out io.Writer, format, earKey string, in ear.Issue, report any, text func(io.Writer) error) error {
	if format != "ear" {
		if earKey != "" {
			return fmt.Errorf("--ear-key signs -o ear output; give -o ear or drop --ear-key")
		}
		return render(out, format, report, text)
	}
	if earKey == "" {
		return fmt.Errorf("-o ear: give the key that signs the result with --ear-key")
	}
	data, err := readSmall(earKey, maxKeyFile)
	if err != nil {
		return fmt.Errorf("--ear-key: %w", err)
	}
	key, err := corim.ParsePrivateKey(data)
	if err != nil {
		return fmt.Errorf("--ear-key %s: %w", earKey, err)
	}
	in.Build, in.Now = "goldenpcr "+readVersion().short(), time.Now()
	tok, err := ear.Sign(in, key)
	if err != nil {
		return fmt.Errorf("-o ear: %w", err)
	}
	_, err = fmt.Fprintf(out, "%s\n", tok)
	return err
}

// freshNonce is nonce when the check called name passed, else nil: an
// EAR carries eat_nonce only for evidence shown fresh with it.
func freshNonce(checks verdict.Checks, name string, nonce []byte) []byte {
	if c := checks.Check(name); c != nil && c.Passed {
		return nonce
	}
	return nil
}
