package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// esl wraps a DER certificate in an EFI_SIGNATURE_LIST.
func esl(owner eventlog.GUID, der []byte) []byte {
	b := append([]byte{}, eventlog.GUIDCertX509[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(28+16+len(der)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(16+len(der)))
	b = append(b, owner[:]...)
	return append(b, der...)
}

// signedUKI builds a UKI from Debian's stub and signs it with a fresh db key.
func signedUKI(t *testing.T, dir string) (uki string, dbDER []byte) {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "goldenpcr db"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	keyPath, certPath := filepath.Join(dir, "db.key"), filepath.Join(dir, "db.crt")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "cmdline"), []byte("console=ttyS0"), 0o644)
	os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("not really a kernel"), 0o644)
	unsigned := filepath.Join(dir, "uki-unsigned.efi")
	if out, err := exec.Command("objcopy", "--add-section", ".cmdline="+filepath.Join(dir, "cmdline"), "--change-section-vma", ".cmdline=0x30000",
		"--add-section", ".linux="+filepath.Join(dir, "vmlinuz"), "--change-section-vma", ".linux=0x2000000",
		"/usr/lib/systemd/boot/efi/linuxx64.efi.stub", unsigned).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v %s", err, out)
	}
	uki = filepath.Join(dir, "uki.efi")
	if out, err := exec.Command("sbsign", "--key", keyPath, "--cert", certPath, "--output", uki, unsigned).CombinedOutput(); err != nil {
		t.Fatalf("sbsign: %v %s", err, out)
	}
	return uki, der
}

