package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

func newPolicyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "TPM policies from golden values: PolicyPCR digests, systemd's signed PCR policy",
	}
	c.AddCommand(newPolicyPCRCmd(), newPolicySignCmd())
	return c
}

// sealingBaseline reads --baseline (a baseline document or a PCR file)
// and --pcrs for the policy and seal commands.
func sealingBaseline(path, pcrs string) (*baseline.Baseline, pcr.Selection, error) {
	sel, err := pcr.ParseSelection(pcrs)
	if err != nil {
		return nil, nil, fmt.Errorf("--pcrs: %w", err)
	}
	ref, err := baseline.Load(path, pcr.ReadOptions{})
	if err != nil {
		return nil, nil, err
	}
	b, err := ref.AsBaseline()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, sel, nil
}
