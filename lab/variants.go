package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Lab builds and boots the lab's images; its zero value is not usable, use
// New.
type Lab struct {
	// Cache holds downloads, built artifacts and captures.
	Cache string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// Fresh boots again even when a capture of the same inputs exists.
	Fresh bool

	kernel   *Kernel
	userland *Userland
}

// New returns a lab using DefaultCacheDir.
func New(log io.Writer) *Lab { return &Lab{Cache: DefaultCacheDir(), Log: log} }

func (l *Lab) logf(format string, args ...any) {
	if l.Log != nil {
		fmt.Fprintf(l.Log, "lab: "+format+"\n", args...)
	}
}

// Cmdline is the kernel command line of every variant.
const Cmdline = "console=ttyS0 panic=-1"

// bootTimeout bounds one boot; a UKI boot takes about 16 s under TCG on
// the project's machine, the shim chain about a minute.
const bootTimeout = 3 * time.Minute

// Variant is one way of booting the lab's kernel and initramfs.
type Variant struct {
	Name        string
	Description string
	Firmware    Firmware
	// CELLog says the init runs systemd-pcrextend: the capture must hold
	// its log, tpm2-measure.log, and PCRs 11 and 15 replay from the
	// firmware log and it together.
	CELLog bool
	layout func(l *Lab) (*layout, error)
}

// layout is what a variant puts on its ESP and keeps with its capture.
type layout struct {
	// ESP maps a path on the ESP to the host file copied there.
	ESP map[string]string
	// Artifacts maps a capture file name to the host file it copies.
	Artifacts map[string]string
}

// Variants are the lab's boots, in the order make lab runs them.
var Variants = []Variant{
	{
		Name:        "uki",
		Description: "systemd-stub UKI (Debian kernel + busybox initramfs), secure boot off",
		Firmware:    firmwarePlain,
		layout:      (*Lab).ukiLayout,
	},
	{
		Name:        "grub",
		Description: "standalone GRUB (monolithic grubx64.efi) → linuxefi kernel + initrd, secure boot off",
		Firmware:    firmwarePlain,
		layout:      (*Lab).grubLayout,
	},
	{
		Name:        "grub-oe",
		Description: "GRUB built as OE-core's grub-efi (grub-mkimage, embedded search for /EFI/BOOT/grub.cfg, tpm added) with wic's grub.cfg, secure boot off",
		Firmware:    firmwarePlain,
		layout:      (*Lab).grubOELayout,
	},
	{
		Name:        "uki-sb",
		Description: "the UKI signed with OVMF's snakeoil db key, secure boot on",
		Firmware:    firmwareSnakeoil,
		layout:      (*Lab).ukiSignedLayout,
	},
	{
		Name:        "sdboot",
		Description: "systemd-boot → the UKI as a Type #2 entry in EFI/Linux, secure boot off",
		Firmware:    firmwarePlain,
		layout:      (*Lab).sdbootLayout,
	},
	{
		Name:        "shim",
		Description: "Debian's production chain: Microsoft-signed shim → Debian-signed GRUB → Debian-signed kernel, secure boot on",
		Firmware:    firmwareMS,
		layout:      (*Lab).shimLayout,
	},
	{
		Name:        "shim-linux",
		Description: "the shim chain with grub.cfg's plain linux/initrd commands instead of linuxefi/initrdefi",
		Firmware:    firmwareMS,
		layout:      (*Lab).shimLinuxLayout,
	},
	{
		Name:        "shim-nosb",
		Description: "the shim chain with secure boot off (OVMF without enrolled keys)",
		Firmware:    firmwarePlain,
		layout:      (*Lab).shimLayout,
	},
	{
		Name:        "uki-sb-kernel",
		Description: "a signed UKI whose kernel also carries a snakeoil db signature, secure boot on: systemd-stub's LoadImage of it succeeds",
		Firmware:    firmwareSnakeoil,
		layout:      (*Lab).ukiSignedKernelLayout,
	},
	{Name: "grub-search", Description: "Debian's monolithic GRUB with a Debian-style grub.cfg: search --file for the kernel, if/else on test, source of a second file, insmod from $prefix, secure boot off", Firmware: firmwarePlain, layout: (*Lab).grubSearchLayout},
	{
		Name:        "uki-pcrphase",
		Description: "the UKI with an initramfs running systemd's phase measurements (systemd-pcrextend 257 from trixie): enter-initrd, --machine-id, leave-initrd into PCRs 11 and 15, logged in tpm2-measure.log (CEL-JSON), secure boot off",
		Firmware:    firmwarePlain,
		CELLog:      true,
		layout:      (*Lab).pcrphaseLayout,
	},
}

