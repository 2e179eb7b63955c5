package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/refvals"
)

type refvalsComputeOptions struct {
	artifactFlags
	ReferenceLog string
	drtmFlags
}

// drtmFlags describe a dynamic launch (PCRs 17 and 18).
type drtmFlags struct {
	Flow          string
	Kernel        string
	Initrd        string
	Cmdline       string
	CmdlineSize   int
	SLB           string
	DLMEEntry     string
	ReferenceLogs []string
	InitrdCmdline string
	Tboot         string
	TbootCmdline  string
	TbootPolicy   string
	TbootExtPol   string
	TbootDA       bool
}

const drtmHelp = `  PCR 17/18 a dynamic launch: --drtm secure-launch (Intel TXT) or skinit (AMD,
          TrenchBoot's SKL) with --drtm-kernel (the bzImage launched),
          --drtm-initrd, --drtm-cmdline and, for skinit, --drtm-slb: the MLE
          (TXT) or DLME (SKINIT) is the bzImage's protected-mode kernel, as
          GRUB's Secure Launch loader hands it over; the command line is
          measured zero-padded to the kernel's cmdline_size; SKINIT hashes
          the SLB's first (u16 at offset 2) bytes. --drtm-reference-log
          (repeatable), a DRTM log of a launch on the same platform
          (/sys/kernel/security/slaunch/eventlog), gives the event sequence
          and what no artifact determines: the ACM's platform events (SINIT,
          LCP, S-CRTM status, NV info) and the per-boot policy entries (SLR
          table, boot params, setup_data, memory map), whose digests in the
          logs given become allow-lists (the PCR's variants), never golden
          values. -o charra writes a CHARRA reference-pcrs.yml of them.
          --drtm tboot (Intel TXT with tboot as the MLE): --drtm-tboot
          (tboot.gz) and --drtm-tboot-cmdline give the MLE the ACM hashes
          (tboot's MLE pages with its command line copied in, as
          lcp2_mlehash computes it); tboot then measures its policy
          (--drtm-tboot-policy, tb_polgen's file; default: tboot's own)
          and each module as H(H(command line) ‖ H(file)): --drtm-kernel
          with --drtm-cmdline is module 0, --drtm-initrd with
          --drtm-initrd-cmdline module 1, each command line as GRUB's
          module2 passes it (its path first). --drtm-tboot-extpol is
          tboot's extpol= (default sha256: its measurements extend that bank
          alone); --drtm-tboot-da for the details/authorities PCR mapping.`

func (d *drtmFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&d.Flow, "drtm", "", "dynamic launch to compute PCRs 17 and 18 of: "+strings.Join(drtmFlowNames(), " or "))
	f.StringVar(&d.Kernel, "drtm-kernel", "", "with --drtm: the bzImage launched (the MLE or DLME)")
	f.StringVar(&d.Initrd, "drtm-initrd", "", "with --drtm: the initrd the kernel measures into PCR 17")
	f.StringVar(&d.Cmdline, "drtm-cmdline", "", "with --drtm: the command line as the kernel receives it; GRUB's is \"BOOT_IMAGE=PATH ARGS\"")
	f.IntVar(&d.CmdlineSize, "drtm-cmdline-size", 0, "with --drtm: bytes of command line measured (default: the kernel's cmdline_size, which GRUB passes)")
	f.StringVar(&d.SLB, "drtm-slb", "", "with --drtm skinit: the SLB SKINIT launches (TrenchBoot's skl.bin)")
	f.StringVar(&d.DLMEEntry, "drtm-dlme-entry", "", "with --drtm skinit: the kernel's Secure Launch entry offset SKL measures (default: from the kernel's MLE header)")
	f.StringArrayVar(&d.ReferenceLogs, "drtm-reference-log", nil, "with --drtm: a DRTM log of a launch on the same platform, giving the platform's and the per-boot events (repeatable: each log's per-boot digests are allowed)")
	f.StringVar(&d.Tboot, "drtm-tboot", "", "with --drtm tboot: the tboot image the ACM launches (tboot.gz)")
	f.StringVar(&d.TbootCmdline, "drtm-tboot-cmdline", "", "with --drtm tboot: tboot's command line as the loader passes it")
	f.StringVar(&d.TbootPolicy, "drtm-tboot-policy", "", "with --drtm tboot: the Verified Launch policy in TPM NV (tb_polgen's file; default: tboot's built-in policy)")
	f.StringVar(&d.TbootExtPol, "drtm-tboot-extpol", "", "with --drtm tboot: tboot's extpol= option: "+strings.Join(refvals.TbootExtPolicies, ", ")+" (default sha256)")
	f.BoolVar(&d.TbootDA, "drtm-tboot-da", false, "with --drtm tboot: the ACM uses the details/authorities PCR mapping (module 0 in PCR 17)")
	f.StringVar(&d.InitrdCmdline, "drtm-initrd-cmdline", "", "with --drtm tboot: the initrd module's command line as the loader passes it")
}

