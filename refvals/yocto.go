package refvals

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goldenpcr/goldenpcr/internal/optname"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/internal/fat"
)

// YoctoFlow names a boot flow recognised in a Yocto deploy directory.
type YoctoFlow string

const (
	// YoctoUKISystemdBoot: firmware starts systemd-boot (EFI/BOOT/boot<arch>.efi), which loads the UKI.
	YoctoUKISystemdBoot YoctoFlow = "uki+systemd-boot"
	// YoctoUKI: the UKI is the boot application itself (EFI/BOOT/boot<arch>.efi).
	YoctoUKI YoctoFlow = "uki"
	// YoctoGRUB: OE-core's grub-efi, configured by EFI/BOOT/grub.cfg in the wic image's ESP.
	YoctoGRUB YoctoFlow = "grub"
	// YoctoShimGRUB: meta-secure-core's shim → GRUB → kernel.
	YoctoShimGRUB YoctoFlow = "shim+grub"
	// YoctoGyroidOS: the signed EFI-stub kernel with its bundled initramfs, started directly.
	YoctoGyroidOS YoctoFlow = "gyroidos"
)

// YoctoOptions are DiscoverYoctoWith's inputs.
type YoctoOptions struct {
	Dir, Machine, Image string
	// UKIDirect says the UKI is the boot application itself (copied to
	// EFI/BOOT/boot<arch>.efi) even when systemd-boot<arch>.efi is
	// deployed.
	UKIDirect bool
	// GuestOSDir is GyroidOS's gyroidos-guests directory (or one that
	// holds it), for a build whose guest OSes are not where Yocto puts
	// them: in the deploy directory, or in tmp_container's beside it.
	GuestOSDir string
	// OptionName, if set, words a YoctoOption in the caller's terms for
	// errors and notes that name it (a CLI names its flags); nil or ""
	// keeps the library's words, the option's field.
	OptionName func(YoctoOption) string
}

// YoctoOption names an option an error or a note of DiscoverYocto asks
// for: a field of YoctoOptions, or of Inputs.
type YoctoOption string

// The options DiscoverYocto's errors and notes name.
const (
	// YoctoImage picks one image of several (YoctoOptions.Image).
	YoctoImage YoctoOption = "Image"
	// YoctoStubLoadsKernel says systemd-stub loads its kernel with
	// LoadImage (Inputs.StubLoadsKernel).
	YoctoStubLoadsKernel YoctoOption = "StubLoadsKernel"
	// YoctoGuestOSDir points to GyroidOS's gyroidos-guests directory
	// (YoctoOptions.GuestOSDir).
	YoctoGuestOSDir YoctoOption = "GuestOSDir"
	// YoctoCMLImages gives the guest-OS images in the device's order
	// (Inputs.CMLImages).
	YoctoCMLImages YoctoOption = "CMLImages"
	// YoctoReferenceLog is an event log of the target hardware
	// (Inputs.ReferenceLog).
	YoctoReferenceLog YoctoOption = "ReferenceLog"
	// YoctoGRUBFiles maps a path on GRUB's boot device to a local file
	// (Inputs.GRUB.Files); GRUB's simulation asks for it too.
	YoctoGRUBFiles YoctoOption = "GRUB.Files"
	// YoctoMachineID is the machine ID measured into PCR 15
	// (Inputs.MachineID).
	YoctoMachineID YoctoOption = "MachineID"
)

// name words o for the caller.
func (opts YoctoOptions) name(o YoctoOption) string { return optname.Word(opts.OptionName, o) }

