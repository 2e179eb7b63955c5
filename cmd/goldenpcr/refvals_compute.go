package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
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
	var banks []pcr.Alg
	for _, name := range opts.Banks {
		a, err := pcr.ParseAlg(name)
		if err != nil {
			return fmt.Errorf("--bank: %w", err)
		}
		banks = append(banks, a)
	}
	b := baseline.NewBuilder(banks...)
	var apps []refvals.BootApplication
	for _, p := range opts.EFIApps {
		apps = append(apps, refvals.BootApplication{Path: p, Why: "EFI application"})
	}
	if opts.UKI != "" {
		apps = append(apps, refvals.BootApplication{Path: opts.UKI, Why: "UKI"})
		if opts.StubLoadsUKI {
			kernel, err := refvals.UKISection(opts.UKI, ".linux")
			if err != nil {
				return err
			}
			apps = append(apps, refvals.BootApplication{Data: kernel, Path: opts.UKI + ":.linux", Why: "kernel loaded by systemd-stub"})
		}
	}
	if len(apps) > 0 {
		if err := refvals.BootManagerPCR4(b, apps); err != nil {
			return err
		}
	}
	if opts.Disk != "" {
		if err := refvals.BootManagerDataPCR5(b, opts.Disk); err != nil {
			return err
		}
	}
	if opts.secureBootSet || opts.EFIVars != "" || opts.PK != "" || opts.KEK != "" || opts.DB != "" || opts.DBX != "" {
		if err := computePCR7(b, opts, apps); err != nil {
			return err
		}
	}
	if opts.GRUBCfg != "" {
		if err := computeGRUB(b, opts); err != nil {
			return err
		}
	}
	if err := computePCR9(b, opts); err != nil {
		return err
	}
	if opts.UKI != "" {
		if err := refvals.UKIPCR11(b, opts.UKI, refvals.UKIOptions{Phases: opts.Phases}); err != nil {
			return err
		}
	}
	if len(opts.CMLImages) > 0 {
		if err := refvals.CMLImagesPCR11(b, opts.CMLImages); err != nil {
			return err
		}
	}
	doc := b.Baseline()
	if len(doc.PCRs) == 0 {
		return fmt.Errorf("nothing to compute: give artifacts (--uki, --efi-app, --db, --cmdline, --cml-images…); see --help")
	}
	data, err := encodeBaseline(doc, opts.Output)
	if err != nil {
		return err
	}
	if opts.OutFile != "" {
		var inputs []string
		for _, in := range doc.Metadata.Inputs {
			inputs = append(inputs, in.Path)
		}
		return atomicfile.Write(opts.OutFile, data, 0o644, append(inputs, opts.PK, opts.KEK, opts.DB, opts.DBX, opts.Initrd)...)
	}
	_, err = out.Write(data)
	return err
}

func computeGRUB(b *baseline.Builder, opts *refvalsComputeOptions) error {
	cfg, err := os.ReadFile(opts.GRUBCfg)
	if err != nil {
		return err
	}
	files := map[string]string{}
	for _, f := range opts.GRUBFiles {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return fmt.Errorf("--grub-file %q: want GRUBPATH=LOCALFILE", f)
		}
		files[k] = v
	}
	err = refvals.GRUBPCR8And9(b, cfg, refvals.GRUBOptions{Root: opts.GRUBRoot, Prefix: opts.GRUBPrefix,
		DebianPrelude: opts.GRUBDebian, Files: files, ConfigPath: opts.GRUBCfg})
	if err != nil {
		return fmt.Errorf("%s: %w", opts.GRUBCfg, err)
	}
	b.Note("PCRs 8/9: GRUB simulated for a straight-line configuration; search does not change root, modules are assumed built in")
	return nil
}

