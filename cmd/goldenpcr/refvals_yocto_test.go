package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/internal/gyroidostest"
)

// A deploy directory of uki.bbclass's shape: uki.efi beside the stub and
// systemd-boot, the testdata.json behind its link name.
func yoctoUKIDeploy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "cmdline"), []byte("rootwait root=LABEL=root console=ttyS0"), 0o644)
	if out, err := exec.Command("objcopy", "--add-section", ".cmdline="+filepath.Join(src, "cmdline"), "--change-section-vma", ".cmdline=0x30000",
		"--add-section", ".linux=/usr/lib/systemd/boot/efi/systemd-bootx64.efi", "--change-section-vma", ".linux=0x2000000",
		"/usr/lib/systemd/boot/efi/linuxx64.efi.stub", filepath.Join(dir, "uki.efi")).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v %s", err, out)
	}
	for name, from := range map[string]string{"linuxx64.efi.stub": "/usr/lib/systemd/boot/efi/linuxx64.efi.stub", "systemd-bootx64.efi": "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	real := "core-image-minimal-qemux86-64.rootfs-20250101120000.testdata.json"
	os.WriteFile(filepath.Join(dir, real), []byte(`{"MACHINE": "qemux86-64", "IMAGE_CLASSES": "uki", "DISTRO": "poky"}`), 0o644)
	if err := os.Symlink(real, filepath.Join(dir, "core-image-minimal-qemux86-64.rootfs.testdata.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func pcrEvents(t *testing.T, path string) (map[int][]baseline.Event, []string) {
	t.Helper()
	b := loadBaseline(t, path)
	out := map[int][]baseline.Event{}
	for _, p := range b.PCRs {
		out[p.Index] = p.Events
	}
	return out, b.Metadata.Notes
}

func TestRefvalsComputeYoctoDeploy(t *testing.T) {
	dir := yoctoUKIDeploy(t)
	out := filepath.Join(t.TempDir(), "baseline.yaml")
	code, _, errs := run(t, "refvals", "compute", "--yocto-deploy", dir, "-O", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ev, notes := pcrEvents(t, out)
	// Action, separator, systemd-boot, the UKI, the kernel systemd-stub loads.
	if len(ev[4]) != 5 || !strings.Contains(ev[4][2].Description+ev[4][2].Provenance.Artifact, "systemd-bootx64.efi") {
		t.Errorf("PCR 4 events %+v", ev[4])
	}
	if len(ev[11]) == 0 || len(ev[9]) == 0 {
		t.Error("no PCR 9 or 11 from the UKI")
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{"boot flow uki+systemd-boot, MACHINE qemux86-64", "BitBake variables from core-image-minimal-qemux86-64.rootfs-20250101120000.testdata.json", "which loads EFI/Linux/uki.efi"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}

	// Flags override what was found: the UKI as the boot application,
	// secure boot off and no kernel LoadImage.
	code, _, errs = run(t, "refvals", "compute", "--yocto-deploy", dir, "--yocto-uki-direct", "--stub-loads-kernel=false", "-O", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	ev, notes = pcrEvents(t, out)
	if len(ev[4]) != 3 || !strings.Contains(strings.Join(notes, "\n"), "overridden on the command line: --stub-loads-kernel") {
		t.Errorf("override: PCR 4 events %d, notes %v", len(ev[4]), notes)
	}
	code, _, errs = run(t, "refvals", "compute", "--yocto-deploy", dir, "--efi-app", "/usr/lib/systemd/boot/efi/systemd-bootx64.efi", "--efi-app", "/usr/lib/systemd/boot/efi/systemd-bootx64.efi", "-O", out)
	if ev, _ = pcrEvents(t, out); code != 0 || len(ev[4]) != 6 {
		t.Errorf("--efi-app override: exit %d %s, %d PCR 4 events", code, errs, len(ev[4]))
	}

	// Errors name the directory and what was found.
	if code, _, errs := run(t, "refvals", "compute", "--yocto-deploy", t.TempDir()); code == 0 || !strings.Contains(errs, "no boot flow recognised") {
		t.Errorf("empty deploy dir: exit %d, %s", code, errs)
	}
	if code, _, errs := run(t, "refvals", "compute", "--uki", filepath.Join(dir, "uki.efi"), "--machine", "qemux86-64"); code == 0 || !strings.Contains(errs, "--yocto-deploy") {
		t.Errorf("--machine alone: exit %d, %s", code, errs)
	}
}

// GyroidOS from its deploy directory: the signed bundle for PCR 4, the
// guest OSes of tmp_container for PCR 11, PCRs 8/9 zero, the firmware
// PCRs from a reference log; then the rattestation config from it.
func TestRefvalsComputeYoctoGyroidOS(t *testing.T) {
	l := gyroidostest.Build(t, gyroidostest.Guest{Name: "gyroidos-coreos-20250101120000", Images: []gyroidostest.Image{{File: "root"}}})
	dir := t.TempDir()
	out := filepath.Join(dir, "gyroidos.yaml")
	refLog := "../../fixtures/tcg/ubuntu-2104-no-secure-boot.bin"
	code, _, errs := run(t, "refvals", "compute", "--yocto-deploy", l.Deploy, "--reference-log", refLog, "-O", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b := loadBaseline(t, out)
	root, _ := os.ReadFile(l.Images["gyroidos-coreos-20250101120000/root.img"])
	sum := sha256.Sum256(root)
	h := sha256.New()
	h.Write(make([]byte, 32))
	h.Write(sum[:])
	want11 := hex.EncodeToString(h.Sum(nil))
	var got []string
	for _, p := range b.PCRs {
		if len(p.Values) != 1 || p.Values["sha256"] == "" {
			t.Errorf("PCR %d banks %v, want sha256 alone", p.Index, p.Values)
		}
		got = append(got, fmt.Sprint(p.Index))
	}
	if strings.Join(got, ",") != "0,1,2,3,4,5,6,7,8,9,11" {
		t.Errorf("PCRs %v", got)
	}
	for _, p := range b.PCRs {
		if p.Index == 11 && (p.Values["sha256"] != want11 || len(p.Variants) != 0) {
			t.Errorf("PCR 11 %+v, want %s", p, want11)
		}
	}
	notes := strings.Join(b.Metadata.Notes, "\n")
	for _, want := range []string{"boot flow gyroidos", "banks: sha256 only", "PCR 10: not computed", "taken from the reference log " + refLog} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}

	// The config for a device without IMA.
	cert := newAKCA(t, dir, "kmod").pem
	conf := filepath.Join(dir, "rattestation.conf")
	if code, _, errs := run(t, "rattestation", "config", "--baseline", out, "--kmod-cert", cert, "--no-ima", "-O", conf); code != 0 {
		t.Fatalf("rattestation config: exit %d: %s", code, errs)
	}
	if data, _ := os.ReadFile(conf); !strings.Contains(string(data), "number: 11\n  value: \""+want11+"\"") {
		t.Errorf("config lacks PCR 11 %s:\n%s", want11, data)
	}

	// Without the reference log, the notes say what is missing, in flags.
	code, _, errs = run(t, "refvals", "compute", "--yocto-deploy", l.Deploy, "-O", out)
	if notes := strings.Join(loadBaseline(t, out).Metadata.Notes, "\n"); code != 0 || !strings.Contains(notes, "(--reference-log)") {
		t.Errorf("exit %d %s; notes:\n%s", code, errs, notes)
	}

	// The guest OSes elsewhere: --cml-guests; a wrong image_sha2_256 fails.
	moved := filepath.Join(t.TempDir(), "guests")
	if err := os.Rename(l.Guests, moved); err != nil {
		t.Fatal(err)
	}
	code, stdout, errs := run(t, "refvals", "compute", "--yocto-deploy", l.Deploy, "-o", "pcrs")
	if code != 0 || strings.Contains(stdout, "11: ") {
		t.Fatalf("guest OSes moved away: exit %d: %s\n%s", code, errs, stdout)
	}
	code, stdout, errs = run(t, "refvals", "compute", "--yocto-deploy", l.Deploy, "--cml-guests", moved, "-o", "pcrs")
	if code != 0 || !strings.Contains(stdout, "11: 0x"+strings.ToUpper(want11)) {
		t.Errorf("--cml-guests: exit %d %s\n%s", code, errs, stdout)
	}
	confPath := filepath.Join(moved, "gyroidos-coreos-20250101120000.conf")
	c, _ := os.ReadFile(confPath)
	bad := strings.Repeat("1", 64)
	os.WriteFile(confPath, []byte(strings.Replace(string(c), hex.EncodeToString(sum[:]), bad, 1)), 0o644)
	code, _, errs = run(t, "refvals", "compute", "--yocto-deploy", l.Deploy, "--cml-guests", moved)
	if code != 2 || !strings.Contains(errs, bad) || !strings.Contains(errs, hex.EncodeToString(sum[:])) {
		t.Errorf("image_sha2_256 mismatch: exit %d, %s", code, errs)
	}
	if code, _, errs := run(t, "refvals", "compute", "--efi-app", l.Kernel, "--cml-guests", moved); code != 2 || !strings.Contains(errs, "--yocto-deploy") {
		t.Errorf("--cml-guests alone: exit %d, %s", code, errs)
	}
}