func drtmFlowNames() []string {
	var out []string
	for _, f := range refvals.DRTMFlows {
		out = append(out, string(f))
	}
	return out
}

// drtmInputs turns the flags into DRTM inputs, nil without --drtm.
func (d *drtmFlags) drtmInputs(c *cobra.Command) (*refvals.DRTMInputs, error) {
	if d.Flow == "" {
		for _, n := range []string{"drtm-kernel", "drtm-initrd", "drtm-cmdline", "drtm-cmdline-size", "drtm-slb", "drtm-dlme-entry", "drtm-reference-log",
			"drtm-tboot", "drtm-tboot-cmdline", "drtm-tboot-policy", "drtm-tboot-extpol", "drtm-tboot-da", "drtm-initrd-cmdline"} {
			if c.Flags().Changed(n) {
				return nil, fmt.Errorf("--%s goes with --drtm", n)
			}
		}
		return nil, nil
	}
	in := &refvals.DRTMInputs{Flow: refvals.DRTMFlow(d.Flow), Kernel: d.Kernel, Initrd: d.Initrd, Cmdline: d.Cmdline, CmdlineSize: d.CmdlineSize, SLB: d.SLB, ReferenceLogs: d.ReferenceLogs,
		InitrdCmdline: d.InitrdCmdline, Tboot: d.Tboot, TbootCmdline: d.TbootCmdline, TbootPolicy: d.TbootPolicy, TbootExtPolicy: d.TbootExtPol, TbootDA: d.TbootDA}
	tbootOnly := false
	for _, n := range []string{"drtm-tboot-cmdline", "drtm-tboot-policy", "drtm-tboot-extpol", "drtm-tboot-da", "drtm-initrd-cmdline"} {
		tbootOnly = tbootOnly || c.Flags().Changed(n)
	}
	switch {
	case !slices.Contains(drtmFlowNames(), d.Flow):
		return nil, fmt.Errorf("--drtm %q: want %s", d.Flow, strings.Join(drtmFlowNames(), " or "))
	case d.Kernel == "":
		return nil, fmt.Errorf("--drtm needs --drtm-kernel: the bzImage launched (tboot's module 0)")
	case len(d.ReferenceLogs) == 0:
		return nil, fmt.Errorf("--drtm needs --drtm-reference-log: a DRTM log of the same platform gives the platform's and the per-boot events")
	case d.CmdlineSize < 0:
		return nil, fmt.Errorf("--drtm-cmdline-size %d: want a size in bytes", d.CmdlineSize)
	case (d.SLB != "") != (in.Flow == refvals.DRTMSKINIT):
		return nil, fmt.Errorf("--drtm-slb goes with --drtm skinit, which needs it")
	case d.DLMEEntry != "" && in.Flow != refvals.DRTMSKINIT:
		return nil, fmt.Errorf("--drtm-dlme-entry goes with --drtm skinit")
	case (d.Tboot != "") != (in.Flow == refvals.DRTMTboot):
		return nil, fmt.Errorf("--drtm-tboot goes with --drtm tboot, which needs it")
	case tbootOnly && in.Flow != refvals.DRTMTboot:
		return nil, fmt.Errorf("--drtm-tboot-cmdline, --drtm-tboot-policy, --drtm-tboot-extpol, --drtm-tboot-da and --drtm-initrd-cmdline go with --drtm tboot")
	case c.Flags().Changed("drtm-tboot-extpol") && !slices.Contains(refvals.TbootExtPolicies, d.TbootExtPol):
		return nil, fmt.Errorf("--drtm-tboot-extpol %q: want one of %s", d.TbootExtPol, strings.Join(refvals.TbootExtPolicies, ", "))
	case c.Flags().Changed("drtm-cmdline-size") && in.Flow == refvals.DRTMTboot:
		return nil, fmt.Errorf("--drtm-cmdline-size does not go with --drtm tboot: tboot hashes a module's command line as it is")
	}
	if d.DLMEEntry != "" {
		v, err := strconv.ParseUint(d.DLMEEntry, 0, 32)
		if err != nil {
			return nil, fmt.Errorf("--drtm-dlme-entry %q: want a 32-bit offset (0x… for hex)", d.DLMEEntry)
		}
		e := uint32(v)
		in.DLMEEntry = &e
	}
	return in, nil
}

