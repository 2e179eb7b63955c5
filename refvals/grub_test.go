package refvals

import (
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// The boot lab booted Debian's monolithic GRUB with fixtures/lab/grub.cfg,
// and a GRUB image built as OE-core builds grub-efi-bootx64.efi with wic's
// grub.cfg (fixtures/lab/grub-oe.cfg), under OVMF and swtpm: the
// simulation must produce the PCR 8 those real boots produced, and the
// same PCR 9 events (paths, and the grub.cfg digests; the kernel and
// initrd digests are the files' hashes, checked end to end by the lab
// tests).
func TestGRUBMatchesRealBoot(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := writeFile(t, dir, "vmlinuz", []byte("kernel")), writeFile(t, dir, "initrd", []byte("initrd"))
	for _, tc := range []struct {
		cfg, log string
		opts     GRUBOptions
	}{
		{"grub.cfg", "grub-eventlog.bin", GRUBOptions{Root: "(hd0)", Prefix: "/EFI/debian", DebianPrelude: true,
			Files: map[string]string{"/vmlinuz": kernel, "/initrd.img": initrd}}},
		{"grub-oe.cfg", "grub-oe-eventlog.bin", GRUBOptions{Root: "(hd0)", Prefix: "/EFI/BOOT", OECore: true,
			Files: map[string]string{"/bzImage": kernel, "/initrd": initrd}}},
	} {
		t.Run(tc.cfg, func(t *testing.T) {
			cfgPath := filepath.Join("../fixtures/lab", tc.cfg)
			cfg, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			logData, err := os.ReadFile(filepath.Join("../fixtures/lab", tc.log))
			if err != nil {
				t.Fatal(err)
			}
			replay, err := eventlog.ReplayLog(bytes.NewReader(logData), nil)
			if err != nil {
				t.Fatal(err)
			}
			b := baseline.NewBuilder(pcr.SHA1, pcr.SHA256)
			tc.opts.ConfigPath = cfgPath
			if _, err := GRUBPCR8And9(b, cfg, tc.opts); err != nil {
				t.Fatal(err)
			}
			doc := b.Baseline()
			got, _ := doc.Values()
			for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
				want, _ := replay.Values.Get(alg, PCRBootLoaderConfig)
				if g, _ := got.Get(alg, PCRBootLoaderConfig); !bytes.Equal(g, want) {
					t.Errorf("%s PCR 8 = %x, real boot %x", alg, g, want)
				}
			}
			cfgDigest := hex.EncodeToString(pcr.SHA256.Sum(cfg))
			var real []string
			rd, _ := eventlog.NewReader(bytes.NewReader(logData))
			for {
				ev, err := rd.Next()
				if err == io.EOF {
					break
				}
				if ev.PCR == PCRKernelConfig {
					d, _ := ev.Digest(pcr.SHA256)
					real = append(real, describePCR9(strings.TrimRight(string(ev.Data), "\x00"), hex.EncodeToString(d), cfgDigest))
				}
			}
			var sim []string
			for _, p := range doc.PCRs {
				if p.Index == PCRKernelConfig {
					for _, e := range p.Events {
						sim = append(sim, describePCR9(e.Description, e.Digests["sha256"], cfgDigest))
					}
				}
			}
			if strings.Join(sim, ", ") != strings.Join(real, ", ") {
				t.Errorf("PCR 9 events\n  simulated %v\n  real boot %v", sim, real)
			}
		})
	}
}

// describePCR9 names a PCR 9 event by its path, marking the grub.cfg
// reads whose digest is the configuration's.
func describePCR9(path, digest, cfgDigest string) string {
	if digest == cfgDigest {
		return path + " (grub.cfg)"
	}
	return path
}

func TestGRUBRefusesWhatItCannotSimulate(t *testing.T) {
	for cfg, want := range map[string]string{
		"set a=1\nif [ x ]; then\n  linux /k\nfi\n":      "line 2: \"if\" is not simulated",
		"menuentry 'a' {\n linux /missing\n}\n":          "line 2: GRUB reads /missing",
		"menuentry 'a' {\n linux /k\n":                   "never closed",
		"set default=3\nmenuentry 'a' {\n linux /k\n}\n": "default=3 but grub.cfg has 1 menu entries",
		"linux '/k\n":         "unterminated ' quote",
		"source /other.cfg\n": "\"source\" is not simulated",
	} {
		_, err := GRUBPCR8And9(baseline.NewBuilder(pcr.SHA256), []byte(cfg), GRUBOptions{Root: "(hd0)", Files: map[string]string{"/k": filepath.Join("..", "fixtures", "lab", "grub.cfg")}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", cfg, err, want)
		}
	}
}

func TestGRUBWords(t *testing.T) {
	vars := map[string]string{"root": "(hd0,gpt2)", "k": "vmlinuz"}
	budget := grubExpansionFloor
	w, err := grubWords(`linux ${root}/boot/$k root="UUID=1 2" 'quiet $k'  # comment`, vars, &budget)
	if err != nil || strings.Join(w, "|") != "linux|(hd0,gpt2)/boot/vmlinuz|root=UUID=1 2|quiet $k" {
		t.Errorf("words %q, %v", w, err)
	}
}
