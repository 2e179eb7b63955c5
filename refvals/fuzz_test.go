package refvals

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// varStore builds a minimal edk2 authenticated variable store.
func varStore(vars ...Variable) []byte {
	const fvHeader = 0x48
	b := make([]byte, fvHeader)
	copy(b[0x28:], fvSignature)
	binary.LittleEndian.PutUint16(b[0x30:], fvHeader)
	store := append([]byte{}, guidAuthVarStore[:]...)
	store = binary.LittleEndian.AppendUint32(store, 0) // size, set below
	store = append(store, 0x5a, 0xfe, 0, 0, 0, 0, 0, 0)
	for _, v := range vars {
		name := utf16.Encode([]rune(v.Name + "\x00"))
		h := make([]byte, authVarHeaderLen)
		binary.LittleEndian.PutUint16(h, varStartID)
		h[2] = varAdded
		binary.LittleEndian.PutUint32(h[36:], uint32(2*len(name)))
		binary.LittleEndian.PutUint32(h[40:], uint32(len(v.Data)))
		copy(h[44:], v.Vendor[:])
		store = append(store, h...)
		for _, c := range name {
			store = binary.LittleEndian.AppendUint16(store, c)
		}
		store = append(store, v.Data...)
		for len(store)%4 != 0 {
			store = append(store, 0xff)
		}
	}
	binary.LittleEndian.PutUint32(store[16:], uint32(len(store)))
	return append(b, store...)
}

func TestVarStoreBuilder(t *testing.T) {
	vars, err := ReadVarStore(varStore(Variable{eventlog.GUIDGlobalVariable, "PK", []byte{1, 2, 3}}, Variable{eventlog.GUIDImageSecurityDB, "db", []byte{4}}))
	if err != nil || len(vars) != 2 || vars[1].Name != "db" || vars[0].Data[2] != 3 {
		t.Fatalf("vars %+v, %v", vars, err)
	}
}

// FuzzReadVarStore: any bytes give variables or an error, never a panic.
func FuzzReadVarStore(f *testing.F) {
	f.Add(varStore(Variable{eventlog.GUIDGlobalVariable, "PK", []byte("pk")}, Variable{guidSecureBootEnable, "SecureBootEnable", []byte{1}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		vars, err := ReadVarStore(data)
		if err != nil {
			return
		}
		SecureBootFromVarStore(vars)
	})
}

// FuzzGRUB: any configuration is simulated or refused with an error, at a
// cost linear in its size (the bound is far above what the expansion
// budget lets through, and far below what a bomb allocates). The
// configuration is also the boot device's /s.cfg and its grub.cfg, so
// source, configfile and search reach it again.
func FuzzGRUB(f *testing.F) {
	f.Add([]byte("set timeout=0\nset default=0\ninsmod tpm\nmenuentry 'x' {\n\tlinux /k a=\"b c\" $x ${y}\n\tinitrd /k\n}\n"))
	f.Add([]byte("search --no-floppy --file --set=root /k\nif [ -e /s.cfg ]; then\n\tsource /s.cfg\nelif test -f /k -o ! -d /x; then set a=1; else set a=2; fi\n"))
	f.Add([]byte("if [ -z \"$a\" ]; then set a=1; configfile /s.cfg; fi\nload_env\ntest -s /k; chainloader /k\n"))
	f.Add([]byte("source /s.cfg\n"))
	seeds, _ := filepath.Glob("../fixtures/lab/*.cfg")
	if len(seeds) == 0 {
		f.Fatal("no fixtures/lab/*.cfg to seed from")
	}
	for _, name := range seeds {
		cfg, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cfg)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, cfg []byte) {
		self := filepath.Join(dir, "s.cfg")
		if err := os.WriteFile(self, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		alloc := allocated(func() {
			GRUBPCR8And9(baseline.NewBuilder(pcr.SHA256), cfg, GRUBOptions{Root: "(hd0)", OECore: true,
				Files: map[string]string{"/k": "fuzz_test.go", "/s.cfg": self, "/grubenv": "fuzz_test.go"}})
		})
		// Each run of /s.cfg is charged to the budget: at most the
		// budget's worth of configuration runs, whatever sources what.
		if limit := 64*uint64(grubExpansionPerByte*2*len(cfg)+grubExpansionFloor) + 1<<20; alloc > limit {
			t.Fatalf("%s allocated for %d bytes", mib(alloc), len(cfg))
		}
	})
}

// FuzzGRUBEmbeddedConfig feeds the GRUB image reader mutated GRUB
// images: Debian's real ones and ones grub-mkimage builds here. It must
// never panic, and what it finds must lie inside the image.
func FuzzGRUBEmbeddedConfig(f *testing.F) {
	// Seeds in a few KiB: grub-mkimage images cut to their mods section,
	// one shaped as OE-core's, one as Debian's (whose real images are
	// megabytes, which the fuzzer mutates a few hundred times in 20 s;
	// the unit tests read them whole).
	f.Add(onlyMods(f, mkGRUBImage(f, oeCoreEmbeddedConfig, "/EFI/BOOT")))
	f.Add(onlyMods(f, mkGRUBImage(f, "normal (memdisk)/grub.cfg\n", "/EFI/debian")))
	f.Fuzz(func(t *testing.T, image []byte) {
		cfg, found, err := GRUBEmbeddedConfig(image)
		if err != nil {
			return
		}
		g, err := ReadGRUBImage(image)
		if err != nil || g.Config != cfg || g.HasConfig != found {
			t.Fatalf("ReadGRUBImage disagrees: %v", err)
		}
		if found && (strings.IndexByte(cfg, 0) >= 0 || g.ConfigOffset < 0 || g.ConfigOffset+int64(len(cfg)) > int64(len(image))) {
			t.Fatalf("config %q at %d outside a %d-byte image", cfg, g.ConfigOffset, len(image))
		}
		g.shape()
		g.MemdiskFile("/grub.cfg")
	})
}
