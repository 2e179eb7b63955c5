package refvals

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/optname"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Inputs are the artifacts of one boot, as `goldenpcr refvals compute`
// takes them.
type Inputs struct {
	Banks []pcr.Alg
	// EFIApps are loaded in this order (shim, GRUB, a kernel…); the UKI,
	// if any, is loaded after them.
	EFIApps []string
	UKI     string
	// StubLoadsKernel, if set, says whether firmware measures the kernel
	// systemd-stub loads from the UKI (adding its digest to PCR 4); nil
	// infers it from the secure-boot state (StubMeasuresKernel).
	StubLoadsKernel *bool
	// Phases are systemd-pcrphase strings measured into PCR 11, in the
	// order they were measured.
	Phases []string
	// MachineID, if set, is the machine ID (/etc/machine-id, 32 lowercase
	// hex digits) systemd-pcrphase --machine-id measures into PCR 15. It
	// is its own PCR's only event, so its order against Phases does not
	// matter.
	MachineID string
	// Cmdline and Initrd are what the Linux EFI stub is started with; for
	// a UKI they default to its .cmdline and .initrd sections.
	Cmdline string
	Initrd  string
	// SecureBoot overrides what EFIVars says; nil means "from EFIVars",
	// or off without it.
	SecureBoot       *bool
	PK, KEK, DB, DBX string // EFI signature list files
	EFIVars          string // edk2/OVMF variable store
	GRUBCfg          string
	GRUB             GRUBOptions
	Disk             string // disk image with a GPT
	// CMLImages are GyroidOS images cmld measures into PCR 11, in this
	// order; given, they take the place of GuestOSes.
	CMLImages []string
	// GuestOSes are a GyroidOS build's guest OSes (DiscoverYocto finds
	// them), whose images cmld measures into PCR 11 when it starts them.
	GuestOSes []GuestOS
	// CML says the boot is GyroidOS's: PCRs 8 and 9 are recorded as zero,
	// and notes say what PCR 10 and the firmware PCRs need.
	CML bool
	// ReferenceLog is an event log of the target hardware: PCRs 0-3 and
	// 5-7 the artifacts do not determine are taken from it.
	ReferenceLog string
	// DRTM, if set, is a dynamic launch whose PCRs 17 and 18 are computed.
	DRTM *DRTMInputs
	// OptionName, if set, words an option for notes and errors in the
	// caller's terms (as YoctoOptions.OptionName does).
	OptionName func(YoctoOption) string
	// Extracted names the temporary files among the inputs that hold a
	// file extracted from an image: temporary path → IMAGE:PATH, the image
	// and the file's path inside it (as a UKI's kernel is UKI:.linux). The
	// baseline records that name, not the temporary path, which is gone
	// once the computation is done.
	Extracted map[string]string
}

// Files lists every local file the inputs name, for a caller that must
// not write over any of them. The temporary files of Extracted are
// listed, not their images: whoever extracted them knows those.
func (in *Inputs) Files() []string {
	var out []string
	add := func(p ...string) {
		for _, f := range p {
			if f != "" {
				out = append(out, f)
			}
		}
	}
	add(in.EFIApps...)
	add(in.UKI, in.Initrd, in.PK, in.KEK, in.DB, in.DBX, in.EFIVars, in.GRUBCfg, in.Disk)
	add(in.CMLImages...)
	add(in.ReferenceLog)
	if in.DRTM != nil {
		add(in.DRTM.Files()...)
	}
	for _, g := range in.GuestOSes {
		add(g.Conf)
		for _, img := range g.Images {
			add(img.Path)
		}
	}
	grubPaths := make([]string, 0, len(in.GRUB.Files))
	for p := range in.GRUB.Files {
		grubPaths = append(grubPaths, p)
	}
	sort.Strings(grubPaths)
	for _, p := range grubPaths {
		add(in.GRUB.Files[p])
	}
	return out
}

// name is what the baseline records for the local file p.
func (in *Inputs) name(p string) string {
	if n, ok := in.Extracted[p]; ok {
		return n
	}
	return p
}

// nameExtracted puts each extracted file's IMAGE:PATH name in place of
// its temporary path, in the inputs and the events' provenance.
func (in *Inputs) nameExtracted(doc *baseline.Baseline) {
	if len(in.Extracted) == 0 {
		return
	}
	for i := range doc.Metadata.Inputs {
		doc.Metadata.Inputs[i].Path = in.name(doc.Metadata.Inputs[i].Path)
	}
	for i := range doc.PCRs {
		for j := range doc.PCRs[i].Events {
			prov := &doc.PCRs[i].Events[j].Provenance
			if prov.Artifact != "" {
				prov.Artifact = in.name(prov.Artifact)
			}
		}
	}
}

