package refvals

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
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
	// StubLoadsKernel: systemd-stub loads the UKI's kernel with LoadImage,
	// adding its digest to PCR 4 (secure boot off).
	StubLoadsKernel bool
	// Phases are systemd-pcrphase strings measured into PCR 11.
	Phases []string
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
	CMLImages        []string
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
	if in.UKI != "" {
		apps = append(apps, BootApplication{Path: in.UKI, Why: "UKI"})
		if in.StubLoadsKernel {
			kernel, err := UKISection(in.UKI, ".linux")
			if err != nil {
				return nil, err
			}
			apps = append(apps, BootApplication{Data: kernel, Path: in.UKI + ":.linux", Why: "kernel loaded by systemd-stub"})
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
	if in.secureBootWanted() {
		if err := computePCR7(b, in, apps); err != nil {
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
		if err := GRUBPCR8And9(b, cfg, opts); err != nil {
			return nil, fmt.Errorf("%s: %w", in.name(in.GRUBCfg), err)
		}
		b.Note("PCRs 8/9: GRUB simulated for a straight-line configuration; search does not change root, modules are assumed built in")
	}
	if err := computePCR9(b, in); err != nil {
		return nil, err
	}
	if in.UKI != "" {
		if err := UKIPCR11(b, in.UKI, UKIOptions{Phases: in.Phases}); err != nil {
			return nil, err
		}
	}
	if len(in.CMLImages) > 0 {
		if err := CMLImagesPCR11(b, in.CMLImages); err != nil {
			return nil, err
		}
	}
	doc := b.Baseline()
	if len(doc.PCRs) == 0 {
		return nil, fmt.Errorf("nothing to compute: no boot artifacts given")
	}
	in.nameExtracted(doc)
	return doc, nil
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
func computePCR7(b *baseline.Builder, in Inputs, apps []BootApplication) error {
	var lists [4][]byte
	for i, p := range []string{in.PK, in.KEK, in.DB, in.DBX} {
		if p == "" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := eventlog.ParseSignatureLists(data); err != nil {
			return fmt.Errorf("%s: not an EFI signature list: %w", p, err)
		}
		lists[i] = data
	}
	secureBoot := in.SecureBoot != nil && *in.SecureBoot
	if in.EFIVars != "" {
		data, err := os.ReadFile(in.EFIVars)
		if err != nil {
			return err
		}
		store, err := ReadVarStore(data)
		if err != nil {
			return fmt.Errorf("%s: %w", in.EFIVars, err)
		}
		var fromStore [4][]byte
		var sb bool
		sb, fromStore[0], fromStore[1], fromStore[2], fromStore[3] = SecureBootFromVarStore(store)
		if in.SecureBoot == nil {
			secureBoot = sb
		}
		for i := range lists {
			if lists[i] == nil {
				lists[i] = fromStore[i]
			}
		}
	}
	var auths []Authority
	if secureBoot && len(apps) > 0 {
		a, err := dbAuthority(lists[2], apps[0].Path)
		if err != nil {
			return err
		}
		auths = append(auths, a)
		if len(apps) > 1 {
			if shim, err := ReadShim(apps[0].Path); err == nil {
				auths = append(auths, shim.Authorities(apps[1].Path)...)
				b.Note("PCR 7: %s is shim: its SbatLevel and its vendor certificate (as MokListRT) are predicted for %s; MokList entries are not", apps[0].Path, apps[1].Path)
			} else {
				b.Note("PCR 7: only the first application's db authority is predicted; authorities a loader adds are not simulated")
			}
		}
	}
	return SecureBootPCR7(b, SecureBootVariables(secureBoot, lists[0], lists[1], lists[2], lists[3]), auths)
}

// dbAuthority finds the db certificate that verifies the image's
// Authenticode signature: the certificate itself or its issuer is in db.
func dbAuthority(db []byte, path string) (Authority, error) {
	img, err := authenticode.Open(path)
	if err != nil {
		return Authority{}, err
	}
	defer img.Close()
	sigs, err := img.Signatures()
	if err != nil {
		return Authority{}, fmt.Errorf("%s: %w", path, err)
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
						return Authority{Variable: DBAuthority(entry.Owner, cert.Raw), Why: "verified " + path}, nil
					}
				}
			}
		}
	}
	return Authority{}, fmt.Errorf("%s: no db certificate verifies its signature: with secure boot on the firmware would refuse it", path)
}
