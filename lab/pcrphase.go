package lab

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The uki-pcrphase variant: the uki boot, whose initramfs runs systemd's
// real boot-phase measurement tool, so the capture holds systemd's
// CEL-JSON log (/run/log/systemd/tpm2-measure.log) and the PCR 11 phase
// and PCR 15 machine-ID extends it records.
//
// systemd wrote no such log before 255: bookworm's 252 has no log and no
// --machine-id, and bookworm-backports' 254 measures both but logs nothing
// (its libsystemd-shared has no tpm2-measure.log; a boot showed it). So the
// tool, systemd-pcrextend (255 renamed systemd-pcrphase), comes from
// Debian 13 trixie with the trixie libraries it runs on: it needs glibc
// 2.39, OpenSSL 3.4 and tpm2-tss 4, newer than the host's. Like the kernel,
// the packages are downloaded with apt-get download and unpacked into the
// cache, never installed; a private apt configuration in the cache names
// only trixie, signed by Debian's archive key, and leaves the host's apt
// alone.

// PCRPhaseMachineID is the machine ID the uki-pcrphase initramfs has in
// /etc/machine-id, which systemd-pcrextend --machine-id measures.
const PCRPhaseMachineID = "b0a7c0ffee1d4e5f8a9b0c1d2e3f4a5b"

// PCRPhaseSteps are the systemd-pcrextend arguments the uki-pcrphase init
// runs, in order, as systemd's units do in an initrd.
var PCRPhaseSteps = []string{"enter-initrd", "--machine-id", "leave-initrd"}

// CELLogName is the capture file of systemd's userspace measurement log.
const CELLogName = "tpm2-measure.log"

const (
	userlandSuite  = "trixie"
	userlandMirror = "http://deb.debian.org/debian"
	debianKeyring  = "/usr/share/keyrings/debian-archive-keyring.gpg"
	// multiarchLib is where Debian keeps amd64 libraries; the initramfs
	// keeps every library there too.
	multiarchLib = "usr/lib/x86_64-linux-gnu"
	pcrextend    = "usr/lib/systemd/systemd-pcrextend"
)

// userlandPackages are systemd-pcrextend and every library it links or
// dlopen()s, with theirs, from trixie.
var userlandPackages = []string{
	"systemd", "libsystemd-shared",
	"libc6", "libgcc-s1", "libssl3t64", "libzstd1", "zlib1g",
	"libacl1", "libblkid1", "libcap2", "libcrypt1", "libmount1", "libpam0g", "libaudit1", "libcap-ng0",
	"libseccomp2", "libselinux1", "libpcre2-8-0",
	"libtss2-esys-3.0.2-0t64", "libtss2-mu-4.0.1-0t64", "libtss2-rc0t64", "libtss2-sys1t64", "libtss2-tctildr0t64", "libtss2-tcti-device0t64",
}

// tss2Dlopened are the TPM libraries systemd dlopen()s (so ELF's
// DT_NEEDED does not name them): ESAPI, return codes, marshalling, and the
// device TCTI it opens /dev/tpmrm0 with, plus the TCTI loader.
var tss2Dlopened = []string{"libtss2-esys.so.0", "libtss2-rc.so.0", "libtss2-mu.so.0", "libtss2-tctildr.so.0", "libtss2-tcti-device.so.0"}

// privateApt is an apt configuration of its own in the lab cache.
type privateApt struct{ dir string }

func (l *Lab) userlandApt() (*privateApt, error) {
	a := &privateApt{dir: filepath.Join(l.Cache, "apt-"+userlandSuite)}
	for _, d := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	src := fmt.Sprintf("deb [signed-by=%s] %s %s main\n", debianKeyring, userlandMirror, userlandSuite)
	return a, os.WriteFile(filepath.Join(a.dir, "sources.list"), []byte(src), 0o644)
}

