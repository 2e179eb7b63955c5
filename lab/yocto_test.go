package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/fat/fattest"
	"github.com/goldenpcr/goldenpcr/refvals"
)

const yoctoMachine = "qemux86-64"

// yoctoCopy copies a capture's artifact into a deploy directory under a
// Yocto name, and makes the relative links pointing at it.
func yoctoCopy(t *testing.T, dir, from, real string, links ...string) string {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, real)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if err := os.Symlink(real, filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// yoctoGRUBDeploy deploys a GRUB capture as OE-core's grub-efi and wic
// do: its GRUB as grub-efi-bootx64.efi (systemd-bootx64.efi beside it, as
// every x86 wic build has), the kernel behind bzImage-<M>.bin and bzImage,
// the initramfs behind its link, testdata.json, and a .wic (with its link)
// whose ESP holds the capture's grub.cfg as EFI/BOOT/grub.cfg; then runs
// discovery on it.
func yoctoGRUBDeploy(t *testing.T, c *Capture) (d *refvals.YoctoDeploy, grubEFI, kernel, initrd string) {
	t.Helper()
	dir := t.TempDir()
	grubEFI = yoctoCopy(t, dir, c.Path("grubx64.efi"), "grub-efi-bootx64.efi")
	yoctoCopy(t, dir, systemdBoot, "systemd-bootx64.efi")
	kernel = yoctoCopy(t, dir, c.Path("vmlinuz"), "bzImage--6.1-r0-qemux86-64-20250101.bin", "bzImage-qemux86-64.bin", "bzImage")
	initrd = yoctoCopy(t, dir, c.Path("initrd.img"), "core-image-minimal-initramfs-qemux86-64-20250101120000.cpio.gz", "core-image-minimal-initramfs-qemux86-64.cpio.gz")
	yoctoTestdata(t, dir, "core-image-minimal", `{"MACHINE": "qemux86-64", "EFI_PROVIDER": "grub-efi", "KERNEL_IMAGETYPE": "bzImage", "INITRAMFS_IMAGE": "core-image-minimal-initramfs", "DISTRO_FEATURES": "efi tpm2"}`)
	real := "core-image-minimal-qemux86-64.rootfs-20250101120000.wic"
	grubCfg, err := os.ReadFile(c.Path("grub.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	fattest.MakeWic(t, filepath.Join(dir, real), map[string][]byte{"EFI/BOOT/grub.cfg": grubCfg})
	if err := os.Symlink(real, filepath.Join(dir, "core-image-minimal-qemux86-64.rootfs.wic")); err != nil {
		t.Fatal(err)
	}
	return yoctoDiscover(t, dir, yoctoMachine, "core-image-minimal"), grubEFI, kernel, initrd
}

// yoctoDiscover runs --yocto-deploy's discovery on dir, logs what it used
// and closes it when the test ends.
func yoctoDiscover(t *testing.T, dir, machine, image string) *refvals.YoctoDeploy {
	t.Helper()
	d, err := refvals.DiscoverYocto(dir, machine, image)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	t.Logf("%s:\n  %s", d.Flow, strings.Join(d.Used, "\n  "))
	return d
}

// firmwareVars is the variable store the capture's firmware booted with,
// as --efi-vars would give it.
func firmwareVars(t *testing.T, c *Capture) string {
	t.Helper()
	m, err := c.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return m.FirmwareVars
}

func yoctoTestdata(t *testing.T, dir, image string, vars string) {
	t.Helper()
	real := image + "-" + yoctoMachine + ".rootfs-20250101120000.testdata.json"
	if err := os.WriteFile(filepath.Join(dir, real), []byte(vars), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, image+"-"+yoctoMachine+".rootfs.testdata.json")); err != nil {
		t.Fatal(err)
	}
}

// The lab's UKIs, deployed as uki.bbclass does (uki.efi beside
// linuxx64.efi.stub; no systemd-boot, as the lab boots the UKI as
// BOOTX64.EFI): what DiscoverYocto derives predicts the real boots' PCRs
// 4, 5, 9, 11, and 7 given the firmware's variable store as --efi-vars
// would. The unsigned UKI makes systemd-stub LoadImage its kernel, the
// signed one (secure boot on) does not: both follow from the signature.
func TestYoctoDeployUKIRealBoot(t *testing.T) {
	stub := "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	forEachVariant(t, func(t *testing.T, c *Capture) {
		if c.Variant != "uki" && c.Variant != "uki-sb" {
			t.Skip("not a UKI boot")
		}
		vars := firmwareVars(t, c)
		dir := t.TempDir()
		yoctoCopy(t, dir, c.Path("uki.efi"), "uki.efi")
		yoctoCopy(t, dir, stub, "linuxx64.efi.stub")
		yoctoTestdata(t, dir, "core-image-minimal", `{"MACHINE": "qemux86-64", "IMAGE_CLASSES": "uki", "UKI_FILENAME": "uki.efi"}`)
		d := yoctoDiscover(t, dir, "", "")
		if d.Flow != refvals.YoctoUKI || len(d.Inputs.EFIApps) != 0 || d.Inputs.StubLoadsKernel != nil {
			t.Fatalf("flow %s, inputs %+v", d.Flow, d.Inputs)
		}
		in := d.Inputs
		in.EFIVars = vars
		comparePCRs(t, c, in, []int{4, 5, 7, 9, 11}, "--yocto-deploy")
	})
}

