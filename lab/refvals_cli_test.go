package lab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// refvalsCLI gives, for each variant, the PCRs its boot chain measures and
// the `goldenpcr refvals compute` arguments a build pipeline has: the
// artifacts the boot used and nothing about firmware or loader internals
// (no --stub-loads-kernel, --grub-debian-prelude, --grub-oe-core,
// --grub-prefix, and no image listed twice). What the artifacts imply,
// the tool must infer.
var refvalsCLI = map[string]func(c *Capture) (pcrs []int, args []string){
	"uki": func(c *Capture) ([]int, []string) {
		return []int{4, 5, 7, 9, 11}, []string{"--uki", c.Path("uki.efi")}
	},
	"uki-sb": func(c *Capture) ([]int, []string) {
		return []int{4, 5, 7, 9, 11}, []string{"--uki", c.Path("uki.efi")}
	},
	"sdboot": func(c *Capture) ([]int, []string) {
		return []int{4, 5, 7, 9, 11}, []string{"--efi-app", c.Path("systemd-bootx64.efi"), "--uki", c.Path("uki.efi")}
	},
	"grub": func(c *Capture) ([]int, []string) {
		return []int{4, 5, 7, 8, 9}, append([]string{"--efi-app", c.Path("grubx64.efi")}, grubCLIFiles(c, "/vmlinuz", "/initrd.img")...)
	},
	"grub-oe": func(c *Capture) ([]int, []string) {
		return []int{4, 5, 7, 8, 9}, append([]string{"--efi-app", c.Path("grubx64.efi")}, grubCLIFiles(c, "/bzImage", "/initrd")...)
	},
	"grub-search": func(c *Capture) ([]int, []string) {
		return []int{4, 5, 7, 8, 9}, append([]string{"--efi-app", c.Path("grubx64.efi"),
			"--grub-file", "/EFI/debian/extra.cfg=" + c.Path("extra.cfg"),
			"--grub-file", "/EFI/debian/x86_64-efi/" + grubSearchModule + ".mod=" + c.Path(grubSearchModule+".mod")},
			grubCLIFiles(c, "/vmlinuz", "/initrd.img")...)
	},
	"uki-pcrphase": func(c *Capture) ([]int, []string) {
		return []int{4, 5, 7, 9, 11, 15}, append([]string{"--uki", c.Path("uki.efi")}, pcrphaseCLIArgs()...)
	},
	"shim":       shimCLI,
	"shim-linux": shimCLI,
	"shim-nosb":  shimCLI,
	"uki-sb-kernel": func(c *Capture) ([]int, []string) {
		return []int{4, 5, 7, 9, 11}, []string{"--uki", c.Path("uki.efi")}
	},
}

func shimCLI(c *Capture) ([]int, []string) {
	return []int{4, 5, 7, 8, 9}, append([]string{"--efi-app", c.Path("shimx64.efi"), "--efi-app", c.Path("grubx64.efi")}, grubCLIFiles(c, "/vmlinuz", "/initrd.img")...)
}

// pcrphaseCLIArgs are --phase and --machine-id in the order the
// uki-pcrphase init ran systemd-pcrextend.
func pcrphaseCLIArgs() []string {
	var args []string
	for _, s := range PCRPhaseSteps {
		if s == "--machine-id" {
			args = append(args, "--machine-id", PCRPhaseMachineID)
		} else {
			args = append(args, "--phase", s)
		}
	}
	return args
}

// grubCLIFiles is --grub-cfg and the kernel and initrd as grub.cfg names
// them.
func grubCLIFiles(c *Capture, kernel, initrd string) []string {
	return []string{"--grub-cfg", c.Path("grub.cfg"),
		"--grub-file", kernel + "=" + c.Path("vmlinuz"), "--grub-file", initrd + "=" + c.Path("initrd.img")}
}

// Every lab variant predicted as a user predicts it: the goldenpcr binary
// given the boot's artifacts and its firmware's variable store, every PCR
// the boot chain measures equal to the real TPM in both banks.
func TestRefvalsCLIPredictsRealBoot(t *testing.T) {
	bin := goldenpcrBinary(t)
	forEachVariant(t, func(t *testing.T, c *Capture) {
		row, ok := refvalsCLI[c.Variant]
		if !ok {
			t.Fatalf("variant %s has no refvals compute arguments", c.Variant)
		}
		want, args := row(c)
		args = append([]string{"refvals", "compute", "--efi-vars", firmwareVars(t, c), "-o", "pcrs"}, args...)
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("goldenpcr %q: %v\n%s", args, err, stderr.Bytes())
		}
		doc, err := pcr.Parse(out, pcr.ReadOptions{Format: pcr.FormatTPM2YAML})
		if err != nil || len(doc.Sets) != 1 {
			t.Fatalf("goldenpcr %q wrote no PCR set (%v):\n%s", args, err, out)
		}
		for _, alg := range Banks {
			for _, i := range want {
				got, ok := doc.Sets[0].Get(alg, i)
				if !ok {
					t.Errorf("%s: goldenpcr predicted no %s PCR %d", c.Variant, alg, i)
				} else if real := c.PCRs[alg][i]; !bytes.Equal(got, real) {
					t.Errorf("%s: %s PCR %d: goldenpcr %x, the real boot %x\n  goldenpcr %q", c.Variant, alg, i, got, real, args)
				}
			}
		}
	})
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// goldenpcrBinary builds cmd/goldenpcr once for the package's tests.
func goldenpcrBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "goldenpcr-lab-bin")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "goldenpcr")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/goldenpcr").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("building goldenpcr: %v\n%s", binErr, binPath)
	}
	return binPath
}
