package refvals

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/internal/fat/fattest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// PE files of Debian's packages that stand in for Yocto's builds.
const (
	debianSDBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
	debianShim   = "/usr/lib/shim/shimx64.efi.signed"
	debianGRUB   = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
)

const machine = "qemux86-64"

// yoctoDir is a deploy directory under construction, in Yocto's naming:
// timestamped real files and relative links.
type yoctoDir struct {
	t   *testing.T
	dir string
}

func newYoctoDir(t *testing.T) *yoctoDir {
	return &yoctoDir{t: t, dir: t.TempDir()}
}

func (y *yoctoDir) path(name string) string { return filepath.Join(y.dir, name) }

func (y *yoctoDir) write(name string, data []byte) string {
	y.t.Helper()
	p := y.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		y.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		y.t.Fatal(err)
	}
	return p
}

func (y *yoctoDir) copy(name, from string) string {
	y.t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		y.t.Fatal(err)
	}
	return y.write(name, data)
}

// link makes the relative symlink name → target, as Yocto does.
func (y *yoctoDir) link(target, name string) {
	y.t.Helper()
	if err := os.Symlink(target, y.path(name)); err != nil {
		y.t.Fatal(err)
	}
}

// testdata writes <image>-<M>.rootfs-<ts>.testdata.json and its link.
func (y *yoctoDir) testdata(image, ts string, vars map[string]string, withLink bool) {
	y.t.Helper()
	data, err := json.Marshal(vars)
	if err != nil {
		y.t.Fatal(err)
	}
	real := image + "-" + machine + ".rootfs-" + ts + ".testdata.json"
	y.write(real, data)
	if withLink {
		y.link(real, image+"-"+machine+".rootfs.testdata.json")
	}
}

// wic writes a GPT disk image whose ESP holds files, with its link.
func (y *yoctoDir) wic(image, ts string, files map[string][]byte, withLink bool) string {
	y.t.Helper()
	real := image + "-" + machine + ".rootfs-" + ts + ".wic"
	fattest.MakeWic(y.t, y.path(real), files)
	if withLink {
		y.link(real, image+"-"+machine+".rootfs.wic")
	}
	return y.path(real)
}

// kernel writes bzImage--<ver>-<M>-<ts>.bin (a PE file) and its links.
func (y *yoctoDir) kernel(sub string) string {
	y.t.Helper()
	real := "bzImage--6.1-r0-" + machine + "-20250101.bin"
	p := y.copy(filepath.Join(sub, real), debianSDBoot)
	y.link(real, filepath.Join(sub, "bzImage-"+machine+".bin"))
	y.link(real, filepath.Join(sub, "bzImage"))
	return p
}

func (y *yoctoDir) initramfs() string {
	y.t.Helper()
	real := "core-image-minimal-initramfs-" + machine + "-20250101120000.cpio.gz"
	p := y.write(real, []byte("\x1f\x8b initramfs"))
	y.link(real, "core-image-minimal-initramfs-"+machine+".cpio.gz")
	return p
}

