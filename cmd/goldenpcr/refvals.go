package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/refvals"
)

func newRefvalsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "refvals",
		Short: "Compute golden PCR values from build artifacts, before any device boots",
	}
	c.AddCommand(newRefvalsComputeCmd(), newRefvalsPredictCmd())
	return c
}

// artifactFlags are the boot artifacts both refvals commands take.
type artifactFlags struct {
	EFIApps       []string
	UKI           string
	StubLoadsUKI  bool
	Cmdline       string
	Initrd        string
	Phases        []string
	MachineID     string
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
	GRUBOECore    bool
	GRUBFiles     []string
	Banks         []string
	Output        string
	OutFile       string
	YoctoDeploy   string
	Machine       string
	Image         string
	YoctoUKIBoots bool
	CMLGuests     string
	secureBootSet bool
	banksSet      bool
	// set records every flag given on the command line: with
	// --yocto-deploy, those override what was discovered.
	set   map[string]bool
	yocto *refvals.YoctoDeploy
	// notes are added to the baseline's.
	notes []string
	// read are the files the inputs name, which -O must not write over.
	read []string
}

// artifactHelp is the per-PCR guide both commands print in --help.
const artifactHelp = `  PCR 4   --efi-app (in load order) and --uki: "Calling EFI Application from Boot
          Option", the separator, then each image's Authenticode digest; the
          kernel inside the UKI when firmware measures it, i.e. with secure boot
          off (inferred; --stub-loads-kernel=true|false overrides); and when
          shim starts GRUB with secure boot on, the kernel grub.cfg boots as
          often as GRUB has shim verify it (read from the GRUB image).
  PCR 5   the separator, the GPT event of --disk if given, then the two
          ExitBootServices actions.
  PCR 7   --efi-vars OVMF_VARS.fd, or --secure-boot, --pk, --kek, --db, --dbx (EFI
          signature lists): the variables, the separator, then the db certificate
          that verifies the first boot application's signature, and when that
          application is shim, shim's SbatLevel and vendor certificate.
  PCR 8/9 --grub-cfg ($prefix/grub.cfg) with --grub-file PATH=FILE for every
          other file on GRUB's boot device (kernel, initrd, sourced files,
          modules, grubenv): GRUB is simulated as it runs, the GRUB image's
          (--efi-app) embedded configuration first, then normal mode on
          grub.cfg, with if/elif/else, search --file, test, source,
          configfile, insmod (built-in modules from the image), load_env,
          linux, initrd, chainloader, loopback: "grub_cmd: …" for each command
          normal mode runs, "kernel_cmdline: …", and each file GRUB opens
          (search's probes included) under the name GRUB was given. The
          described files are all the boot device has: a test for another is
          false; a condition on runtime state or another device is refused
          with its line. --grub-prefix, --grub-debian-prelude and
          --grub-oe-core override what the image says.
  PCR 9   --cmdline and --initrd (or a UKI's .cmdline and .initrd sections): what
          the Linux EFI stub (6.1+) measures.
  PCR 11  --uki: every section systemd-stub measures (its version is read from
          the UKI), then each --phase (systemd-pcrphase measures the string
          itself, no NUL); --cml-images: GyroidOS guest-OS images,
          SHA-256 of each extended directly, a repeated (hash, name) once.
  PCR 15  --machine-id ID: "machine-id:ID", as systemd-pcrphase --machine-id
          measures it.

--yocto-deploy DIR finds these artifacts in a Yocto deploy directory (UKI +
systemd-boot, GRUB with grub.cfg read from the .wic image's ESP, shim → GRUB of
meta-secure-core, GyroidOS); artifact flags given as well override what it
found, and the baseline's notes say which files it used and why. For GyroidOS
it also reads the guest OSes under gyroidos-guests/ (--cml-guests DIR when
they are not in the deploy directory or tmp_container's beside it): PCR 11
from their images, checked against image_sha2_256 of each guest-OS .conf.

What is not simulated is listed in the baseline's notes.`

// changed records which flags were given, where "unset" means something.
func (a *artifactFlags) changed(c *cobra.Command) {
	a.secureBootSet = c.Flags().Changed("secure-boot")
	a.banksSet = c.Flags().Changed("bank")
	a.set = map[string]bool{}
	for _, n := range overridable {
		a.set[n] = c.Flags().Changed(n)
	}
}