// opts make apt read only this configuration's sources and lists and no
// host state: no other sources, preferences or installed packages.
func (a *privateApt) opts() []string {
	var out []string
	for _, o := range []string{
		"Dir::Etc::SourceList=" + filepath.Join(a.dir, "sources.list"),
		"Dir::Etc::SourceParts=/nonexistent",
		"Dir::Etc::Preferences=/nonexistent",
		"Dir::Etc::PreferencesParts=/nonexistent",
		"Dir::State::Lists=" + filepath.Join(a.dir, "lists"),
		"Dir::Cache=" + filepath.Join(a.dir, "cache"),
		"Dir::State::status=/dev/null",
	} {
		out = append(out, "-o", o)
	}
	return out
}

// versions are the versions of pkgs the configuration's lists offer;
// without lists (first run) it runs apt-get update once.
func (a *privateApt) versions(pkgs []string) (map[string]string, error) {
	query := func() (map[string]string, error) {
		out, err := run("", nil, "apt-cache", append(append(a.opts(), "show", "--no-all-versions"), pkgs...)...)
		if err != nil {
			return nil, err
		}
		vs := map[string]string{}
		var pkg string
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				pkg = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "Version: "); ok && pkg != "" {
				vs[pkg] = strings.TrimSpace(v)
			}
		}
		for _, p := range pkgs {
			if vs[p] == "" {
				return nil, fmt.Errorf("apt-cache show %s (%s) gives no Version", p, userlandSuite)
			}
		}
		return vs, nil
	}
	vs, err := query()
	if err == nil {
		return vs, nil
	}
	if _, uerr := run("", nil, "apt-get", append(a.opts(), "update", "-qq")...); uerr != nil {
		return nil, fmt.Errorf("%v; apt-get update (%s): %v", err, userlandSuite, uerr)
	}
	return query()
}

// Userland is systemd-pcrextend's packages from trixie, unpacked.
type Userland struct {
	Systemd string // systemd's version
	Root    string // the packages' file systems, unpacked into one
}

// path is a file of the unpacked packages, its links followed inside
// Root (an absolute link target is relative to Root, not the host). trixie
// is merged-/usr: /lib64/x is shipped as usr/lib64/x, and base-files,
// not unpacked here, makes the /lib64 link.
func (u *Userland) path(p string) (string, error) {
	cur := strings.TrimPrefix(p, "/")
	if top, _, _ := strings.Cut(cur, "/"); top == "lib" || top == "lib64" || top == "bin" || top == "sbin" {
		cur = "usr/" + cur
	}
	for range 16 {
		full := filepath.Join(u.Root, cur)
		target, err := os.Readlink(full)
		if err != nil {
			if _, serr := os.Stat(full); serr != nil {
				return "", serr
			}
			return full, nil
		}
		if path.IsAbs(target) {
			cur = strings.TrimPrefix(target, "/")
		} else {
			cur = path.Join(path.Dir(cur), target)
		}
	}
	return "", fmt.Errorf("%s: too many links in %s", p, u.Root)
}

