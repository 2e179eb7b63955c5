package refvals

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/baseline"
)

// PCRKernelBoot is where systemd-stub measures a UKI's sections and
// systemd-pcrphase its boot phases.
const PCRKernelBoot = 11

// ukiSectionOrder is the canonical order systemd-stub measures sections
// in (its UnifiedSection enumeration); .pcrsig is never measured.
var ukiSectionOrder = []string{
	".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb",
	".uname", ".sbat", ".pcrpkey", ".profile", ".dtbauto", ".hwids", ".efifw",
}

// stubKnows returns the sections a systemd-stub of the given major version
// measures: older stubs ignore sections added to the enumeration later
// (notably the .sbat every UKI inherits from the stub itself).
func stubKnows(major int) map[string]bool {
	known := map[string]bool{".linux": true, ".osrel": true, ".cmdline": true, ".initrd": true, ".splash": true, ".dtb": true, ".pcrpkey": true}
	add := func(since int, names ...string) {
		if major == 0 || major >= since {
			for _, n := range names {
				known[n] = true
			}
		}
	}
	add(254, ".uname", ".sbat")
	add(256, ".ucode")
	add(257, ".profile", ".dtbauto", ".hwids")
	add(258, ".efifw")
	return known
}

// stubMajor reads the systemd-stub major version from a .sdmagic section
// ("#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####").
func stubMajor(magic []byte) (int, bool) {
	const marker = "systemd-stub "
	i := bytes.Index(magic, []byte(marker))
	if i < 0 {
		return 0, false
	}
	rest := magic[i+len(marker):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	v, err := strconv.Atoi(string(rest[:n]))
	return v, err == nil
}

// UKIOptions tune the PCR 11 prediction.
type UKIOptions struct {
	// Phases are systemd-pcrphase strings measured after the sections,
	// e.g. "enter-initrd"; none when the initrd has no systemd.
	Phases []string
	// StubMajor overrides the systemd-stub version read from the UKI's
	// .sdmagic section; 0 means read it (and if absent, assume the newest).
	StubMajor int
}

// UKIPCR11 appends what systemd-stub measures into PCR 11 for the UKI at
// path: for each present section it knows, in canonical order, the section
// name with its NUL, then the section's contents as loaded in memory
// (VirtualSize bytes, zero-filled past the raw data); then the phases.
func UKIPCR11(b *baseline.Builder, path string, opts UKIOptions) error {
	img, err := authenticode.Open(path)
	if err != nil {
		return err
	}
	defer img.Close()
	if _, ok := img.Section(".linux"); !ok {
		return fmt.Errorf("%s: no .linux section: not a unified kernel image", path)
	}
	major := opts.StubMajor
	if major == 0 {
		if magic, err := img.SectionData(".sdmagic"); err == nil {
			if v, ok := stubMajor(magic); ok {
				major = v
				b.Note("PCR 11: %s carries systemd-stub %d; sections it does not know are not measured", path, major)
			}
		}
	}
	known := stubKnows(major)
	sum, err := baseline.FileSHA256(path)
	if err != nil {
		return err
	}
	b.AddInput(baseline.Input{Role: "uki", Path: path, SHA256: sum})
	for _, name := range ukiSectionOrder {
		if _, present := img.Section(name); !present || !known[name] {
			continue
		}
		data, err := img.SectionData(name)
		if err != nil {
			return err
		}
		nameData := append([]byte(name), 0)
		prov := baseline.Provenance{Rule: "systemd-stub: UKI section " + name, Artifact: path, ArtifactSHA256: sum}
		if err := b.Extend(PCRKernelBoot, baseline.Measurement{Type: "EV_IPL", Description: name + " (section name)", Digest: baseline.HashOf(nameData), Provenance: prov}); err != nil {
			return err
		}
		if err := b.Extend(PCRKernelBoot, baseline.Measurement{Type: "EV_IPL", Description: fmt.Sprintf("%s (%d bytes)", name, len(data)), Digest: baseline.HashOf(data), Provenance: prov}); err != nil {
			return err
		}
	}
	for _, ph := range opts.Phases {
		prov := baseline.Provenance{Rule: "systemd-pcrphase: boot phase"}
		if err := b.Extend(PCRKernelBoot, baseline.Measurement{Type: "EV_IPL", Description: "phase " + ph, Digest: baseline.HashOf([]byte(ph)), Provenance: prov}); err != nil {
			return err
		}
	}
	return nil
}
