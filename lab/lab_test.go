package lab

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// The boot lab's tests boot real firmware under QEMU, so they run only when
// asked: GOLDENPCR_LAB=1 (make test sets it) or CI set (CI sets CI=true).
// Asked to run, they fail, never skip, when a package is missing.
func labEnabled() bool {
	return os.Getenv("GOLDENPCR_LAB") == "1" || os.Getenv("CI") != ""
}

var (
	capturesOnce sync.Once
	captures     map[string]*Capture
	capturesErr  error
	testLab      *Lab
)

// requireLab skips when the lab was not asked for, and otherwise fails the
// test if the machine lacks a package the lab needs.
func requireLab(t *testing.T) *Lab {
	t.Helper()
	if !labEnabled() {
		t.Skip("boot lab: set GOLDENPCR_LAB=1 to boot the lab variants under QEMU (make test and CI do)")
	}
	if err := CheckRequirements(); err != nil {
		t.Fatal(err)
	}
	capturesOnce.Do(func() {
		testLab = New(testLog{})
	})
	return testLab
}

type testLog struct{}

func (testLog) Write(p []byte) (int, error) { return os.Stderr.Write(p) }

// allCaptures boots every variant once per test binary (or takes their
// captures from the cache when no input changed), one after the other.
func allCaptures(t *testing.T) map[string]*Capture {
	t.Helper()
	l := requireLab(t)
	if captures == nil && capturesErr == nil {
		captures = map[string]*Capture{}
		for _, v := range Variants {
			c, err := l.Run(v)
			if err != nil {
				capturesErr = err
				break
			}
			captures[v.Name] = c
		}
	}
	if capturesErr != nil {
		t.Fatal(capturesErr)
	}
	return captures
}

func forEachVariant(t *testing.T, f func(t *testing.T, c *Capture)) {
	cs := allCaptures(t)
	for _, v := range Variants {
		t.Run(v.Name, func(t *testing.T) { f(t, cs[v.Name]) })
	}
}

