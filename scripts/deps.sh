#!/usr/bin/env bash
# Installs the Debian packages goldenpcr's tests use as real peers, only
# those missing, so `make test` works on a fresh machine.
set -euo pipefail

# command → Debian package providing it
declare -A need=(
	[tpm2_eventlog]=tpm2-tools
	[tpm2_pcrread]=tpm2-tools
	[swtpm]=swtpm
	[swtpm_setup]=swtpm-tools
	[evmctl]=ima-evm-utils
	[osslsigncode]=osslsigncode
	[sbsign]=sbsigntool
	[pesign]=pesign
	[openssl]=openssl
	# make generate and cml's generated-code test (cml/tpm2d.proto)
	[protoc]=protobuf-compiler
	[gcc]=gcc
	[sfdisk]=fdisk
	# ext2/3/4 images for ima policy (internal/ext4)
	[mkfs.ext4]=e2fsprogs
	[mke2fs]=e2fsprogs
	[e2fsck]=e2fsprogs
	[debugfs]=e2fsprogs
	[/usr/lib/systemd/systemd-measure]=systemd
	# boot lab (lab/, docs/lab.md)
	[qemu-system-x86_64]=qemu-system-x86
	[swtpm_ioctl]=swtpm-tools
	[mformat]=mtools
	[mcopy]=mtools
	[objcopy]=binutils
	[grub-mkimage]=grub-common
	[apt-get]=apt
	[dpkg-deb]=dpkg
	# diff --html's page, loaded in headless Chromium over WebDriver (diff/)
	[chromium]=chromium
	[chromedriver]=chromium-driver
)

# file → Debian package shipping it (test inputs: real EFI binaries)
declare -A files=(
	[/usr/lib/shim/shimx64.efi]=shim-unsigned
	[/usr/lib/shim/shimx64.efi.signed]=shim-signed
	[/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi]=grub-efi-amd64-bin
	[/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed]=grub-efi-amd64-signed
	[/usr/lib/systemd/boot/efi/systemd-bootx64.efi]=systemd-boot-efi
	# the go-tpm-tools TPM simulator (cgo, quote tests only) links OpenSSL
	[/usr/include/openssl/ssl.h]=libssl-dev
	# boot lab: firmware, systemd-stub, a static busybox for the initramfs
	[/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf
	[/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd]=ovmf
	[/usr/share/OVMF/OVMF_CODE_4M.ms.fd]=ovmf
	[/usr/share/ovmf/PkKek-1-snakeoil.key]=ovmf
	[/usr/lib/systemd/boot/efi/linuxx64.efi.stub]=systemd-boot-efi
	[/bin/busybox]=busybox-static
	# DRTM with tboot (refvals, lab): a real tboot image, and its own MLE
	# hash and policy tools as peers
	[/boot/tboot.gz]=tboot
	[/usr/sbin/lcp2_mlehash]=tboot
	# make bench: a child's own peak memory (a forked child's rusage
	# carries the parent's)
	[/usr/bin/time]=time
	[/usr/sbin/tb_polgen]=tboot
	# boot lab: OE-core-style GRUB image (grub-oe), meta-secure-core's MokManager
	[/usr/lib/grub/x86_64-efi/linuxefi.mod]=grub-efi-amd64-bin
	[/usr/lib/shim/mmx64.efi.signed]=shim-signed
	# boot lab: uki-pcrphase's private apt checks trixie's signatures with it
	[/usr/share/keyrings/debian-archive-keyring.gpg]=debian-archive-keyring
)

missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
for f in "${!files[@]}"; do
	[ -e "$f" ] || missing+=("${files[$f]}")
done
[ ${#missing[@]} -eq 0 ] && { echo "deps: all peer tools present"; exit 0; }

mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "deps: installing ${pkgs[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
