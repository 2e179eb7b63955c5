package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/policy"
)

type policySignOptions struct {
	Baseline string
	PCRs     string
	Key      string
	Phases   []string
	OutFile  string
	Output   string
}

func newPolicySignCmd() *cobra.Command {
	opts := &policySignOptions{}
	c := &cobra.Command{
		Use:   "sign --baseline B --pcrs sha256:11 --key KEY.pem",
		Short: "systemd's signed PCR 11 policy (.pcrsig JSON) for the UKI a baseline predicts",
		Long: `Write the signed PCR policy that systemd-measure sign writes, from a
baseline instead of the UKI's sections: for each bank of --pcrs and each
boot phase, PCR 11 as the UKI leaves it (the baseline's value: compute it
with refvals compute --uki, without --phase) extended with the phase's
words, its TPM2_PolicyPCR digest (SHA-256 session) and the RSA signature
over it, as systemd-stub and systemd-cryptenroll --tpm2-public-key read
them. Add it to the UKI as its .pcrsig section (ukify --pcrsig, or objcopy
--add-section .pcrsig=FILE), with the public key as .pcrpkey.

--phase is a colon-separated phase path, e.g. enter-initrd:leave-initrd
(repeatable); without it, systemd-measure's four: enter-initrd, then
:leave-initrd, :sysinit and :ready added one by one. --pcrs names PCR 11
only, in one bank or several (sha1:11+sha256:11).`,
		Example: `  goldenpcr refvals compute --uki uki.efi -O golden.yaml
  goldenpcr policy sign --baseline golden.yaml --pcrs sha256:11 --key pcr-private.pem -O uki.pcrsig
  objcopy --add-section .pcrsig=uki.pcrsig --change-section-vma .pcrsig=0x80000 uki.efi uki-signed.efi`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runPolicySign(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Baseline, "baseline", "", "golden values with PCR 11 as the UKI leaves it: a goldenpcr baseline or any PCR file (required)")
	f.StringVar(&opts.PCRs, "pcrs", "sha256:11", "the banks of PCR 11 to sign for")
	f.StringVar(&opts.Key, "key", "", "PEM RSA private key that signs (required); its public key is the UKI's .pcrpkey")
	f.StringArrayVar(&opts.Phases, "phase", nil, "a boot phase path to sign for, e.g. enter-initrd:leave-initrd (repeatable; default: systemd-measure's four)")
	f.StringVarP(&opts.OutFile, "output-file", "O", "", "write the JSON to this file atomically instead of stdout (never over an input)")
	registerOutput(c, &opts.Output, "json", "output: json (the .pcrsig JSON, compact, as systemd-measure writes it), text or yaml", reportFormats...)
	return c
}

func runPolicySign(opts *policySignOptions, out io.Writer) error {
	if opts.Baseline == "" || opts.Key == "" {
		return fmt.Errorf("--baseline and --key are required")
	}
	b, sel, err := sealingBaseline(opts.Baseline, opts.PCRs)
	if err != nil {
		return err
	}
	keyData, err := os.ReadFile(opts.Key)
	if err != nil {
		return err
	}
	key, err := corim.ParsePrivateKey(keyData)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Key, err)
	}
	var banks []pcr.Alg
	for _, bs := range sel {
		if !slices.Equal(bs.PCRs, []int{policy.UKIPCR}) {
			return fmt.Errorf("--pcrs %s: a UKI's signed policy covers PCR %d alone", opts.PCRs, policy.UKIPCR)
		}
		banks = append(banks, bs.Alg)
	}
	// The base values come through the PolicyPCR checks: PCR 11 must be
	// predicted, in every bank, with no variants to choose between.
	pol, err := policy.FromBaseline(b, sel, pcr.SHA256)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Baseline, err)
	}
	if len(pol.Branches) != 1 {
		return fmt.Errorf("%s: PCR %d has %d candidate values; a signed policy is made for one UKI", opts.Baseline, policy.UKIPCR, len(pol.Branches))
	}
	base := map[pcr.Alg][]byte{}
	for _, alg := range banks {
		base[alg], _ = pol.Branches[0].Values.Get(alg, policy.UKIPCR)
	}
	phases := opts.Phases
	if len(phases) == 0 {
		phases = policy.DefaultPhases
	}
	doc, err := policy.SignPCR11(base, banks, phases, key)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Key, err)
	}
	var data []byte
	switch opts.Output {
	case "json":
		if data, err = doc.Marshal(); err != nil {
			return err
		}
		data = append(data, '\n')
	default:
		var buf bytes.Buffer
		err = render(&buf, opts.Output, doc, func(w io.Writer) error {
			for _, alg := range banks {
				for i, s := range doc[alg.String()] {
					v, _ := policy.PhaseValue(alg, base[alg], phases[i])
					fmt.Fprintf(w, "%s PCR %d after %s: %s\n  policy %s\n  key    %s\n", alg, policy.UKIPCR, phases[i], hex.EncodeToString(v), s.Pol, s.PKFP)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		data = buf.Bytes()
	}
	return writeOutput(out, data, opts.OutFile, opts.Baseline, opts.Key)
}