func TestRefvalsCompute(t *testing.T) {
	dir := t.TempDir()
	uki, dbDER := signedUKI(t, dir)
	dbPath := filepath.Join(dir, "db.esl")
	os.WriteFile(dbPath, esl(eventlog.GUIDShimLock, dbDER), 0o644)

	out := filepath.Join(dir, "baseline.yaml")
	code, _, errs := run(t, "refvals", "compute", "--uki", uki, "--secure-boot", "--db", dbPath, "--phase", "enter-initrd", "--bank", "sha256", "-O", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b := loadBaseline(t, out)
	idx := map[int]baseline.PCR{}
	for _, p := range b.PCRs {
		idx[p.Index] = p
	}
	if len(idx[4].Events) != 3 || len(idx[11].Events) != 2*2+1 {
		t.Errorf("PCR 4 events %d, PCR 11 events %d", len(idx[4].Events), len(idx[11].Events))
	}
	ev7 := idx[7].Events
	last := ev7[len(ev7)-1]
	if len(ev7) != 7 || last.Type != "EV_EFI_VARIABLE_AUTHORITY" || !strings.Contains(last.Description, uki) {
		t.Errorf("PCR 7 events %+v", ev7)
	}
	// The authority event's data is the db entry: owner GUID + certificate.
	want := eventlog.EncodeVariableData(eventlog.GUIDImageSecurityDB, "db", append(append([]byte{}, eventlog.GUIDShimLock[:]...), dbDER...))
	if last.Digests["sha256"] != hex.EncodeToString(pcr.SHA256.Sum(want)) {
		t.Errorf("authority digest %s", last.Digests["sha256"])
	}

	// -o pcrs prints tpm2_pcrread YAML that the pcr package reads back.
	code, pcrsOut, _ := run(t, "refvals", "compute", "--uki", uki, "-o", "pcrs")
	doc, err := pcr.Parse([]byte(pcrsOut), pcr.ReadOptions{})
	if code != 0 || err != nil || doc.Format != pcr.FormatTPM2YAML || doc.Sets[0].Len() != 8 { // PCRs 4, 5, 9 and 11 in two banks
		t.Errorf("-o pcrs: exit %d, %v, %q", code, err, pcrsOut)
	}

	// A db that does not hold the signer: the firmware would refuse the UKI.
	other := filepath.Join(dir, "other.esl")
	os.WriteFile(other, esl(eventlog.GUIDShimLock, []byte{0x30, 0}), 0o644)
	if code, _, errs = run(t, "refvals", "compute", "--uki", uki, "--secure-boot", "--db", other); code != 2 || !strings.Contains(errs, "the firmware refuses it: no signature of it verifies against db") {
		t.Errorf("foreign db: exit %d %s", code, errs)
	}
	// Never overwrite an input.
	if code, _, errs = run(t, "refvals", "compute", "--uki", uki, "-O", uki); code != 2 || !strings.Contains(errs, "refusing to overwrite input") {
		t.Errorf("-O input: exit %d %s", code, errs)
	}
	if code, _, _ = run(t, "refvals", "compute"); code != 2 {
		t.Errorf("no artifacts: exit %d", code)
	}
}

func TestRefvalsPredict(t *testing.T) {
	out := filepath.Join(t.TempDir(), "next.yaml")
	code, _, errs := run(t, "refvals", "predict", "--eventlog", rhel8, "--efi-app", signedShim, "-O", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b := loadBaseline(t, out)
	v, _ := b.Values()
	// Every bank of the log, PCRs 0-9 and 14; PCR 4 recomputed.
	if len(v.Algs()) != 3 || len(v.Indices(pcr.SHA384)) != 11 {
		t.Errorf("predicted %v", v.Selection())
	}
	if code, _, errs = run(t, "refvals", "predict", "--efi-app", signedShim); code != 2 || !strings.Contains(errs, "--eventlog is required") {
		t.Errorf("no --eventlog: exit %d %s", code, errs)
	}
	if code, _, _ = run(t, "refvals", "predict", "--eventlog", "../../fixtures/tcg-edge/keylime-bogus.bin", "--efi-app", signedShim); code != 2 {
		t.Errorf("bogus log: exit %d", code)
	}
}

// loadBaseline reads a baseline document through the one loader.
func loadBaseline(t *testing.T, path string) *baseline.Baseline {
	t.Helper()
	ref, err := baseline.Load(path, pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref.Baseline == nil {
		t.Fatalf("%s is a PCR file, not a baseline document", path)
	}
	return ref.Baseline
}

// Without --stub-loads-kernel the UKI's kernel is in PCR 4 exactly when
// systemd-stub's LoadImage of it succeeds (here: an unsigned UKI, so
// secure boot off); the flag overrides it either way, and the notes say
// which rule applied. GRUB's embedded configuration is read from the
// image --efi-app gives; --grub-debian-prelude overrides it.
func TestRefvalsInfers(t *testing.T) {
	dir := t.TempDir()
	uki := filepath.Join(dir, "uki.efi")
	stub := "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	if out, err := exec.Command("objcopy", "--add-section", ".linux="+stub, "--change-section-vma", ".linux=0x2000000", stub, uki).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v %s", err, out)
	}
	for _, c := range []struct {
		args   []string
		events int
		note   string
	}{
		{nil, 4, "firmware measures the kernel systemd-stub loads from the UKI: no secure-boot state given, and the UKI is unsigned, so secure boot is off"},
		{[]string{"--stub-loads-kernel=false"}, 3, "firmware measures no kernel for the UKI: given (--stub-loads-kernel); the artifacts alone say otherwise"},
		{[]string{"--stub-loads-kernel", "--secure-boot=false"}, 4, "firmware measures the kernel systemd-stub loads from the UKI: given (--stub-loads-kernel)"},
		{[]string{"--secure-boot=false"}, 4, "firmware measures the kernel systemd-stub loads from the UKI: secure boot off"},
	} {
		out := filepath.Join(t.TempDir(), "b.yaml")
		code, _, errs := run(t, append([]string{"refvals", "compute", "--uki", uki, "--bank", "sha256", "-O", out}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errs)
		}
		b := loadBaseline(t, out)
		if n := len(b.PCRs[0].Events); b.PCRs[0].Index != 4 || n != c.events {
			t.Errorf("%v: PCR %d has %d events, want PCR 4 with %d", c.args, b.PCRs[0].Index, n, c.events)
		}
		if notes := strings.Join(b.Metadata.Notes, "\n"); !strings.Contains(notes, c.note) {
			t.Errorf("%v: notes %s, want %q", c.args, notes, c.note)
		}
	}

	grub := "/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi"
	if _, err := os.Stat(grub); err != nil {
		t.Fatalf("%v (Debian's grub-efi-amd64-bin; run make deps)", err)
	}
	kernel := filepath.Join(dir, "vmlinuz")
	os.WriteFile(kernel, []byte("kernel"), 0o644)
	args := []string{"refvals", "compute", "--efi-app", grub, "--grub-cfg", "../../fixtures/lab/grub.cfg", "--grub-file", "/vmlinuz=" + kernel, "--grub-file", "/initrd.img=" + kernel, "-o", "json"}
	for _, c := range []struct {
		extra []string
		note  string
	}{
		{nil, "embeds Debian's: normal (memdisk)/grub.cfg"},
		{[]string{"--grub-debian-prelude=false"}, "as given (Debian prelude false, OE-core false), not read from the image"},
	} {
		code, stdout, errs := run(t, append(args, c.extra...)...)
		if code != 0 || !strings.Contains(stdout, c.note) {
			t.Errorf("%v: exit %d %s; want a note with %q", c.extra, code, errs, c.note)
		}
	}
}

// A GRUB configuration the simulation cannot decide is refused with the
// file and line; a missing file is asked for by its flag.
func TestRefvalsGRUBRefusals(t *testing.T) {
	grub := "/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi"
	if _, err := os.Stat(grub); err != nil {
		t.Fatalf("%v (Debian's grub-efi-amd64-bin; run make deps)", err)
	}
	dir := t.TempDir()
	for cfg, want := range map[string]string{
		"set a=1\nif keystatus --shift; then\n linux /vmlinuz\nfi\n": "grub.cfg line 2: whether \"keystatus\" succeeds is decided at boot",
		"menuentry x {\n linux /vmlinuz\n}\n":                        "grub.cfg line 2: linux opens /vmlinuz: give the local file for it (--grub-file /vmlinuz=FILE)",
	} {
		path := filepath.Join(dir, "grub.cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errs := run(t, "refvals", "compute", "--efi-app", grub, "--grub-cfg", path, "-o", "pcrs")
		if code != 2 || !strings.Contains(errs, path+": "+want) {
			t.Errorf("%q: exit %d, stderr %s; want %q", cfg, code, errs, want)
		}
	}
}

// --machine-id predicts PCR 15 as systemd's real tpm2-measure.log (from
// the boot lab) replays it; an ID systemd would not write is bad usage
// naming the flag.
func TestRefvalsComputeMachineID(t *testing.T) {
	const cel = "../../fixtures/cel/lab-uki-pcrphase-tpm2-measure.log"
	code, out, errs := run(t, "refvals", "compute", "--machine-id", "b0a7c0ffee1d4e5f8a9b0c1d2e3f4a5b", "-o", "pcrs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	log, err := eventlog.ReadLogFile(cel)
	if err != nil {
		t.Fatal(err)
	}
	banks := []pcr.Alg{pcr.SHA1, pcr.SHA256}
	want, err := eventlog.ReplayLogs([]*eventlog.Log{log}, &eventlog.ReplayOptions{Banks: banks})
	if err != nil {
		t.Fatal(err)
	}
	got, err := pcr.Parse([]byte(out), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range banks {
		w, _ := want.Values.Get(alg, 15)
		if g, ok := got.Sets[0].Get(alg, 15); !ok || hex.EncodeToString(g) != hex.EncodeToString(w) || len(w) == 0 {
			t.Errorf("%s PCR 15: --machine-id %x, systemd's log %x", alg, g, w)
		}
	}
	for _, id := range []string{"B0A7C0FFEE1D4E5F8A9B0C1D2E3F4A5B", "b0a7c0ff-ee1d-4e5f-8a9b-0c1d2e3f4a5b"} {
		if code, _, errs = run(t, "refvals", "compute", "--machine-id", id); code != 2 || !strings.Contains(errs, "--machine-id: machine ID") {
			t.Errorf("--machine-id %s: exit %d %s", id, code, errs)
		}
	}
}

// tinyBzImage is the smallest file ReadBzImage takes: a boot sector, one
// setup sector (boot protocol 2.12, so no kernel_info) and 512 bytes of
// protected-mode kernel.
func tinyBzImage() []byte {
	k := make([]byte, 3*512)
	k[0x1f1] = 1
	k[0x1fe], k[0x1ff] = 0x55, 0xaa
	copy(k[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(k[0x206:], 0x020c)
	k[0x211] = 1
	binary.LittleEndian.PutUint32(k[0x238:], 255)
	for i := 1024; i < len(k); i++ {
		k[i] = byte(i)
	}
	return k
}

// refvals compute --drtm: usage errors are exit 2 with the reason; the
// real TrenchBoot log is a reference a launch with no initrd event.
func TestRefvalsComputeDRTM(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "bzImage")
	writeFile(t, kernel, tinyBzImage())
	slb := filepath.Join(dir, "skl.bin")
	writeFile(t, slb, append([]byte{0x10, 0, 0x00, 0x01}, make([]byte, 300)...))
	ref := "../../fixtures/drtm/skl-linux-v0.5.3-rc1.bin"
	base := []string{"refvals", "compute", "--drtm", "skinit", "--drtm-kernel", kernel, "--drtm-slb", slb, "--drtm-reference-log", ref, "--drtm-cmdline", "BOOT_IMAGE=/bzImage"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"refvals", "compute", "--drtm-kernel", kernel}, "--drtm-kernel goes with --drtm"},
		{[]string{"refvals", "compute", "--drtm", "sinit", "--drtm-kernel", kernel}, `--drtm "sinit": want secure-launch or skinit`},
		{[]string{"refvals", "compute", "--drtm", "tboot", "--drtm-kernel", kernel, "--drtm-reference-log", ref}, "--drtm-tboot goes with --drtm tboot, which needs it"},
		{append(base, "--drtm-tboot-da"), "--drtm-tboot-da and --drtm-initrd-cmdline go with --drtm tboot"},
		{[]string{"refvals", "compute", "--drtm", "tboot", "--drtm-tboot", slb, "--drtm-kernel", kernel, "--drtm-reference-log", ref, "--drtm-tboot-extpol", "md5"}, `--drtm-tboot-extpol "md5": want one of sha256`},
		{[]string{"refvals", "compute", "--drtm", "tboot", "--drtm-tboot", slb, "--drtm-kernel", kernel, "--drtm-reference-log", ref}, "not an ELF file"},
		{[]string{"refvals", "compute", "--drtm", "skinit", "--drtm-reference-log", ref}, "--drtm needs --drtm-kernel"},
		{[]string{"refvals", "compute", "--drtm", "skinit", "--drtm-kernel", kernel}, "--drtm needs --drtm-reference-log"},
		{[]string{"refvals", "compute", "--drtm", "secure-launch", "--drtm-kernel", kernel, "--drtm-slb", slb, "--drtm-reference-log", ref}, "--drtm-slb goes with --drtm skinit"},
		{append(base, "--drtm-dlme-entry", "0x1g"), `--drtm-dlme-entry "0x1g"`},
		{base, "has no Secure Launch MLE header to take the DLME entry offset from"},
		{append(base, "--drtm-dlme-entry", "0x10", "--drtm-initrd", slb), "the reference logs have no Measured Kernel initrd event"},
		{append(base, "--drtm-dlme-entry", "0x10", "--drtm-cmdline-size", "8"), "exceed the 8 measured"},
		{[]string{"refvals", "compute", "--drtm", "secure-launch", "--drtm-kernel", kernel, "--drtm-reference-log", ref, "--drtm-cmdline", "x"}, "the reference logs have no MLE event for the kernel"},
		{[]string{"refvals", "compute", "--drtm", "secure-launch", "--drtm-kernel", kernel, "--drtm-reference-log", ref}, "the launch measures a command line: give it"},
	} {
		code, _, errs := run(t, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %s; want %q", c.args[2:], code, errs, c.want)
		}
	}
	code, out, errs := run(t, append(base, "--drtm-dlme-entry", "0x10", "-o", "json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := baseline.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.PCRs) != 2 || b.PCRs[0].Index != 17 || len(b.PCRs[1].Events) != 3 || b.PCRs[1].Events[1].Description != "Measured boot parameters" ||
		b.PCRs[1].Events[1].Digests["sha256"] != "1285c605f405ff29c64c0a5674e727f552a260e83e0791c7795570206ae359f1" {
		t.Errorf("baseline: %+v", b.PCRs)
	}
}
