package lab

import (
	"bytes"
	"debug/pe"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// ownUKIStops end a foreign UKI's boot early: by then the firmware and the
// stub have measured everything PCR 4 gets.
var ownUKIStops = []string{"login:", "Kernel panic", "Entering emergency mode", "Give root password", "@@DONE@@"}

// BootUKI boots a UKI of the user's own with secure boot off, lets it run
// until it writes a lab capture, reaches a login prompt or emergency
// shell, panics, powers off or timeout passes, then reads every PCR back
// from the TPM's saved state and compares with what goldenpcr predicts:
// the Authenticode digests of the UKI and of its .linux kernel, and PCR 4
// replayed from them. A UKI built around the lab's initramfs also yields
// its event log, which is then replayed in full.
func (l *Lab) BootUKI(path string, timeout time.Duration) (*Report, error) {
	if err := CheckRequirements(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	esp, err := l.BuildESP("own-uki", map[string]string{"EFI/BOOT/BOOTX64.EFI": abs})
	if err != nil {
		return nil, err
	}
	sum, err := baseline.FileSHA256(abs)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(l.Cache, "captures", "own-uki-"+sum[:16])
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := linkOrCopy(abs, filepath.Join(dir, "uki.efi")); err != nil {
		return nil, err
	}
	kernel := filepath.Join(dir, "vmlinuz")
	if err := extractSection(abs, ".linux", kernel); err != nil {
		l.logf("no kernel in the UKI: %v", err)
		kernel = ""
	}
	r, err := l.boot("own-uki", firmwarePlain, esp, dir, bootOptions{Timeout: timeout, TimeoutOK: true, StopOn: ownUKIStops})
	if err != nil {
		return nil, err
	}
	l.logf("[own-uki] reading the PCRs back from the saved TPM state")
	if err := makeQuote(filepath.Join(dir, "tpm"), dir); err != nil {
		return nil, err
	}
	doc, err := pcr.ReadFile(filepath.Join(dir, "tpm-pcrs.yaml"), pcr.ReadOptions{Format: pcr.FormatTPM2YAML})
	if err != nil {
		return nil, err
	}
	real := doc.Sets[0]
	rep := &Report{Title: "your UKI " + path + " (" + r.Stopped + fmt.Sprintf(" after %.0fs)", r.Duration.Seconds()), Dir: dir}
	if r.Done {
		c, err := collect(r, dir)
		if err != nil {
			return nil, err
		}
		c.Variant = "own-uki"
		full, err := Check(c)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, full.Rows...)
	}
	for _, alg := range Banks {
		uki, err := Authenticode(abs, alg)
		if err != nil {
			return nil, err
		}
		models := [][][]byte{{uki}}
		names := []string{"UKI only (secure boot on, or a stub that does not LoadImage the kernel)"}
		if kernel != "" {
			if kd, err := Authenticode(kernel, alg); err == nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s Authenticode: UKI %x, its .linux kernel %x", alg, uki, kd))
				models = append([][][]byte{{uki, kd}}, models...)
				names = append([]string{"UKI, then its .linux kernel (systemd-stub's LoadImage, secure boot off)"}, names...)
			}
		} else {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s Authenticode: UKI %x", alg, uki))
		}
		got, _ := real.Get(alg, 4)
		row := Row{What: fmt.Sprintf("%s PCR 4 predicted from goldenpcr's Authenticode digests = TPM", alg), Got: hex.EncodeToString(got)}
		for i, m := range models {
			want := PredictPCR4(alg, m)
			if i == 0 {
				row.Expected = hex.EncodeToString(want)
			}
			if bytes.Equal(want, got) {
				row.OK, row.Expected, row.Note = true, hex.EncodeToString(want), names[i]
				break
			}
		}
		rep.Rows = append(rep.Rows, row)
	}
	for _, alg := range Banks {
		for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14} {
			v, _ := real.Get(alg, i)
			rep.Notes = append(rep.Notes, fmt.Sprintf("TPM %s PCR %d = %x", alg, i, v))
		}
	}
	return rep, nil
}

// PredictPCR4 is PCR 4 after OVMF's boot of images from a boot option:
// EV_EFI_ACTION "Calling EFI Application from Boot Option", the separator,
// then each image's Authenticode digest, as the captures show.
func PredictPCR4(alg pcr.Alg, images [][]byte) []byte {
	v := make([]byte, alg.Size())
	v = pcr.Extend(alg, v, alg.Sum([]byte("Calling EFI Application from Boot Option")))
	v = pcr.Extend(alg, v, alg.Sum([]byte{0, 0, 0, 0}))
	for _, d := range images {
		v = pcr.Extend(alg, v, d)
	}
	return v
}

// extractSection writes a PE section's contents (VirtualSize bytes, what
// systemd-stub hands on) to dst.
func extractSection(path, name, dst string) error {
	f, err := pe.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s := f.Section(name)
	if s == nil {
		return fmt.Errorf("%s has no %s section", path, name)
	}
	b, err := s.Data()
	if err != nil {
		return err
	}
	if int(s.VirtualSize) < len(b) {
		b = b[:s.VirtualSize]
	}
	return os.WriteFile(dst, b, 0o644)
}