func (a *artifactFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringArrayVar(&a.EFIApps, "efi-app", nil, "EFI application loaded by firmware or a loader, in load order (repeatable)")
	f.StringVar(&a.UKI, "uki", "", "unified kernel image (systemd-stub)")
	f.BoolVar(&a.StubLoadsUKI, "stub-loads-kernel", false, "override: whether firmware measures the kernel systemd-stub loads from the UKI, so PCR 4 gains its digest (default: inferred: yes with secure boot off, no with it on)")
	f.StringVar(&a.Cmdline, "cmdline", "", "kernel command line the Linux EFI stub is started with")
	f.StringVar(&a.Initrd, "initrd", "", "initrd file the Linux EFI stub loads")
	f.StringArrayVar(&a.Phases, "phase", nil, "systemd-pcrphase string measured into PCR 11 after the UKI, in the order measured, e.g. enter-initrd (repeatable)")
	f.StringVar(&a.MachineID, "machine-id", "", "machine ID (/etc/machine-id: 32 lowercase hex digits) systemd-pcrphase --machine-id measures into PCR 15")
	f.BoolVar(&a.SecureBoot, "secure-boot", false, "secure boot enabled (predicts PCR 7)")
	f.StringVar(&a.PK, "pk", "", "PK as an EFI signature list file")
	f.StringVar(&a.KEK, "kek", "", "KEK as an EFI signature list file")
	f.StringVar(&a.DB, "db", "", "db as an EFI signature list file")
	f.StringVar(&a.DBX, "dbx", "", "dbx as an EFI signature list file")
	f.StringVar(&a.EFIVars, "efi-vars", "", "edk2/OVMF variable store (OVMF_VARS.fd) holding PK, KEK, db, dbx; secure boot is on if a PK is enrolled")
	f.StringVar(&a.GRUBCfg, "grub-cfg", "", "grub.cfg normal mode reads from $prefix on the boot device: predicts PCRs 8 and 9")
	f.StringVar(&a.GRUBRoot, "grub-root", "(hd0)", "GRUB's root device")
	f.StringVar(&a.GRUBPrefix, "grub-prefix", "", "directory of grub.cfg on the root device (default: read from the GRUB image, else /EFI/debian)")
	f.BoolVar(&a.GRUBDebian, "grub-debian-prelude", false, "override: run \"normal (memdisk)/grub.cfg\", the configuration Debian embeds, instead of the GRUB image's own (default: read from the GRUB image)")
	f.BoolVar(&a.GRUBOECore, "grub-oe-core", false, "override: run OE-core's embedded configuration (search.file PREFIX/grub.cfg root; set prefix=($root)PREFIX) instead of the GRUB image's own (default: read from the GRUB image)")
	f.StringArrayVar(&a.GRUBFiles, "grub-file", nil, "GRUBPATH=LOCALFILE for each file on GRUB's boot device besides grub.cfg (kernel, initrd, sourced files, $prefix/x86_64-efi modules, grubenv), e.g. /vmlinuz=build/bzImage; all other paths are absent there (repeatable)")
	f.StringVar(&a.Disk, "disk", "", "disk image booted from (GPT): its GPT event in PCR 5")
	f.StringArrayVar(&a.CMLImages, "cml-images", nil, "GyroidOS guest-OS image, in cmld's order (repeatable)")
	f.StringVar(&a.YoctoDeploy, "yocto-deploy", "", "Yocto deploy directory (tmp/deploy/images/MACHINE): find the boot artifacts and the boot flow there; other flags override what is found")
	f.StringVar(&a.Machine, "machine", "", "with --yocto-deploy: MACHINE (default: from testdata.json or the kernel link)")
	f.StringVar(&a.CMLGuests, "cml-guests", "", "with --yocto-deploy: GyroidOS's gyroidos-guests directory (default: in the deploy directory, or tmp_container's beside it)")
	f.StringVar(&a.Image, "image", "", "with --yocto-deploy: IMAGE_BASENAME when several images share the directory")
	f.BoolVar(&a.YoctoUKIBoots, "yocto-uki-direct", false, "with --yocto-deploy: the UKI is EFI/BOOT/BOOTX64.EFI itself, not loaded by the deployed systemd-boot")
	f.StringSliceVar(&a.Banks, "bank", []string{"sha1", "sha256"}, "banks to predict")
	registerOutput(c, &a.Output, "baseline", "output: baseline or yaml (the baseline as YAML), json (as JSON), text (a summary for people), pcrs (tpm2_pcrread YAML) or charra (a CHARRA reference-pcrs.yml, one document per combination of variants)", refvalsFormats...)
	f.StringVarP(&a.OutFile, "output-file", "O", "", "write to this file atomically instead of stdout (never over an input, a file inside --yocto-deploy's directory, or a link, FIFO or device)")
}