// The lab's GRUB boot, deployed as OE-core's grub-efi and wic do
// (yoctoGRUBDeploy). grub.cfg is read from the wic's FAT, its /vmlinuz and
// /initrd.img are mapped to the deployed kernel and initramfs. The lab's GRUB is Debian's (prefix
// /EFI/debian; its embedded configuration, read from the image, runs
// instead of OE-core's), so root and prefix are set as --grub-root and
// --grub-prefix would; the lab
// boots a bare ESP, so the wic's GPT event is left out as --disk "" would.
// PCRs 4, 5, 7, 8 and 9 equal the real boot's.
func TestYoctoDeployGRUBRealBoot(t *testing.T) {
	c := allCaptures(t)["grub"]
	vars := firmwareVars(t, c)
	d, grubEFI, kernel, initrd := yoctoGRUBDeploy(t, c)
	in := d.Inputs
	if d.Flow != refvals.YoctoGRUB || len(in.EFIApps) != 1 || in.EFIApps[0] != grubEFI || in.GRUB.Files["/vmlinuz"] != kernel || in.GRUB.Files["/initrd.img"] != initrd {
		t.Fatalf("flow %s, inputs %+v", d.Flow, in)
	}
	cfg, _ := os.ReadFile(c.Path("grub.cfg"))
	if got, err := os.ReadFile(in.GRUBCfg); err != nil || !bytes.Equal(got, cfg) {
		t.Fatalf("grub.cfg read from the wic: %q, %v", got, err)
	}
	in.GRUB.Root = "(hd0)"
	in.Disk = ""
	in.EFIVars = vars
	comparePCRs(t, c, in, []int{4, 5, 7, 8, 9}, "--yocto-deploy")
}

// The lab's grub-oe boot is OE-core's own GRUB flow: grub-efi-bootx64.efi
// built with OE-core's modules and embedded configuration, and wic's
// grub.cfg ("menuentry 'boot'{", "default=boot") on the ESP beside
// /bzImage and /initrd. Deployed under Yocto's names (yoctoGRUBDeploy),
// discovery alone predicts PCRs 4, 5, 7, 8 and 9 of the real boot;
// only the root device differs, "(hd0)" for the lab's bare ESP where a
// wic disk gives "(hd0,gpt1)", and the GPT event is left out likewise.
func TestYoctoDeployOEGRUBRealBoot(t *testing.T) {
	c := allCaptures(t)["grub-oe"]
	vars := firmwareVars(t, c)
	d, grubEFI, kernel, initrd := yoctoGRUBDeploy(t, c)
	in := d.Inputs
	if d.Flow != refvals.YoctoGRUB || len(in.EFIApps) != 1 || in.EFIApps[0] != grubEFI || in.GRUB.Files["/bzImage"] != kernel || in.GRUB.Files["/initrd"] != initrd ||
		in.GRUB.OECore || in.GRUB.Prefix != "" || in.GRUB.Root != "(hd0,gpt1)" {
		t.Fatalf("flow %s, inputs %+v", d.Flow, in)
	}
	in.GRUB.Root = "(hd0)"
	in.Disk = ""
	in.EFIVars = vars
	comparePCRs(t, c, in, []int{4, 5, 7, 8, 9}, "--yocto-deploy")
}

// The lab's systemd-boot boot, deployed as uki.bbclass does on a wic
// build: uki.efi beside linuxx64.efi.stub, systemd-bootx64.efi, and the
// grub-efi-bootx64.efi every x86 wic build deploys too. Discovery picks
// systemd-boot as the boot application; PCRs 4, 5, 7, 9 and 11 equal the
// real boot's (the lab boots a bare ESP, so there is no GPT event).
func TestYoctoDeploySystemdBootRealBoot(t *testing.T) {
	c := allCaptures(t)["sdboot"]
	vars := firmwareVars(t, c)
	dir := t.TempDir()
	uki := yoctoCopy(t, dir, c.Path("uki.efi"), "uki.efi")
	yoctoCopy(t, dir, systemdStub, "linuxx64.efi.stub")
	sdboot := yoctoCopy(t, dir, c.Path("systemd-bootx64.efi"), "systemd-bootx64.efi")
	yoctoCopy(t, dir, grubMonolithic, "grub-efi-bootx64.efi")
	yoctoTestdata(t, dir, "core-image-minimal", `{"MACHINE": "qemux86-64", "IMAGE_CLASSES": "uki", "UKI_FILENAME": "uki.efi", "EFI_PROVIDER": "systemd-boot"}`)
	d := yoctoDiscover(t, dir, "", "")
	in := d.Inputs
	if d.Flow != refvals.YoctoUKISystemdBoot || len(in.EFIApps) != 1 || in.EFIApps[0] != sdboot || in.UKI != uki || in.StubLoadsKernel != nil {
		t.Fatalf("flow %s, inputs %+v", d.Flow, in)
	}
	in.EFIVars = vars
	comparePCRs(t, c, in, []int{4, 5, 7, 9, 11}, "--yocto-deploy")
}

