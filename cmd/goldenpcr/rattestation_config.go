package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/rattestation"
)

type rattestationConfigOptions struct {
	Baseline     string
	KmodCert     string
	AType        string
	PCRs         string
	Name         string
	NoIMA        bool
	NoContainers bool
	OutFile      string
	atypeSet     bool
}

func newRattestationConfigCmd() *cobra.Command {
	opts := &rattestationConfigOptions{}
	c := &cobra.Command{
		Use:   "config --baseline B --kmod-cert CERT.pem [-O rattestation.conf]",
		Short: "Write rattestation.conf from golden values",
		Long: `Write the rattestation.conf that GyroidOS's rattestation compares a device's
quote with, from golden values: a goldenpcr baseline (refvals compute) or
any PCR file goldenpcr reads. Only SHA-256 values are used: the CML device
quotes its SHA-256 bank alone.

Which PCRs: --atype BASIC (the default) quotes PCRs 0-11; --atype ADVANCED
quotes the PCRs of --pcrs (0-23, e.g. 0-7,10,11; --pcrs alone implies
ADVANCED). ALL is refused: rattestation aborts on it. The config holds
exactly one value per quoted PCR, so the baseline must give each of them
exactly one SHA-256 value (no variants); PCRs the atype does not quote are
left out.

PCR 10 and 11: PCR 10 holds IMA's measurements and PCR 11 the container
and guest-OS images cmld starts. By default the device is taken to run
both, and rattestation then also checks its IMA list and container list;
a zero PCR 10 or 11 cannot be reached that way and is refused. For a
device without IMA give --no-ima (verify_ima: false, and PCR 10 is zero
when the baseline leaves it out); for one without containers give
--no-containers. Otherwise give the IMA and container golden values in
the baseline.

--kmod-cert is the certificate that signs kernel modules and IMA
signatures (PEM or DER); its PEM text goes into the config itself.

The config is written as GyroidOS's protobuf-c-text parser reads it
(ASCII, LF, no comments, bare enum names, decimal numbers, values in
ascending order), and read back before it is written. With -O the file is
written atomically and its name must end in .conf, as rattestation
requires; without -O it goes to stdout. docs/cml.md has the rules and
their reasons.

Exit codes: 0 = written, 2 = bad usage, an unreadable input, or golden
values rattestation could not check as meant (the message says which PCR
and how to fix it).`,
		Example: `  goldenpcr refvals compute --yocto-deploy tmp/deploy/images/genericx86-64 -O golden.yaml
  goldenpcr rattestation config --baseline golden.yaml --kmod-cert certs/kmod.pem -O rattestation.conf
  goldenpcr rattestation config --baseline golden.yaml --kmod-cert kmod.pem --no-ima --no-containers
  goldenpcr rattestation config --baseline device-pcrs.yaml --kmod-cert kmod.pem --pcrs 0-7,10,11 --name lab-a -O lab-a.conf`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.atypeSet = c.Flags().Changed("atype")
			return runRattestationConfig(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Baseline, "baseline", "", "golden values: a goldenpcr baseline or any PCR file (required)")
	f.StringVar(&opts.KmodCert, "kmod-cert", "", "certificate that signs kernel modules and IMA signatures, PEM or DER (required)")
	f.StringVar(&opts.AType, "atype", "BASIC", "attestation type: BASIC (PCRs 0-11) or ADVANCED (the PCRs of --pcrs)")
	f.StringVar(&opts.PCRs, "pcrs", "", "PCRs ADVANCED quotes, e.g. 0-7,10,11 (implies --atype ADVANCED)")
	f.StringVar(&opts.Name, "name", rattestation.DefaultName, "the config's name (free ASCII text)")
	f.BoolVar(&opts.NoIMA, "no-ima", false, "the device runs without IMA: no IMA list check, PCR 10 zero unless the baseline gives it")
	f.BoolVar(&opts.NoContainers, "no-containers", false, "the device runs no containers: no container list check, PCR 11 zero unless the baseline gives it")
	f.StringVarP(&opts.OutFile, "output-file", "O", "", "write the config to this file atomically (its name must end in .conf); default stdout")
	_ = c.MarkFlagRequired("baseline")
	_ = c.MarkFlagRequired("kmod-cert")
	return c
}

func runRattestationConfig(opts *rattestationConfigOptions, out io.Writer) error {
	if opts.OutFile != "" {
		if err := rattestation.CheckFileName(opts.OutFile); err != nil {
			return fmt.Errorf("-O %w", err)
		}
	}
	ro := rattestation.Options{Name: opts.Name, NoIMA: opts.NoIMA, NoContainers: opts.NoContainers}
	atype, err := rattestation.ParseAType(opts.AType)
	if err != nil {
		return rattestationFlagError(err, opts)
	}
	ro.AType = atype
	if opts.PCRs != "" {
		if !opts.atypeSet {
			ro.AType = rattestation.Advanced
		}
		if ro.AType != rattestation.Advanced {
			return fmt.Errorf("--pcrs goes with --atype ADVANCED; --atype %s quotes PCRs 0-11", ro.AType)
		}
		if ro.PCRs, err = pcr.ParsePCRList(opts.PCRs); err != nil {
			return fmt.Errorf("--pcrs: %w", err)
		}
	}
	ref, err := readReference(opts.Baseline, "", "", "--baseline", "--baseline")
	if err != nil {
		return fmt.Errorf("--baseline: %w", err)
	}
	if ro.KmodCert, err = os.ReadFile(opts.KmodCert); err != nil {
		return fmt.Errorf("--kmod-cert: %w", err)
	}
	conf, err := rattestation.Write(&ref.Reference, ro)
	if err != nil {
		return rattestationFlagError(err, opts)
	}
	return writeOutput(out, conf, opts.OutFile, opts.Baseline, opts.KmodCert)
}