func newRefvalsComputeCmd() *cobra.Command {
	opts := &refvalsComputeOptions{}
	c := &cobra.Command{
		Use:   "compute",
		Short: "Compute the baseline a correct boot of these artifacts must measure",
		Long: `Compute, from files alone, the events and PCR values a correct boot of the
given artifacts must produce, and write them as a baseline document
(docs/baseline.md) or as tpm2_pcrread-style PCR values.

` + artifactHelp + "\n\n" + drtmHelp,
		Example: `  goldenpcr refvals compute --uki build/uki.efi --phase enter-initrd
  goldenpcr refvals compute --efi-app shimx64.efi --efi-app grubx64.efi --secure-boot \
      --pk PK.esl --kek KEK.esl --db db.esl -O baseline.yaml
  goldenpcr refvals compute --uki uki.efi --efi-vars OVMF_VARS.fd -o pcrs
  goldenpcr refvals compute --yocto-deploy tmp/deploy/images/genericx86-64 \
      --reference-log target-binary_bios_measurements -O gyroidos.yaml
  goldenpcr refvals compute --drtm secure-launch --drtm-kernel bzImage --drtm-initrd initrd.img \
      --drtm-cmdline "BOOT_IMAGE=/bzImage console=ttyS0" \
      --drtm-reference-log slaunch-eventlog -o charra -O reference-pcrs.yml
  goldenpcr refvals compute --drtm tboot --drtm-tboot /boot/tboot.gz \
      --drtm-tboot-cmdline "/boot/tboot.gz logging=serial,memory" \
      --drtm-kernel /boot/vmlinuz --drtm-cmdline "/boot/vmlinuz root=/dev/sda1 ro" \
      --drtm-reference-log txt-eventlog.bin -O tboot-baseline.yaml`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.changed(c)
			drtm, err := opts.drtmInputs(c)
			if err != nil {
				return err
			}
			return runRefvalsCompute(opts, drtm, c.OutOrStdout())
		},
	}
	opts.artifactFlags.register(c)
	opts.drtmFlags.register(c)
	c.Flags().StringVar(&opts.ReferenceLog, "reference-log", "", "TCG event log of the target hardware: PCRs 0-3 and 5-7 the artifacts do not determine are taken from it (PCR 5 unless --disk is given)")
	return c
}

func runRefvalsCompute(opts *refvalsComputeOptions, drtm *refvals.DRTMInputs, out io.Writer) error {
	in, err := opts.inputs()
	defer opts.close()
	if err != nil {
		return err
	}
	in.ReferenceLog = opts.ReferenceLog
	if drtm != nil {
		in.DRTM = drtm
		opts.read = append(opts.read, drtm.Files()...)
	}
	doc, err := refvals.Compute(in)
	if err != nil {
		return err
	}
	opts.noteYocto(doc)
	return opts.write(doc, out, opts.ReferenceLog)
}
