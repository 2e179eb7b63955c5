package lab

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Firmware, boot loaders and tools the lab uses, each with the Debian
// package that ships it (scripts/deps.sh installs the same list).
const (
	ovmfCode         = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars         = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	ovmfCodeSnakeoil = "/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd"
	ovmfVarsSnakeoil = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd"
	ovmfCodeMS       = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
	ovmfVarsMS       = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
	snakeoilKey      = "/usr/share/ovmf/PkKek-1-snakeoil.key"
	snakeoilCert     = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
	systemdStub      = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	systemdBoot      = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
	grubMonolithic   = "/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi"
	grubSigned       = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
	grubModules      = "/usr/lib/grub/x86_64-efi"
	shimSigned       = "/usr/lib/shim/shimx64.efi.signed"
	busyboxStatic    = "/bin/busybox"
)

// requiredFiles maps each file the lab reads to its Debian package.
var requiredFiles = map[string]string{
	ovmfCode:         "ovmf",
	ovmfVars:         "ovmf",
	ovmfCodeSnakeoil: "ovmf",
	ovmfVarsSnakeoil: "ovmf",
	ovmfCodeMS:       "ovmf",
	ovmfVarsMS:       "ovmf",
	snakeoilKey:      "ovmf",
	snakeoilCert:     "ovmf",
	systemdStub:      "systemd-boot-efi",
	systemdBoot:      "systemd-boot-efi",
	grubMonolithic:   "grub-efi-amd64-bin",
	grubSigned:       "grub-efi-amd64-signed",
	grubModules:      "grub-efi-amd64-bin",
	shimSigned:       "shim-signed",
	busyboxStatic:    "busybox-static",
	debianKeyring:    "debian-archive-keyring",
}

// requiredTools maps each program the lab runs to its Debian package.
var requiredTools = map[string]string{
	"qemu-system-x86_64": "qemu-system-x86",
	"swtpm":              "swtpm",
	"swtpm_setup":        "swtpm-tools",
	"swtpm_ioctl":        "swtpm-tools",
	"tpm2_pcrread":       "tpm2-tools",
	"tpm2_quote":         "tpm2-tools",
	"tpm2_createek":      "tpm2-tools",
	"tpm2_createak":      "tpm2-tools",
	"tpm2_readpublic":    "tpm2-tools",
	"tpm2_flushcontext":  "tpm2-tools",
	"mformat":            "mtools",
	"mcopy":              "mtools",
	"mmd":                "mtools",
	"objcopy":            "binutils",
	"grub-mkimage":       "grub-common",
	"sbsign":             "sbsigntool",
	"openssl":            "openssl",
	"apt-get":            "apt",
	"apt-cache":          "apt",
	"dpkg-deb":           "dpkg",
	"tar":                "tar",
}

// MissingError lists what the lab needs and the machine lacks.
type MissingError struct {
	Missing  []string // "path-or-tool (package)"
	Packages []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("boot lab: missing %s; install the Debian packages %s (scripts/deps.sh does)",
		strings.Join(e.Missing, ", "), strings.Join(e.Packages, " "))
}

// CheckRequirements reports every missing tool or file, naming its package.
func CheckRequirements() error {
	pk := map[string]bool{}
	var missing []string
	for _, tool := range sortedKeys(requiredTools) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" ("+requiredTools[tool]+")")
			pk[requiredTools[tool]] = true
		}
	}
	for _, f := range sortedKeys(requiredFiles) {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f+" ("+requiredFiles[f]+")")
			pk[requiredFiles[f]] = true
		}
	}
	if !staticELF(busyboxStatic) {
		missing = append(missing, "a static "+busyboxStatic+" (busybox-static; the initramfs has no libc)")
		pk["busybox-static"] = true
	}
	if len(missing) == 0 {
		return nil
	}
	pkgs := make([]string, 0, len(pk))
	for p := range pk {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	return &MissingError{Missing: missing, Packages: pkgs}
}

// staticELF reports whether path is an ELF executable without an
// interpreter, i.e. one that runs in an initramfs without libraries. A
// missing file reports true: requiredFiles names it already.
func staticELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return os.IsNotExist(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// run runs a program and returns its stdout; the error carries stderr.
func run(dir string, env []string, name string, args ...string) ([]byte, error) {
	return runStdin(dir, env, nil, name, args...)
}

func runStdin(dir string, env []string, stdin io.Reader, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// waitFor polls cond every interval until it holds or timeout passes.
func waitFor(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}
