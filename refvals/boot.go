package refvals

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// PCRs of the boot chain.
const (
	PCRBootManagerCode = 4
	PCRBootManagerData = 5
	PCRKernelConfig    = 9
)

// Strings UEFI firmware measures as EV_EFI_ACTION (ASCII, no NUL).
const (
	ActionCallingBootOption = "Calling EFI Application from Boot Option"
	ActionExitBootServices  = "Exit Boot Services Invocation"
	ActionExitBootSuccess   = "Exit Boot Services Returned with Success"
)

// BootApplication is an EFI image LoadImage measures into PCR 4.
type BootApplication struct {
	// Path of the PE file; Data, if set, is its contents instead (an image
	// embedded in another, like a UKI's kernel).
	Path string
	Data []byte
	// Why names its role, e.g. "shim" or "kernel loaded by systemd-stub".
	Why string
	// Rule says who measures it; empty means firmware's LoadImage.
	Rule string
}

// BootManagerPCR4 appends PCR 4: the boot-option action, the separator,
// then the Authenticode digest of each application in load order.
func BootManagerPCR4(b *baseline.Builder, apps []BootApplication) error {
	if err := efiAction(b, PCRBootManagerCode, ActionCallingBootOption); err != nil {
		return err
	}
	if err := Separator(b, PCRBootManagerCode); err != nil {
		return err
	}
	return BootApplicationsPCR4(b, apps)
}

// BootApplicationsPCR4 appends the Authenticode digest of each
// application to PCR 4.
func BootApplicationsPCR4(b *baseline.Builder, apps []BootApplication) error {
	for _, app := range apps {
		digest, size, closeFn, err := appDigest(app)
		if err != nil {
			return err
		}
		rule := app.Rule
		if rule == "" {
			rule = "UEFI LoadImage"
		}
		prov := baseline.Provenance{Rule: rule + ": Authenticode digest", Artifact: app.Path}
		if app.Data == nil {
			if prov.ArtifactSHA256, err = baseline.FileSHA256(app.Path); err != nil {
				closeFn()
				return err
			}
			b.AddInput(baseline.Input{Role: "efi-app", Path: app.Path, SHA256: prov.ArtifactSHA256})
		}
		err = b.Extend(PCRBootManagerCode, baseline.Measurement{
			Type: "EV_EFI_BOOT_SERVICES_APPLICATION", Description: fmt.Sprintf("%s (%s, %d bytes)", app.Why, app.Path, size),
			Digest: digest, Provenance: prov,
		})
		closeFn()
		if err != nil {
			return err
		}
	}
	return nil
}

// appDigest returns the Authenticode digest function of an application
// and its size.
func appDigest(app BootApplication) (func(pcr.Alg) ([]byte, error), int64, func(), error) {
	if app.Data != nil {
		r := bytes.NewReader(app.Data)
		img, err := authenticode.Parse(r, int64(len(app.Data)))
		if err != nil {
			return nil, 0, nil, fmt.Errorf("%s: %w", app.Why, err)
		}
		return func(alg pcr.Alg) ([]byte, error) { return img.Digest(r, alg) }, int64(len(app.Data)), func() {}, nil
	}
	f, err := authenticode.Open(app.Path)
	if err != nil {
		return nil, 0, nil, err
	}
	return f.Digest, f.Image.Size, func() { f.Close() }, nil
}

// UKISection returns a section of a UKI as systemd-stub hands it on:
// VirtualSize bytes (the raw data is padded to the file alignment). The
// .linux section is the kernel PE that systemd-stub loads with LoadImage,
// which firmware then measures when secure boot does not stop it.
func UKISection(ukiPath, name string) ([]byte, error) {
	f, err := authenticode.Open(ukiPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.SectionData(name)
}

// ExitBootServicesPCR5 appends the two actions firmware measures into
// PCR 5 when the OS loader calls ExitBootServices.
func ExitBootServicesPCR5(b *baseline.Builder) error {
	if err := efiAction(b, PCRBootManagerData, ActionExitBootServices); err != nil {
		return err
	}
	return efiAction(b, PCRBootManagerData, ActionExitBootSuccess)
}

func efiAction(b *baseline.Builder, index int, action string) error {
	return b.Extend(index, baseline.Measurement{Type: "EV_EFI_ACTION", Description: action, Data: []byte(action),
		Digest: baseline.HashOf([]byte(action)), Provenance: baseline.Provenance{Rule: "UEFI: EFI action string"}})
}

// Event tags the Linux EFI stub measures into PCR 9.
const (
	tagLinuxInitrd      = 0x8F3B22EC
	tagLinuxLoadOptions = 0x8F3B22ED
)

// LinuxStubPCR9 appends what the Linux EFI stub (6.1 and later) measures:
// the command line it was started with, as UTF-16LE with its NUL, and the
// initrd it loads. An empty cmdline or nil initrd leaves that event out.
func LinuxStubPCR9(b *baseline.Builder, cmdline string, initrd []byte, initrdPath string) error {
	if cmdline != "" {
		u := utf16.Encode([]rune(cmdline))
		opts := make([]byte, 0, 2*len(u)+2)
		for _, c := range u {
			opts = binary.LittleEndian.AppendUint16(opts, c)
		}
		opts = append(opts, 0, 0)
		if err := b.Extend(PCRKernelConfig, baseline.Measurement{Type: "EV_EVENT_TAG", Description: "LOADED_IMAGE::LoadOptions: " + cmdline,
			Data: taggedEvent(tagLinuxLoadOptions, "LOADED_IMAGE::LoadOptions"), Digest: baseline.HashOf(opts),
			Provenance: baseline.Provenance{Rule: "Linux EFI stub: H(UTF-16LE command line with NUL)"}}); err != nil {
			return err
		}
	}
	if initrd != nil {
		prov := baseline.Provenance{Rule: "Linux EFI stub: H(initrd)", Artifact: initrdPath}
		if initrdPath != "" {
			prov.ArtifactSHA256 = fmt.Sprintf("%x", pcr.SHA256.Sum(initrd))
		}
		if err := b.Extend(PCRKernelConfig, baseline.Measurement{Type: "EV_EVENT_TAG", Description: fmt.Sprintf("Linux initrd (%d bytes)", len(initrd)),
			Data: taggedEvent(tagLinuxInitrd, "Linux initrd"), Digest: baseline.HashOf(initrd), Provenance: prov}); err != nil {
			return err
		}
	}
	return nil
}

// taggedEvent builds the TCG_PCClientTaggedEvent the stub logs.
func taggedEvent(id uint32, desc string) []byte {
	d := append([]byte(desc), 0)
	out := binary.LittleEndian.AppendUint32(nil, id)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(d)))
	return append(out, d...)
}
