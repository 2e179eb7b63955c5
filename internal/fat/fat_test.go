package fat

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/fat/fattest"
)

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
			files := fattest.Files()
			fattest.Make(t, img, 0, tc.sizeKiB, tc.fat32, files)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			fs, err := Open(f, 0, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			if fs.Type != tc.want {
				t.Fatalf("FAT%d, want FAT%d", fs.Type, tc.want)
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

func TestFATRejectsDamage(t *testing.T) {
	img := filepath.Join(t.TempDir(), "esp.img")
	fattest.Make(t, img, 0, 1440, false, fattest.Files())
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
		if fs, err := Open(bytes.NewReader(b), 0, int64(len(b))); err == nil {
			if _, err := fs.ReadFile("EFI/Linux/a-rather-long-file-name.efi"); err == nil {
				t.Errorf("%s: damaged image read without error", name)
			}
		}
	}
	// A FAT chain that loops ends with an error, not forever.
	fs, err := Open(bytes.NewReader(good), 0, int64(len(good)))
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
	fs, _ = Open(bytes.NewReader(b), 0, int64(len(b)))
	if _, err := fs.ReadFile("EFI/Linux/a-rather-long-file-name.efi"); err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("looping chain: %v", err)
	}
}

// FuzzOpen: no image makes the reader panic, loop or allocate without
// bound. The seed is fattest.SmallImage.
func FuzzOpen(f *testing.F) {
	seed := fattest.SmallImage(f)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := Open(bytes.NewReader(data), 0, int64(len(data)))
		if err != nil {
			return
		}
		walkSome(fs)
	})
}

// walkSome reads what a firmware or GRUB would: a few directories and the
// files in them.
func walkSome(fs *FS) {
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
}