func discover(t *testing.T, opts YoctoOptions) *YoctoDeploy {
	t.Helper()
	d, err := DiscoverYoctoWith(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	t.Logf("%s:\n  %s", d.Flow, strings.Join(d.Used, "\n  "))
	return d
}

func computeValues(t *testing.T, in Inputs) (*baseline.Baseline, pcr.Values) {
	t.Helper()
	in.Banks = []pcr.Alg{pcr.SHA1, pcr.SHA256}
	doc, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	v, err := doc.Values()
	if err != nil {
		t.Fatal(err)
	}
	return doc, v
}

func samePCRs(t *testing.T, got, want pcr.Values, pcrs ...int) {
	t.Helper()
	for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
		for _, i := range pcrs {
			g, gok := got.Get(alg, i)
			w, wok := want.Get(alg, i)
			if gok != wok || !bytes.Equal(g, w) {
				t.Errorf("%s PCR %d: discovered %x (%v), want %x (%v)", alg, i, g, gok, w, wok)
			}
		}
	}
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Flow a: uki.bbclass's uki.efi beside linuxx64.efi.stub, systemd-boot
// deployed: firmware starts systemd-boot, which loads the UKI. The
// grub-efi-bootx64.efi every x86 wic build deploys does not mislead.
func TestYoctoUKISystemdBoot(t *testing.T) {
	y := newYoctoDir(t)
	src := t.TempDir()
	uki := buildUKI(t, src, map[string]string{
		".linux":   debianSDBoot,
		".cmdline": writeFile(t, src, "cmdline", []byte("rootwait root=LABEL=root console=ttyS0\n")),
		".initrd":  writeFile(t, src, "initrd", []byte("initrd")),
		".osrel":   writeFile(t, src, "osrel", []byte("ID=poky\n")),
	})
	y.copy("uki.efi", uki)
	y.copy("linuxx64.efi.stub", debianStub)
	sdboot := y.copy("systemd-bootx64.efi", debianSDBoot)
	y.copy("grub-efi-bootx64.efi", debianGRUB)
	// An older build of the same image, and the current one with links.
	y.testdata("core-image-minimal", "20241231000000", map[string]string{"IMAGE_CLASSES": "uki", "MACHINE": machine}, false)
	y.testdata("core-image-minimal", "20250101120000", map[string]string{"IMAGE_CLASSES": "uki", "MACHINE": machine, "UKI_FILENAME": "uki.efi", "EFI_PROVIDER": "systemd-boot"}, true)
	wic := y.wic("core-image-minimal", "20250101120000", map[string][]byte{"EFI/BOOT/bootx64.efi": []byte("sd-boot"), "loader/loader.conf": []byte("timeout 0\n")}, true)

	d := discover(t, YoctoOptions{Dir: y.dir})
	if d.Flow != YoctoUKISystemdBoot || d.Machine != machine || d.Image != "core-image-minimal-"+machine {
		t.Fatalf("flow %s, machine %q, image %q", d.Flow, d.Machine, d.Image)
	}
	if d.Vars["UKI_FILENAME"] != "uki.efi" {
		t.Errorf("testdata.json: not the linked (newest) one: %v", d.Vars)
	}
	want := Inputs{EFIApps: []string{sdboot}, UKI: y.path("uki.efi"), Disk: wic}
	got := d.Inputs
	if !reflect.DeepEqual(got.EFIApps, want.EFIApps) || got.UKI != want.UKI || got.StubLoadsKernel != nil || realPath(t, got.Disk) != realPath(t, wic) {
		t.Fatalf("inputs %+v, want %+v", got, want)
	}
	_, gv := computeValues(t, got)
	_, wv := computeValues(t, want)
	samePCRs(t, gv, wv, 4, 5, 9, 11)
	if _, ok := gv.Get(pcr.SHA256, 11); !ok {
		t.Error("no PCR 11 from the UKI")
	}

	// Asked, the UKI is the boot application itself.
	d = discover(t, YoctoOptions{Dir: y.dir, UKIDirect: true})
	if d.Flow != YoctoUKI || len(d.Inputs.EFIApps) != 0 || d.Inputs.UKI == "" {
		t.Errorf("UKIDirect: flow %s, inputs %+v", d.Flow, d.Inputs)
	}
}

// Flow a without systemd-boot deployed (the boot lab's layout): the UKI is
// EFI/BOOT/BOOTX64.EFI. Without link names the newest timestamp wins.
func TestYoctoUKIDirectNoLinks(t *testing.T) {
	y := newYoctoDir(t)
	src := t.TempDir()
	uki := buildUKI(t, src, map[string]string{".linux": debianSDBoot, ".cmdline": writeFile(t, src, "cmdline", []byte("console=ttyS0"))})
	y.copy("uki.efi", uki)
	y.copy("linuxx64.efi.stub", debianStub)
	old := y.wic("core-image-minimal", "20241231000000", map[string][]byte{"EFI/BOOT/bootx64.efi": []byte("x")}, false)
	newest := y.wic("core-image-minimal", "20250101120000", map[string][]byte{"EFI/BOOT/bootx64.efi": []byte("y")}, false)
	d := discover(t, YoctoOptions{Dir: y.dir, Machine: machine})
	if d.Flow != YoctoUKI || len(d.Inputs.EFIApps) != 0 {
		t.Fatalf("flow %s, apps %v", d.Flow, d.Inputs.EFIApps)
	}
	if d.Inputs.Disk != newest {
		t.Errorf("disk %s, want the newest %s (not %s)", d.Inputs.Disk, newest, old)
	}
}

// Flow b: OE-core's GRUB; grub.cfg is read from the ESP of the wic image;
// its kernel and initrd paths map to the deployed kernel and initramfs.
func TestYoctoGRUB(t *testing.T) {
	y := newYoctoDir(t)
	grub := y.copy("grub-efi-bootx64.efi", debianGRUB)
	y.copy("systemd-bootx64.efi", debianSDBoot)
	kernel := y.kernel("")
	initrd := y.initramfs()
	cfg := "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\ndefault=boot\ntimeout=5\ninsmod tpm\n" +
		"menuentry 'boot' {\nlinux /bzImage root=PARTUUID=1234 rootwait console=ttyS0,115200\ninitrd /initrd\n}\n"
	y.testdata("core-image-minimal", "20250101120000", map[string]string{
		"MACHINE": machine, "EFI_PROVIDER": "grub-efi", "KERNEL_IMAGETYPE": "bzImage", "INITRAMFS_IMAGE": "core-image-minimal-initramfs",
		"DISTRO_FEATURES": "acl ipv4 ipv6 efi tpm2", "IMAGE_LINK_NAME": "core-image-minimal-" + machine}, true)
	kernelData, _ := os.ReadFile(kernel)
	// The ESP holds the kernel as deployed, and an initrd that differs
	// from the deployed initramfs: GRUB reads the ESP's.
	espInitrd := []byte("the initramfs wic put on the ESP")
	wic := y.wic("core-image-minimal", "20250101120000", map[string][]byte{"EFI/BOOT/bootx64.efi": []byte("grub"), "EFI/BOOT/grub.cfg": []byte(cfg), "bzImage": kernelData, "initrd": espInitrd}, true)
	// The initramfs image's testdata.json does not count: it has no wic.
	y.testdata("core-image-minimal-initramfs", "20250101120000", map[string]string{"MACHINE": machine}, true)
	if d, err := DiscoverYocto(y.dir, "", ""); err != nil || d.Image != "core-image-minimal-"+machine || d.Flow != YoctoGRUB {
		t.Fatalf("beside the initramfs image: %v", err)
	} else {
		d.Close()
	}
	// Another image in the same directory, told apart by --image.
	y.testdata("core-image-sato", "20250101130000", map[string]string{"MACHINE": machine}, true)
	y.wic("core-image-sato", "20250101130000", map[string][]byte{"EFI/BOOT/grub.cfg": []byte(cfg)}, true)
	flags := func(o YoctoOption) string { return map[YoctoOption]string{YoctoImage: "--image"}[o] }
	if _, err := DiscoverYoctoWith(YoctoOptions{Dir: y.dir, Machine: machine, OptionName: flags}); err == nil || !strings.Contains(err.Error(), "--image") {
		t.Fatalf("two images without --image: %v", err)
	}

	d := discover(t, YoctoOptions{Dir: y.dir, Image: "core-image-minimal"})
	if d.Flow != YoctoGRUB {
		t.Fatalf("flow %s", d.Flow)
	}
	in := d.Inputs
	if !reflect.DeepEqual(in.EFIApps, []string{grub}) || in.GRUB.Root != "(hd0,gpt1)" || in.GRUB.Prefix != "" || in.GRUB.OECore || in.GRUBCfg == "" || realPath(t, in.Disk) != realPath(t, wic) {
		t.Fatalf("inputs %+v", in)
	}
	if got, _ := os.ReadFile(in.GRUBCfg); string(got) != cfg {
		t.Fatalf("grub.cfg from the wic: %q", got)
	}
	if in.GRUB.Files["/bzImage"] != kernel {
		t.Fatalf("GRUB files %v, want /bzImage → %s", in.GRUB.Files, kernel)
	}
	if got, _ := os.ReadFile(in.GRUB.Files["/initrd"]); !bytes.Equal(got, espInitrd) || !strings.Contains(strings.Join(d.Used, "\n"), "/initrd on the wic's ESP differs from "+filepath.Base(initrd)) {
		t.Fatalf("/initrd → %s, not the ESP's copy; used %v", in.GRUB.Files["/initrd"], d.Used)
	}
	doc, _ := computeValues(t, in)
	var events []string
	for _, p := range doc.PCRs {
		for _, e := range p.Events {
			if p.Index == 9 {
				events = append(events, e.Description+"="+e.Digests["sha256"])
			} else if p.Index == 8 {
				events = append(events, e.Description)
			}
		}
	}
	kd, _ := os.ReadFile(kernel)
	id := espInitrd
	all := strings.Join(events, "\n")
	for _, want := range []string{"kernel_cmdline: /bzImage root=PARTUUID=1234 rootwait console=ttyS0,115200",
		"/bzImage=" + hexSHA256(kd), "/initrd=" + hexSHA256(id)} {
		if !strings.Contains(all, want) {
			t.Errorf("PCRs 8/9 lack %q:\n%s", want, all)
		}
	}

	// Without the tpm module GRUB measures nothing.
	y2 := newYoctoDir(t)
	y2.copy("grub-efi-bootx64.efi", debianGRUB)
	y2.kernel("")
	y2.initramfs()
	y2.testdata("core-image-minimal", "20250101120000", map[string]string{"MACHINE": machine, "DISTRO_FEATURES": "efi"}, true)
	y2.wic("core-image-minimal", "20250101120000", map[string][]byte{"EFI/BOOT/grub.cfg": []byte(strings.Replace(cfg, "insmod tpm\n", "", 1))}, true)
	if d := discover(t, YoctoOptions{Dir: y2.dir}); d.Inputs.GRUBCfg != "" {
		t.Errorf("GRUB without tpm: PCRs 8/9 predicted from %s", d.Inputs.GRUBCfg)
	}
}

func hexSHA256(b []byte) string {
	const digits = "0123456789abcdef"
	s := pcr.SHA256.Sum(b)
	out := make([]byte, 0, 64)
	for _, c := range s {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// Flow b from a bare FAT ESP image (no GPT): root is (hd0), no GPT event.
func TestYoctoGRUBBareESP(t *testing.T) {
	y := newYoctoDir(t)
	y.copy("grub-efi-bootx64.efi", debianGRUB)
	y.kernel("")
	real := "core-image-minimal-" + machine + ".rootfs-20250101120000.wic"
	fattest.Make(t, y.path(real), 0, 1440, false, map[string][]byte{"EFI/BOOT/grub.cfg": []byte("insmod tpm\nlinux /bzImage console=ttyS0\nboot\n")})
	y.link(real, "core-image-minimal-"+machine+".rootfs.wic")
	d := discover(t, YoctoOptions{Dir: y.dir})
	if d.Flow != YoctoGRUB || d.Inputs.Disk != "" || d.Inputs.GRUB.Root != "(hd0)" {
		t.Fatalf("flow %s, inputs %+v", d.Flow, d.Inputs)
	}
	computeValues(t, d.Inputs)
}

// Flow c: meta-secure-core's shim → GRUB → kernel, grub.cfg deployed.
func TestYoctoShimGRUB(t *testing.T) {
	y := newYoctoDir(t)
	shim := y.copy("bootx64.efi", debianShim)
	y.copy("mmx64.efi", debianSDBoot)
	y.copy("LockDown.efi", debianSDBoot)
	y.copy("efi-unsigned/grubx64.efi", debianGRUB)
	grub := y.copy("grubx64.efi", debianGRUB)
	y.copy("grub-efi-bootx64.efi", debianGRUB)
	kernel := y.kernel("")
	initrd := y.initramfs()
	y.write("grub.cfg", []byte("set timeout=0\ninsmod tpm\nmenuentry 'Linux' {\nlinux /bzImage root=/dev/sda2 ima_policy=tcb\ninitrd /initrd\n}\n"))
	y.testdata("secure-core-image", "20250101120000", map[string]string{"MACHINE": machine, "DISTRO_FEATURES": "efi-secure-boot tpm2 ima"}, true)
	d := discover(t, YoctoOptions{Dir: y.dir})
	if d.Flow != YoctoShimGRUB || !reflect.DeepEqual(d.Inputs.EFIApps, []string{shim, grub}) || d.Inputs.GRUB.Files["/bzImage"] != kernel || d.Inputs.GRUB.Files["/initrd"] != initrd || d.Inputs.GRUBCfg != y.path("grub.cfg") {
		t.Fatalf("flow %s, inputs %+v", d.Flow, d.Inputs)
	}
	_, v := computeValues(t, d.Inputs)
	for _, i := range []int{4, 8, 9} {
		if _, ok := v.Get(pcr.SHA256, i); !ok {
			t.Errorf("no PCR %d", i)
		}
	}
}

// Flow d: GyroidOS's signed kernel with bundled initramfs under
// KERNEL_DEPLOYSUBDIR, started directly; PCRs 8 and 9 stay zero (the
// guest OSes of PCR 11: gyroidos_test.go).
func TestYoctoGyroidOS(t *testing.T) {
	y := newYoctoDir(t)
	k := y.copy("cml-kernel/bzImage-initramfs-"+machine+".bin.signed", debianSDBoot)
	y.copy("grub-efi-bootx64.efi", debianGRUB)
	y.testdata("gyroidos-core", "20250101120000", map[string]string{"MACHINE": machine, "DISTRO": "cml-base", "KERNEL_DEPLOYSUBDIR": "cml-kernel"}, true)
	d := discover(t, YoctoOptions{Dir: y.dir})
	if d.Flow != YoctoGyroidOS || !reflect.DeepEqual(d.Inputs.EFIApps, []string{k}) {
		t.Fatalf("flow %s, inputs %+v", d.Flow, d.Inputs)
	}
	_, v := computeValues(t, d.Inputs)
	for _, i := range []int{8, 9} {
		if z, ok := v.Get(pcr.SHA256, i); !ok || !bytes.Equal(z, make([]byte, 32)) {
			t.Errorf("PCR %d for GyroidOS: %x (%v), want zero", i, z, ok)
		}
	}
}

// What is not recognised is an error that lists what was found.
func TestYoctoUnrecognised(t *testing.T) {
	y := newYoctoDir(t)
	y.copy("grub-efi-bootx64.efi", debianGRUB)
	y.copy("systemd-bootx64.efi", debianSDBoot)
	_, err := DiscoverYocto(y.dir, "", "")
	if err == nil || !strings.Contains(err.Error(), "grub-efi-bootx64.efi systemd-bootx64.efi") {
		t.Fatalf("err = %v", err)
	}
	if _, err := DiscoverYocto(filepath.Join(y.dir, "nope"), "", ""); err == nil {
		t.Error("a missing directory was accepted")
	}
	// A dangling link is an error, not a silent skip.
	y.copy("linuxx64.efi.stub", debianStub)
	y.link("uki-gone.efi", "uki.efi")
	if _, err := DiscoverYocto(y.dir, "", ""); err == nil {
		t.Error("a dangling uki.efi link was accepted")
	}
}

func TestParseImageName(t *testing.T) {
	for file, want := range map[string][2]string{
		"core-image-minimal-qemux86-64.rootfs-20250101120000.wic": {"core-image-minimal-qemux86-64", "20250101120000"},
		"core-image-minimal-qemux86-64.rootfs.wic":                {"core-image-minimal-qemux86-64", ""},
		"core-image-minimal-qemux86-64-20220101120000.rootfs.wic": {"core-image-minimal-qemux86-64", "20220101120000"},
		"core-image-minimal-qemux86-64.wic":                       {"core-image-minimal-qemux86-64", ""},
	} {
		n, ts, ok := parseImageName(file, ".wic")
		if !ok || n != want[0] || ts != want[1] {
			t.Errorf("%s: %q %q %v, want %v", file, n, ts, ok, want)
		}
	}
}
