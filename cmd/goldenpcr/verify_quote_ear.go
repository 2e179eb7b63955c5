package main

import (
	"fmt"
	"io"
	"time"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/ear"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// renderVerdict prints a verification's report in the -o format, or with
// -o ear its verdict as an EAR JWT signed with --ear-key: status and trust
// vector from the checks (ear.TPMQuoteVector), eat_nonce only when the
// nonce check passed. The exit code is the verdict's either way.
func renderVerdict(out io.Writer, opts *verifyQuoteOptions, v *verification, checks verdict.Checks, report any, text func(io.Writer) error) error {
	if opts.Output != "ear" {
		if opts.EARKey != "" {
			return fmt.Errorf("--ear-key signs -o ear output; give -o ear or drop --ear-key")
		}
		return render(out, opts.Output, report, text)
	}
	if opts.EARKey == "" {
		return fmt.Errorf("-o ear: give the key that signs the result with --ear-key")
	}
	data, err := readSmall(opts.EARKey, maxKeyFile)
	if err != nil {
		return fmt.Errorf("--ear-key: %w", err)
	}
	key, err := corim.ParsePrivateKey(data)
	if err != nil {
		return fmt.Errorf("--ear-key %s: %w", opts.EARKey, err)
	}
	in := ear.Issue{Submod: "TPM", Checks: checks, Vector: ear.TPMQuoteVector,
		Build: "goldenpcr " + readVersion().short(), Now: time.Now()}
	if c := checks.Check("nonce"); c != nil && c.Passed {
		in.Nonce = v.policy.Nonce
	}
	tok, err := ear.Sign(in, key)
	if err != nil {
		return fmt.Errorf("-o ear: %w", err)
	}
	_, err = fmt.Fprintf(out, "%s\n", tok)
	return err
}
