package refvals

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Debian's GRUB images as grub-efi-amd64-bin and grub-efi-amd64-signed
// install them.
var debianGRUBImages = []string{
	"/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi",
	"/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
}

// mkGRUBImage runs grub-mkimage for x86_64-efi with no modules, the
// given embedded configuration and prefix, and extra arguments.
func mkGRUBImage(t testing.TB, cfg, prefix string, extra ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	cfgPath, out := filepath.Join(dir, "embedded.cfg"), filepath.Join(dir, "grub.efi")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-O", "x86_64-efi", "-d", "/usr/lib/grub/x86_64-efi", "-c", cfgPath, "-p", prefix, "-o", out}, extra...)
	if b, err := exec.Command("grub-mkimage", args...).CombinedOutput(); err != nil {
		t.Fatalf("grub-mkimage (grub-common; run make deps): %v %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// onlyMods is image with the mods section alone (objcopy -j mods): a PE
// of a few KiB with GRUB's module layout.
func onlyMods(t testing.TB, image []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "grub.efi"), filepath.Join(dir, "mods.efi")
	if err := os.WriteFile(in, image, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("objcopy", "-j", "mods", in, out).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v %s", err, b)
	}
	return readFile(t, out)
}

// The configuration grub-mkimage -c embedded comes back byte for byte,
// with the prefix and a tar memdisk's files.
func TestGRUBEmbeddedConfigOfGrubMkimage(t *testing.T) {
	cfg := oeCoreEmbeddedConfig + "echo 'quoted; text'\n"
	var memdisk bytes.Buffer
	tw := tar.NewWriter(&memdisk)
	body := []byte("set timeout=0\n")
	tw.WriteHeader(&tar.Header{Name: "boot/grub/grub.cfg", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	tarPath := writeFile(t, t.TempDir(), "memdisk.tar", memdisk.Bytes())
	image := mkGRUBImage(t, cfg, "/EFI/BOOT", "-m", tarPath, "memdisk")
	got, found, err := GRUBEmbeddedConfig(image)
	if err != nil || !found || got != cfg {
		t.Fatalf("embedded config %q, %v, %v; want %q", got, found, err, cfg)
	}
	g, err := ReadGRUBImage(image)
	if err != nil {
		t.Fatal(err)
	}
	// With a memdisk, grub-mkimage sets the prefix to the memdisk's /boot/grub.
	if g.Prefix != "(memdisk)/boot/grub" {
		t.Errorf("prefix %q", g.Prefix)
	}
	if b, err := g.MemdiskFile("/boot/grub/grub.cfg"); err != nil || !bytes.Equal(b, body) {
		t.Errorf("memdisk grub.cfg %q %v", b, err)
	}
	if shape := g.shape(); shape.kind != grubShapeOther {
		t.Errorf("an embedded configuration of another shape: %+v", shape)
	}

	// OE-core's, as its grub-efi class builds it.
	if g, err = ReadGRUBImage(mkGRUBImage(t, oeCoreEmbeddedConfig, "/EFI/BOOT")); err != nil || g.Config != oeCoreEmbeddedConfig || g.Prefix != "/EFI/BOOT" {
		t.Fatalf("OE-core image: config %q, prefix %q, %v", g.Config, g.Prefix, err)
	}
	if shape := g.shape(); shape.kind != grubShapeOECore || shape.prefix != "/EFI/BOOT" {
		t.Errorf("OE-core's embedded configuration not recognised: %+v", shape)
	}
	if got, found, err := GRUBEmbeddedConfig(onlyMods(t, image)); err != nil || !found || got != cfg {
		t.Errorf("mods section alone: %q %v %v", got, found, err)
	}
}

// Debian's images embed "normal (memdisk)/grub.cfg" and a FAT memdisk
// whose grub.cfg looks for $prefix/grub.cfg; the prefix is /EFI/debian.
func TestGRUBEmbeddedConfigOfDebianImages(t *testing.T) {
	for _, path := range debianGRUBImages {
		image, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (grub-efi-amd64-bin / -signed; run make deps)", err)
		}
		cfg, found, err := GRUBEmbeddedConfig(image)
		if err != nil || !found || cfg != "normal (memdisk)/grub.cfg\n" {
			t.Errorf("%s: embedded config %q, %v, %v", path, cfg, found, err)
		}
		g, err := ReadGRUBImage(image)
		if err != nil || g.Prefix != "/EFI/debian" || len(g.Memdisk) == 0 {
			t.Fatalf("%s: prefix %q, memdisk of %d bytes, %v", path, g.Prefix, len(g.Memdisk), err)
		}
		md, err := g.MemdiskFile("/grub.cfg")
		if err != nil || !strings.HasPrefix(string(md), "if [ -z \"$prefix\" -o ! -e \"$prefix\" ]; then\n\tif ! search --file --set=root /.disk/info; then\n") {
			t.Errorf("%s: memdisk grub.cfg %q %v", path, md, err)
		}
		if shape := g.shape(); shape.kind != grubShapeDebian {
			t.Errorf("%s: Debian's embedded configuration not recognised: %+v", path, shape)
		}
	}
}

func TestGRUBEmbeddedConfigErrors(t *testing.T) {
	image := mkGRUBImage(t, "set a=b\n", "/p")
	g, err := ReadGRUBImage(image)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(image)
	copy(bad[g.ConfigOffset-4:], []byte{0xff, 0xff, 0xff, 0x7f}) // the config object's size
	if _, _, err := GRUBEmbeddedConfig(bad); err == nil || !strings.Contains(err.Error(), "byte offset") || !strings.Contains(err.Error(), "object of type 2") {
		t.Errorf("oversized object: %v", err)
	}
	if _, _, err := GRUBEmbeddedConfig(readFile(t, debianStub)); err == nil || !strings.Contains(err.Error(), "no mods section") {
		t.Errorf("systemd-stub: %v", err)
	}
}

// Compute reads the GRUB image's embedded configuration and simulates
// Debian's and OE-core's as the flags for them do: PCRs 8 and 9 equal
// those with the flags, and PCR 8 the real boot's (fixtures/lab).
func TestComputeReadsGRUBEmbeddedConfig(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := writeFile(t, dir, "vmlinuz", []byte("kernel")), writeFile(t, dir, "initrd", []byte("initrd"))
	oeImage := writeFile(t, dir, "grub-efi-bootx64.efi", mkGRUBImage(t, oeCoreEmbeddedConfig, "/EFI/BOOT"))
	for _, c := range []struct {
		image, cfg, log string
		files           map[string]string
		flags           GRUBOptions
		note            string
	}{
		{debianGRUBImages[0], "grub.cfg", "grub-eventlog.bin", map[string]string{"/vmlinuz": kernel, "/initrd.img": initrd},
			GRUBOptions{Prefix: "/EFI/debian", DebianPrelude: true}, "embeds Debian's: normal (memdisk)/grub.cfg"},
		{oeImage, "grub-oe.cfg", "grub-oe-eventlog.bin", map[string]string{"/bzImage": kernel, "/initrd": initrd},
			GRUBOptions{Prefix: "/EFI/BOOT", OECore: true}, "embeds OE-core's: search.file /EFI/BOOT/grub.cfg root"},
	} {
		if _, err := os.Stat(c.image); err != nil {
			t.Fatalf("%v (run make deps)", err)
		}
		compute := func(opts GRUBOptions) *baseline.Baseline {
			opts.Root, opts.Files = "(hd0)", c.files
			doc, err := Compute(Inputs{Banks: []pcr.Alg{pcr.SHA1, pcr.SHA256}, EFIApps: []string{c.image}, GRUBCfg: filepath.Join("../fixtures/lab", c.cfg), GRUB: opts})
			if err != nil {
				t.Fatalf("%s: %v", c.cfg, err)
			}
			return doc
		}
		c.flags.ShapeGiven = true
		inferred, flagged := compute(GRUBOptions{}), compute(c.flags)
		if notes := strings.Join(inferred.Metadata.Notes, "\n"); !strings.Contains(notes, c.note) || !strings.Contains(notes, "GRUB prefix "+c.flags.Prefix+": read from") {
			t.Errorf("%s: notes %s", c.cfg, notes)
		}
		logData := readFile(t, filepath.Join("../fixtures/lab", c.log))
		replay, err := eventlog.ReplayLog(bytes.NewReader(logData), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{PCRBootLoaderConfig, PCRKernelConfig} {
			got, want := pcrOf(inferred, i), pcrOf(flagged, i)
			if got == nil || want == nil || !reflect.DeepEqual(got.Values, want.Values) || len(got.Events) != len(want.Events) {
				t.Errorf("%s: PCR %d inferred %+v, with the flags %+v", c.cfg, i, got, want)
			}
		}
		for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
			want, _ := replay.Values.Get(alg, PCRBootLoaderConfig)
			if g := pcrOf(inferred, PCRBootLoaderConfig).Values[alg.String()]; g != hex.EncodeToString(want) {
				t.Errorf("%s: %s PCR 8 %s, the real boot %x", c.cfg, alg, g, want)
			}
		}
	}
}

// The version string in Debian's GRUB images is the grub-efi-amd64-bin
// package's version, as dpkg knows it; a PE that is no GRUB has none.
func TestGRUBVersion(t *testing.T) {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "grub-efi-amd64-bin").Output()
	if err != nil {
		t.Fatalf("dpkg-query grub-efi-amd64-bin: %v (run make deps)", err)
	}
	for _, p := range []string{"/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi", "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"} {
		if got := GRUBVersion(readFile(t, p)); got != string(out) {
			t.Errorf("%s: version %q, dpkg says %q", p, got, out)
		}
	}
	if got := GRUBVersion(readFile(t, "/usr/lib/systemd/boot/efi/systemd-bootx64.efi")); got != "" {
		t.Errorf("systemd-boot: GRUB version %q", got)
	}
}