// Every PCR of both banks the firmware log accounts for replays to the
// value the TPM holds: ground truth for goldenpcr's event-log replay. For
// uki-pcrphase the firmware log is replayed with systemd's log after it,
// which alone explains PCRs 11 and 15's user-space extends.
func TestEventLogReplayEqualsTPM(t *testing.T) {
	forEachVariant(t, func(t *testing.T, c *Capture) {
		for _, alg := range Banks {
			if n := len(c.PCRs.Indices(alg)); n != pcr.NumPCRs {
				t.Fatalf("%s: the capture holds %d %s PCRs, want %d (did the guest read /sys/class/tpm/tpm0/pcr-%s?)", c.Dir, n, alg, pcr.NumPCRs, alg)
			}
		}
		rep, err := ReplayCapture(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range CompareReplay(rep, c.PCRs) {
			if !row.OK {
				t.Errorf("%s: %s\n  replay %s\n  TPM    %s", c.Dir, row.What, row.Expected, row.Got)
			}
		}
		// The log must have measured something real in both banks.
		for _, alg := range Banks {
			for _, i := range []int{0, 4, 7} {
				if !rep.Touched(i) {
					t.Errorf("%s: the event log extends nothing into %s PCR %d", c.Dir, alg, i)
				}
			}
		}
	})
}

// Every image the firmware (or shim) measured into PCR 4 has the
// Authenticode digest goldenpcr computes for one of the booted files, and
// the first is the file the firmware started.
func TestAuthenticodeEqualsFirmware(t *testing.T) {
	first := map[string]string{"uki": "uki.efi", "uki-sb": "uki.efi", "uki-pcrphase": "uki.efi", "grub": "grubx64.efi", "grub-oe": "grubx64.efi", "sdboot": "systemd-bootx64.efi",
		"shim": "shimx64.efi", "shim-linux": "shimx64.efi", "shim-nosb": "shimx64.efi", "uki-sb-kernel": "uki.efi", "grub-search": "grubx64.efi"}
	forEachVariant(t, func(t *testing.T, c *Capture) {
		rows, err := CompareBootApps(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			if !row.OK {
				t.Errorf("%s: %s\n  goldenpcr %s\n  firmware  %s", c.Dir, row.What, row.Expected, row.Got)
			}
		}
		for _, alg := range Banks {
			apps, err := BootApps(c.Path("eventlog.bin"), alg)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Authenticode(c.Path(first[c.Variant]), alg)
			if err != nil {
				t.Fatal(err)
			}
			if len(apps) == 0 || !bytes.Equal(apps[0], want) {
				t.Errorf("%s: %s PCR 4's first image is not %s (Authenticode %x)", c.Dir, alg, first[c.Variant], want)
			}
		}
	})
}

// What each variant's PCR 4 and PCR 7 hold, as the facts in docs/lab.md
// state them.
func TestBootChains(t *testing.T) {
	// Images measured into PCR 4, in order.
	chains := map[string][]string{
		"uki":     {"uki.efi", "vmlinuz"}, // systemd-stub LoadImage()s the kernel
		"uki-sb":  {"uki.efi"},            // the stub's security override skips firmware's measurement
		"grub":    {"grubx64.efi"},        // linuxefi hands over without LoadImage
		"grub-oe": {"grubx64.efi"},
		"sdboot":  {"systemd-bootx64.efi", "uki.efi", "vmlinuz"},        // systemd-boot LoadImage()s the UKI
		"shim":    {"shimx64.efi", "grubx64.efi", "vmlinuz", "vmlinuz"}, // shim measures grub; its Verify the kernel twice
		// Debian's linux forwards to linuxefi under secure boot.
		"shim-linux": {"shimx64.efi", "grubx64.efi", "vmlinuz", "vmlinuz"},
		// Secure boot off: GRUB verifies nothing through shim.
		"shim-nosb": {"shimx64.efi", "grubx64.efi"},
		// A db-signed kernel is not measured either: the override admits it
		// before firmware's handlers run.
		"uki-sb-kernel": {"uki.efi"},
		"grub-search":   {"grubx64.efi"},        // GRUB measures the kernel into PCR 9 twice (search's probe, linuxefi), PCR 4 not at all
		"uki-pcrphase":  {"uki.efi", "vmlinuz"}, // as uki: its initramfs differs
	}
	forEachVariant(t, func(t *testing.T, c *Capture) {
		apps, err := BootApps(c.Path("eventlog.bin"), pcr.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range apps {
			name := hex.EncodeToString(d)
			for _, a := range peArtifacts {
				if ad, err := Authenticode(c.Path(a), pcr.SHA256); err == nil && bytes.Equal(ad, d) {
					name = a
				}
			}
			got = append(got, name)
		}
		if fmt.Sprint(got) != fmt.Sprint(chains[c.Variant]) {
			t.Errorf("%s: PCR 4 images %v, want %v", c.Variant, got, chains[c.Variant])
		}
		// The UKI boot's PCR 4 is predicted from the digests alone.
		if c.Variant == "uki" || c.Variant == "uki-sb" || c.Variant == "uki-pcrphase" {
			var ds [][]byte
			for _, a := range chains[c.Variant] {
				d, err := Authenticode(c.Path(a), pcr.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, d)
			}
			if want, got := PredictPCR4(pcr.SHA256, ds), c.PCRs[pcr.SHA256][4]; !bytes.Equal(want, got) {
				t.Errorf("%s: PCR 4 predicted %x, TPM %x", c.Variant, want, got)
			}
		}
	})
}

// The quote made after the boot covers the PCR values the guest read: the
// TPM's state survived QEMU with the booted PCRs in it.
func TestQuoteFromSavedState(t *testing.T) {
	forEachVariant(t, func(t *testing.T, c *Capture) {
		m, err := c.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if !m.Quote {
			t.Fatalf("%s: no quote: %s", c.Dir, m.QuoteError)
		}
		for _, f := range []string{"quote.msg", "quote.sig", "quote.pcrs", "ak.pub", "ak.pem", "ak.name", "nonce"} {
			if fi, err := os.Stat(c.Path(f)); err != nil || fi.Size() == 0 {
				t.Errorf("%s: %s missing or empty", c.Dir, f)
			}
		}
		doc, err := pcr.ReadFile(c.Path("tpm-pcrs.yaml"), pcr.ReadOptions{Format: pcr.FormatTPM2YAML})
		if err != nil {
			t.Fatal(err)
		}
		if rows, ok := pcr.Compare(doc.Sets[0], c.PCRs); !ok {
			for _, r := range rows {
				if r.Status != pcr.Match {
					t.Errorf("%s: %s PCR %d: guest read %s, resumed TPM %s", c.Dir, r.Bank, r.Index, r.Expected, r.Got)
				}
			}
		}
		q, err := pcr.ReadFile(c.Path("quote.pcrs"), pcr.ReadOptions{Format: pcr.FormatSerialized})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := pcr.Compare(q.Sets[0], c.PCRs); !ok {
			t.Errorf("%s: quote.pcrs differs from the PCRs the guest read", c.Dir)
		}
	})
}

// Rebuilding the UKI from the same inputs gives the same bytes.
func TestUKIReproducible(t *testing.T) {
	l := requireLab(t)
	k, initrd, err := l.kernelAndInitrd()
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	for i := 0; i < 2; i++ {
		other := &Lab{Cache: t.TempDir()}
		u, err := other.BuildUKI(k.Vmlinuz, initrd, Cmdline)
		if err != nil {
			t.Fatal(err)
		}
		s, err := baseline.FileSHA256(u.Path)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, s)
		b, _ := os.ReadFile(u.Path)
		off := int(b[0x3c]) | int(b[0x3d])<<8
		if ts := b[off+8 : off+12]; !bytes.Equal(ts, []byte{0, 0, 0, 0}) {
			t.Errorf("COFF TimeDateStamp %x, want 0", ts)
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds of the same UKI differ: %s, %s", sums[0], sums[1])
	}
}

// make lab UKI=…: a foreign UKI whose init only powers off still gets its
// PCR 4 compared with goldenpcr's prediction, read from the TPM after the
// guest stopped.
func TestOwnUKI(t *testing.T) {
	l := requireLab(t)
	k, err := l.Kernel()
	if err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(busyboxStatic)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.img")
	cpio := writeCPIO([]cpioEntry{
		{Name: "bin", Mode: sIFDIR | 0o755},
		{Name: "bin/busybox", Mode: sIFREG | 0o755, Data: bb},
		{Name: "init", Mode: sIFREG | 0o755, Data: []byte("#!/bin/busybox sh\n/bin/busybox echo foreign init, powering off\n/bin/busybox poweroff -f\n")},
	})
	if err := os.WriteFile(initrd, cpio, 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := l.BuildUKI(k.Vmlinuz, initrd, "console=ttyS0")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.BootUKI(u.Path, bootTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rep.Print(&buf)
	t.Log(buf.String())
	if !rep.OK() {
		t.Fatalf("your-UKI comparison failed:\n%s", buf.String())
	}
}
