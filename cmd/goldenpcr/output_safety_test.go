package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// -O never writes over what a command read, inside a directory it read,
// or over anything that is not a regular file; these run the commands end
// to end.

// An ima policy ROOTFS directory is an input as a whole: no file in it is
// replaced; a new one may be written (ima policy / -O /tmp/p must work).
func TestOutputIMAPolicyNotIntoItsRootFS(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	hostname := filepath.Join(root, "etc", "hostname")
	os.WriteFile(hostname, []byte("device\n"), 0o644)
	code, _, errs := run(t, "ima", "policy", root, "-O", hostname)
	if code != exitUsage || !strings.Contains(errs, "-O: refusing to overwrite "+hostname+": it lies inside the input directory "+root) {
		t.Errorf("-O %s: exit %d, %s", hostname, code, errs)
	}
	if got, _ := os.ReadFile(hostname); string(got) != "device\n" {
		t.Errorf("the hashed file became %q", got)
	}
	if code, _, errs := run(t, "ima", "policy", root, "-O", filepath.Join(root, "policy.json")); code != exitOK {
		t.Errorf("-O a new file in the rootfs: exit %d, %s", code, errs)
	}
	if code, _, errs := run(t, "ima", "policy", root, "-O", filepath.Join(dir, "policy.json")); code != exitOK {
		t.Errorf("-O beside the rootfs: exit %d, %s", code, errs)
	}
}

// yoctoGRUBDeploy is a deploy directory of OE-core's grub-efi flow: the
// grub.cfg is only inside the .wic image (a bare FAT ESP image, so the
// .wic is no PCR 5 disk and not otherwise an input), whose ESP also holds
// a kernel that differs from the deployed one. It returns the directory
// and the real (timestamped) .wic.
func yoctoGRUBDeploy(t *testing.T) (dir, wic string) {
	t.Helper()
	dir = t.TempDir()
	grub, err := os.ReadFile("/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "grub-efi-bootx64.efi"), grub, 0o644)
	kernel := "bzImage--6.1-r0-qemux86-64-20250101.bin"
	os.WriteFile(filepath.Join(dir, kernel), []byte("deployed kernel"), 0o644)
	if err := os.Symlink(kernel, filepath.Join(dir, "bzImage-qemux86-64.bin")); err != nil {
		t.Fatal(err)
	}
	td := "core-image-minimal-qemux86-64.rootfs-20250101120000.testdata.json"
	os.WriteFile(filepath.Join(dir, td), []byte(`{"MACHINE": "qemux86-64", "EFI_PROVIDER": "grub-efi", "KERNEL_IMAGETYPE": "bzImage"}`), 0o644)
	if err := os.Symlink(td, filepath.Join(dir, "core-image-minimal-qemux86-64.rootfs.testdata.json")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "grub.cfg"), []byte("insmod tpm\nlinux /bzImage root=/dev/sda2 console=ttyS0\nboot\n"), 0o644)
	os.WriteFile(filepath.Join(src, "bzImage"), []byte("the kernel wic put on the ESP"), 0o644)
	real := "core-image-minimal-qemux86-64.rootfs-20250101120000.wic"
	wic = filepath.Join(dir, real)
	os.WriteFile(wic, nil, 0o644)
	if err := os.Truncate(wic, 1440<<10); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, "mformat", "-i", wic, "::")
	runTool(t, dir, "mmd", "-i", wic, "::EFI", "::EFI/BOOT")
	runTool(t, dir, "mcopy", "-i", wic, filepath.Join(src, "grub.cfg"), "::EFI/BOOT/grub.cfg")
	runTool(t, dir, "mcopy", "-i", wic, filepath.Join(src, "bzImage"), "::bzImage")
	if err := os.Symlink(real, filepath.Join(dir, "core-image-minimal-qemux86-64.rootfs.wic")); err != nil {
		t.Fatal(err)
	}
	if wic, err = filepath.EvalSymlinks(wic); err != nil {
		t.Fatal(err)
	}
	return dir, wic
}