// The lab's shim boot, deployed as meta-secure-core does: shim as
// bootx64.efi with mmx64.efi beside it, the signed grubx64.efi and its
// unsigned copy under efi-unsigned/, grub.cfg deployed, the kernel behind
// its links and the initramfs behind its link. Discovery finds the chain
// shim → GRUB → kernel, GRUB's root set to the lab's bare ESP, (hd0) (a
// wic's would be (hd0,gpt1)); GRUB's prefix and embedded configuration are
// read from its image and the kernel's PCR 4 events under shim inferred.
// PCRs 4, 5, 7
// (shim's SbatLevel and MokListRT, Microsoft's CA as the authority), 8
// and 9 equal the real boot's.
func TestYoctoDeployShimRealBoot(t *testing.T) {
	c := allCaptures(t)["shim"]
	vars := firmwareVars(t, c)
	dir := t.TempDir()
	shim := yoctoCopy(t, dir, c.Path("shimx64.efi"), "bootx64.efi")
	yoctoCopy(t, dir, "/usr/lib/shim/mmx64.efi.signed", "mmx64.efi")
	grub := yoctoCopy(t, dir, c.Path("grubx64.efi"), "grubx64.efi")
	yoctoCopy(t, dir, grubMonolithic, "efi-unsigned/grubx64.efi")
	yoctoCopy(t, dir, grubMonolithic, "grub-efi-bootx64.efi")
	cfg := yoctoCopy(t, dir, c.Path("grub.cfg"), "grub.cfg")
	kernel := yoctoCopy(t, dir, c.Path("vmlinuz"), "bzImage--6.1-r0-qemux86-64-20250101.bin", "bzImage-qemux86-64.bin", "bzImage")
	initrd := yoctoCopy(t, dir, c.Path("initrd.img"), "secure-core-image-initramfs-qemux86-64-20250101120000.cpio.gz", "secure-core-image-initramfs-qemux86-64.cpio.gz")
	yoctoTestdata(t, dir, "secure-core-image", `{"MACHINE": "qemux86-64", "KERNEL_IMAGETYPE": "bzImage", "INITRAMFS_IMAGE": "secure-core-image-initramfs", "DISTRO_FEATURES": "efi-secure-boot tpm2 ima"}`)
	d := yoctoDiscover(t, dir, "", "")
	in := d.Inputs
	if d.Flow != refvals.YoctoShimGRUB || fmt.Sprint(in.EFIApps) != fmt.Sprint([]string{shim, grub}) || in.GRUBCfg != cfg || in.GRUB.Files["/vmlinuz"] != kernel || in.GRUB.Files["/initrd.img"] != initrd {
		t.Fatalf("flow %s, inputs %+v", d.Flow, in)
	}
	in.GRUB.Root = "(hd0)"
	in.EFIVars = vars
	comparePCRs(t, c, in, []int{4, 5, 7, 8, 9}, "--yocto-deploy")
}

// GyroidOS's flow has no lab boot of its own (the lab cannot build a
// kernel with a bundled initramfs), but its shape has one: a signed
// EFI-stub image holding its initramfs and command line, started directly
// as BOOTX64.EFI with secure boot on. The uki-sb boot's signed UKI stands
// in for cml-kernel/bzImage-initramfs-<M>.bin.signed in a GyroidOS deploy
// directory; discovery plus calculation give the real boot's PCRs 4, 5
// and 7. (PCR 9 differs by nature: systemd-stub hands the kernel its
// command line, a CML kernel has it built in; CML's PCR 11 is cmld's.)
func TestYoctoDeployGyroidOSShapeRealBoot(t *testing.T) {
	c := allCaptures(t)["uki-sb"]
	vars := firmwareVars(t, c)
	dir := t.TempDir()
	kernel := yoctoCopy(t, dir, c.Path("uki.efi"), "cml-kernel/bzImage-initramfs-qemux86-64.bin.signed")
	yoctoCopy(t, dir, grubMonolithic, "grub-efi-bootx64.efi")
	yoctoTestdata(t, dir, "gyroidos-core", `{"MACHINE": "qemux86-64", "DISTRO": "cml-base", "KERNEL_DEPLOYSUBDIR": "cml-kernel", "INITRAMFS_IMAGE_BUNDLE": "1"}`)
	d := yoctoDiscover(t, dir, "", "")
	in := d.Inputs
	if d.Flow != refvals.YoctoGyroidOS || fmt.Sprint(in.EFIApps) != fmt.Sprint([]string{kernel}) {
		t.Fatalf("flow %s, inputs %+v", d.Flow, in)
	}
	in.EFIVars = vars
	comparePCRs(t, c, in, []int{4, 5, 7}, "--yocto-deploy")
}
