package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// onlyEntries fails unless dir holds exactly the named entries: no
// temporary file was left behind.
func onlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
}

func TestWriteReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.txt")
	if err := Write(p, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "new" {
		t.Fatalf("content %q, want new", got)
	}
	onlyEntries(t, dir, "out.txt")
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Fatalf("new file mode %v, want the given 0640", st.Mode().Perm())
	}
}

// Replacing a file keeps its permission bits, whatever perm says.
func TestWriteKeepsMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret.yaml")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o600)
	if err := Write(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after replacing a 0600 file, want 0600", st.Mode().Perm())
	}
	if got, _ := os.ReadFile(p); string(got) != "new" {
		t.Fatalf("content %q", got)
	}
	onlyEntries(t, dir, "secret.yaml")
}

func TestWriteRefusesInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("keep"), 0o644)
	link := filepath.Join(dir, "alias.txt")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.txt")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, link, hard, filepath.Join(dir, ".", "x", "..", "in.txt")} {
		err := Write(out, []byte("x"), 0o644, in)
		if err == nil || !strings.Contains(err.Error(), "refusing to overwrite input") || !strings.Contains(err.Error(), out) || !errors.Is(err, ErrRefused) {
			t.Errorf("%s: err = %v, want a refusal naming it", out, err)
		}
	}
	if got, _ := os.ReadFile(in); string(got) != "keep" {
		t.Fatalf("input changed to %q", got)
	}
	onlyEntries(t, dir, "alias.txt", "hard.txt", "in.txt")
}

// A directory input holds every file under it: none is replaced, by
// whatever name its directory is reached; a new file may be added (the
// input of "ima policy /" holds every place an output can go).
func TestWriteRefusesInsideInputDirectory(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	hostname := filepath.Join(root, "etc", "hostname")
	os.WriteFile(hostname, []byte("device\n"), 0o644)
	if err := os.Symlink(root, filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "y"), []byte("old\n"), 0o644)
	for _, out := range []string{
		hostname,                              // a file it read
		filepath.Join(root, "etc", "..", "y"), // through ..
		filepath.Join(dir, "alias", "etc", "hostname"), // through a link to it
	} {
		err := Write(out, []byte("x"), 0o644, root)
		if err == nil || !strings.Contains(err.Error(), "inside the input directory "+root) || !strings.Contains(err.Error(), out) || !errors.Is(err, ErrRefused) {
			t.Errorf("%s: err = %v, want a refusal", out, err)
		}
	}
	if got, _ := os.ReadFile(hostname); string(got) != "device\n" {
		t.Fatalf("input changed to %q", got)
	}
	onlyEntries(t, filepath.Join(root, "etc"), "hostname")
	onlyEntries(t, root, "etc", "y")
	if err := Write(filepath.Join(dir, "alias", "etc", "new.json"), []byte("{}"), 0o644, root); err != nil {
		t.Errorf("a new file inside the input directory: %v", err)
	}
	// Beside the directory is fine; so is a relative input.
	if err := Write(filepath.Join(dir, "policy.json"), []byte("{}"), 0o644, root); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if err := Write(filepath.Join(root, "y"), []byte("x"), 0o644, "rootfs"); err == nil {
		t.Error("relative directory input not refused")
	}
}

// What is not a regular file is refused, not replaced by one.
func TestWriteRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	for out, what := range map[string]string{
		link: "a symbolic link", dangling: "a symbolic link", fifo: "a named pipe", sub: "a directory",
	} {
		err := Write(out, []byte("x"), 0o644)
		if err == nil || !strings.Contains(err.Error(), "refusing to replace "+out+": it is "+what) || !errors.Is(err, ErrRefused) {
			t.Errorf("%s: err = %v, want refusal: %s", out, err, what)
		}
	}
	for _, p := range []string{link, dangling} {
		if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer a link", p)
		}
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Error("the fifo was replaced")
	}
	if got, _ := os.ReadFile(target); string(got) != "keep" {
		t.Errorf("link target changed to %q", got)
	}
	onlyEntries(t, dir, "dangling", "fifo", "link", "sub", "target")
	onlyEntries(t, sub)
}

// A device node is refused. As root the test uses a node of /dev/null's
// device made in a temporary directory, so that a regression replaces that
// node and not the system's /dev/null; without root (which cannot create
// nodes, nor rename over /dev/null) it uses /dev/null itself.
func TestWriteRefusesDevice(t *testing.T) {
	st, err := os.Lstat("/dev/null")
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Skip("no /dev/null device")
	}
	dev := filepath.Join(t.TempDir(), "null")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, int(st.Sys().(*syscall.Stat_t).Rdev)); err != nil {
		if os.Geteuid() == 0 {
			t.Fatal(err)
		}
		dev = "/dev/null"
	}
	err = Write(dev, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), "refusing to replace "+dev+": it is a character device") {
		t.Fatalf("err = %v, want refusal", err)
	}
	if st, err := os.Lstat(dev); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s is no longer a device", dev)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dev), ".null.tmp-*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

// A write that cannot happen leaves nothing behind.
func TestWriteFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "missing", "out"), []byte("x"), 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	if err := Write(filepath.Join(dir, "missing", "out"), []byte("x"), 0o644, dir); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	onlyEntries(t, dir)
}
