package refvals

import (
	"bytes"
	"fmt"

	"github.com/goldenpcr/goldenpcr/baseline"
)

// Markers in a GRUB image of the two paths by which GRUB hands the kernel
// to shim's Verify, which measures what it verifies into PCR 4 (as an
// image without a device path: "image at 0x…"):
//   - GRUB's shim_lock verifier (2.06+, grub-core/kern/efi/sb.c), which
//     with secure boot on verifies every kernel file GRUB opens;
//   - the linuxefi loader of Fedora's and Debian's patches, which
//     validates the kernel through shim again before starting it, and to
//     which Debian's plain linux command forwards under secure boot.
var (
	grubShimLockVerifier = []byte("shim_lock_verifier")
	grubLinuxEFI         = []byte("linuxefi")
	grubLinuxToLinuxEFI  = []byte("Secure Boot enabled: trying linuxefi")
)

// shimKernelMeasurements is how many times shim measures the kernel GRUB
// boots into PCR 4, and why: none unless secure boot is on and GRUB was
// started by shim; then one for each of GRUB's paths to shim's Verify
// the GRUB image has. The lab's shim boots (Debian's signed GRUB 2.06
// under shim 15.8) show two for linux and for linuxefi with secure boot
// on, none with it off.
func shimKernelMeasurements(secureBoot bool, grub []byte, k *GRUBKernel) (int, string) {
	if !secureBoot {
		return 0, "secure boot off: GRUB verifies nothing through shim"
	}
	n, why := 0, ""
	if bytes.Contains(grub, grubShimLockVerifier) {
		n++
		why = "GRUB's shim_lock verifier hands the kernel file to shim's Verify"
	}
	linuxefi := k.Command == "linuxefi" || k.Command == "linux" && bytes.Contains(grub, grubLinuxToLinuxEFI)
	if linuxefi && bytes.Contains(grub, grubLinuxEFI) {
		n++
		if why != "" {
			why += ", and "
		}
		why += "the linuxefi loader validates it through shim again"
		if k.Command == "linux" {
			why += " (the image's linux forwards to linuxefi under secure boot)"
		}
	}
	if n == 0 {
		return 0, fmt.Sprintf("the GRUB image has neither shim_lock verifier nor linuxefi: %s is assumed not to reach shim", k.Command)
	}
	return n, why
}

// grubKernelPCR4 appends to PCR 4 what shim measures of the kernel GRUB
// boots, when an EFI application before the GRUB image is shim.
func (in *Inputs) grubKernelPCR4(b *baseline.Builder, policy SecureBootPolicy, k *GRUBKernel) error {
	if k == nil {
		return nil
	}
	grub, grubPath, err := in.grubImage()
	if err != nil || grub == nil {
		return err
	}
	shim := ""
	for _, p := range in.EFIApps {
		if p == grubPath {
			break
		}
		if _, err := ReadShim(p); err == nil {
			shim = p
		}
	}
	if shim == "" {
		b.Note("PCR 4: GRUB is not started by shim, so the kernel it boots is not measured there")
		return nil
	}
	n, why := shimKernelMeasurements(policy.On, grub, k)
	b.Note("PCR 4: %s measures the kernel %s boots %d times: %s", in.name(shim), in.name(grubPath), n, why)
	apps := make([]BootApplication, n)
	for i := range apps {
		apps[i] = BootApplication{Path: k.File, Why: "kernel " + k.Path + " verified by shim for GRUB", Rule: "shim Verify"}
	}
	return BootApplicationsPCR4(b, apps)
}