// inputs turns the flags into refvals.Inputs; with --yocto-deploy it
// starts from what DiscoverYocto found there, and the flags given
// override it. Call close when done with the inputs.
func (a *artifactFlags) inputs() (in refvals.Inputs, err error) {
	defer func() { a.read = in.Files() }()
	if a.YoctoDeploy != "" {
		return a.yoctoInputs()
	}
	if a.Machine != "" || a.Image != "" || a.YoctoUKIBoots || a.CMLGuests != "" {
		return refvals.Inputs{}, fmt.Errorf("--machine, --image, --yocto-uki-direct and --cml-guests go with --yocto-deploy")
	}
	in, err = a.flagInputs()
	a.cmlBanks(&in)
	return in, err
}

// cmlBanks predicts the sha256 bank alone, unless --bank says otherwise,
// when GyroidOS's cmld measures: it extends PCR 11 in that bank only, and
// the device quotes no other.
func (a *artifactFlags) cmlBanks(in *refvals.Inputs) {
	if a.banksSet || !in.CML && len(in.CMLImages) == 0 {
		return
	}
	in.Banks = []pcr.Alg{pcr.SHA256}
	a.notes = append(a.notes, "banks: sha256 only: GyroidOS's cmld extends PCR 11 in the sha256 bank and the device quotes no other (--bank to choose)")
}

func (a *artifactFlags) flagInputs() (refvals.Inputs, error) {
	in := refvals.Inputs{
		EFIApps: a.EFIApps, UKI: a.UKI, Phases: a.Phases, MachineID: a.MachineID,
		Cmdline: a.Cmdline, Initrd: a.Initrd,
		PK: a.PK, KEK: a.KEK, DB: a.DB, DBX: a.DBX, EFIVars: a.EFIVars,
		GRUBCfg: a.GRUBCfg, Disk: a.Disk, CMLImages: a.CMLImages,
		GRUB:       refvals.GRUBOptions{Root: a.GRUBRoot, Prefix: a.GRUBPrefix, DebianPrelude: a.GRUBDebian, OECore: a.GRUBOECore, Files: map[string]string{}},
		OptionName: yoctoOptionFlag,
	}
	for _, name := range a.Banks {
		alg, err := pcr.ParseAlg(name)
		if err != nil {
			return in, fmt.Errorf("--bank: %w", err)
		}
		in.Banks = append(in.Banks, alg)
	}
	if a.secureBootSet {
		in.SecureBoot = &a.SecureBoot
	}
	if a.set["stub-loads-kernel"] {
		in.StubLoadsKernel = &a.StubLoadsUKI
	}
	in.GRUB.ShapeGiven = a.set["grub-debian-prelude"] || a.set["grub-oe-core"]
	for _, f := range a.GRUBFiles {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return in, fmt.Errorf("--grub-file %q: want GRUBPATH=LOCALFILE", f)
		}
		in.GRUB.Files[k] = v
	}
	return in, nil
}