// PCRUserland downloads (once per set of versions) systemd-pcrextend's
// trixie packages and unpacks them into the cache.
func (l *Lab) PCRUserland() (*Userland, error) {
	apt, err := l.userlandApt()
	if err != nil {
		return nil, err
	}
	vs, err := apt.versions(userlandPackages)
	if err != nil {
		return nil, fmt.Errorf("boot lab: finding systemd's packages in %s: %w", userlandSuite, err)
	}
	k := newDownloadKey("userland").add("suite", userlandSuite)
	var specs []string
	for _, p := range userlandPackages {
		specs = append(specs, p+"="+vs[p])
		k.add(p, vs[p])
	}
	dir, err := l.cached("userland", k, func(dir string) error {
		l.logf("downloading systemd %s and %d libraries from %s (apt-get download)", vs["systemd"], len(specs)-1, userlandSuite)
		debs, err := aptDownload(dir, apt.opts(), specs...)
		if err != nil {
			return err
		}
		root := filepath.Join(dir, "root")
		if err := os.Mkdir(root, 0o755); err != nil {
			return err
		}
		for _, deb := range debs {
			if err := unpackDeb(deb, root); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	u := &Userland{Systemd: vs["systemd"], Root: filepath.Join(dir, "root")}
	if _, err := u.path(pcrextend); err != nil {
		return nil, fmt.Errorf("boot lab: systemd %s from %s: %w", u.Systemd, userlandSuite, err)
	}
	l.userland = u
	return u, nil
}

// EFIVarFSModule takes efivarfs.ko (Debian builds efivarfs as a module,
// and systemd-pcrphase reads systemd-stub's EFI variables through it) out
// of the lab kernel's package, once per kernel version.
func (l *Lab) EFIVarFSModule() (string, error) {
	kern, err := l.Kernel()
	if err != nil {
		return "", err
	}
	const member = "./lib/modules/*/kernel/fs/efivarfs/efivarfs.ko"
	k := newDownloadKey("kernel-efivarfs").add("package", kern.Package).add("version", kern.Version).add("member", member)
	dir, err := l.cached("kernel-efivarfs", k, func(dir string) error {
		l.logf("downloading %s %s again for efivarfs.ko (apt-get download)", kern.Package, kern.Version)
		debs, err := aptDownload(dir, nil, kern.Package+"="+kern.Version)
		if err != nil {
			return err
		}
		return unpackDeb(debs[0], dir, member)
	})
	if err != nil {
		return "", err
	}
	ko, _ := filepath.Glob(filepath.Join(dir, "lib/modules/*/kernel/fs/efivarfs/efivarfs.ko"))
	if len(ko) != 1 {
		return "", fmt.Errorf("boot lab: %s holds no single efivarfs.ko", dir)
	}
	return ko[0], nil
}

// pcrphaseInit is the lab's init with systemd-pcrextend run after the
// IMA work, and systemd's log sent before the IMA lists: reading it (on
// tmpfs) is measured by IMA, which must happen before the lists and PCRs
// are read. efivarfs (systemd-pcrextend measures only when systemd-stub's
// StubPcrKernelImage variable says the stub measured the UKI), a tmpfs
// /run and /run/log/systemd are what it needs; it runs without
// --graceful so a failure shows.
func pcrphaseInit() (string, error) {
	steps := "# systemd-pcrextend (" + userlandSuite + ") measures into PCRs 11 and 15 and logs it.\n" +
		"insmod /lib/modules/efivarfs.ko\n" +
		"mount -t efivarfs efivarfs /sys/firmware/efi/efivars\n" +
		"mount -t tmpfs -o mode=0755 tmpfs /run\n" +
		"mkdir -p /run/log/systemd\n" +
		"export LD_LIBRARY_PATH=/" + multiarchLib + "\n" +
		"for step in " + strings.Join(PCRPhaseSteps, " ") + "; do\n" +
		"\t/" + pcrextend + " --tpm2-device=/dev/tpmrm0 $step && say \"systemd-pcrextend $step: done\" || say \"systemd-pcrextend $step: failed\"\n" +
		"done\n"
	script := initScript
	for _, ins := range []struct{ after, text string }{
		{"/usr/bin/lab-hello > /dev/null\n", steps},
		{"\temit eventlog /sys/kernel/security/tpm0/binary_bios_measurements\n", "\temit " + CELLogName + " /run/log/systemd/" + CELLogName + "\n"},
	} {
		i := strings.Index(script, ins.after)
		if i < 0 {
			return "", fmt.Errorf("boot lab: the init script has no line %q to add systemd-pcrextend after", strings.TrimSpace(ins.after))
		}
		i += len(ins.after)
		script = script[:i] + ins.text + script[i:]
	}
	return script, nil
}

// pcrphaseApplets are the busybox applets the pcrphase init needs on top
// of the lab's.
var pcrphaseApplets = []string{"insmod", "mkdir"}

// PCRPhaseInitramfs builds the uki-pcrphase initramfs: the lab's, plus
// systemd-pcrextend with the libraries it links and dlopen()s and the ELF
// interpreter (all from the unpacked trixie packages), efivarfs.ko,
// /etc/machine-id and an empty /run.
func (l *Lab) PCRPhaseInitramfs() (string, error) {
	u, err := l.PCRUserland()
	if err != nil {
		return "", err
	}
	ko, err := l.EFIVarFSModule()
	if err != nil {
		return "", err
	}
	script, err := pcrphaseInit()
	if err != nil {
		return "", err
	}
	bin, err := u.path(pcrextend)
	if err != nil {
		return "", err
	}
	files := map[string]string{ // archive path → host file
		pcrextend:                 bin,
		"lib/modules/efivarfs.ko": ko,
	}
	interp, libs, err := elfClosure(u, bin, tss2Dlopened, []string{multiarchLib + "/systemd", multiarchLib})
	if err != nil {
		return "", err
	}
	if files[strings.TrimPrefix(interp, "/")], err = u.path(interp); err != nil {
		return "", err
	}
	for soname, host := range libs {
		files[multiarchLib+"/"+soname] = host
	}
	extra := []cpioEntry{
		{Name: "run", Mode: sIFDIR | 0o755},
		{Name: "etc/machine-id", Mode: sIFREG | 0o444, Data: []byte(PCRPhaseMachineID + "\n")},
	}
	dirs := map[string]bool{}
	for _, name := range sortedKeys(files) {
		data, err := os.ReadFile(files[name])
		if err != nil {
			return "", err
		}
		extra = append(extra, cpioEntry{Name: name, Mode: sIFREG | 0o755, Data: data})
		for d := path.Dir(name); d != "." && d != "usr"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range sortedKeys(dirs) {
		extra = append(extra, cpioEntry{Name: d, Mode: sIFDIR | 0o755})
	}
	return l.buildInitramfs("initramfs-pcrphase", script, append(append([]string(nil), busyboxApplets...), pcrphaseApplets...), extra)
}

// elfClosure finds the ELF interpreter of bin and every shared library
// bin and the dlopened libraries need (DT_NEEDED, followed through each
// library), each looked up by soname in u's dirs in order: soname → file.
func elfClosure(u *Userland, bin string, dlopened, dirs []string) (string, map[string]string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return "", nil, fmt.Errorf("%s: PT_INTERP: %w", bin, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		return "", nil, fmt.Errorf("%s has no ELF interpreter", bin)
	}
	found := map[string]string{}
	queue := append([]string(nil), dlopened...)
	needed, err := f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", bin, err)
	}
	queue = append(queue, needed...)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, ok := found[name]; ok || path.Base(interp) == name {
			continue
		}
		var host string
		for _, d := range dirs {
			if p, err := u.path(d + "/" + name); err == nil {
				host = p
				break
			}
		}
		if host == "" {
			return "", nil, fmt.Errorf("boot lab: %s (needed by systemd-pcrextend) is in none of %s under %s: add its package to userlandPackages", name, strings.Join(dirs, ", "), u.Root)
		}
		found[name] = host
		lf, err := elf.Open(host)
		if err != nil {
			return "", nil, err
		}
		more, err := lf.ImportedLibraries()
		lf.Close()
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", host, err)
		}
		sort.Strings(more)
		queue = append(queue, more...)
	}
	return interp, found, nil
}

// pcrphaseLayout is the uki layout with the pcrphase initramfs.
func (l *Lab) pcrphaseLayout() (*layout, error) {
	k, err := l.Kernel()
	if err != nil {
		return nil, err
	}
	initrd, err := l.PCRPhaseInitramfs()
	if err != nil {
		return nil, err
	}
	u, err := l.BuildUKI(k.Vmlinuz, initrd, Cmdline)
	if err != nil {
		return nil, err
	}
	return &layout{ESP: map[string]string{"EFI/BOOT/BOOTX64.EFI": u.Path}, Artifacts: ukiArtifacts(u)}, nil
}