// YoctoDeploy is what DiscoverYocto found in a deploy directory.
type YoctoDeploy struct {
	Flow    YoctoFlow
	Machine string
	Image   string // IMAGE_BASENAME-MACHINE or IMAGE_LINK_NAME, when an image was found
	Arch    string // x64, ia32, aa64…
	// Vars are the BitBake variables read from <image-link>.testdata.json.
	Vars   map[string]string
	Inputs Inputs
	// Used says, one line each, which file was taken for what and why.
	Used []string
	// Read lists every file discovery read (links resolved), which may lie
	// outside the directory; what Inputs names is read again by Compute.
	// A caller writing output must not write over any of them, nor
	// anywhere inside the directory.
	Read []string
	// tmp holds files extracted from the wic image (grub.cfg, and files
	// GRUB reads whose ESP copy differs from the deployed one).
	tmp        string
	kernelPath string
}

// Close removes the files extracted from images.
func (d *YoctoDeploy) Close() error {
	if d == nil || d.tmp == "" {
		return nil
	}
	return os.RemoveAll(d.tmp)
}

func (d *YoctoDeploy) use(format string, args ...any) {
	d.Used = append(d.Used, fmt.Sprintf(format, args...))
}

// read records a file discovery reads.
func (d *YoctoDeploy) read(path string) {
	for _, p := range d.Read {
		if p == path {
			return
		}
	}
	d.Read = append(d.Read, path)
}

// extract writes data, found at inside in the image, to a temporary file
// and records the IMAGE:PATH name the baseline gives it.
func (d *YoctoDeploy) extract(image, inside, file string, data []byte) (string, error) {
	if d.tmp == "" {
		var err error
		if d.tmp, err = os.MkdirTemp("", "goldenpcr-yocto-"); err != nil {
			return "", err
		}
	}
	out := filepath.Join(d.tmp, file)
	if err := os.WriteFile(out, data, 0o600); err != nil {
		return "", err
	}
	if d.Inputs.Extracted == nil {
		d.Inputs.Extracted = map[string]string{}
	}
	if !strings.HasPrefix(inside, "/") {
		inside = "/" + inside
	}
	d.Inputs.Extracted[out] = image + ":" + inside
	return out, nil
}

// DiscoverYocto finds the boot artifacts of an image in a Yocto deploy
// directory (tmp/deploy/images/<MACHINE>), recognises the boot flow, and
// derives the Inputs of `refvals compute`. machine and image may be empty.
// The caller should Close the result.
func DiscoverYocto(dir, machine, image string) (*YoctoDeploy, error) {
	return DiscoverYoctoWith(YoctoOptions{Dir: dir, Machine: machine, Image: image})
}

var efiArches = []string{"x64", "ia32", "aa64", "arm", "riscv64", "loongarch64"}

