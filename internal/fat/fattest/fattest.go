// Package fattest makes FAT file systems and GPT disk images with the real
// tools (mtools' mformat, mmd and mcopy; util-linux's sfdisk) for tests of
// the FAT reader and of what reads an EFI System Partition.
package fattest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RunTool runs a tool the tests need; missing tools fail the test (they are
// installed by scripts/deps.sh).
func RunTool(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Make formats an image of sizeKiB with mformat (FAT32 with fat32) at
// byte offset off of img and copies files (path on the FAT → contents)
// into it with mcopy, creating directories with mmd.
func Make(t testing.TB, img string, off int64, sizeKiB int, fat32 bool, files map[string][]byte) {
	t.Helper()
	if off == 0 {
		if err := os.Truncate(img, int64(sizeKiB)*1024); err != nil {
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Truncate(img, int64(sizeKiB)*1024); err != nil {
				t.Fatal(err)
			}
		}
	}
	target := img
	if off != 0 {
		target = fmt.Sprintf("%s@@%d", img, off)
	}
	args := []string{"-i", target}
	if fat32 {
		args = append(args, "-F")
	}
	if off != 0 {
		args = append(args, "-T", fmt.Sprint(sizeKiB*2), "-h", "1", "-s", "32")
	}
	RunTool(t, "mformat", append(args, "::")...)
	dirs := map[string]bool{}
	tmp := t.TempDir()
	i := 0
	for p, data := range files {
		parts := strings.Split(p, "/")
		for j := 1; j < len(parts); j++ {
			d := strings.Join(parts[:j], "/")
			if !dirs[d] {
				RunTool(t, "mmd", "-i", target, "::"+d)
				dirs[d] = true
			}
		}
		i++
		local := filepath.Join(tmp, fmt.Sprint(i))
		if err := os.WriteFile(local, data, 0o644); err != nil {
			t.Fatal(err)
		}
		RunTool(t, "mcopy", "-i", target, local, "::"+p)
	}
}

// Files is a set of files with a long name, directories, an empty file
// and one spanning many clusters.
func Files() map[string][]byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // many clusters
	return map[string][]byte{
		"EFI/BOOT/grub.cfg":                     []byte("set timeout=0\nlinux /bzImage root=/dev/sda2\n"),
		"EFI/BOOT/bootx64.efi":                  []byte("MZ not really"),
		"EFI/Linux/a-rather-long-file-name.efi": big,
		"loader/loader.conf":                    []byte("timeout 0\n"),
		"bzImage":                               []byte("kernel"),
		"empty":                                 {},
	}
}

// MakeWic builds a GPT disk image with sfdisk holding an EFI System
// Partition (FAT, made with mformat and mcopy at its offset) and a Linux
// root partition, as wic's bootimg-efi plugin lays it out.
func MakeWic(t testing.TB, path string, files map[string][]byte) {
	t.Helper()
	const espStartLBA, espKiB = 2048, 16 * 1024
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(path, 40<<20); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n", espStartLBA, espKiB*2)
	cmd := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	Make(t, path, espStartLBA*512, espKiB, false, files)
}

// SmallImage is a 12 KiB FAT12 made with mformat (small, so a fuzzer's
// minimisation stays quick) holding EFI/BOOT/grub.cfg and a long file
// name: the seed of the fuzz targets.
func SmallImage(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "seed.img")
	cfg := filepath.Join(dir, "grub.cfg")
	os.WriteFile(cfg, []byte("linux /bzImage\n"), 0o644)
	if err := os.WriteFile(img, make([]byte, 12*1024), 0o644); err != nil {
		t.Fatal(err)
	}
	RunTool(t, "mformat", "-i", img, "-T", "24", "-h", "1", "-s", "24", "-r", "1", "-c", "1", "::")
	RunTool(t, "mmd", "-i", img, "::EFI", "::EFI/BOOT")
	RunTool(t, "mcopy", "-i", img, cfg, "::EFI/BOOT/grub.cfg")
	RunTool(t, "mcopy", "-i", img, cfg, "::a-long-name.txt")
	seed, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return seed
}