func (a *artifactFlags) yoctoInputs() (refvals.Inputs, error) {
	d, err := refvals.DiscoverYoctoWith(refvals.YoctoOptions{Dir: a.YoctoDeploy, Machine: a.Machine, Image: a.Image, UKIDirect: a.YoctoUKIBoots,
		GuestOSDir: a.CMLGuests, OptionName: yoctoOptionFlag})
	if err != nil {
		return refvals.Inputs{}, fmt.Errorf("--yocto-deploy: %w", err)
	}
	a.yocto = d
	flags, err := a.flagInputs()
	if err != nil {
		return flags, err
	}
	in := d.Inputs
	in.Banks, in.SecureBoot = flags.Banks, flags.SecureBoot
	given := func(name string) bool { return a.set[name] }
	if given("efi-app") {
		in.EFIApps = flags.EFIApps
	}
	if given("uki") {
		in.UKI = flags.UKI
	}
	if given("stub-loads-kernel") {
		in.StubLoadsKernel = flags.StubLoadsKernel
	}
	for name, pair := range map[string][2]*string{
		"cmdline": {&in.Cmdline, &flags.Cmdline}, "initrd": {&in.Initrd, &flags.Initrd},
		"pk": {&in.PK, &flags.PK}, "kek": {&in.KEK, &flags.KEK}, "db": {&in.DB, &flags.DB}, "dbx": {&in.DBX, &flags.DBX},
		"efi-vars": {&in.EFIVars, &flags.EFIVars}, "grub-cfg": {&in.GRUBCfg, &flags.GRUBCfg}, "disk": {&in.Disk, &flags.Disk},
		"grub-root": {&in.GRUB.Root, &flags.GRUB.Root}, "grub-prefix": {&in.GRUB.Prefix, &flags.GRUB.Prefix},
	} {
		if given(name) {
			*pair[0] = *pair[1]
		}
	}
	if given("phase") {
		in.Phases = flags.Phases
	}
	if given("machine-id") {
		in.MachineID = flags.MachineID
	}
	if given("cml-images") {
		in.CMLImages = flags.CMLImages
	}
	if given("grub-debian-prelude") {
		in.GRUB.DebianPrelude = flags.GRUB.DebianPrelude
	}
	if given("grub-oe-core") {
		in.GRUB.OECore = flags.GRUB.OECore
	}
	in.GRUB.ShapeGiven = flags.GRUB.ShapeGiven
	if in.GRUB.Files == nil {
		in.GRUB.Files = map[string]string{}
	}
	for k, v := range flags.GRUB.Files {
		in.GRUB.Files[k] = v
	}
	if in.GRUB.Root == "" {
		in.GRUB.Root = flags.GRUB.Root
	}
	if in.GRUB.Prefix == "" {
		in.GRUB.Prefix = flags.GRUB.Prefix
	}
	in.OptionName = yoctoOptionFlag
	a.cmlBanks(&in)
	return in, nil
}

// overridable are the flags that override what --yocto-deploy found.
var overridable = []string{"efi-app", "uki", "stub-loads-kernel", "cmdline", "initrd", "phase", "machine-id", "pk", "kek", "db", "dbx", "efi-vars",
	"grub-cfg", "grub-root", "grub-prefix", "grub-debian-prelude", "grub-oe-core", "grub-file", "disk", "cml-images"}

// noteYocto records in the baseline which files --yocto-deploy used and
// why.
func (a *artifactFlags) noteYocto(doc *baseline.Baseline) {
	doc.Metadata.Notes = append(doc.Metadata.Notes, a.notes...)
	if a.yocto == nil {
		return
	}
	doc.Metadata.Notes = append(doc.Metadata.Notes, fmt.Sprintf("--yocto-deploy %s: boot flow %s, MACHINE %s", a.YoctoDeploy, a.yocto.Flow, a.yocto.Machine))
	for _, u := range a.yocto.Used {
		doc.Metadata.Notes = append(doc.Metadata.Notes, "--yocto-deploy: "+u)
	}
	if len(a.set) > 0 {
		var over []string
		for _, n := range overridable {
			if a.set[n] {
				over = append(over, "--"+n)
			}
		}
		if len(over) > 0 {
			doc.Metadata.Notes = append(doc.Metadata.Notes, "--yocto-deploy: overridden on the command line: "+strings.Join(over, " "))
		}
	}
}

// close removes what --yocto-deploy extracted from images.
func (a *artifactFlags) close() {
	if a.yocto != nil {
		a.yocto.Close()
		a.yocto = nil
	}
}

// write renders a baseline as -o asks, to stdout or atomically to -O,
// never over anything the computation read (outputInputs).
func (a *artifactFlags) write(doc *baseline.Baseline, out io.Writer, extraInputs ...string) error {
	data, err := encodeBaseline(doc, a.Output)
	if err != nil {
		return err
	}
	return writeOutput(out, data, a.OutFile, a.outputInputs(doc, extraInputs)...)
}

// outputInputs is everything the computation read: the files its inputs
// name, those the baseline records, what --yocto-deploy's discovery read
// (the .wic that grub.cfg came from, testdata.json, files behind links),
// and the deploy directory itself, inside which no existing file is
// replaced: it could be one discovery read but did not use.
func (a *artifactFlags) outputInputs(doc *baseline.Baseline, extra []string) []string {
	inputs := append(append([]string{}, a.read...), extra...)
	for _, in := range doc.Metadata.Inputs {
		inputs = append(inputs, in.Path)
	}
	if a.YoctoDeploy != "" {
		inputs = append(inputs, a.YoctoDeploy)
	}
	if a.yocto != nil {
		inputs = append(inputs, a.yocto.Read...)
	}
	return inputs
}

