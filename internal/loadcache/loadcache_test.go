package loadcache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// counter is a parse that counts its calls and returns the file's text.
type counter struct{ n int }

func (c *counter) parse(b []byte) (string, error) {
	c.n++
	if strings.HasPrefix(string(b), "bad") {
		return "", errors.New("bad contents")
	}
	return string(b), nil
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// old waits out the settled time for files written now.
func old() { time.Sleep(settled + 100*time.Millisecond) }

func TestFilesReuseUntilChanged(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ak.pub")
	write(t, p, "key one")
	c := NewFiles(Limits{Entries: 8, Bytes: 1 << 20})
	var k counter
	load := func() string {
		t.Helper()
		v, err := Load(c, p, "ak", 1024, k.parse)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Just written: not trusted to keep its stamp, read every time.
	load()
	load()
	if k.n != 2 {
		t.Fatalf("a file changed within the settled time was parsed %d times for 2 loads, want 2", k.n)
	}
	old()
	load()
	load()
	load()
	if k.n != 3 {
		t.Fatalf("a settled file was parsed %d more times for 3 loads, want 1", k.n-2)
	}
	// In place, same size: the mtime and ctime change.
	write(t, p, "key two")
	if v := load(); v != "key two" || k.n != 4 {
		t.Fatalf("after a same-size rewrite: %q, %d parses", v, k.n)
	}
	// Replaced by rename, mtime set back to the old file's: a new inode.
	old()
	load()
	before := k.n
	st, _ := os.Stat(p)
	q := filepath.Join(dir, "new")
	write(t, q, "key 333")
	if err := os.Chtimes(q, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(q, p); err != nil {
		t.Fatal(err)
	}
	if v := load(); v != "key 333" || k.n != before+1 {
		t.Fatalf("after a rename over it: %q, %d parses", v, k.n-before)
	}
	// Another parse of the same file is its own entry.
	if v, err := Load(c, p, "other", 1024, func(b []byte) (int, error) { return len(b), nil }); err != nil || v != 7 {
		t.Fatalf("second kind: %v, %v", v, err)
	}
}

func TestFilesSameNameOtherFolder(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Join(dir, d, "ak.pub"))
		write(t, paths[i], "key "+d)
	}
	old()
	c := NewFiles(Limits{Entries: 8, Bytes: 1 << 20})
	var k counter
	for round := 0; round < 3; round++ {
		for i, p := range paths {
			v, err := Load(c, p, "ak", 1024, k.parse)
			if err != nil || v != "key "+[]string{"a", "b"}[i] {
				t.Fatalf("%s: %q, %v", p, v, err)
			}
		}
	}
	if k.n != 2 {
		t.Errorf("%d parses, want 2", k.n)
	}
}

func TestFilesErrorsAndLimits(t *testing.T) {
	dir := t.TempDir()
	c := NewFiles(Limits{Entries: 2, Bytes: 20})
	var k counter
	if _, err := Load(c, filepath.Join(dir, "missing"), "ak", 1024, k.parse); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big")
	write(t, big, strings.Repeat("x", 2000))
	if _, err := Load(c, big, "ak", 1024, k.parse); err == nil || err.Error() != big+": larger than 1024 bytes" {
		t.Errorf("too large: %v", err)
	}
	if _, err := Load(c, dir, "ak", 1024, k.parse); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a folder: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	write(t, bad, "bad key")
	var paths []string
	for i := 0; i < 5; i++ {
		p := filepath.Join(dir, fmt.Sprint("f", i))
		write(t, p, fmt.Sprint("key ", i))
		paths = append(paths, p)
	}
	old()
	for i := 0; i < 2; i++ {
		if _, err := Load(c, bad, "ak", 1024, k.parse); err == nil {
			t.Fatal("bad contents parsed")
		}
	}
	if k.n != 2 {
		t.Errorf("a failed parse was cached: %d parses for 2 loads", k.n)
	}
	for _, p := range paths {
		if _, err := Load(c, p, "ak", 1024, k.parse); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.m) > 2 || c.bytes > 20 {
		t.Errorf("cache holds %d entries of %d bytes, limits 2 and 20", len(c.m), c.bytes)
	}
	// A nil cache reads and parses every time.
	k.n = 0
	for i := 0; i < 2; i++ {
		if v, err := Load[string](nil, paths[0], "ak", 1024, k.parse); err != nil || v != "key 0" {
			t.Fatal(v, err)
		}
	}
	if k.n != 2 {
		t.Errorf("nil cache: %d parses for 2 loads", k.n)
	}
}

func TestReadFileNotRegular(t *testing.T) {
	// /dev/zero has no size to trust: read to the limit and refuse.
	if _, err := ReadFile("/dev/zero", 4096); err == nil || !strings.Contains(err.Error(), "larger than 4096 bytes") {
		t.Errorf("/dev/zero: %v", err)
	}
	if b, err := ReadFile("/dev/null", 4096); err != nil || len(b) != 0 {
		t.Errorf("/dev/null: %q, %v", b, err)
	}
}

func TestContents(t *testing.T) {
	c := NewContents[int](Limits{Entries: 3, Bytes: 64})
	calls := 0
	build := func(b []byte) (int, error) {
		calls++
		if string(b) == "bad" {
			return 0, errors.New("bad")
		}
		return len(b), nil
	}
	buf := []byte("event log one")
	for i := 0; i < 3; i++ {
		if v, err := c.Load(buf, build); err != nil || v != 13 {
			t.Fatal(v, err)
		}
	}
	// Equal bytes in another buffer hit; changing the caller's buffer
	// after changes nothing cached.
	other := []byte("event log one")
	buf[0] = 'E'
	if _, err := c.Load(other, build); err != nil || calls != 1 {
		t.Fatalf("equal bytes: %d builds, %v", calls, err)
	}
	if _, err := c.Load(buf, build); err != nil || calls != 2 {
		t.Fatalf("changed bytes: %d builds, %v", calls, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.Load([]byte("bad"), build); err == nil {
			t.Fatal("no error")
		}
	}
	if calls != 4 {
		t.Errorf("a failed build was cached: %d builds", calls)
	}
	for i := 0; i < 10; i++ {
		c.Load([]byte(fmt.Sprint("log ", i)), build)
	}
	if c.n > 3 || c.bytes > 64 {
		t.Errorf("cache holds %d entries of %d bytes, limits 3 and 64", c.n, c.bytes)
	}
	if v, err := (*Contents[int])(nil).Load([]byte("xy"), build); err != nil || v != 2 {
		t.Errorf("nil cache: %v, %v", v, err)
	}
}
