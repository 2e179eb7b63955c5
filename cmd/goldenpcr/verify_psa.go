package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/armattest"
	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/ear"
	"github.com/goldenpcr/goldenpcr/verdict"
)

type verifyPSAOptions struct {
	Token  string
	Corim  string
	Nonce  string
	Output string
	EARKey string
}

func newVerifyPSACmd() *cobra.Command {
	opts := &verifyPSAOptions{}
	c := &cobra.Command{
		Use:   "psa TOKEN --corim PSA.corim --nonce NONCE",
		Short: "Verify a PSA attestation token against a PSA_IOT CoRIM",
		Long: `Verify a PSA attestation token (a COSE_Sign1 over PSA claims, profile
http://arm.com/psa/2.0.0 or PSA_IOT_PROFILE_1; binary CBOR or hex text, as
OP-TEE prints it) against the PSA_IOT CoRIM Veraison is provisioned with
(goldenpcr corim create --scheme psa), and print every check:

  claims              the claims are valid for the token's profile
  implementation-id   the CoRIM names the token's implementation id
  trust-anchor        the CoRIM has an IAK for the token's instance id
  signature           the token verifies with that IAK
  nonce               the token's nonce is --nonce, byte for byte
  software-component  each component's measurement value is a reference value
                      of the implementation with the same signer id (and the
                      same type and version where the reference names them)
  security-lifecycle  the device is in the secured state (0x3000-0x30ff)

Exit codes: 0 = verified, 1 = a check failed (the report says which and why),
2 = a token, CoRIM or option that does not read.`,
		Example: `  goldenpcr verify psa evidence.cbor --corim psa.corim \
      --nonce e3088baffa105a3820490242af825be81b5a3623da757535041f601750b9cb82`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Token = args[0]
			return runVerifyPSA(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Corim, "corim", "", "the PSA_IOT CoRIM: trust anchors and reference values (required)")
	f.StringVar(&opts.Nonce, "nonce", "", "the session's nonce, hex or base64 (required)")
	verdictOutputFlags(c, &opts.Output, &opts.EARKey)
	return c
}

// maxTokenFile bounds a token: PSA and CCA tokens are a few kilobytes.
const maxTokenFile = 1 << 20

func runVerifyPSA(opts *verifyPSAOptions, out io.Writer) error {
	nonce, err := bytesFlag("--nonce", opts.Nonce)
	if err != nil {
		return err
	}
	ref, err := readArmCorim("--corim", opts.Corim, corim.PSAIoT)
	if err != nil {
		return err
	}
	data, err := readSmall(opts.Token, maxTokenFile)
	if err != nil {
		return err
	}
	tok, err := armattest.ReadPSA(maybeHex(data))
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Token, err)
	}
	rep := armattest.VerifyPSA(tok, ref, nonce)
	o := verifyArmOutput{Verified: rep.Verified, Inputs: map[string]string{"token": opts.Token, "corim": opts.Corim}, Token: tok, Checks: rep.Checks}
	in := ear.Issue{Submod: "PSA_IOT", Checks: rep.Checks, Vector: ear.ArmVector, Nonce: freshNonce(rep.Checks, "nonce", nonce)}
	if err := renderResult(out, opts.Output, opts.EARKey, in, o, func(w io.Writer) error {
		fmt.Fprintf(w, "PSA token %s: %s, implementation %s, instance %s, client id %d, lifecycle 0x%04x, %d software component(s)\n",
			opts.Token, tok.Profile, tok.ImplID, tok.InstID, tok.ClientID, tok.Lifecycle, len(tok.Components))
		fmt.Fprintf(w, "  nonce %s\n", tok.Nonce)
		writeQuoteChecks(w, rep.Checks, "")
		return nil
	}); err != nil {
		return err
	}
	return armVerdict("PSA token", rep.Checks)
}

// verifyArmOutput is what verify psa and verify cca print.
type verifyArmOutput struct {
	Verified    bool                   `json:"verified" yaml:"verified"`
	Inputs      map[string]string      `json:"inputs" yaml:"inputs"`
	Token       any                    `json:"token" yaml:"token"`
	Certificate *armattest.CertSummary `json:"certificate,omitempty" yaml:"certificate,omitempty"`
	Checks      verdict.Checks         `json:"checks" yaml:"checks"`
}

// readArmCorim reads the CoRIM of an Arm scheme named by flag.
func readArmCorim(flag, path string, scheme corim.Scheme) (*corim.ArmReference, error) {
	if path == "" {
		return nil, fmt.Errorf("%s: required", flag)
	}
	data, err := readSmall(path, maxCorimFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	ref, err := corim.ReadArm(data, scheme)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return ref, nil
}

// armVerdict is the outcome of a token's report: nil when verified, a
// mismatch naming the failed checks otherwise.
func armVerdict(what string, checks verdict.Checks) error {
	failed := checks.Failed()
	if len(failed) == 0 && checks.Verified() {
		return nil
	}
	names := make([]string, len(failed))
	for i, c := range failed {
		names[i] = c.Name
	}
	return mismatch("%s NOT verified: %d of %d checks failed (%s)", what, len(failed), len(checks), strings.Join(names, ", "))
}