// VariantByName finds a variant.
func VariantByName(name string) (Variant, bool) {
	for _, v := range Variants {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

func (l *Lab) kernelAndInitrd() (*Kernel, string, error) {
	k, err := l.Kernel()
	if err != nil {
		return nil, "", err
	}
	initrd, err := l.Initramfs()
	if err != nil {
		return nil, "", err
	}
	return k, initrd, nil
}

func (l *Lab) uki() (*UKI, error) {
	k, initrd, err := l.kernelAndInitrd()
	if err != nil {
		return nil, err
	}
	return l.BuildUKI(k.Vmlinuz, initrd, Cmdline)
}

func ukiArtifacts(u *UKI) map[string]string {
	return map[string]string{"uki.efi": u.Path, "vmlinuz": u.Kernel, "initrd.img": u.Initrd, "uki.cmdline": u.Cmdline, "os-release": u.OSRel}
}

func (l *Lab) ukiLayout() (*layout, error) {
	u, err := l.uki()
	if err != nil {
		return nil, err
	}
	return &layout{ESP: map[string]string{"EFI/BOOT/BOOTX64.EFI": u.Path}, Artifacts: ukiArtifacts(u)}, nil
}

func (l *Lab) ukiSignedLayout() (*layout, error) {
	u, err := l.uki()
	if err != nil {
		return nil, err
	}
	return l.signedUKILayout(u)
}

// ukiSignedKernelLayout is ukiSignedLayout with the kernel inside the
// UKI signed by the db key too.
func (l *Lab) ukiSignedKernelLayout() (*layout, error) {
	k, initrd, err := l.kernelAndInitrd()
	if err != nil {
		return nil, err
	}
	kernel, err := l.SignKernel(k.Vmlinuz)
	if err != nil {
		return nil, err
	}
	u, err := l.BuildUKI(kernel, initrd, Cmdline)
	if err != nil {
		return nil, err
	}
	return l.signedUKILayout(u)
}

func (l *Lab) signedUKILayout(u *UKI) (*layout, error) {
	signed, err := l.SignUKI(u)
	if err != nil {
		return nil, err
	}
	a := ukiArtifacts(u)
	a["uki.unsigned.efi"] = u.Path
	a["uki.efi"] = signed
	return &layout{ESP: map[string]string{"EFI/BOOT/BOOTX64.EFI": signed}, Artifacts: a}, nil
}

// sdbootLayout is uki.bbclass's ESP: systemd-boot as the default boot
// application, the UKI found in EFI/Linux, and a loader.conf that boots it
// without waiting.
func (l *Lab) sdbootLayout() (*layout, error) {
	u, err := l.uki()
	if err != nil {
		return nil, err
	}
	conf, err := l.cachedText("sdboot-conf", "loader.conf", loaderConf)
	if err != nil {
		return nil, err
	}
	a := ukiArtifacts(u)
	a["systemd-bootx64.efi"] = systemdBoot
	a["loader.conf"] = conf
	return &layout{
		ESP: map[string]string{
			"EFI/BOOT/BOOTX64.EFI": systemdBoot,
			"EFI/Linux/uki.efi":    u.Path,
			"loader/loader.conf":   a["loader.conf"],
		},
		Artifacts: a,
	}, nil
}

// loaderConf makes systemd-boot start its default entry at once.
const loaderConf = "timeout 0\nconsole-mode keep\n"

// grubConfig boots the kernel with linuxefi/initrdefi: Debian's GRUB 2.06
// plain linux/initrd start the kernel without the EFI stub, which then
// finds no TCG2 protocol and hands the kernel no event log.
func grubConfig() string { return grubConfigWith("linuxefi", "initrdefi") }

// grubConfigWith is grubConfig with other kernel and initrd commands.
func grubConfigWith(linux, initrd string) string {
	return "set timeout=0\nset default=0\ninsmod tpm\nmenuentry 'goldenpcr boot lab' {\n" +
		"\t" + linux + " /vmlinuz " + Cmdline + "\n\t" + initrd + " /initrd.img\n}\n"
}

// cachedText keeps a small generated file (a configuration) in the cache,
// keyed by its content, and returns its path.
func (l *Lab) cachedText(kind, name, text string) (string, error) {
	dir, err := l.cached(kind, newKey(kind).bytes(name, []byte(text)), func(dir string) error {
		return os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
	})
	return filepath.Join(dir, name), err
}

func (l *Lab) grubLayout() (*layout, error) {
	k, initrd, err := l.kernelAndInitrd()
	if err != nil {
		return nil, err
	}
	cfg, err := l.cachedText("grub-cfg", "grub.cfg", grubConfig())
	if err != nil {
		return nil, err
	}
	return &layout{
		ESP: map[string]string{
			"EFI/BOOT/BOOTX64.EFI": grubMonolithic,
			"EFI/debian/grub.cfg":  cfg,
			"vmlinuz":              k.Vmlinuz,
			"initrd.img":           initrd,
		},
		Artifacts: map[string]string{"grubx64.efi": grubMonolithic, "grub.cfg": cfg, "vmlinuz": k.Vmlinuz, "initrd.img": initrd},
	}, nil
}

// oeGRUBEmbedded is the configuration OE-core builds into
// grub-efi-boot<arch>.efi: find the ESP holding /EFI/BOOT/grub.cfg and
// make its directory the prefix, where normal mode reads grub.cfg.
const oeGRUBEmbedded = "search.file /EFI/BOOT/grub.cfg root\nset prefix=($root)/EFI/BOOT\n"

// oeGRUBModules are OE-core's GRUB_BUILDIN plus tpm, which layers such as
// meta-secure-core add for measured boot, and Debian's linuxefi (see
// wicGRUBConfig).
var oeGRUBModules = []string{"boot", "linux", "ext2", "fat", "serial", "part_msdos", "part_gpt", "normal", "efi_gop", "iso9660", "configfile", "search", "loadenv", "test", "tpm", "linuxefi"}

// wicGRUBConfig is grub.cfg as wic's bootimg-efi plugin writes it (title
// "boot" with no space before the brace, a bare default= assignment),
// with linuxefi/initrdefi for the reason grubConfig gives.
func wicGRUBConfig() string {
	return "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\ndefault=boot\ntimeout=0\nmenuentry 'boot'{\n" +
		"linuxefi /bzImage " + Cmdline + "\ninitrdefi /initrd\n}\n"
}

// oeGRUB builds grub-efi-bootx64.efi the way OE-core does, from Debian's
// GRUB modules.
func (l *Lab) oeGRUB() (string, error) {
	k := newKey("grub-oe").bytes("embedded", []byte(oeGRUBEmbedded)).add("modules", strings.Join(oeGRUBModules, " "))
	if err := k.file("grub-mkimage", "/usr/bin/grub-mkimage"); err != nil {
		return "", err
	}
	for _, m := range oeGRUBModules {
		if err := k.file("mod:"+m, filepath.Join(grubModules, m+".mod")); err != nil {
			return "", err
		}
	}
	dir, err := l.cached("grub-oe", k, func(dir string) error {
		cfg := filepath.Join(dir, "embedded.cfg")
		if err := os.WriteFile(cfg, []byte(oeGRUBEmbedded), 0o644); err != nil {
			return err
		}
		args := append([]string{"-O", "x86_64-efi", "-d", grubModules, "-c", cfg, "-p", "/EFI/BOOT", "-o", filepath.Join(dir, "grub-efi-bootx64.efi")}, oeGRUBModules...)
		_, err := run("", nil, "grub-mkimage", args...)
		return err
	})
	return filepath.Join(dir, "grub-efi-bootx64.efi"), err
}

func (l *Lab) grubOELayout() (*layout, error) {
	k, initrd, err := l.kernelAndInitrd()
	if err != nil {
		return nil, err
	}
	grub, err := l.oeGRUB()
	if err != nil {
		return nil, err
	}
	cfg, err := l.cachedText("grub-wic-cfg", "grub.cfg", wicGRUBConfig())
	if err != nil {
		return nil, err
	}
	return &layout{
		ESP: map[string]string{
			"EFI/BOOT/BOOTX64.EFI": grub,
			"EFI/BOOT/grub.cfg":    cfg,
			"bzImage":              k.Vmlinuz,
			"initrd":               initrd,
		},
		Artifacts: map[string]string{"grubx64.efi": grub, "grub.cfg": cfg, "vmlinuz": k.Vmlinuz, "initrd.img": initrd},
	}, nil
}

func (l *Lab) shimLayout() (*layout, error) { return l.shimLayoutWith(grubConfig()) }

func (l *Lab) shimLinuxLayout() (*layout, error) {
	return l.shimLayoutWith(grubConfigWith("linux", "initrd"))
}

func (l *Lab) shimLayoutWith(grubCfg string) (*layout, error) {
	k, initrd, err := l.kernelAndInitrd()
	if err != nil {
		return nil, err
	}
	cfg, err := l.cachedText("grub-cfg", "grub.cfg", grubCfg)
	if err != nil {
		return nil, err
	}
	return &layout{
		ESP: map[string]string{
			"EFI/BOOT/BOOTX64.EFI": shimSigned,
			"EFI/BOOT/grubx64.efi": grubSigned,
			"EFI/debian/grub.cfg":  cfg,
			"vmlinuz":              k.Vmlinuz,
			"initrd.img":           initrd,
		},
		Artifacts: map[string]string{"shimx64.efi": shimSigned, "grubx64.efi": grubSigned, "grub.cfg": cfg, "vmlinuz": k.Vmlinuz, "initrd.img": initrd},
	}, nil
}

// Manifest is a capture's lab.json.
type Manifest struct {
	Variant       string            `json:"variant"`
	Description   string            `json:"description"`
	Firmware      string            `json:"firmware"`
	FirmwareCode  string            `json:"firmware_code"`
	FirmwareVars  string            `json:"firmware_vars"`
	Kernel        string            `json:"kernel,omitempty"`
	Systemd       string            `json:"systemd,omitempty"`
	Cmdline       string            `json:"cmdline,omitempty"`
	ESP           map[string]string `json:"esp"` // ESP path → sha256
	BootSeconds   float64           `json:"boot_seconds"`
	Stopped       string            `json:"stopped"`
	Quote         bool              `json:"quote"`
	QuoteError    string            `json:"quote_error,omitempty"`
	CapturedAt    string            `json:"captured_at"`
	QEMU          string            `json:"qemu"`
	Swtpm         string            `json:"swtpm"`
	CaptureInputs string            `json:"capture_key"`
}

// Run returns the capture of variant v, booting it unless a capture of
// exactly the same inputs is cached (or Fresh is set).
func (l *Lab) Run(v Variant) (*Capture, error) {
	if err := CheckRequirements(); err != nil {
		return nil, err
	}
	lay, err := v.layout(l)
	if err != nil {
		return nil, err
	}
	esp, err := l.BuildESP(v.Name, lay.ESP)
	if err != nil {
		return nil, err
	}
	pristine, err := l.PristineTPM()
	if err != nil {
		return nil, err
	}
	qemuVer, _ := run("", nil, "qemu-system-x86_64", "--version")
	k := newKey("capture").add("variant", v.Name).add("esp", filepath.Base(filepath.Dir(esp))).
		add("tpm", filepath.Base(pristine)).bytes("qemu", qemuVer).add("secureboot", fmt.Sprint(v.Firmware.SecureBoot))
	if err := k.files(map[string]string{"code": v.Firmware.Code, "vars": v.Firmware.Vars}); err != nil {
		return nil, err
	}
	dir := filepath.Join(l.Cache, "captures", v.Name+"-"+k.sum())
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil && !l.Fresh {
		l.logf("[%s] using the cached capture %s (same inputs; `make lab` without CACHED=1 boots again)", v.Name, dir)
		return l.finish(v, dir)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	r, err := l.boot(v.Name, v.Firmware, esp, tmp, bootOptions{Timeout: bootTimeout})
	if err != nil {
		return nil, err
	}
	if !r.Done {
		return nil, fmt.Errorf("[%s] the guest wrote no capture (%s); console:\n%s", v.Name, r.Stopped, tail(r.Console, 3000))
	}
	if _, err := collect(r, tmp); err != nil {
		return nil, fmt.Errorf("[%s] %w", v.Name, err)
	}
	if _, err := os.Stat(filepath.Join(tmp, CELLogName)); v.CELLog && err != nil {
		return nil, fmt.Errorf("[%s] the guest sent no %s (systemd-pcrextend logged nothing?); console:\n%s", v.Name, CELLogName, tail(r.Console, 3000))
	}
	m := Manifest{
		Variant: v.Name, Description: v.Description, Firmware: v.Firmware.Name,
		FirmwareCode: v.Firmware.Code, FirmwareVars: v.Firmware.Vars,
		Cmdline: Cmdline, ESP: map[string]string{},
		BootSeconds: r.Duration.Seconds(), Stopped: r.Stopped,
		CapturedAt: time.Now().UTC().Format(time.RFC3339),
		QEMU:       firstLine(qemuVer), Swtpm: filepath.Base(pristine), CaptureInputs: k.sum(),
	}
	if l.kernel != nil {
		m.Kernel = l.kernel.Package + " " + l.kernel.Version
	}
	if v.CELLog && l.userland != nil {
		m.Systemd = "systemd " + l.userland.Systemd + " (" + userlandSuite + ")"
	}
	for p, f := range lay.ESP {
		m.ESP[p], _ = baseline.FileSHA256(f)
	}
	l.logf("[%s] quoting the booted PCRs from the saved TPM state", v.Name)
	if err := makeQuote(filepath.Join(tmp, "tpm"), tmp); err != nil {
		m.QuoteError = err.Error()
		l.logf("[%s] quote failed: %v", v.Name, err)
	} else {
		m.Quote = true
	}
	for name, src := range lay.Artifacts {
		if err := linkOrCopy(src, filepath.Join(tmp, name)); err != nil {
			return nil, err
		}
	}
	if err := linkOrCopy(esp, filepath.Join(tmp, "esp.img")); err != nil {
		return nil, err
	}
	mj, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "lab.json"), append(mj, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return l.finish(v, dir)
}

// finish loads a completed capture and points out/<variant> at it.
func (l *Lab) finish(v Variant, dir string) (*Capture, error) {
	doc, err := pcr.ReadFile(filepath.Join(dir, "pcrs.yaml"), pcr.ReadOptions{Format: pcr.FormatTPM2YAML})
	if err != nil {
		return nil, err
	}
	if len(doc.Sets) != 1 {
		return nil, fmt.Errorf("%s/pcrs.yaml holds %d sets", dir, len(doc.Sets))
	}
	out := filepath.Join(l.Cache, "out")
	if err := os.MkdirAll(out, 0o755); err == nil {
		link := filepath.Join(out, v.Name)
		os.Remove(link)
		os.Symlink(dir, link)
	}
	return &Capture{Variant: v.Name, Dir: dir, PCRs: doc.Sets[0]}, nil
}

// ReadManifest reads a capture's lab.json.
func (c *Capture) Manifest() (*Manifest, error) {
	b, err := os.ReadFile(c.Path("lab.json"))
	if err != nil {
		return nil, err
	}
	var m Manifest
	return &m, json.Unmarshal(b, &m)
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return copyFile(src, dst, 0o644)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(s)
}