// secureBootWanted reports whether any PCR 7 input was given.
func (in *Inputs) secureBootWanted() bool {
	return in.SecureBoot != nil || in.EFIVars != "" || in.PK != "" || in.KEK != "" || in.DB != "" || in.DBX != ""
}

// Compute predicts the baseline of the boot the inputs describe.
func Compute(in Inputs) (*baseline.Baseline, error) {
	b := baseline.NewBuilder(in.Banks...)
	var apps []BootApplication
	for _, p := range in.EFIApps {
		apps = append(apps, BootApplication{Path: p, Why: "EFI application"})
	}
	policy, err := in.secureBootPolicy()
	if err != nil {
		return nil, err
	}
	if in.UKI != "" {
		apps = append(apps, BootApplication{Path: in.UKI, Why: "UKI"})
		kernel, err := UKISection(in.UKI, ".linux")
		if err != nil {
			return nil, err
		}
		if d := in.stubKernel(kernel, policy); d.Measured {
			apps = append(apps, BootApplication{Data: kernel, Path: in.UKI + ":.linux", Why: "kernel loaded by systemd-stub"})
			b.Note("PCR 4: firmware measures the kernel systemd-stub loads from the UKI: %s", d.Rule)
		} else {
			b.Note("PCR 4: firmware measures no kernel for the UKI: %s", d.Rule)
		}
	}
	if len(apps) > 0 {
		if err := BootManagerPCR4(b, apps); err != nil {
			return nil, err
		}
	}
	if len(apps) > 0 || in.Disk != "" {
		if err := BootManagerDataPCR5(b, in.Disk); err != nil {
			return nil, err
		}
	}
	if policy.Known {
		if err := computePCR7(b, policy, apps); err != nil {
			return nil, err
		}
	}
	if in.GRUBCfg != "" {
		cfg, err := os.ReadFile(in.GRUBCfg)
		if err != nil {
			return nil, err
		}
		opts := in.GRUB
		opts.ConfigPath = in.GRUBCfg
		if err := in.grubEmbedded(b, &opts); err != nil {
			return nil, err
		}
		kernel, err := GRUBPCR8And9(b, cfg, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.name(in.GRUBCfg), err)
		}
		if err := in.grubKernelPCR4(b, policy, kernel); err != nil {
			return nil, err
		}
		b.Note("PCRs 8/9: GRUB simulated on the boot device %s: its files are grub.cfg and the %s ones, a test or search for any other is false there, other devices are not described", opts.Root, in.opt(YoctoGRUBFiles))
	}
	if err := computePCR9(b, in); err != nil {
		return nil, err
	}
	if in.UKI != "" {
		if err := UKIPCR11(b, in.UKI, UKIOptions{Phases: in.Phases}); err != nil {
			return nil, err
		}
	}
	if in.MachineID != "" {
		if err := MachineIDPCR15(b, in.MachineID); err != nil {
			return nil, fmt.Errorf("%s: %w", in.opt(YoctoMachineID), err)
		}
	}
	var variants11 []map[string]string
	switch {
	case len(in.CMLImages) > 0:
		if err := CMLImagesPCR11(b, in.CMLImages); err != nil {
			return nil, err
		}
		if in.CML {
			b.Note("PCR 11: the guest-OS images given, measured in the order given")
		}
	case len(in.GuestOSes) > 0:
		var err error
		if variants11, err = GuestOSesPCR11(b, in.GuestOSes); err != nil {
			return nil, err
		}
		if variants11 != nil {
			b.Note("PCR 11: to pin one value, give the images in the order the device measures them (%s)", in.opt(YoctoCMLImages))
		}
	case in.CML:
		b.Note("PCR 11: not computed: no guest-OS images (give the gyroidos-guests directory, %s, or the images, %s)", in.opt(YoctoGuestOSDir), in.opt(YoctoCMLImages))
	}
	if in.CML {
		if err := cmlQuietPCRs(b, in); err != nil {
			return nil, err
		}
	}
	if in.DRTM != nil {
		if err := DRTMPCRs(b, in.Banks, *in.DRTM); err != nil {
			return nil, err
		}
	}
	doc := b.Baseline()
	if len(doc.PCRs) == 0 {
		return nil, fmt.Errorf("nothing to compute: no boot artifacts given")
	}
	if variants11 != nil {
		for i := range doc.PCRs {
			if doc.PCRs[i].Index == PCRKernelBoot {
				doc.PCRs[i].Variants = variants11
			}
		}
	}
	if in.ReferenceLog != "" {
		if err := addReferenceLog(doc, in); err != nil {
			return nil, err
		}
	} else if in.CML {
		var missing []int
		for _, i := range firmwarePCRs {
			if !hasPCR(doc, i) {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 {
			doc.Metadata.Notes = append(doc.Metadata.Notes, fmt.Sprintf("PCRs %s: not computed: firmware code, configuration and the boot disk depend on the target hardware; give a reference event log of it (%s)", pcr.FormatPCRList(missing), in.opt(YoctoReferenceLog)))
		}
	}
	in.nameExtracted(doc)
	return doc, nil
}

// opt words an option for the caller.
func (in *Inputs) opt(o YoctoOption) string { return optname.Word(in.OptionName, o) }

// cmlQuietPCRs records what GyroidOS leaves alone: PCRs 8 and 9 stay
// zero (no boot loader; the kernel's command line and initramfs are built
// in, so its EFI stub measures neither), and PCR 10 is IMA's.
func cmlQuietPCRs(b *baseline.Builder, in Inputs) error {
	for _, i := range []int{8, 9} {
		if b.Has(i) {
			continue
		}
		if err := b.Unextended(i); err != nil {
			return err
		}
		b.Note("PCR %d: zero: GyroidOS starts its kernel directly (no boot loader) with the command line and initramfs built in, so nothing measures into it", i)
	}
	b.Note("PCR 10: not computed: IMA extends it with every file the policy measures, in the order they are opened; its golden values are per file: goldenpcr ima policy makes them from the rootfs, and a device's IMA list is checked against them")
	return nil
}

// firmwarePCRs are the PCRs a reference log of the target hardware gives
// when the artifacts do not: firmware code and data, option ROMs and
// their configuration, the boot disk's GPT, the secure-boot policy.
var firmwarePCRs = []int{0, 1, 2, 3, 5, 6, 7}

func hasPCR(doc *baseline.Baseline, i int) bool {
	for _, p := range doc.PCRs {
		if p.Index == i {
			return true
		}
	}
	return false
}

// addReferenceLog takes PCRs 0-3 and 5-7 the artifacts did not determine
// from the reference log, after checking that it replays consistently:
// it parses to its end, carries the baseline's banks, every event whose
// digest its data determines agrees with it, and the PCRs taken replay
// to the values a whole replay gives. PCR 5 is taken from the log unless
// a disk image was given: without one, the GPT event firmware measures
// is not predicted.
func addReferenceLog(doc *baseline.Baseline, in Inputs) error {
	data, err := os.ReadFile(in.ReferenceLog)
	if err != nil {
		return err
	}
	banks := in.Banks
	whole, err := eventlog.ReplayLog(bytes.NewReader(data), &eventlog.ReplayOptions{Banks: banks, CheckDigests: true})
	if err != nil {
		return fmt.Errorf("%s: %w", in.ReferenceLog, err)
	}
	if len(whole.DigestIssues) > 0 {
		d := whole.DigestIssues[0]
		return fmt.Errorf("%s: event %d (PCR %d, %s, offset %d): its %s digest is not %s: the log contradicts itself (%d such events)",
			in.ReferenceLog, d.Event, d.PCR, d.Type, d.Offset, strings.Join(d.Check.Mismatched, ","), d.Check.Rule, len(whole.DigestIssues))
	}
	if len(banks) == 0 {
		banks = whole.Banks
	}
	if in.Disk == "" {
		doc.PCRs = slices.DeleteFunc(doc.PCRs, func(p baseline.PCR) bool { return p.Index == PCRBootManagerData })
	}
	rd, err := eventlog.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w", in.ReferenceLog, err)
	}
	sum := hex.EncodeToString(pcr.SHA256.Sum(data))
	take := func(i int) bool { return slices.Contains(firmwarePCRs, i) && !hasPCR(doc, i) }
	kept, err := logPCRs(rd, banks, take, baseline.Provenance{Artifact: in.ReferenceLog, ArtifactSHA256: sum})
	if err != nil {
		return fmt.Errorf("%s: %w", in.ReferenceLog, err)
	}
	var taken, absent []int
	for _, i := range firmwarePCRs {
		p, ok := kept[i]
		if !ok {
			if !hasPCR(doc, i) {
				absent = append(absent, i)
			}
			continue
		}
		for _, a := range banks {
			v, _ := whole.Values.Get(a, i)
			if p.Values[a.String()] != hex.EncodeToString(v) {
				return fmt.Errorf("%s: PCR %d: its events replay to %s, the whole log to %x", in.ReferenceLog, i, p.Values[a.String()], v)
			}
		}
		taken = append(taken, i)
		doc.PCRs = append(doc.PCRs, *p)
	}
	slices.SortFunc(doc.PCRs, func(x, y baseline.PCR) int { return x.Index - y.Index })
	doc.Metadata.Inputs = append(doc.Metadata.Inputs, baseline.Input{Role: "reference-log", Path: in.ReferenceLog, SHA256: sum})
	if len(taken) > 0 {
		doc.Metadata.Notes = append(doc.Metadata.Notes, fmt.Sprintf("PCRs %s: taken from the reference log %s (the target hardware's firmware)", pcr.FormatPCRList(taken), in.ReferenceLog))
	}
	if len(absent) > 0 {
		doc.Metadata.Notes = append(doc.Metadata.Notes, fmt.Sprintf("PCRs %s: neither computed nor extended in the reference log", pcr.FormatPCRList(absent)))
	}
	return nil
}

