// Package lab is goldenpcr's boot lab: it builds real boot images from
// Debian's packages (a systemd-stub UKI, a standalone GRUB, Debian's signed
// shim → GRUB → kernel chain), boots them under QEMU with Debian's OVMF
// firmware and a swtpm TPM, and captures what the firmware and the kernel
// really measured: the TCG event log, the IMA measurement lists, every PCR
// of the SHA-1 and SHA-256 banks, and a TPM2_Quote over them.
//
// The captures are the project's ground truth: the tests in this package
// replay them with goldenpcr's own code and compare with the PCRs the TPM
// reported. docs/lab.md describes the variants, the cache and how to boot
// your own UKI.
//
// Everything runs without KVM (QEMU's TCG) and without root-only tricks:
// file systems are built with mtools, the kernel is taken from Debian's
// linux-image package with apt-get download and never installed.
package lab