// refvalsFormats are every command's -o formats and refvals' own: the
// baseline document (its YAML, the default) and the final values alone.
var refvalsFormats = append(slices.Clip(reportFormats), "baseline", "pcrs", "charra")

func encodeBaseline(doc *baseline.Baseline, format string) ([]byte, error) {
	switch format {
	case "text":
		var buf bytes.Buffer
		err := baselineText(&buf, doc)
		return buf.Bytes(), err
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
	case "charra":
		sets, err := doc.Sets(baseline.MaxVariants)
		if err != nil {
			return nil, err
		}
		return pcr.Marshal(pcr.FormatCHARRA, sets)
	}
	return nil, fmt.Errorf("unknown output format %q (want %s)", format, orList(refvalsFormats))
}

// baselineText is -o text: the final values in each bank, then each
// expected event with its rule and artifact, then the notes; the events
// show one digest, SHA-256 when predicted, as eventlog show does.
func baselineText(w io.Writer, doc *baseline.Baseline) error {
	var indexes []string
	banks := map[string]bool{}
	events := 0
	for _, p := range doc.PCRs {
		indexes = append(indexes, fmt.Sprint(p.Index))
		for b := range p.Values {
			banks[b] = true
		}
		events += len(p.Events)
	}
	bankNames := slices.Sorted(maps.Keys(banks))
	fmt.Fprintf(w, "%s baseline: PCRs %s, banks %s, %s\n", doc.Version, strings.Join(indexes, ","), strings.Join(bankNames, ","), eventCount(events))
	if len(doc.Metadata.Inputs) > 0 {
		fmt.Fprintln(w, "inputs:")
		for _, in := range doc.Metadata.Inputs {
			fmt.Fprintf(w, "  %-9s %s  sha256:%s\n", in.Role, in.Path, in.SHA256)
		}
	}
	for _, bank := range bankNames {
		fmt.Fprintf(w, "%s:\n", bank)
		for _, p := range doc.PCRs {
			if v, ok := p.Values[bank]; ok {
				fmt.Fprintf(w, "  %2d : %s  (%s)\n", p.Index, v, eventCount(len(p.Events)))
			}
			for i, variant := range p.Variants {
				if v, ok := variant[bank]; ok {
					fmt.Fprintf(w, "  %2d : %s  (variant %d)\n", p.Index, v, i+1)
				}
			}
		}
	}
	if events > 0 {
		fmt.Fprintln(w, "events:")
	}
	for _, p := range doc.PCRs {
		for _, e := range p.Events {
			fmt.Fprintf(w, "  PCR %-2d %-34s %s %s  [%s]\n", p.Index, e.Type, shortDigest(e.Digests), e.Description, provenanceText(e.Provenance))
		}
	}
	if len(doc.Metadata.Notes) > 0 {
		fmt.Fprintln(w, "notes:")
		for _, n := range doc.Metadata.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	return nil
}

// shortDigest is an event's SHA-256 digest, else its first bank's, cut
// to 13 hex digits.
func shortDigest(digests map[string]string) string {
	bank := "sha256"
	if _, ok := digests[bank]; !ok {
		for _, b := range slices.Sorted(maps.Keys(digests)) {
			bank = b
			break
		}
	}
	d := digests[bank]
	if len(d) > 13 {
		d = d[:13] + "…"
	}
	return bank + ":" + d
}

func provenanceText(p baseline.Provenance) string {
	if p.Artifact == "" {
		return p.Rule
	}
	return p.Rule + "; " + p.Artifact
}

func eventCount(n int) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}

// yoctoOptionFlags word refvals' Yocto options as the flags of refvals
// compute.
var yoctoOptionFlags = map[refvals.YoctoOption]string{
	refvals.YoctoImage:           "--image",
	refvals.YoctoStubLoadsKernel: "--stub-loads-kernel",
	refvals.YoctoGuestOSDir:      "--cml-guests",
	refvals.YoctoCMLImages:       "--cml-images",
	refvals.YoctoReferenceLog:    "--reference-log",
	refvals.YoctoGRUBFiles:       "--grub-file",
	refvals.YoctoMachineID:       "--machine-id",
}

func yoctoOptionFlag(o refvals.YoctoOption) string { return yoctoOptionFlags[o] }