// refvals compute --yocto-deploy reads grub.cfg (and the ESP's kernel)
// from the .wic: -O refuses the .wic, its link and the deploy directory,
// and the baseline names the .wic, not the temporary files they were
// extracted to.
func TestOutputRefvalsYoctoWic(t *testing.T) {
	dir, wic := yoctoGRUBDeploy(t)
	before, _ := os.ReadFile(wic)
	link := filepath.Join(dir, "core-image-minimal-qemux86-64.rootfs.wic")
	for out, want := range map[string]string{
		wic:  "-O: refusing to ",
		link: "-O: refusing to ",
	} {
		code, _, errs := run(t, "refvals", "compute", "--yocto-deploy", dir, "-O", out)
		if code != exitUsage || !strings.Contains(errs, want) || !strings.Contains(errs, out) {
			t.Errorf("-O %s: exit %d, %s; want 2 and %q", out, code, errs, want)
		}
	}
	if after, _ := os.ReadFile(wic); !bytes.Equal(before, after) {
		t.Error("the .wic changed")
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Error("the .wic link was replaced")
	}

	out := filepath.Join(t.TempDir(), "baseline.yaml")
	if code, _, errs := run(t, "refvals", "compute", "--yocto-deploy", dir, "-O", out); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	doc := loadBaseline(t, out)
	var paths []string
	for _, in := range doc.Metadata.Inputs {
		paths = append(paths, in.Role+" "+in.Path)
	}
	for _, p := range doc.PCRs {
		for _, e := range p.Events {
			if a := e.Provenance.Artifact; a != "" {
				paths = append(paths, "artifact "+a)
			}
		}
	}
	all := strings.Join(paths, "\n")
	for _, want := range []string{"grub-file " + wic + ":/EFI/BOOT/grub.cfg", "grub-file " + wic + ":/bzImage", "artifact " + wic + ":/EFI/BOOT/grub.cfg"} {
		if !strings.Contains(all, want) {
			t.Errorf("baseline lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "goldenpcr-yocto-") || strings.Contains(all, os.TempDir()+"/goldenpcr") {
		t.Errorf("baseline names a temporary file:\n%s", all)
	}
}

// sdBoot is a PE file refvals compute takes as --efi-app.
const sdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// A symbolic link, a named pipe: refused, left as they are.
func TestOutputNotOverLinkOrFIFO(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.json")
	os.WriteFile(target, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	in := pcrFixture("tpm2-pcrread-sha1-sha256.yaml")
	for out, what := range map[string]string{link: "a symbolic link", fifo: "a named pipe"} {
		code, _, errs := run(t, "pcr", "convert", in, "--to", "json", "-O", out)
		if code != exitUsage || !strings.Contains(errs, "-O: refusing to replace "+out+": it is "+what) {
			t.Errorf("-O %s: exit %d, %s", out, code, errs)
		}
		code, _, errs = run(t, "refvals", "compute", "--efi-app", sdBoot, "-O", out)
		if code != exitUsage || !strings.Contains(errs, "-O: refusing to replace "+out+": it is "+what) {
			t.Errorf("refvals -O %s: exit %d, %s", out, code, errs)
		}
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced")
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Error("the fifo was replaced")
	}
	if got, _ := os.ReadFile(target); string(got) != "keep" {
		t.Errorf("the link's target became %q", got)
	}
}

// Replacing an existing file keeps its mode: a 0600 output stays 0600.
func TestOutputKeepsMode(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "file"), []byte("x"), 0o644)
	for name, args := range map[string][]string{
		"pcr.json":    {"pcr", "convert", pcrFixture("tpm2-pcrread-sha1-sha256.yaml"), "--to", "json"},
		"policy.json": {"ima", "policy", root},
		"base.yaml":   {"refvals", "compute", "--efi-app", sdBoot},
	} {
		out := filepath.Join(dir, name)
		os.WriteFile(out, []byte("old"), 0o600)
		os.Chmod(out, 0o600)
		if code, _, errs := run(t, append(args, "-O", out)...); code != exitOK {
			t.Fatalf("%s: exit %d, %s", name, code, errs)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(out); string(got) == "old" || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v after the rewrite (want 0600), content %.20q", name, st.Mode().Perm(), got)
		}
	}
	// A new file gets 0644.
	out := filepath.Join(dir, "new.json")
	if code, _, errs := run(t, "pcr", "convert", pcrFixture("tpm2-pcrread-sha1-sha256.yaml"), "--to", "json", "-O", out); code != exitOK {
		t.Fatalf("exit %d, %s", code, errs)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", st.Mode().Perm())
	}
}