// computePCR9 predicts the Linux EFI stub's events from Cmdline and
// Initrd, or, for a UKI, from its .cmdline and .initrd sections, which
// systemd-stub hands the kernel as LoadOptions and initrd.
func computePCR9(b *baseline.Builder, in Inputs) error {
	cmdline, initrdPath := in.Cmdline, in.Initrd
	var initrd []byte
	if initrdPath != "" {
		var err error
		if initrd, err = os.ReadFile(initrdPath); err != nil {
			return err
		}
	}
	if in.UKI != "" && cmdline == "" && initrd == nil {
		if c, err := UKISection(in.UKI, ".cmdline"); err == nil {
			cmdline = strings.TrimRight(string(c), "\x00 \t\r\n")
			b.Note("PCR 9: command line taken from the UKI's .cmdline section, trailing whitespace removed as systemd-stub does")
		}
		if i, err := UKISection(in.UKI, ".initrd"); err == nil {
			initrd, initrdPath = i, in.UKI+":.initrd"
		}
	}
	if cmdline == "" && initrd == nil {
		return nil
	}
	return LinuxStubPCR9(b, cmdline, initrd, initrdPath)
}

// computePCR7 predicts PCR 7 from signature lists or a variable store;
// with secure boot on it adds the db certificate that verifies the first
// boot application and, when that is shim, shim's own authorities.
func computePCR7(b *baseline.Builder, policy SecureBootPolicy, apps []BootApplication) error {
	secureBoot, lists := policy.On, [4][]byte{policy.PK, policy.KEK, policy.DB, policy.DBX}
	var auths []Authority
	if secureBoot && len(apps) > 0 {
		a, err := dbAuthority(policy, apps[0].Path)
		if err != nil {
			return err
		}
		auths = append(auths, a)
	}
	if len(apps) > 1 {
		if shim, err := ReadShim(apps[0].Path); err == nil {
			auths = append(auths, shim.Authorities(apps[1].Path, secureBoot)...)
			if secureBoot {
				b.Note("PCR 7: %s is shim: its SbatLevel and its vendor certificate (as MokListRT) are predicted for %s; MokList entries are not", apps[0].Path, apps[1].Path)
			} else {
				b.Note("PCR 7: %s is shim: its SbatLevel is predicted; with secure boot off it verifies nothing, so no MokListRT authority", apps[0].Path)
			}
		} else if secureBoot {
			b.Note("PCR 7: only the first application's db authority is predicted; authorities a loader adds are not simulated")
		}
	}
	return SecureBootPCR7(b, SecureBootVariables(secureBoot, lists[0], lists[1], lists[2], lists[3]), auths)
}

// dbAuthority is the db entry that lets firmware run the image at path
// with secure boot on (verifyImage); an image it would refuse is an error.
func dbAuthority(policy SecureBootPolicy, path string) (Authority, error) {
	img, err := authenticode.Open(path)
	if err != nil {
		return Authority{}, err
	}
	defer img.Close()
	db, err := eventlog.ParseSignatureLists(policy.DB)
	if err != nil {
		return Authority{}, fmt.Errorf("db: %w", err)
	}
	dbx, err := eventlog.ParseSignatureLists(policy.DBX)
	if err != nil {
		return Authority{}, fmt.Errorf("dbx: %w", err)
	}
	entry, err := verifyImage(img.Image, img, db, dbx)
	if err != nil {
		return Authority{}, fmt.Errorf("%s: with secure boot on the firmware refuses it: %w", path, err)
	}
	return Authority{Variable: DBAuthority(entry.Owner, entry.Raw), Why: "verified " + path}, nil
}
