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

// The boot lab booted Debian's monolithic GRUB with fixtures/lab/grub.cfg
// under OVMF and swtpm: the simulation must produce the PCR 8 that real
// boot produced, and the same PCR 9 events (paths, and the grub.cfg
// digest; the kernel and initrd digests are the files' hashes, checked end
// to end by the lab tests).
func TestGRUBMatchesRealBoot(t *testing.T) {
	cfg, err := os.ReadFile("../fixtures/lab/grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	logData, err := os.ReadFile("../fixtures/lab/grub-eventlog.bin")
	if err != nil {
		t.Fatal(err)
	}
	replay, err := eventlog.ReplayLog(bytes.NewReader(logData), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{"/vmlinuz": writeFile(t, dir, "vmlinuz", []byte("kernel")), "/initrd.img": writeFile(t, dir, "initrd", []byte("initrd"))}
	b := baseline.NewBuilder(pcr.SHA1, pcr.SHA256)
	err = GRUBPCR8And9(b, cfg, GRUBOptions{Root: "(hd0)", Prefix: "/EFI/debian", DebianPrelude: true, Files: files, ConfigPath: "../fixtures/lab/grub.cfg"})
	if err != nil {
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
	var realPaths []string
	var realCfgDigest []byte
	rd, _ := eventlog.NewReader(bytes.NewReader(logData))
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if ev.PCR == PCRKernelConfig {
			realPaths = append(realPaths, strings.TrimRight(string(ev.Data), "\x00"))
			if realCfgDigest == nil {
				d, _ := ev.Digest(pcr.SHA256)
				realCfgDigest = bytes.Clone(d)
			}
		}
	}
	var paths []string
	var pcr9 []baseline.Event
	for _, p := range doc.PCRs {
		if p.Index == PCRKernelConfig {
			pcr9 = p.Events
		}
	}
	for _, e := range pcr9 {
		paths = append(paths, e.Description)
	}
	if strings.Join(paths, ",") != strings.Join(realPaths, ",") {
		t.Errorf("PCR 9 files %v, real boot %v", paths, realPaths)
	}
	if pcr9[0].Digests["sha256"] != hex.EncodeToString(realCfgDigest) {
		t.Errorf("grub.cfg digest %s, real %x", pcr9[0].Digests["sha256"], realCfgDigest)
	}
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
		err := GRUBPCR8And9(baseline.NewBuilder(pcr.SHA256), []byte(cfg), GRUBOptions{Root: "(hd0)", Files: map[string]string{"/k": filepath.Join("..", "fixtures", "lab", "grub.cfg")}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", cfg, err, want)
		}
	}
}

func TestGRUBWords(t *testing.T) {
	vars := map[string]string{"root": "(hd0,gpt2)", "k": "vmlinuz"}
	w, err := grubWords(`linux ${root}/boot/$k root="UUID=1 2" 'quiet $k'  # comment`, vars)
	if err != nil || strings.Join(w, "|") != "linux|(hd0,gpt2)/boot/vmlinuz|root=UUID=1 2|quiet $k" {
		t.Errorf("words %q, %v", w, err)
	}
}
