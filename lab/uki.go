package lab

import (
	"debug/pe"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// UKI is a unified kernel image and what went into it.
type UKI struct {
	Path    string
	Kernel  string
	Initrd  string
	Cmdline string
	OSRel   string
}

// osRelease is the UKI's .osrel section.
const osRelease = "ID=goldenpcr-lab\nNAME=\"goldenpcr boot lab\"\nVERSION_ID=1\nPRETTY_NAME=\"goldenpcr boot lab\"\n"

// ukiSections are added to systemd-stub in this order, each page-aligned
// after the stub's last section.
var ukiSections = []string{".osrel", ".cmdline", ".linux", ".initrd"}

// BuildUKI joins systemd-stub, kernel, initrd and command line into a UKI
// with objcopy, then zeroes the COFF timestamp objcopy writes (and fixes the
// PE checksum) so the same inputs always give the same file.
func (l *Lab) BuildUKI(kernel, initrd, cmdline string) (*UKI, error) {
	k := newKey("uki").add("cmdline", cmdline).bytes("osrel", []byte(osRelease))
	if err := k.files(map[string]string{"stub": systemdStub, "kernel": kernel, "initrd": initrd}); err != nil {
		return nil, err
	}
	objcopyVersion, _ := run("", nil, "objcopy", "--version")
	k.bytes("objcopy", objcopyVersion)
	dir, err := l.cached("uki", k, func(dir string) error {
		l.logf("building UKI (objcopy onto systemd-stub)")
		files := map[string]string{
			".osrel":   filepath.Join(dir, "os-release"),
			".cmdline": filepath.Join(dir, "cmdline"),
			".linux":   filepath.Join(dir, "vmlinuz"),
			".initrd":  filepath.Join(dir, "initrd.img"),
		}
		if err := os.WriteFile(files[".osrel"], []byte(osRelease), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(files[".cmdline"], []byte(cmdline), 0o644); err != nil {
			return err
		}
		if err := copyFile(kernel, files[".linux"], 0o644); err != nil {
			return err
		}
		if err := copyFile(initrd, files[".initrd"], 0o644); err != nil {
			return err
		}
		next, err := stubEnd(systemdStub)
		if err != nil {
			return err
		}
		var args []string
		for _, s := range ukiSections {
			fi, err := os.Stat(files[s])
			if err != nil {
				return err
			}
			args = append(args, "--add-section", s+"="+files[s], "--change-section-vma", fmt.Sprintf("%s=%#x", s, next))
			next = alignUp(next+uint64(fi.Size()), 0x1000)
		}
		out := filepath.Join(dir, "uki.efi")
		args = append(args, systemdStub, out)
		if _, err := run("", nil, "objcopy", args...); err != nil {
			return err
		}
		return zeroTimestamp(out)
	})
	if err != nil {
		return nil, err
	}
	return &UKI{
		Path:    filepath.Join(dir, "uki.efi"),
		Kernel:  filepath.Join(dir, "vmlinuz"),
		Initrd:  filepath.Join(dir, "initrd.img"),
		Cmdline: filepath.Join(dir, "cmdline"),
		OSRel:   filepath.Join(dir, "os-release"),
	}, nil
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) / a * a }

// stubEnd is the first page-aligned address after the stub's sections,
// image base included (objcopy takes absolute VMAs).
func stubEnd(path string) (uint64, error) {
	f, err := pe.Open(path)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return 0, fmt.Errorf("%s is not a PE32+ image", path)
	}
	var end uint64
	for _, s := range f.Sections {
		if e := uint64(s.VirtualAddress) + uint64(s.VirtualSize); e > end {
			end = e
		}
	}
	return oh.ImageBase + alignUp(end, 0x1000), nil
}

// zeroTimestamp clears the COFF header's TimeDateStamp and recomputes the
// optional header's CheckSum over the changed file.
func zeroTimestamp(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(b) < 0x40 {
		return fmt.Errorf("%s: too short for a PE image", path)
	}
	peOff := int(binary.LittleEndian.Uint32(b[0x3c:]))
	if peOff+24+68 > len(b) || string(b[peOff:peOff+4]) != "PE\x00\x00" {
		return fmt.Errorf("%s: no PE signature", path)
	}
	binary.LittleEndian.PutUint32(b[peOff+8:], 0)
	sumOff := peOff + 24 + 64
	binary.LittleEndian.PutUint32(b[sumOff:], 0)
	binary.LittleEndian.PutUint32(b[sumOff:], peChecksum(b, sumOff))
	return os.WriteFile(path, b, 0o644)
}

// peChecksum is the image checksum of the PE format: a 16-bit one's
// complement style sum of the file, the CheckSum field skipped, plus the
// file length.
func peChecksum(b []byte, sumOff int) uint32 {
	var sum uint64
	for i := 0; i+1 < len(b); i += 2 {
		if i == sumOff || i == sumOff+2 {
			continue
		}
		sum += uint64(binary.LittleEndian.Uint16(b[i:]))
		sum = (sum & 0xffff) + (sum >> 16)
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1])
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(b))
}

// SignUKI signs the UKI with OVMF's snakeoil db key.
func (l *Lab) SignUKI(uki *UKI) (string, error) {
	return l.snakeoilSign("uki-signed", "uki", uki.Path, "uki.signed.efi", false)
}

// SignKernel replaces a kernel's Debian signature with a snakeoil db
// signature: secure boot then accepts it through db.
func (l *Lab) SignKernel(vmlinuz string) (string, error) {
	return l.snakeoilSign("kernel-signed", "kernel", vmlinuz, "vmlinuz.signed", true)
}

// snakeoilSign signs the PE image at path with sbsign and OVMF's snakeoil
// db key (PkKek-1-snakeoil, whose key file is encrypted with the password
// "snakeoil"), cached under kind; role names the image in the cache key.
// sbsign adds its signature beside those the image has: strip removes
// them first.
func (l *Lab) snakeoilSign(kind, role, path, name string, strip bool) (string, error) {
	k := newKey(kind)
	if strip {
		k.add("strip", "sbattach --remove")
	}
	if err := k.files(map[string]string{role: path, "key": snakeoilKey, "cert": snakeoilCert}); err != nil {
		return "", err
	}
	dir, err := l.cached(kind, k, func(dir string) error {
		l.logf("signing the %s with the snakeoil key (sbsign)", role)
		key := filepath.Join(dir, "snakeoil.key")
		if _, err := run("", nil, "openssl", "rsa", "-in", snakeoilKey, "-passin", "pass:snakeoil", "-out", key); err != nil {
			return err
		}
		defer os.Remove(key)
		if strip {
			bare := filepath.Join(dir, "unsigned")
			if err := copyFile(path, bare, 0o644); err != nil {
				return err
			}
			defer os.Remove(bare)
			if _, err := run("", nil, "sbattach", "--remove", bare); err != nil {
				return err
			}
			path = bare
		}
		_, err := run("", nil, "sbsign", "--key", key, "--cert", snakeoilCert, "--output", filepath.Join(dir, name), path)
		return err
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}
