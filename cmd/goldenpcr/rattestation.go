package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/rattestation"
)

func newRattestationCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "rattestation",
		Short: "Write and read GyroidOS CML's rattestation.conf (golden PCR values for tpm2d attestation)",
		Long: `GyroidOS's host tool rattestation asks a device's tpm2d (TCP 9505) for a
quote and compares it with rattestation.conf. These commands write that
config from a goldenpcr baseline instead of by hand, and read a config
back into a baseline (docs/cml.md).`,
	}
	c.AddCommand(newRattestationConfigCmd(), newRattestationImportCmd())
	return c
}

// rattestationFlagError words the rattestation package's refusals in
// this command's options: the package names config fields, the user
// typed flags.
func rattestationFlagError(err error, opts *rattestationConfigOptions) error {
	baselinePath := opts.Baseline
	var (
		missing     *rattestation.MissingPCRError
		unreachable *rattestation.UnreachableError
		notQuoted   *rattestation.NotQuotedError
		variants    *rattestation.VariantsError
		bank        *rattestation.BankError
		all         *rattestation.AllError
		field       *rattestation.FieldError
	)
	switch {
	case errors.As(err, &missing):
		msg := fmt.Sprintf("--baseline %s has no SHA-256 value for PCR %s, which --atype %s quotes (rattestation needs exactly one value per quoted PCR)",
			baselinePath, pcr.FormatPCRList(missing.PCRs), missing.AType)
		for _, p := range missing.PCRs {
			switch p {
			case rattestation.IMAPCR:
				msg += "; PCR 10 is IMA's: put its IMA golden value in the baseline, or give --no-ima for a device without IMA (PCR 10 then stays zero)"
			case rattestation.ContainerPCR:
				msg += "; PCR 11 is cmld's container and guest-OS images: put its container golden value in the baseline, or give --no-containers for a device without containers"
			}
		}
		if missing.AType == rattestation.Advanced {
			msg += "; or leave the PCRs out of --pcrs"
		}
		return errors.New(msg)
	case errors.As(err, &unreachable):
		if unreachable.Field == "verify_ima" {
			return fmt.Errorf("--baseline %s: PCR %d is zero, which a device running IMA cannot reach (the kernel extends boot_aggregate into it first); put PCR %d's IMA golden value in the baseline, or give --no-ima for a device without IMA",
				baselinePath, unreachable.PCR, unreachable.PCR)
		}
		return fmt.Errorf("--baseline %s: PCR %d is zero, which a device with containers cannot reach (cmld extends it with every image it starts); put PCR %d's container golden value in the baseline, or give --no-containers for a device without containers",
			baselinePath, unreachable.PCR, unreachable.PCR)
	case errors.As(err, &notQuoted):
		flag := map[string]string{"verify_ima": "--no-ima", "verify_containers": "--no-containers"}[notQuoted.Field]
		return fmt.Errorf("--pcrs: rattestation checks the device's %s against PCR %d, which --pcrs leaves out: add PCR %d to --pcrs, or give %s",
			map[string]string{"verify_ima": "IMA list", "verify_containers": "container list"}[notQuoted.Field], notQuoted.PCR, notQuoted.PCR, flag)
	case errors.As(err, &variants):
		return fmt.Errorf("--baseline %s: PCR %d has %d acceptable SHA-256 values (variants); rattestation.conf holds one value per PCR: write a baseline with one value, or one config per variant",
			baselinePath, variants.PCR, variants.Candidates)
	case errors.As(err, &bank):
		return fmt.Errorf("--baseline %s: PCR %d has no SHA-256 value (only %s); the CML device quotes its SHA-256 bank only: compute the baseline with --bank sha256",
			baselinePath, bank.PCR, strings.Join(bank.Banks, ", "))
	case errors.As(err, &all):
		return errors.New("--atype ALL: rattestation aborts on it (it asserts fewer than 24 PCRs); use --atype BASIC (PCRs 0-11) or --atype ADVANCED --pcrs LIST")
	case errors.As(err, &field):
		flag := map[string]string{"name": "--name", "pcrs": "--pcrs", "atype": "--atype", "kmod_sign_cert": "--kmod-cert " + opts.KmodCert}[field.Field]
		if flag == "" {
			return fmt.Errorf("--baseline %s: %s", baselinePath, field.Msg)
		}
		return fmt.Errorf("%s: %s", flag, field.Msg)
	}
	return err
}