// computePCR9 predicts the Linux EFI stub's events from --cmdline and
// --initrd, or, for a UKI, from its .cmdline and .initrd sections, which
// systemd-stub hands the kernel as LoadOptions and initrd.
func computePCR9(b *baseline.Builder, opts *refvalsComputeOptions) error {
	cmdline, initrdPath := opts.Cmdline, opts.Initrd
	var initrd []byte
	if initrdPath != "" {
		var err error
		if initrd, err = os.ReadFile(initrdPath); err != nil {
			return err
		}
	}
	if opts.UKI != "" && cmdline == "" && initrd == nil {
		if c, err := refvals.UKISection(opts.UKI, ".cmdline"); err == nil {
			cmdline = strings.TrimRight(string(c), "\x00 \t\r\n")
			b.Note("PCR 9: command line taken from the UKI's .cmdline section, trailing whitespace removed as systemd-stub does")
		}
		if i, err := refvals.UKISection(opts.UKI, ".initrd"); err == nil {
			initrd, initrdPath = i, opts.UKI+":.initrd"
		}
	}
	if cmdline == "" && initrd == nil {
		return nil
	}
	return refvals.LinuxStubPCR9(b, cmdline, initrd, initrdPath)
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

// computePCR7 predicts PCR 7 from signature lists; with secure boot on it
// adds the db certificate that verifies the first boot application.
func computePCR7(b *baseline.Builder, opts *refvalsComputeOptions, apps []refvals.BootApplication) error {
	read := func(path string) ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if _, err := eventlog.ParseSignatureLists(data); err != nil {
			return nil, fmt.Errorf("%s: not an EFI signature list: %w", path, err)
		}
		return data, nil
	}
	var lists [4][]byte
	for i, p := range []string{opts.PK, opts.KEK, opts.DB, opts.DBX} {
		var err error
		if lists[i], err = read(p); err != nil {
			return err
		}
	}
	secureBoot := opts.SecureBoot
	if opts.EFIVars != "" {
		data, err := os.ReadFile(opts.EFIVars)
		if err != nil {
			return err
		}
		store, err := refvals.ReadVarStore(data)
		if err != nil {
			return fmt.Errorf("%s: %w", opts.EFIVars, err)
		}
		var fromStore [4][]byte
		var sb bool
		sb, fromStore[0], fromStore[1], fromStore[2], fromStore[3] = refvals.SecureBootFromVarStore(store)
		if !opts.secureBootSet {
			secureBoot = sb
		}
		for i := range lists {
			if lists[i] == nil {
				lists[i] = fromStore[i]
			}
		}
	}
	vars := refvals.SecureBootVariables(secureBoot, lists[0], lists[1], lists[2], lists[3])
	var auths []refvals.Authority
	if secureBoot && len(apps) > 0 {
		a, err := dbAuthority(lists[2], apps[0])
		if err != nil {
			return err
		}
		auths = append(auths, a)
		if len(apps) > 1 {
			if shim, err := refvals.ReadShim(apps[0].Path); err == nil {
				auths = append(auths, shim.Authorities(apps[1].Path)...)
				b.Note("PCR 7: %s is shim: its SbatLevel and its vendor certificate (as MokListRT) are predicted for %s; MokList entries are not", apps[0].Path, apps[1].Path)
			} else {
				b.Note("PCR 7: only the first application's db authority is predicted; authorities a loader adds are not simulated")
			}
		}
	}
	return refvals.SecureBootPCR7(b, vars, auths)
}

// dbAuthority finds the db certificate that verifies app's signature.
func dbAuthority(db []byte, app refvals.BootApplication) (refvals.Authority, error) {
	f, err := os.Open(app.Path)
	if err != nil {
		return refvals.Authority{}, err
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := authenticode.Parse(f, st.Size())
	if err != nil {
		return refvals.Authority{}, fmt.Errorf("%s: %w", app.Path, err)
	}
	sigs, err := img.Signatures(f)
	if err != nil {
		return refvals.Authority{}, fmt.Errorf("%s: %w", app.Path, err)
	}
	lists, _ := eventlog.ParseSignatureLists(db)
	for _, l := range lists {
		if l.Type != eventlog.GUIDCertX509 {
			continue
		}
		for _, entry := range l.Signatures {
			cert, err := x509.ParseCertificate(entry.Raw)
			if err != nil {
				continue
			}
			for _, s := range sigs {
				for _, c := range s.Certificates {
					if bytes.Equal(c.Raw, cert.Raw) || c.CheckSignatureFrom(cert) == nil {
						return refvals.Authority{Variable: refvals.DBAuthority(entry.Owner, cert.Raw), Why: "verified " + app.Path}, nil
					}
				}
			}
		}
	}
	return refvals.Authority{}, fmt.Errorf("%s: no db certificate verifies its signature: with secure boot on the firmware would refuse it", app.Path)
}
