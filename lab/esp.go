package lab

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// espSectors is the ESP's size in 512-byte sectors (64 MiB): room for a
// kernel, an initrd and a boot loader side by side.
const espSectors = 131072

// BuildESP makes a FAT image with mtools (no loop mounts, no root) holding
// files: ESP path (e.g. "EFI/BOOT/BOOTX64.EFI") → file on the host.
func (l *Lab) BuildESP(name string, files map[string]string) (string, error) {
	k := newKey("esp").add("name", name)
	for _, p := range sortedKeys(files) {
		if err := k.file("esp:"+p, files[p]); err != nil {
			return "", err
		}
	}
	dir, err := l.cached("esp-"+name, k, func(dir string) error {
		img := filepath.Join(dir, "esp.img")
		env := []string{"MTOOLS_SKIP_CHECK=1"}
		if _, err := run("", env, "mformat", "-i", img, "-C", "-T", fmt.Sprint(espSectors), "-h", "64", "-s", "32",
			"-N", "60d1c0de", "-v", "GOLDENPCR", "::"); err != nil {
			return err
		}
		dirs := map[string]bool{}
		for p := range files {
			for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
				dirs[d] = true
			}
		}
		var ds []string
		for d := range dirs {
			ds = append(ds, d)
		}
		sort.Slice(ds, func(i, j int) bool {
			return strings.Count(ds[i], "/") < strings.Count(ds[j], "/") || (strings.Count(ds[i], "/") == strings.Count(ds[j], "/") && ds[i] < ds[j])
		})
		for _, d := range ds {
			if _, err := run("", env, "mmd", "-i", img, "::/"+d); err != nil {
				return err
			}
		}
		for _, p := range sortedKeys(files) {
			if _, err := run("", env, "mcopy", "-i", img, files[p], "::/"+p); err != nil {
				return err
			}
		}
		listing, err := run("", env, "mdir", "-i", img, "-/", "::/")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "esp.list"), listing, 0o644)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "esp.img"), nil
}
