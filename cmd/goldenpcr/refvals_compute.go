package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/internal/atomicfile"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/refvals"
)

type refvalsComputeOptions struct {
	EFIApps       []string
	UKI           string
	StubLoadsUKI  bool
	Cmdline       string
	Initrd        string
	Phases        []string
	SecureBoot    bool
	PK, KEK       string
	DB, DBX       string
	CMLImages     []string
	Disk          string
	EFIVars       string
	GRUBCfg       string
	GRUBRoot      string
	GRUBPrefix    string
	GRUBDebian    bool
	GRUBFiles     []string
	Banks         []string
	Output        string
	OutFile       string
	secureBootSet bool
}

func newRefvalsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "refvals",
		Short: "Compute golden PCR values from build artifacts, before any device boots",
	}
	c.AddCommand(newRefvalsComputeCmd())
	return c
}

func newRefvalsComputeCmd() *cobra.Command {
	opts := &refvalsComputeOptions{}
	c := &cobra.Command{
		Use:   "compute",
		Short: "Compute the baseline a correct boot of these artifacts must measure",
		Long: `Compute, from files alone, the events and PCR values a correct boot of the
given artifacts must produce, and write them as a baseline document
(docs/baseline.md) or as tpm2_pcrread-style PCR values.

  PCR 4   --efi-app (in load order) and --uki: "Calling EFI Application from Boot
          Option", the separator, then each image's Authenticode digest; with
          --stub-loads-kernel also the kernel inside the UKI (systemd-stub loads it
          with LoadImage when secure boot is off).
  PCR 5   --disk: the GPT event of the boot disk, then the two ExitBootServices
          actions.
  PCR 7   --efi-vars OVMF_VARS.fd, or --secure-boot, --pk, --kek, --db, --dbx (EFI
          signature lists, e.g. 'cert-to-efi-sig-list' output): the variables, the separator, then the db
          certificate that verifies the first boot application's signature, and
          when that application is shim, shim's SbatLevel and vendor certificate.
  PCR 8/9 --grub-cfg with --grub-file PATH=FILE (and --grub-debian-prelude for
          Debian's signed or monolithic GRUB): "grub_cmd: …" for each command run,
          "kernel_cmdline: …", and each file GRUB reads.
  PCR 9   --cmdline and --initrd (or a UKI's .cmdline and .initrd sections): what
          the Linux EFI stub (6.1+) measures.
  PCR 11  --uki: every section systemd-stub measures (its version is read from
          the UKI), then each --phase; --cml-images: GyroidOS guest-OS images.

What is not simulated is listed in the baseline's notes.`,
		Example: `  goldenpcr refvals compute --uki build/uki.efi --phase enter-initrd
  goldenpcr refvals compute --efi-app shimx64.efi --efi-app grubx64.efi --secure-boot \
      --pk PK.esl --kek KEK.esl --db db.esl -O baseline.yaml
  goldenpcr refvals compute --uki uki.efi -o pcrs`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.secureBootSet = c.Flags().Changed("secure-boot")
			return runRefvalsCompute(opts, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.StringArrayVar(&opts.EFIApps, "efi-app", nil, "EFI application loaded by firmware or a loader, in load order (repeatable)")
	f.StringVar(&opts.UKI, "uki", "", "unified kernel image (systemd-stub)")
	f.BoolVar(&opts.StubLoadsUKI, "stub-loads-kernel", false, "systemd-stub loads the UKI's kernel with LoadImage, so PCR 4 gains its digest (secure boot off)")
	f.StringVar(&opts.Cmdline, "cmdline", "", "kernel command line the Linux EFI stub is started with")
	f.StringVar(&opts.Initrd, "initrd", "", "initrd file the Linux EFI stub loads")
	f.StringArrayVar(&opts.Phases, "phase", nil, "systemd-pcrphase string measured after the UKI, e.g. enter-initrd (repeatable)")
	f.BoolVar(&opts.SecureBoot, "secure-boot", false, "secure boot enabled (predicts PCR 7)")
	f.StringVar(&opts.PK, "pk", "", "PK as an EFI signature list file")
	f.StringVar(&opts.KEK, "kek", "", "KEK as an EFI signature list file")
	f.StringVar(&opts.DB, "db", "", "db as an EFI signature list file")
	f.StringVar(&opts.DBX, "dbx", "", "dbx as an EFI signature list file")
	f.StringVar(&opts.EFIVars, "efi-vars", "", "edk2/OVMF variable store (OVMF_VARS.fd) holding PK, KEK, db, dbx; secure boot is on if a PK is enrolled")
	f.StringVar(&opts.GRUBCfg, "grub-cfg", "", "grub.cfg GRUB runs (straight-line configurations): predicts PCRs 8 and 9")
	f.StringVar(&opts.GRUBRoot, "grub-root", "(hd0)", "GRUB's root device")
	f.StringVar(&opts.GRUBPrefix, "grub-prefix", "/EFI/debian", "directory of grub.cfg on the root device")
	f.BoolVar(&opts.GRUBDebian, "grub-debian-prelude", false, "simulate the configuration embedded in Debian's signed and monolithic GRUB images")
	f.StringArrayVar(&opts.GRUBFiles, "grub-file", nil, "GRUBPATH=LOCALFILE for each file grub.cfg reads, e.g. /vmlinuz=build/bzImage (repeatable)")
	f.StringVar(&opts.Disk, "disk", "", "disk image booted from (GPT): predicts PCR 5")
	f.StringArrayVar(&opts.CMLImages, "cml-images", nil, "GyroidOS guest-OS image, in cmld's order (repeatable)")
	f.StringSliceVar(&opts.Banks, "bank", []string{"sha1", "sha256"}, "banks to predict")
	f.StringVarP(&opts.Output, "output", "o", "baseline", "output: baseline (YAML), json (baseline as JSON) or pcrs (tpm2_pcrread YAML)")
	f.StringVarP(&opts.OutFile, "output-file", "O", "", "write to this file atomically instead of stdout")
	return c
}

func runRefvalsCompute(opts *refvalsComputeOptions, out io.Writer) error {
	in := refvals.Inputs{
		EFIApps: opts.EFIApps, UKI: opts.UKI, StubLoadsKernel: opts.StubLoadsUKI, Phases: opts.Phases,
		Cmdline: opts.Cmdline, Initrd: opts.Initrd,
		PK: opts.PK, KEK: opts.KEK, DB: opts.DB, DBX: opts.DBX, EFIVars: opts.EFIVars,
		GRUBCfg: opts.GRUBCfg, Disk: opts.Disk, CMLImages: opts.CMLImages,
		GRUB: refvals.GRUBOptions{Root: opts.GRUBRoot, Prefix: opts.GRUBPrefix, DebianPrelude: opts.GRUBDebian, Files: map[string]string{}},
	}
	for _, name := range opts.Banks {
		a, err := pcr.ParseAlg(name)
		if err != nil {
			return fmt.Errorf("--bank: %w", err)
		}
		in.Banks = append(in.Banks, a)
	}
	if opts.secureBootSet {
		in.SecureBoot = &opts.SecureBoot
	}
	for _, f := range opts.GRUBFiles {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("--grub-file %q: want GRUBPATH=LOCALFILE", f)
		}
		in.GRUB.Files[k] = v
	}
	doc, err := refvals.Compute(in)
	if err != nil {
		return err
	}
	data, err := encodeBaseline(doc, opts.Output)
	if err != nil {
		return err
	}
	if opts.OutFile != "" {
		inputs := []string{opts.PK, opts.KEK, opts.DB, opts.DBX, opts.Initrd, opts.EFIVars, opts.GRUBCfg}
		for _, in := range doc.Metadata.Inputs {
			inputs = append(inputs, in.Path)
		}
		return atomicfile.Write(opts.OutFile, data, 0o644, inputs...)
	}
	_, err = out.Write(data)
	return err
}

func encodeBaseline(doc *baseline.Baseline, format string) ([]byte, error) {
	switch format {
	case "baseline", "yaml":
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return nil, err
		}
		return buf.Bytes(), enc.Close()
	case "json":
		return json.MarshalIndent(doc, "", "  ")
	case "pcrs":
		v, err := doc.Values()
		if err != nil {
			return nil, err
		}
		return pcr.Marshal(pcr.FormatTPM2YAML, []pcr.Values{v})
	}
	return nil, fmt.Errorf("unknown output %q (want baseline, json or pcrs)", format)
}