// isTimestamp reports a Yocto build timestamp: 14 digits, YYYYMMDDhhmmss.
func isTimestamp(s string) bool {
	if len(s) != 14 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// yoctoImageFile is one image output, split by Yocto's naming.
type yoctoImageFile struct {
	name string // <IMAGE_BASENAME>-<MACHINE> (or without machine)
	ts   string // 14-digit timestamp, "" for a link name
	path string
}

// parseImageName splits an image output file name with the given type
// suffix (".wic", ".testdata.json"): nanbield+ real
// <name>.rootfs-<ts><suf> and link <name>.rootfs<suf>; kirkstone real
// <name>-<ts>.rootfs<suf> and link <name><suf>.
func parseImageName(file, suffix string) (name, ts string, ok bool) {
	stem, ok := strings.CutSuffix(file, suffix)
	if !ok || stem == "" {
		return "", "", false
	}
	if s, ok := strings.CutSuffix(stem, ".rootfs"); ok {
		if i := strings.LastIndex(s, "-"); i > 0 && isTimestamp(s[i+1:]) {
			return s[:i], s[i+1:], true
		}
		return s, "", true
	}
	if i := strings.LastIndex(stem, ".rootfs-"); i > 0 && isTimestamp(stem[i+8:]) {
		return stem[:i], stem[i+8:], true
	}
	if i := strings.LastIndex(stem, "-"); i > 0 && isTimestamp(stem[i+1:]) {
		return stem[:i], stem[i+1:], true
	}
	return stem, "", true
}

// resolve follows a (relative) symlink inside the deploy directory and
// returns the real file; a dangling link is an error.
func resolve(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	return real, nil
}

func isLink(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && st.Mode()&os.ModeSymlink != 0
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// pickImage chooses the image file of one type: the image's link name if
// there is one, else the newest timestamp; images are grouped by name.
func (d *YoctoDeploy) pickImage(names []string, dir, suffix string, opts YoctoOptions) (string, error) {
	groups := map[string][]yoctoImageFile{}
	hasWic := map[string]bool{}
	for _, n := range names {
		if name, _, ok := parseImageName(n, ".wic"); ok {
			hasWic[name] = true
		}
		name, ts, ok := parseImageName(n, suffix)
		if !ok {
			continue
		}
		groups[name] = append(groups[name], yoctoImageFile{name: name, ts: ts, path: filepath.Join(dir, n)})
	}
	var keys []string
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if opts.Image != "" {
		// IMAGE_BASENAME-MACHINE, IMAGE_BASENAME, else IMAGE_BASENAME-<anything>.
		var exact, prefixed []string
		for _, k := range keys {
			switch {
			case k == opts.Image || (opts.Machine != "" && k == opts.Image+"-"+opts.Machine):
				exact = append(exact, k)
			case strings.HasPrefix(k, opts.Image+"-"):
				prefixed = append(prefixed, k)
			}
		}
		keys = exact
		if len(keys) == 0 {
			keys = prefixed
		}
	}
	if len(keys) > 1 {
		// An initramfs image deploys a testdata.json too, but no disk image.
		var withWic []string
		for _, k := range keys {
			if hasWic[k] {
				withWic = append(withWic, k)
			}
		}
		if len(withWic) >= 1 {
			keys = withWic
		}
	}
	if len(keys) == 0 {
		return "", nil
	}
	if len(keys) > 1 {
		return "", fmt.Errorf("%s: several images (%s): pick one with %s", suffix, strings.Join(keys, ", "), opts.name(YoctoImage))
	}
	files := groups[keys[0]]
	for _, f := range files {
		if f.ts == "" && isLink(f.path) {
			real, err := resolve(f.path)
			if err != nil {
				return "", err
			}
			d.use("%s: link %s → %s", suffix, filepath.Base(f.path), filepath.Base(real))
			d.Image = f.name
			return real, nil
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].ts > files[j].ts })
	d.Image = files[0].name
	if files[0].ts != "" {
		d.use("%s: no link name; newest timestamp %s (%s)", suffix, files[0].ts, filepath.Base(files[0].path))
	} else {
		d.use("%s: %s", suffix, filepath.Base(files[0].path))
	}
	return resolve(files[0].path)
}

// readTestData reads a JSON dump of the BitBake datastore, keeping the
// variables as strings.
func readTestData(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	vars := map[string]string{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			vars[k] = v
		case nil:
		default:
			vars[k] = fmt.Sprint(v)
		}
	}
	return vars, nil
}

func hasWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if w == word {
			return true
		}
	}
	return false
}

