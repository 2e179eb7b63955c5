package main

import (
	"encoding/hex"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/policy"
)

type policyPCROptions struct {
	Baseline string
	PCRs     string
	Hash     string
	Output   string
}

func newPolicyPCRCmd() *cobra.Command {
	opts := &policyPCROptions{}
	c := &cobra.Command{
		Use:   "pcr --baseline B --pcrs SEL",
		Short: "The TPM2_PolicyPCR digest of a baseline's values (PolicyOR over its variants)",
		Long: `Compute the policy digest a TPM policy session reaches with TPM2_PolicyPCR
over --pcrs when those PCRs hold the values the baseline predicts: the
authPolicy to seal a secret or create a key with (tpm2_create -L,
systemd-cryptenroll's PCR policy), so that it opens only on that boot.

When the selected PCRs have variants (secure boot on and off, a DRTM
launch's boot parameters), each distinct set of values is a branch, listed
with its own digest, and the policy is TPM2_PolicyOR over them (at most 8
branches: a session satisfies it by running PolicyPCR, then PolicyOR with
the list). Every selected PCR must be in the baseline in the selected bank:
a PCR the baseline leaves out is one it does not predict, and is refused.

Output: text (selection, branches and digest), hex (the policy digest
alone, for tpm2_create -L after xxd -r -p), json or yaml.`,
		Example: `  goldenpcr policy pcr --baseline golden.yaml --pcrs sha256:0,4,7
  goldenpcr policy pcr --baseline golden.yaml --pcrs sha256:7,11 -o hex | xxd -r -p > policy.digest`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runPolicyPCR(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Baseline, "baseline", "", "golden values: a goldenpcr baseline or any PCR file (required)")
	f.StringVar(&opts.PCRs, "pcrs", "", "PCRs to bind, e.g. sha256:0,4,7 or sha1:0,7+sha256:0,7 (required)")
	f.StringVar(&opts.Hash, "hash", "sha256", "the policy session's hash: the sealed object's name algorithm")
	registerOutput(c, &opts.Output, "text", "output: text, hex (the policy digest), json or yaml", append(reportFormats, "hex")...)
	return c
}

// policyPCROutput is the policy as -o json|yaml write it.
type policyPCROutput struct {
	Hash      string         `json:"hash" yaml:"hash"`
	Selection string         `json:"selection" yaml:"selection"`
	Digest    string         `json:"policy_digest" yaml:"policy_digest"`
	PolicyOR  bool           `json:"policy_or" yaml:"policy_or"`
	Branches  []policyBranch `json:"branches" yaml:"branches"`
}

type policyBranch struct {
	Values    map[string]map[int]string `json:"values" yaml:"values"`
	PCRDigest string                    `json:"pcr_digest" yaml:"pcr_digest"`
	Digest    string                    `json:"policy_digest" yaml:"policy_digest"`
}

func runPolicyPCR(opts *policyPCROptions, out io.Writer) error {
	if opts.Baseline == "" || opts.PCRs == "" {
		return fmt.Errorf("--baseline and --pcrs are required")
	}
	hash, err := pcr.ParseAlg(opts.Hash)
	if err != nil {
		return fmt.Errorf("--hash: %w", err)
	}
	b, sel, err := sealingBaseline(opts.Baseline, opts.PCRs)
	if err != nil {
		return err
	}
	pol, err := policy.FromBaseline(b, sel, hash)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Baseline, err)
	}
	o := policyPCROutput{Hash: hash.String(), Selection: sel.String(), Digest: hex.EncodeToString(pol.Digest), PolicyOR: pol.OR}
	for _, br := range pol.Branches {
		pb := policyBranch{Values: map[string]map[int]string{}, PCRDigest: hex.EncodeToString(br.PCRDigest), Digest: hex.EncodeToString(br.Digest)}
		for _, bs := range sel {
			m := map[int]string{}
			for _, i := range bs.PCRs {
				d, _ := br.Values.Get(bs.Alg, i)
				m[i] = hex.EncodeToString(d)
			}
			pb.Values[bs.Alg.String()] = m
		}
		o.Branches = append(o.Branches, pb)
	}
	if opts.Output == "hex" {
		_, err := fmt.Fprintln(out, o.Digest)
		return err
	}
	return render(out, opts.Output, o, func(w io.Writer) error {
		fmt.Fprintf(w, "TPM2_PolicyPCR over %s, %s session\n", o.Selection, o.Hash)
		for i, br := range o.Branches {
			if len(o.Branches) > 1 {
				fmt.Fprintf(w, "branch %d:\n", i+1)
			}
			for _, bs := range sel {
				for _, idx := range bs.PCRs {
					fmt.Fprintf(w, "  %s:%-2d %s\n", bs.Alg, idx, br.Values[bs.Alg.String()][idx])
				}
			}
			fmt.Fprintf(w, "  pcrDigest     %s\n  policy digest %s\n", br.PCRDigest, br.Digest)
		}
		if o.PolicyOR {
			fmt.Fprintf(w, "TPM2_PolicyOR of the %d branches\n", len(o.Branches))
		}
		_, err := fmt.Fprintf(w, "policy digest: %s\n", o.Digest)
		return err
	})
}
