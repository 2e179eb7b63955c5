package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Kernel is Debian's kernel, taken from the linux-image package without
// installing it.
type Kernel struct {
	Package string // e.g. linux-image-6.1.0-56-amd64
	Version string // Debian version, e.g. 6.1.192-2
	Vmlinuz string // path in the cache; Debian-signed for secure boot
	Config  string
}

// kernelMeta asks apt which package linux-image-amd64 points at, and its
// version. Without package lists (a fresh machine) it runs apt-get update
// once, as root, and asks again.
func kernelMeta() (pkg, version string, err error) {
	for attempt := 0; attempt < 2; attempt++ {
		pkg, version, err = queryKernel()
		if err == nil {
			return pkg, version, nil
		}
		if attempt == 0 && os.Geteuid() == 0 {
			if _, uerr := run("", nil, "apt-get", "update", "-qq"); uerr != nil {
				return "", "", fmt.Errorf("%v; apt-get update: %v", err, uerr)
			}
		}
	}
	return "", "", err
}

func queryKernel() (pkg, version string, err error) {
	out, err := run("", nil, "apt-cache", "depends", "linux-image-amd64")
	if err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("apt-cache depends linux-image-amd64 names no linux-image package:\n%s", out)
	}
	out, err = run("", nil, "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			return pkg, strings.TrimSpace(v), nil
		}
	}
	return "", "", fmt.Errorf("apt-cache show %s gives no Version", pkg)
}

// Kernel downloads (once) Debian's current amd64 kernel package with
// apt-get download and unpacks its /boot into the cache.
func (l *Lab) Kernel() (*Kernel, error) {
	if l.kernel != nil {
		return l.kernel, nil
	}
	pkg, version, err := kernelMeta()
	if err != nil {
		return nil, fmt.Errorf("boot lab: finding Debian's kernel package: %w", err)
	}
	k := newDownloadKey("kernel").add("package", pkg).add("version", version)
	dir, err := l.cached("kernel", k, func(dir string) error {
		l.logf("downloading %s %s (apt-get download)", pkg, version)
		debs, err := aptDownload(dir, nil, pkg+"="+version)
		if err != nil {
			return err
		}
		// Only /boot is needed; the modules would take half a gigabyte.
		return unpackDeb(debs[0], dir, "./boot")
	})
	if err != nil {
		return nil, err
	}
	vmlinuz, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	config, _ := filepath.Glob(filepath.Join(dir, "boot", "config-*"))
	if len(vmlinuz) != 1 || len(config) != 1 {
		return nil, fmt.Errorf("boot lab: %s holds no single vmlinuz and config", dir)
	}
	l.kernel = &Kernel{Package: pkg, Version: version, Vmlinuz: vmlinuz[0], Config: config[0]}
	return l.kernel, nil
}

// aptDownload runs apt-get download for each package=version spec in dir,
// with extra apt options, and returns the .deb files it left, one per
// spec.
func aptDownload(dir string, aptOpts []string, specs ...string) ([]string, error) {
	args := append(append([]string(nil), aptOpts...), append([]string{"download", "-q"}, specs...)...)
	if _, err := run(dir, nil, "apt-get", args...); err != nil {
		return nil, err
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(debs) != len(specs) {
		return nil, fmt.Errorf("apt-get download %s left %d .deb files", strings.Join(specs, " "), len(debs))
	}
	return debs, nil
}

// unpackDeb extracts the members of a .deb's file system that match the
// tar patterns into dir (dpkg-deb -x restricted to them; none: all of it)
// and deletes the .deb.
func unpackDeb(deb, dir string, members ...string) error {
	tarCmd := fmt.Sprintf("dpkg-deb --fsys-tarfile %q | tar -x --wildcards -C %q", deb, dir)
	for _, m := range members {
		tarCmd += fmt.Sprintf(" %q", m)
	}
	if out, err := exec.Command("sh", "-c", tarCmd).CombinedOutput(); err != nil {
		return fmt.Errorf("unpacking %s: %v: %s", deb, err, out)
	}
	return os.Remove(deb)
}