// DiscoverYoctoWith is DiscoverYocto with options.
func DiscoverYoctoWith(opts YoctoOptions) (*YoctoDeploy, error) {
	dir := opts.Dir
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	d := &YoctoDeploy{Machine: opts.Machine, Vars: map[string]string{}, Arch: "x64"}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()

	// The image's datastore dump says most.
	td, err := d.pickImage(names, dir, ".testdata.json", opts)
	if err != nil {
		return nil, err
	}
	if td != "" {
		d.read(td)
		if d.Vars, err = readTestData(td); err != nil {
			return nil, err
		}
		d.use("BitBake variables from %s", filepath.Base(td))
		if d.Machine == "" {
			d.Machine = d.Vars["MACHINE"]
		}
	}
	opts.Machine = d.Machine
	wic, err := d.pickImage(names, dir, ".wic", opts)
	if err != nil {
		return nil, err
	}
	for _, a := range efiArches {
		if exists(filepath.Join(dir, "linux"+a+".efi.stub")) || exists(filepath.Join(dir, "grub-efi-boot"+a+".efi")) || exists(filepath.Join(dir, "systemd-boot"+a+".efi")) {
			d.Arch = a
			break
		}
	}
	if d.Machine == "" {
		d.Machine = d.guessMachine(names)
	}
	in := &d.Inputs
	kernelDir := dir
	if sub := d.Vars["KERNEL_DEPLOYSUBDIR"]; sub != "" {
		kernelDir = filepath.Join(dir, sub)
	}

	// Markers, most specific first.
	cml := filepath.Join(dir, "cml-kernel")
	if sub := d.Vars["KERNEL_DEPLOYSUBDIR"]; sub != "" {
		cml = kernelDir
	}
	if signed := d.gyroidKernel(cml); signed != "" || d.Vars["DISTRO"] == "cml-base" {
		if signed == "" {
			return nil, fmt.Errorf("%s: DISTRO is cml-base (GyroidOS) but no %s/bzImage-initramfs-<MACHINE>.bin.signed", dir, filepath.Base(cml))
		}
		d.Flow = YoctoGyroidOS
		in.EFIApps = []string{signed}
		d.use("GyroidOS: firmware starts %s directly as EFI/BOOT/BOOTX64.EFI (command line built in; PCRs 8/9 stay zero)", signed)
		in.CML = true
		if err := d.gyroidGuests(dir, opts); err != nil {
			return nil, err
		}
		ok = true
		return d, nil
	}
	shim := filepath.Join(dir, "boot"+d.Arch+".efi")
	if exists(filepath.Join(dir, "mm"+d.Arch+".efi")) || exists(filepath.Join(dir, "LockDown.efi")) || isDir(filepath.Join(dir, "efi-unsigned")) {
		if err := d.shimFlow(dir, kernelDir, shim); err != nil {
			return nil, err
		}
		ok = true
		return d, nil
	}
	ukiName := "uki.efi"
	if v := d.Vars["UKI_FILENAME"]; v != "" {
		ukiName = v
	}
	uki := filepath.Join(dir, ukiName)
	stub := filepath.Join(dir, "linux"+d.Arch+".efi.stub")
	if exists(uki) && (exists(stub) || hasWord(d.Vars["IMAGE_CLASSES"], "uki")) {
		if err := d.ukiFlow(uki, stub, filepath.Join(dir, "systemd-boot"+d.Arch+".efi"), opts); err != nil {
			return nil, err
		}
		d.diskFromWic(wic)
		ok = true
		return d, nil
	}
	grubEFI := filepath.Join(dir, "grub-efi-boot"+d.Arch+".efi")
	provider := d.Vars["EFI_PROVIDER"]
	if exists(grubEFI) && (provider == "" || provider == "grub-efi") && wic != "" {
		if err := d.grubFlow(dir, kernelDir, grubEFI, wic); err != nil {
			return nil, err
		}
		ok = true
		return d, nil
	}
	var found []string
	for _, n := range names {
		if strings.HasSuffix(n, ".efi") || strings.HasSuffix(n, ".stub") || strings.HasSuffix(n, ".wic") || strings.HasSuffix(n, ".testdata.json") || n == "cml-kernel" || n == "efi-unsigned" {
			found = append(found, n)
		}
	}
	why := "no uki.efi beside linux" + d.Arch + ".efi.stub, no grub-efi-boot" + d.Arch + ".efi with a .wic image, no mm" + d.Arch + ".efi/LockDown.efi/efi-unsigned, no cml-kernel/*.bin.signed"
	if provider != "" && provider != "grub-efi" {
		why += "; EFI_PROVIDER is " + provider
	}
	return nil, fmt.Errorf("%s: no boot flow recognised (%s); found: %s", dir, why, strings.Join(found, " "))
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// guessMachine takes MACHINE from a kernel link name <TYPE>-<MACHINE>.bin.
func (d *YoctoDeploy) guessMachine(names []string) string {
	for _, n := range names {
		for _, t := range []string{"bzImage-", "Image-", "zImage-", "vmlinux-"} {
			if rest, ok := strings.CutPrefix(n, t); ok && strings.HasSuffix(rest, ".bin") && !strings.Contains(rest, "--") && !strings.HasPrefix(rest, "initramfs-") {
				m := strings.TrimSuffix(rest, ".bin")
				if i := strings.LastIndex(m, "-"); i < 0 || !isTimestamp(m[i+1:]) {
					d.use("MACHINE %s from the kernel link %s", m, n)
					return m
				}
			}
		}
	}
	return ""
}

func (d *YoctoDeploy) gyroidKernel(dir string) string {
	if d.Machine != "" {
		p := filepath.Join(dir, "bzImage-initramfs-"+d.Machine+".bin.signed")
		if exists(p) {
			return p
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, "bzImage-initramfs-*.bin.signed"))
	sort.Strings(m)
	for _, p := range m {
		if exists(p) {
			return p
		}
	}
	return ""
}

// diskFromWic uses the wic image as the boot disk of PCR 5's GPT event.
func (d *YoctoDeploy) diskFromWic(wic string) {
	if wic == "" {
		return
	}
	d.read(wic)
	f, err := os.Open(wic)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := GPTEventData(f); err != nil {
		d.use("PCR 5: %s has no GPT (%v); no GPT event predicted", filepath.Base(wic), err)
		return
	}
	d.Inputs.Disk = wic
	d.use("PCR 5: GPT of %s, the disk the image is written to", wic)
}

func signed(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	img, err := authenticode.Parse(f, st.Size())
	if err != nil {
		return false
	}
	sigs, err := img.Signatures(f)
	return err == nil && len(sigs) > 0
}

func (d *YoctoDeploy) ukiFlow(uki, stub, sdboot string, opts YoctoOptions) error {
	direct := opts.UKIDirect
	real, err := resolve(uki)
	if err != nil {
		return err
	}
	if exists(stub) {
		d.use("UKI: %s (built by uki.bbclass from %s)", real, filepath.Base(stub))
	} else {
		d.use("UKI: %s (IMAGE_CLASSES has uki)", real)
	}
	d.Inputs.UKI = real
	d.read(real)
	switch {
	case direct:
		d.Flow = YoctoUKI
		d.use("boot application: the UKI itself as EFI/BOOT/boot%s.efi (asked for)", d.Arch)
	case exists(sdboot):
		d.Flow = YoctoUKISystemdBoot
		d.Inputs.EFIApps = []string{sdboot}
		d.use("boot application: firmware starts %s (EFI/BOOT/boot%s.efi), which loads EFI/Linux/%s", sdboot, d.Arch, filepath.Base(uki))
	default:
		d.Flow = YoctoUKI
		d.use("boot application: the UKI itself as EFI/BOOT/boot%s.efi (no systemd-boot%s.efi deployed)", d.Arch, d.Arch)
	}
	return nil
}

// kernel finds the kernel image: the <TYPE>-<MACHINE>.bin link, else the
// <TYPE> link, under KERNEL_DEPLOYSUBDIR if set.
func (d *YoctoDeploy) kernel(kernelDir string) (string, error) {
	if d.kernelPath != "" {
		return d.kernelPath, nil
	}
	types := strings.Fields(d.Vars["KERNEL_IMAGETYPE"])
	if len(types) == 0 {
		types = []string{"bzImage", "Image", "zImage"}
	}
	for _, t := range types {
		var cands []string
		if d.Machine != "" {
			cands = append(cands, t+"-"+d.Machine+".bin")
		}
		cands = append(cands, t)
		for _, c := range cands {
			p := filepath.Join(kernelDir, c)
			if !exists(p) {
				continue
			}
			real, err := resolve(p)
			if err != nil {
				return "", err
			}
			d.use("kernel: %s → %s", c, filepath.Base(real))
			d.kernelPath = real
			return real, nil
		}
	}
	return "", fmt.Errorf("%s: no kernel (%s, looked for <TYPE>-%s.bin and <TYPE>)", kernelDir, strings.Join(types, ", "), d.Machine)
}

// initramfs finds <INITRAMFS_IMAGE>-<MACHINE>.cpio.gz, or the one
// initramfs link of the machine.
func (d *YoctoDeploy) initramfs(dir string) (string, error) {
	var cands []string
	if n := d.Vars["INITRAMFS_IMAGE"]; n != "" {
		cands = append(cands, filepath.Join(dir, n+"-"+d.Machine+".cpio.gz"), filepath.Join(dir, n+".cpio.gz"))
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*-"+d.Machine+".cpio.gz"))
	sort.Strings(m)
	cands = append(cands, m...)
	for _, c := range cands {
		if exists(c) {
			real, err := resolve(c)
			if err != nil {
				return "", err
			}
			d.use("initramfs: %s → %s", filepath.Base(c), filepath.Base(real))
			return real, nil
		}
	}
	return "", fmt.Errorf("%s: no initramfs <name>-%s.cpio.gz", dir, d.Machine)
}

// grubFiles maps the files grub.cfg's linux and initrd commands name to
// the deployed kernel and initramfs.
func (d *YoctoDeploy) grubFiles(cfg []byte, dir, kernelDir string) error {
	d.Inputs.GRUB.Files = map[string]string{}
	var kernel, initrd string
	for _, line := range strings.Split(string(cfg), "\n") {
		w := strings.Fields(line)
		if len(w) < 2 {
			continue
		}
		switch w[0] {
		case "linux", "linuxefi", "linux16":
			if kernel == "" {
				k, err := d.kernel(kernelDir)
				if err != nil {
					return err
				}
				kernel = k
			}
			d.Inputs.GRUB.Files[w[1]] = kernel
			d.use("grub.cfg %s %s → %s", w[0], w[1], kernel)
		case "initrd", "initrdefi", "initrd16":
			for _, p := range w[1:] {
				local := filepath.Join(dir, filepath.Base(p))
				if !exists(local) {
					if initrd == "" {
						i, err := d.initramfs(dir)
						if err != nil {
							return err
						}
						initrd = i
					}
					local = initrd
				}
				d.Inputs.GRUB.Files[p] = local
				d.use("grub.cfg %s %s → %s", w[0], p, local)
			}
		}
	}
	return nil
}

// grubTPM reports whether GRUB measures anything: its tpm module is
// loaded by grub.cfg, or the build adds it (meta-secure-core's tpm2).
func (d *YoctoDeploy) grubTPM(cfg []byte) bool {
	for _, line := range strings.Split(string(cfg), "\n") {
		if w := strings.Fields(line); len(w) >= 2 && w[0] == "insmod" && (w[1] == "tpm" || w[1] == "tpm2") {
			return true
		}
	}
	if len(d.Vars) == 0 {
		return true
	}
	return hasWord(d.Vars["DISTRO_FEATURES"], "tpm2") || hasWord(d.Vars["GRUB_BUILDIN"], "tpm")
}

func (d *YoctoDeploy) grubFlow(dir, kernelDir, grubEFI, wic string) error {
	d.Flow = YoctoGRUB
	d.Inputs.EFIApps = []string{grubEFI}
	d.use("boot application: %s (EFI/BOOT/boot%s.efi)", grubEFI, d.Arch)
	d.read(wic)
	f, err := os.Open(wic)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fs, _, where, err := OpenESP(f, st.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", wic, err)
	}
	cfg, err := fs.ReadFile("EFI/BOOT/grub.cfg")
	if err != nil {
		return fmt.Errorf("%s, %s: %w", wic, where, err)
	}
	cfgPath, err := d.extract(wic, "EFI/BOOT/grub.cfg", "grub.cfg", cfg)
	if err != nil {
		return err
	}
	d.use("grub.cfg: EFI/BOOT/grub.cfg read from %s, %s, FAT%d", wic, where, fs.Type)
	d.diskFromWic(wic)
	root := "(hd0)"
	if d.Inputs.Disk != "" {
		root = "(hd0,gpt1)"
	}
	if err := d.grubConfig(cfg, cfgPath, dir, kernelDir, root); err != nil {
		return err
	}
	return d.checkAgainstESP(fs, wic)
}

func (d *YoctoDeploy) grubConfig(cfg []byte, cfgPath, dir, kernelDir, root string) error {
	if err := d.grubFiles(cfg, dir, kernelDir); err != nil {
		return err
	}
	// The prefix and the embedded configuration are the GRUB image's:
	// compute reads them from it.
	d.Inputs.GRUB.Root = root
	if d.grubTPM(cfg) {
		d.Inputs.GRUBCfg = cfgPath
		d.use("PCRs 8/9: GRUB with root %s; its prefix and embedded configuration are read from the GRUB image", root)
	} else {
		d.use("PCRs 8/9: not predicted from GRUB: grub.cfg loads no tpm module and neither DISTRO_FEATURES (tpm2) nor GRUB_BUILDIN adds it, so GRUB measures nothing")
	}
	return nil
}

// checkAgainstESP compares each file GRUB reads with its copy in the
// wic image's ESP, which is what GRUB really reads: when they differ the
// ESP's copy is used, and said so.
func (d *YoctoDeploy) checkAgainstESP(fs *fat.FS, wic string) error {
	var paths []string
	for p := range d.Inputs.GRUB.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for i, p := range paths {
		onESP, err := fs.ReadFile(p)
		if err != nil {
			continue // not on the ESP (another partition, or not there)
		}
		local := d.Inputs.GRUB.Files[p]
		d.read(local)
		deployed, err := os.ReadFile(local)
		if err != nil {
			return err
		}
		if string(onESP) == string(deployed) {
			d.use("%s on the wic's ESP equals %s", p, filepath.Base(local))
			continue
		}
		out, err := d.extract(wic, p, fmt.Sprintf("esp-%d-%s", i, filepath.Base(p)), onESP)
		if err != nil {
			return err
		}
		d.Inputs.GRUB.Files[p] = out
		d.use("%s on the wic's ESP differs from %s: the ESP's copy (what GRUB reads) is used, extracted from %s", p, filepath.Base(local), filepath.Base(wic))
	}
	return nil
}

func (d *YoctoDeploy) shimFlow(dir, kernelDir, shim string) error {
	d.Flow = YoctoShimGRUB
	if !exists(shim) {
		return fmt.Errorf("%s: meta-secure-core markers (mm%s.efi, LockDown.efi or efi-unsigned/) but no shim boot%s.efi", dir, d.Arch, d.Arch)
	}
	grub := filepath.Join(dir, "grub"+d.Arch+".efi")
	if !exists(grub) {
		return fmt.Errorf("%s: shim boot%s.efi but no grub%s.efi", dir, d.Arch, d.Arch)
	}
	cfgPath := filepath.Join(dir, "grub.cfg")
	d.read(cfgPath)
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return fmt.Errorf("%s: shim → GRUB, but the deployed grub.cfg: %w", dir, err)
	}
	k, err := d.kernel(kernelDir)
	if err != nil {
		return err
	}
	d.Inputs.EFIApps = []string{shim, grub}
	d.use("boot applications: shim %s (EFI/BOOT/boot%s.efi), then GRUB %s, which boots the kernel %s", shim, d.Arch, grub, k)
	d.use("grub.cfg: %s (deployed by meta-secure-core)", cfgPath)
	if err := d.grubConfig(cfg, cfgPath, dir, kernelDir, "(hd0,gpt1)"); err != nil {
		return err
	}
	if d.Inputs.GRUBCfg != "" {
		d.use("PCRs 8/9: the embedded configuration of meta-secure-core's GRUB image is read from it and simulated")
	}
	return nil
}
