package refvals

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run runs a tool the tests need; missing tools fail the test (they are
// installed by scripts/deps.sh).
func runTool(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// makeFAT formats an image of sizeKiB with mformat (FAT32 with fat32) at
// byte offset off of img and copies files (path on the FAT → contents)
// into it with mcopy, creating directories with mmd.
func makeFAT(t testing.TB, img string, off int64, sizeKiB int, fat32 bool, files map[string][]byte) {
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
	runTool(t, "mformat", append(args, "::")...)
	dirs := map[string]bool{}
	tmp := t.TempDir()
	i := 0
	for p, data := range files {
		parts := strings.Split(p, "/")
		for j := 1; j < len(parts); j++ {
			d := strings.Join(parts[:j], "/")
			if !dirs[d] {
				runTool(t, "mmd", "-i", target, "::"+d)
				dirs[d] = true
			}
		}
		i++
		local := filepath.Join(tmp, fmt.Sprint(i))
		if err := os.WriteFile(local, data, 0o644); err != nil {
			t.Fatal(err)
		}
		runTool(t, "mcopy", "-i", target, local, "::"+p)
	}
}

func fatFiles() map[string][]byte {
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

func TestFATReadsMtoolsImages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sizeKiB int
		fat32   bool
		want    int
	}{
		{"fat12", 1440, false, 12},
		{"fat16", 16 * 1024, false, 16},
		{"fat32", 64 * 1024, true, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "esp.img")
			files := fatFiles()
			makeFAT(t, img, 0, tc.sizeKiB, tc.fat32, files)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			fs, off, where, err := OpenESP(f, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			if off != 0 || fs.Type != tc.want {
				t.Fatalf("%s at %d: FAT%d, want FAT%d at 0", where, off, fs.Type, tc.want)
			}
			for p, want := range files {
				got, err := fs.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes differ from the %d written", p, len(got), len(want))
				}
				// Case-insensitive, as firmware and GRUB on FAT.
				if got, err := fs.ReadFile("/" + strings.ToUpper(p)); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s in upper case: %v", p, err)
				}
			}
			ents, err := fs.ReadDir("/EFI/Linux")
			if err != nil || len(ents) != 1 || ents[0].Name != "a-rather-long-file-name.efi" {
				t.Errorf("ReadDir /EFI/Linux = %+v, %v; want the long file name", ents, err)
			}
			if _, err := fs.ReadFile("EFI/BOOT/missing.cfg"); err == nil {
				t.Error("a missing file was read")
			}
			if _, err := fs.ReadFile("EFI/BOOT"); err == nil {
				t.Error("a directory was read as a file")
			}
			if _, err := fs.ReadFile("bzImage/x"); err == nil {
				t.Error("a file was walked as a directory")
			}
		})
	}
}

// makeWic builds a GPT disk image with sfdisk holding an EFI System
// Partition (FAT, made with mformat and mcopy at its offset) and a Linux
// root partition, as wic's bootimg-efi plugin lays it out.
func makeWic(t testing.TB, path string, files map[string][]byte) {
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
	makeFAT(t, path, espStartLBA*512, espKiB, false, files)
}

func TestFATInGPTDisk(t *testing.T) {
	img := filepath.Join(t.TempDir(), "core-image-minimal-qemux86-64.rootfs.wic")
	makeWic(t, img, fatFiles())
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	fs, off, where, err := OpenESP(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	if off != 2048*512 {
		t.Fatalf("%s: ESP at byte %d, want %d", where, off, 2048*512)
	}
	got, err := fs.ReadFile("/EFI/BOOT/grub.cfg")
	if err != nil || !bytes.Equal(got, fatFiles()["EFI/BOOT/grub.cfg"]) {
		t.Fatalf("grub.cfg: %q, %v", got, err)
	}
}

func TestFATRejectsDamage(t *testing.T) {
	img := filepath.Join(t.TempDir(), "esp.img")
	makeFAT(t, img, 0, 1440, false, fatFiles())
	good, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func(b []byte){
		"signature":      func(b []byte) { b[510] = 0 },
		"sector size":    func(b []byte) { b[11], b[12] = 0x33, 0 },
		"cluster size":   func(b []byte) { b[13] = 3 },
		"no FATs":        func(b []byte) { b[16] = 0 },
		"tiny":           func(b []byte) { b[19], b[20] = 4, 0 },
		"no root":        func(b []byte) { b[17], b[18] = 0, 0 },
		"truncated disk": nil,
	} {
		b := append([]byte{}, good...)
		if damage != nil {
			damage(b)
		} else {
			b = b[:600]
		}
		if _, _, _, err := OpenESP(bytes.NewReader(b), int64(len(b))); err == nil {
			if fs, err := OpenFAT(bytes.NewReader(b), 0, int64(len(b))); err == nil {
				if _, err := fs.ReadFile("EFI/Linux/a-rather-long-file-name.efi"); err == nil {
					t.Errorf("%s: damaged image read without error", name)
				}
			}
		}
	}
	// A FAT chain that loops ends with an error, not forever.
	fs, err := OpenFAT(bytes.NewReader(good), 0, int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	e, err := fs.Stat("EFI/Linux/a-rather-long-file-name.efi")
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte{}, good...)
	c := e.Cluster + 1 // point cluster c+1 back to c
	o := int(fs.fatStart) + int(c) + int(c)/2
	v := uint16(b[o]) | uint16(b[o+1])<<8
	if c&1 == 1 {
		v = v&0x000f | uint16(e.Cluster)<<4
	} else {
		v = v&0xf000 | uint16(e.Cluster)
	}
	b[o], b[o+1] = byte(v), byte(v>>8)
	fs, _ = OpenFAT(bytes.NewReader(b), 0, int64(len(b)))
	if _, err := fs.ReadFile("EFI/Linux/a-rather-long-file-name.efi"); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("looping chain: %v", err)
	}
}

// FuzzFAT: no image makes the reader panic, loop or allocate without
// bound. The seed is a 12 KiB FAT12 made with mformat (small, so the
// fuzzer's minimisation stays quick) holding EFI/BOOT/grub.cfg and a long
// file name.
func FuzzFAT(f *testing.F) {
	dir := f.TempDir()
	img := filepath.Join(dir, "seed.img")
	cfg := filepath.Join(dir, "grub.cfg")
	os.WriteFile(cfg, []byte("linux /bzImage\n"), 0o644)
	if err := os.WriteFile(img, make([]byte, 12*1024), 0o644); err != nil {
		f.Fatal(err)
	}
	runTool(f, "mformat", "-i", img, "-T", "24", "-h", "1", "-s", "24", "-r", "1", "-c", "1", "::")
	runTool(f, "mmd", "-i", img, "::EFI", "::EFI/BOOT")
	runTool(f, "mcopy", "-i", img, cfg, "::EFI/BOOT/grub.cfg")
	runTool(f, "mcopy", "-i", img, cfg, "::a-long-name.txt")
	seed, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, _, _, err := OpenESP(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, p := range []string{"/", "EFI", "EFI/BOOT"} {
			if ents, err := fs.ReadDir(p); err == nil {
				for i, e := range ents {
					if !e.Dir && i < 8 {
						fs.ReadFile(p + "/" + e.Name)
					}
				}
			}
		}
		fs.ReadFile("EFI/BOOT/grub.cfg")
	})
}
