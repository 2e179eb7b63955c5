package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/corim"
)

type corimShowOptions struct {
	File   string
	Scheme string
	Output string
}

func newCorimShowCmd() *cobra.Command {
	opts := &corimShowOptions{}
	c := &cobra.Command{
		Use:   "show FILE",
		Short: "Decode a CoRIM, signed or not, validate it and report its signature and chain",
		Long: `Decode a CoRIM (an unsigned CoRIM, CBOR tag 501, or a COSE_Sign1 over one),
validate it with the corim library's rules and with the rules of the scheme its
profile names (PARSEC_TPM, TPM_ENACTTRUST, PSA_IOT, ARM_CCA platform or realm,
the last three with the corim library's profiles/psa and profiles/cca; --scheme applies a scheme's rules
to a CoRIM with another profile URI), and print what each CoMID carries: trust
anchors with their keys, reference values with their PCRs or measurement keys,
digests, signer ids and raw values.

For a signed CoRIM the signature is verified with the x5chain leaf's key and
each certificate of the chain is checked to be signed by the next; no trust
root is checked here (Veraison checks the chain against its configured CAs).

Exit codes: 0 = decoded and valid (and, if signed, the signature verifies and
the chain links up), 1 = the signature or chain fails, 2 = not a CoRIM, or a
CoRIM that breaks its profile's rules (the message names the field).`,
		Example: `  goldenpcr corim show tpm.corim
  goldenpcr corim show node.corim -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			return runCorimShow(opts, c.InOrStdin(), c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&opts.Scheme, "scheme", "", "validate with this scheme's rules whatever the profile: parsec-tpm, enacttrust, psa, cca-platform or cca-realm")
	outputFlag(c, &opts.Output)
	return c
}

// maxCorimFile bounds what show reads: reference-value CoRIMs are a few
// kilobytes.
const maxCorimFile = 16 << 20

// readCorimInput reads a CoRIM file, or stdin for "-".
func readCorimInput(path string, stdin io.Reader) ([]byte, error) {
	return readInput(path, stdin, maxCorimFile)
}

func runCorimShow(opts *corimShowOptions, stdin io.Reader, out io.Writer) error {
	var scheme corim.Scheme
	switch opts.Scheme {
	case "":
	case "parsec-tpm":
		scheme = corim.ParsecTPM
	case "enacttrust":
		scheme = corim.EnactTrust
	default:
		var ok bool
		if scheme, ok = armSchemes[opts.Scheme]; !ok {
			return fmt.Errorf("--scheme %q: want parsec-tpm, enacttrust, psa, cca-platform or cca-realm", opts.Scheme)
		}
	}
	data, err := readCorimInput(opts.File, stdin)
	if err != nil {
		return err
	}
	var d *corim.Decoded
	if scheme != "" {
		d, err = corim.DecodeScheme(data, scheme)
	} else {
		d, err = corim.Decode(data)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	if err := render(out, opts.Output, d, func(w io.Writer) error { return corimShowText(w, opts.File, d) }); err != nil {
		return err
	}
	if s := d.Signature; s != nil {
		var problems []string
		if !s.Verified {
			problems = append(problems, s.Problem)
		}
		if s.ChainProblem != "" {
			problems = append(problems, "chain: "+s.ChainProblem)
		}
		if len(problems) > 0 {
			return mismatch("%s: %s", opts.File, strings.Join(problems, "; "))
		}
	}
	return nil
}

func corimShowText(w io.Writer, file string, d *corim.Decoded) error {
	kind := "unsigned CoRIM"
	if d.Signed {
		kind = "signed CoRIM (COSE_Sign1)"
	}
	scheme := "a profile goldenpcr does not know: CoRIM rules only"
	if d.Scheme != "" {
		scheme = fmt.Sprintf("%s, Veraison %s", d.Scheme, d.Veraison)
	}
	if d.Profile == "" {
		scheme = "no profile"
	}
	fmt.Fprintf(w, "%s: %s, profile %s (%s)\n", file, kind, d.Profile, scheme)
	fmt.Fprintf(w, "  corim-id    %s\n", d.ID)
	if d.MediaType != "" {
		fmt.Fprintf(w, "  media type  %s\n", d.MediaType)
	}
	fmt.Fprintf(w, "  validated   %s\n", d.Validated)
	for _, c := range d.Comids {
		fmt.Fprintf(w, "  CoMID %s\n", c.TagID)
		for _, ta := range c.TrustAnchors {
			fmt.Fprintf(w, "    trust anchor     %s\n", envText(ta.Environment))
			for _, k := range ta.Keys {
				fmt.Fprintf(w, "      key  %s %s\n", k.Type, k.Kind)
			}
		}
		for _, rv := range c.ReferenceValues {
			fmt.Fprintf(w, "    reference value  %s\n", envText(rv.Environment))
			for _, m := range rv.Measurements {
				name := "composite PCR digest"
				switch {
				case m.PCR != nil:
					name = fmt.Sprintf("PCR %d", *m.PCR)
				case m.Key != "":
					name = m.Key
				case len(m.Registers) > 0:
					name = "realm"
				}
				for _, dg := range m.Digests {
					fmt.Fprintf(w, "      %-20s %s %s\n", name, dg.Alg, dg.Value)
				}
				writeArmMeasurement(w, name, m)
			}
		}
	}
	if s := d.Signature; s != nil {
		mark := "✓ verifies with the x5chain leaf's key"
		if !s.Verified {
			mark = "✗ " + s.Problem
		}
		fmt.Fprintf(w, "  signature   %s by %q: %s\n", s.Algorithm, s.Signer, mark)
		chain := "✓ each certificate is signed by the next (no trust root checked here)"
		if s.ChainProblem != "" {
			chain = "✗ " + s.ChainProblem
		}
		fmt.Fprintf(w, "  chain       %s\n", chain)
		for i, c := range s.Chain {
			role := "issuer"
			if i == 0 {
				role = "leaf"
			}
			fmt.Fprintf(w, "    %-6s %s (issuer %s, %s to %s)\n", role, c.Subject, c.Issuer, c.NotBefore[:10], c.NotAfter[:10])
		}
	}
	return nil
}

func envText(e corim.Environment) string {
	var parts []string
	if e.ClassID != "" {
		parts = append(parts, "class "+e.ClassID)
	}
	if e.Instance != "" {
		parts = append(parts, fmt.Sprintf("instance (%s) %s", e.InstanceType, e.Instance))
	}
	return strings.Join(parts, ", ")
}
