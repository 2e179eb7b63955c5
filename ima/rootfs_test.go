package ima

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A tree with many small files (several chunks per worker), one larger
// than maxBuffered (hashed by the archive reader itself), a hard link, a
// symlink and an excluded directory.
func rootfsTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < 300; i++ {
		p := filepath.Join(dir, "usr", fmt.Sprintf("d%d", i%7), fmt.Sprintf("f%03d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, i*37), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, maxBuffered+12345)
	for i := range big {
		big[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(dir, "usr", "big"), big, 0o644)
	os.Link(filepath.Join(dir, "usr", "big"), filepath.Join(dir, "usr", "big-link"))
	os.Symlink("big", filepath.Join(dir, "usr", "sym"))
	os.MkdirAll(filepath.Join(dir, "proc"), 0o755)
	os.WriteFile(filepath.Join(dir, "proc", "x"), []byte("x"), 0o644)
	return dir
}

// sha256sum is the peer: the same list for the same files.
func sha256sumList(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", `find . -type f ! -path './proc/*' | sed 's|^\.||' | sort | while read -r f; do printf '%s  %s\n' "$(sha256sum < ".$f" | cut -d' ' -f1)" "$f"; done`)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sha256sum: %v", err)
	}
	return string(out)
}

func TestHashRootFSDirAndTarAgreeWithSha256sum(t *testing.T) {
	dir := rootfsTree(t)
	want := sha256sumList(t, dir)
	if strings.Count(want, "\n") != 302 {
		t.Fatalf("peer listed %d files", strings.Count(want, "\n"))
	}
	tarball := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if out, err := exec.Command("tar", "-C", dir, "-czf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	for _, src := range []string{dir, tarball} {
		for _, workers := range []int{1, 3} {
			var mu sync.Mutex
			var last [2]int64
			rv, err := HashRootFS(src, &RootFSOptions{Workers: workers, Excludes: []string{"/proc"},
				Progress: func(done, total int64) { mu.Lock(); last = [2]int64{done, total}; mu.Unlock() }})
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			if got := string(rv.ChecksumList()); got != want {
				t.Errorf("%s, %d workers: list differs from sha256sum's", src, workers)
			}
			if rv.Excluded != 1 || rv.Symlinks != 1 {
				t.Errorf("%s: excluded %d, symlinks %d", src, rv.Excluded, rv.Symlinks)
			}
			if fi, _ := os.Stat(src); last[0] != last[1] || (fi.IsDir() && last[1] != rv.Bytes) {
				t.Errorf("%s: last progress %v, %d bytes", src, last, rv.Bytes)
			}
		}
	}
}

// A damaged archive is an error naming where it broke, never a partial
// list.
func TestHashRootFSTruncatedTar(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < 50; i++ {
		data := bytes.Repeat([]byte("a"), 5000)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(buf.Bytes()[:buf.Len()/2])
	zw.Close()
	path := filepath.Join(t.TempDir(), "cut.tar.gz")
	os.WriteFile(path, gz.Bytes(), 0o644)
	_, err := HashRootFS(path, &RootFSOptions{Workers: 2})
	if err == nil || !strings.Contains(err.Error(), "unexpected EOF") || !strings.Contains(err.Error(), "/f") {
		t.Fatalf("truncated archive: %v", err)
	}
}
