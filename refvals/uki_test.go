package refvals

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

const debianStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// buildUKI adds sections to Debian's systemd-stub with objcopy, as ukify
// and mkosi do.
func buildUKI(t *testing.T, dir string, sections map[string]string) string {
	t.Helper()
	out := filepath.Join(dir, "uki.efi")
	args := []string{}
	vma := 0x1000000
	for _, name := range []string{".osrel", ".cmdline", ".splash", ".dtb", ".pcrpkey", ".initrd", ".linux"} {
		file, ok := sections[name]
		if !ok {
			continue
		}
		args = append(args, "--add-section", name+"="+file, "--change-section-vma", fmt.Sprintf("%s=0x%x", name, vma))
		vma += 0x1000000
	}
	args = append(args, debianStub, out)
	if b, err := exec.Command("objcopy", args...).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, b)
	}
	return out
}

// systemdMeasure returns `systemd-measure calculate`'s PCR 11 for the
// first phase (enter-initrd), per bank.
func systemdMeasure(t *testing.T, sections map[string]string, bank string) string {
	t.Helper()
	args := []string{"calculate", "--bank=" + bank, "--json=short"}
	for name, file := range sections {
		args = append(args, "--"+name[1:]+"="+file)
	}
	out, err := exec.Command("/usr/lib/systemd/systemd-measure", args...).Output()
	if err != nil {
		t.Fatalf("systemd-measure %v: %v", args, err)
	}
	var res map[string][]struct {
		Phase string
		Hash  string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("systemd-measure output %s: %v", out, err)
	}
	for _, r := range res[bank] {
		if r.Phase == "enter-initrd" {
			return r.Hash
		}
	}
	t.Fatalf("no enter-initrd value in %s", out)
	return ""
}

// PCR 11 of UKIs built here with objcopy equals what systemd-measure
// calculates from the same files, with and without optional sections,
// in every bank it supports.
func TestUKIPCR11AgreesWithSystemdMeasure(t *testing.T) {
	if _, err := os.Stat("/usr/lib/systemd/systemd-measure"); err != nil {
		t.Fatal("systemd-measure missing (Debian package systemd): run make deps")
	}
	dir := t.TempDir()
	files := map[string]string{
		".linux":   writeFile(t, dir, "vmlinuz", randomBytes(t, 70000)),
		".osrel":   writeFile(t, dir, "os-release", []byte("ID=goldenpcr\nVERSION_ID=1\n")),
		".cmdline": writeFile(t, dir, "cmdline", []byte("root=/dev/vda2 ro console=ttyS0")),
		".initrd":  writeFile(t, dir, "initrd", randomBytes(t, 33333)),
		".splash":  writeFile(t, dir, "splash.bmp", randomBytes(t, 1234)),
		".dtb":     writeFile(t, dir, "board.dtb", randomBytes(t, 999)),
		".pcrpkey": writeFile(t, dir, "pcrpkey.pem", []byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n")),
	}
	for _, tc := range []struct {
		name     string
		sections []string
	}{
		{"minimal", []string{".linux"}},
		{"typical", []string{".linux", ".osrel", ".cmdline", ".initrd"}},
		{"all optional", []string{".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			sel := map[string]string{}
			for _, s := range tc.sections {
				sel[s] = files[s]
			}
			uki := buildUKI(t, sub, sel)
			banks := []pcr.Alg{pcr.SHA1, pcr.SHA256, pcr.SHA384, pcr.SHA512}
			b := baseline.NewBuilder(banks...)
			if err := UKIPCR11(b, uki, UKIOptions{Phases: []string{"enter-initrd"}}); err != nil {
				t.Fatal(err)
			}
			got, err := b.Baseline().Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, alg := range banks {
				v, _ := got.Get(alg, 11)
				if want := systemdMeasure(t, sel, alg.String()); hex.EncodeToString(v) != want {
					t.Errorf("%s PCR 11 = %s, systemd-measure %s", alg, hex.EncodeToString(v), want)
				}
			}
			// Two events per section plus the phase.
			if n := len(b.Baseline().PCRs[0].Events); n != 2*len(tc.sections)+1 {
				t.Errorf("%d events, want %d", n, 2*len(tc.sections)+1)
			}
		})
	}
}

func TestUKIRejectsNonUKI(t *testing.T) {
	b := baseline.NewBuilder(pcr.SHA256)
	if err := UKIPCR11(b, debianStub, UKIOptions{}); err == nil {
		t.Error("the bare stub was accepted as a UKI")
	}
}
