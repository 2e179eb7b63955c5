package refvals

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/fat/fattest"
)

func TestFATInGPTDisk(t *testing.T) {
	img := filepath.Join(t.TempDir(), "core-image-minimal-qemux86-64.rootfs.wic")
	fattest.MakeWic(t, img, fattest.Files())
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
	if err != nil || !bytes.Equal(got, fattest.Files()["EFI/BOOT/grub.cfg"]) {
		t.Fatalf("grub.cfg: %q, %v", got, err)
	}
}

// FuzzOpenESP: no disk image makes the GPT reader panic or read without
// bound; seeds are a bare FAT and a GPT whose entries point anywhere.
func FuzzOpenESP(f *testing.F) {
	f.Add(fattest.SmallImage(f))
	gpt := make([]byte, 3*512)
	copy(gpt[512:], "EFI PART")
	gpt[512+72], gpt[512+80], gpt[512+84] = 2, 1, 128 // entries at LBA 2: one of 128 bytes
	copy(gpt[1024:], GUIDEFISystemPartition[:])
	gpt[1024+32], gpt[1024+40] = 1, 2
	f.Add(gpt)
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, _, _, err := OpenESP(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			fs.ReadFile("EFI/BOOT/grub.cfg")
		}
	})
}
