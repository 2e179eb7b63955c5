package refvals

import (
	"bytes"
	"encoding/hex"
	"fmt"
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
// and with grub-search.cfg (search --file, if/else on test, source of
// grub-search-extra.cfg, insmod of a module from $prefix), and a GRUB
// image built as OE-core builds grub-efi-bootx64.efi with wic's grub.cfg
// (fixtures/lab/grub-oe.cfg), under OVMF and swtpm: the simulation must
// produce the PCR 8 those real boots produced, and the same PCR 9 events
// (paths, and the grub.cfg digests; the kernel and initrd digests are the
// files' hashes, checked end to end by the lab tests).
func TestGRUBMatchesRealBoot(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := writeFile(t, dir, "vmlinuz", []byte("kernel")), writeFile(t, dir, "initrd", []byte("initrd"))
	debian := debianImage(t)
	for _, tc := range []struct {
		cfg, log string
		opts     GRUBOptions
	}{
		{"grub.cfg", "grub-eventlog.bin", GRUBOptions{Root: "(hd0)", Prefix: "/EFI/debian", Image: debian,
			Files: map[string]string{"/vmlinuz": kernel, "/initrd.img": initrd}}},
		{"grub-search.cfg", "grub-search-eventlog.bin", GRUBOptions{Root: "(hd0)", Prefix: "/EFI/debian", Image: debian,
			Files: map[string]string{"/vmlinuz": kernel, "/initrd.img": initrd, "/EFI/debian/extra.cfg": "../fixtures/lab/grub-search-extra.cfg",
				"/EFI/debian/x86_64-efi/hexdump.mod": grubModule(t, "hexdump")}}},
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

// debianImage reads Debian's monolithic GRUB image (grub-efi-amd64-bin).
func debianImage(t *testing.T) *GRUBImage {
	t.Helper()
	data, err := os.ReadFile(debianGRUBImages[0])
	if err != nil {
		t.Fatalf("%v (grub-efi-amd64-bin; run make deps)", err)
	}
	g, err := ReadGRUBImage(data)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// grubModule is a module file of Debian's GRUB (grub-efi-amd64-bin).
func grubModule(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("/usr/lib/grub/x86_64-efi", name+".mod")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%v (grub-efi-amd64-bin; run make deps)", err)
	}
	return p
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
	dir := t.TempDir()
	loop := writeFile(t, dir, "loop.cfg", []byte("set a=1\nsource /loop.cfg\n"))
	bad := writeFile(t, dir, "bad.cfg", []byte("set a=1\nfor x in a b; do\n  true\ndone\n"))
	k := filepath.Join("..", "fixtures", "lab", "grub.cfg")
	for cfg, want := range map[string]string{
		"menuentry 'a' {\n linux /missing\n}\n":          "grub.cfg line 2: linux opens /missing: give the local file",
		"menuentry 'a' {\n linux /k\n":                   "grub.cfg line 1: menuentry block never closed",
		"set default=3\nmenuentry 'a' {\n linux /k\n}\n": "default=3 but grub.cfg has 1 menu entries",
		"linux '/k\n":                                                  "grub.cfg line 1: unterminated ' quote",
		"set a=1\nif [ -e /k ]; then\n  true\n":                        "grub.cfg line 2: if never closed",
		"true\nif cpuid -l; then\n linux /k\nfi\n":                     "grub.cfg line 2: whether \"cpuid\" succeeds is decided at boot",
		"if keystatus --shift; then true; fi\n":                        "grub.cfg line 1: whether \"keystatus\" succeeds",
		"\n[ -e (hd1,gpt2)/boot/vmlinuz ]\n":                           "grub.cfg line 2: (hd1,gpt2)/boot/vmlinuz is on device hd1,gpt2, which no input describes",
		"search --fs-uuid --set=root 1234-ABCD\n":                      "grub.cfg line 1: search for a file system uuid",
		"\n\nsearch --file --set=root /boot/vmlinuz\n":                 "grub.cfg line 3: search /boot/vmlinuz: not among the boot device's files",
		"for f in a b; do\n true\ndone\n":                              "grub.cfg line 1: \"for\" is not simulated",
		"true\nfunction f {\n true\n}\n":                               "grub.cfg line 2: \"function\" is not simulated",
		"submenu 'x' {\n}\n":                                           "grub.cfg line 1: \"submenu\" is not simulated",
		"true\nfi\n":                                                   "grub.cfg line 2: unexpected \"fi\"",
		"source /loop.cfg\n":                                           "nested deeper than 32",
		"true\nsource /bad.cfg\n":                                      "/bad.cfg line 2: \"for\" is not simulated",
		"if true; then load_env; fi\n":                                 "grub.cfg line 1: load_env reads (hd0)/grubenv: give the environment block",
		"cat /k\n":                                                     "grub.cfg line 1: cat prints a file, which is not simulated",
		"set x=$y\nif [ $grub_platform = efi ]; then insmod a b; fi\n": "grub.cfg line 2: insmod takes one module",
	} {
		_, err := GRUBPCR8And9(baseline.NewBuilder(pcr.SHA256), []byte(cfg), GRUBOptions{Root: "(hd0)",
			Files: map[string]string{"/k": k, "/loop.cfg": loop, "/bad.cfg": bad}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", cfg, err, want)
		}
	}
}

// grubEvents simulates cfg on the boot device (hd0) with prefix
// /EFI/debian and returns the descriptions of the PCR 8 and PCR 9 events.
func grubEvents(t *testing.T, cfg string, opts GRUBOptions) (pcr8, pcr9 []string) {
	t.Helper()
	b := baseline.NewBuilder(pcr.SHA256)
	opts.Root, opts.Prefix = "(hd0)", "/EFI/debian"
	if _, err := GRUBPCR8And9(b, []byte(cfg), opts); err != nil {
		t.Fatalf("%q: %v", cfg, err)
	}
	for _, p := range b.Baseline().PCRs {
		for _, e := range p.Events {
			d := strings.TrimPrefix(e.Description, "grub_cmd: ")
			switch p.Index {
			case PCRBootLoaderConfig:
				pcr8 = append(pcr8, d)
			case PCRKernelConfig:
				pcr9 = append(pcr9, d)
			}
		}
	}
	// Normal mode's read of grub.cfg comes first.
	if len(pcr9) == 0 || pcr9[0] != "(hd0)/EFI/debian/grub.cfg" {
		t.Fatalf("%q: PCR 9 %q does not begin with grub.cfg", cfg, pcr9)
	}
	return pcr8, pcr9[1:]
}

// What each command opens, and so measures into PCR 9, under which name;
// and which branch a condition on the boot device's files takes.
func TestGRUBCommandMeasurements(t *testing.T) {
	dir := t.TempDir()
	k := writeFile(t, dir, "k", []byte("kernel"))
	empty := writeFile(t, dir, "empty", nil)
	extra := writeFile(t, dir, "extra.cfg", []byte("set x=from-extra\nmenuentry 'in-extra' {\n linux /k $x\n}\n"))
	env := writeFile(t, dir, "grubenv", []byte("# GRUB Environment Block\nsaved_entry=two\nnext=\n####\n"))
	files := map[string]string{"/k": k, "/empty": empty, "/EFI/debian/extra.cfg": extra, "/EFI/debian/grubenv": env, "/sub/dir/f": k}
	for _, c := range []struct {
		name, cfg  string
		pcr8, pcr9 string // joined with " | "
	}{
		{"search --file probes (device)FILE and sets root to the device", "search --no-floppy --file --set=root /k\nlinux /k",
			"search --no-floppy --file --set=root /k | linux /k | kernel_cmdline: /k", "(hd0)/k | /k"},
		{"search.file VAR", "search.file /k where\nlinux ($where)/k", "search.file /k where | linux (hd0)/k | kernel_cmdline: (hd0)/k", "(hd0)/k | (hd0)/k"},
		{"test -e/-f/-d open nothing; -s opens", "[ -e /k -a -f /k -a -d /sub -a ! -d /k -a ! -e /nope ]\ntest -s /k\ntest -s /empty",
			"[ -e /k -a -f /k -a -d /sub -a ! -d /k -a ! -e /nope ] | test -s /k | test -s /empty", "/k | /empty"},
		{"if/elif/else takes the first true branch", "if [ -e /nope ]; then\n linux /nope\nelif test -f /k; then\n set a=b\nelse\n linux /nope\nfi\nif ! [ -z \"$a\" ] ; then true ; fi",
			"[ -e /nope ] | test -f /k | set a=b | ! [ -z b ] | true", ""},
		{"strings and integers", "if [ \"$grub_platform\" = efi -a 10 -gt 9 -a x != y ]; then set ok=1; else set ok=0; fi",
			"[ efi = efi -a 10 -gt 9 -a x != y ] | set ok=1", ""},
		{"source runs in the current scope and menu", "source /EFI/debian/extra.cfg\nset y=$x",
			"source /EFI/debian/extra.cfg | set x=from-extra | menuentry in-extra {\n linux /k $x\n} | set y=from-extra | setparams in-extra | linux /k from-extra | kernel_cmdline: /k from-extra",
			"/EFI/debian/extra.cfg | /k"},
		{"configfile boots its own menu", "configfile $prefix/extra.cfg\nlinux /nope",
			"configfile (hd0)/EFI/debian/extra.cfg | set x=from-extra | menuentry in-extra {\n linux /k $x\n} | setparams in-extra | linux /k from-extra | kernel_cmdline: /k from-extra",
			"(hd0)/EFI/debian/extra.cfg | /k"},
		{"load_env reads and measures grubenv", "load_env\nset default=$saved_entry\nmenuentry one {\n true\n}\nmenuentry two --id two {\n linux /k\n}",
			"load_env | set default=two | menuentry one {\n true\n} | menuentry two --id two {\n linux /k\n} | setparams two | linux /k | kernel_cmdline: /k",
			"(hd0)/EFI/debian/grubenv | /k"},
		{"chainloader and loopback open their files", "loopback loop /k\nchainloader /k", "loopback loop /k | chainloader /k", "/k | /k"},
		{"an unquoted variable splits, an empty one vanishes", "set a=\"x  y\"\nlinux /k $a $none", "set a=x  y | linux /k x y | kernel_cmdline: /k x y", "/k"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p8, p9 := grubEvents(t, c.cfg, GRUBOptions{Files: files})
			if got := strings.Join(p8, " | "); got != c.pcr8 {
				t.Errorf("PCR 8\n  got  %q\n  want %q", got, c.pcr8)
			}
			if got := strings.Join(p9, " | "); got != c.pcr9 {
				t.Errorf("PCR 9\n  got  %q\n  want %q", got, c.pcr9)
			}
		})
	}
}

// insmod opens nothing for a module built into the image; another is
// read from $prefix/x86_64-efi (measured), then its dependencies not
// built in; one that is neither is not loaded (noted).
func TestGRUBInsmod(t *testing.T) {
	hexdump, extcmd := grubModule(t, "hexdump"), grubModule(t, "extcmd")
	img, err := ReadGRUBImage(mkGRUBImage(t, "", "/EFI/debian", "test"))
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	_, p9 := grubEvents(t, "insmod test\ninsmod hexdump\ninsmod hexdump\ninsmod nope\n", GRUBOptions{Image: img,
		Note:  func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) },
		Files: map[string]string{"/EFI/debian/x86_64-efi/hexdump.mod": hexdump, "/EFI/debian/x86_64-efi/extcmd.mod": extcmd}})
	if got := strings.Join(p9, " | "); got != "(hd0)/EFI/debian/x86_64-efi/hexdump.mod | (hd0)/EFI/debian/x86_64-efi/extcmd.mod" {
		t.Errorf("PCR 9 %s", got)
	}
	if n := strings.Join(notes, "\n"); !strings.Contains(n, "insmod nope: not built into the GRUB image") {
		t.Errorf("notes %s", n)
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
