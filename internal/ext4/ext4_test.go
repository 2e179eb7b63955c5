package ext4

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needTool(t testing.TB, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if _, err := os.Stat("/usr/sbin/" + name); err == nil {
			return "/usr/sbin/" + name
		}
		t.Fatalf("%s not installed: run `make deps` (Debian package e2fsprogs)", name)
	}
	return p
}

func runCmd(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(needTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func writeFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// makeTree builds the test rootfs: nested directories, an empty file, a
// name with a space, a large file spanning block groups (with 1 KiB
// blocks), a file of many small extents (data and zero runs alternate,
// which mkfs -d stores as holes), a sparse file, a symlink and a hard link.
func makeTree(t testing.TB, dir string, bigMiB int) {
	writeFile(t, filepath.Join(dir, "a/b/c/deep.txt"), []byte("deep\n"))
	writeFile(t, filepath.Join(dir, "a/top.txt"), []byte("top\n"))
	writeFile(t, filepath.Join(dir, "empty"), nil)
	writeFile(t, filepath.Join(dir, "with space.txt"), []byte("a name with a space\n"))
	writeFile(t, filepath.Join(dir, "usr/bin/big.bin"), randBytes(1, bigMiB<<20+123))
	var frag []byte
	for i := 0; i < 120; i++ {
		frag = append(frag, randBytes(uint64(100+i), 4096)...)
		frag = append(frag, make([]byte, 8192)...)
	}
	frag = append(frag, []byte("end")...)
	writeFile(t, filepath.Join(dir, "usr/lib/frag.bin"), frag)
	sparse := filepath.Join(dir, "var/sparse.img")
	writeFile(t, sparse, []byte("head"))
	if err := os.Truncate(sparse, 3<<20); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(sparse, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("middle"), 1<<20+17)
	f.Close()
	writeFile(t, filepath.Join(dir, "small"), bytes.Repeat([]byte("x"), 50))
	writeFile(t, filepath.Join(dir, "medium"), bytes.Repeat([]byte("inline?"), 20))
	os.Symlink("usr/bin/big.bin", filepath.Join(dir, "link"))
	os.Link(filepath.Join(dir, "a/top.txt"), filepath.Join(dir, "a/hardlink.txt"))
	for i := 0; i < 150; i++ {
		writeFile(t, filepath.Join(dir, "etc/many", strings.Repeat("n", i%40)+"-"+string(rune('a'+i%26))+hex.EncodeToString([]byte{byte(i)})), []byte{byte(i)})
	}
}

type listing struct {
	files    map[string]string // path → sha256
	symlinks int
	other    int
}

func dirListing(t testing.TB, root string) listing {
	l := listing{files: map[string]string{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
		case d.Type()&fs.ModeSymlink != 0:
			l.symlinks++
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(data)
			l.files["/"+rel] = hex.EncodeToString(s[:])
		default:
			l.other++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func openImage(t testing.TB, img string) (*FS, *os.File) {
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	e, err := Open(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return e, f
}

func imageListing(e *FS) (listing, error) {
	l := listing{files: map[string]string{}}
	err := e.Walk(func(f *File) error {
		switch f.Type {
		case Regular:
			h := sha256.New()
			n, err := f.WriteTo(h)
			if err != nil {
				return err
			}
			if n != f.Size {
				return errors.New(f.Path + ": short")
			}
			l.files[f.Path] = hex.EncodeToString(h.Sum(nil))
		case Symlink:
			l.symlinks++
		default:
			l.other++
		}
		return nil
	})
	return l, err
}

func compareListings(t *testing.T, got, want listing) {
	t.Helper()
	for p, d := range want.files {
		if got.files[p] != d {
			t.Errorf("%s: image %q, directory %s", p, got.files[p], d)
		}
	}
	for p := range got.files {
		if _, ok := want.files[p]; !ok {
			t.Errorf("%s: only in the image", p)
		}
	}
	if got.symlinks != want.symlinks || got.other != want.other {
		t.Errorf("symlinks/other: image %d/%d, directory %d/%d", got.symlinks, got.other, want.symlinks, want.other)
	}
}

// Images made by the real mkfs (e2fsprogs) from a tree read back to the
// tree's exact contents, in every layout.
func TestImagesMatchTree(t *testing.T) {
	needTool(t, "mkfs.ext4")
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, 9)
	want := dirListing(t, src)
	cases := []struct {
		name      string
		tool      string
		args      []string
		kind      string
		extents   bool // the fragmented file needs an extent tree of depth > 0
		fsck      bool // e2fsck -D afterwards: htree directories
		inlineMin int
		size      string
	}{
		{name: "ext4-1k", tool: "mkfs.ext4", args: []string{"-b", "1024"}, kind: "ext4", extents: true},
		{name: "ext4-4k", tool: "mkfs.ext4", args: []string{"-b", "4096"}, kind: "ext4", extents: true},
		{name: "ext4-64bit", tool: "mkfs.ext4", args: []string{"-b", "4096", "-O", "64bit"}, kind: "ext4", extents: true},
		{name: "ext4-64bit-1k-metacsum-htree", tool: "mkfs.ext4", args: []string{"-b", "1024", "-O", "64bit,metadata_csum,dir_index"}, kind: "ext4", extents: true, fsck: true},
		{name: "ext4-metabg", tool: "mkfs.ext4", args: []string{"-b", "1024", "-O", "meta_bg,^resize_inode", "-N", "304"}, kind: "ext4", extents: true, size: "300M"},
		{name: "ext4-64k", tool: "mkfs.ext4", args: []string{"-b", "65536"}, kind: "ext4"}, // no holes in 64 KiB blocks: one extent each
		{name: "ext4-noextent", tool: "mkfs.ext4", args: []string{"-b", "1024", "-O", "^extent,^64bit"}, kind: "ext4"},
		{name: "ext4-inline", tool: "mkfs.ext4", args: []string{"-b", "4096", "-O", "inline_data", "-I", "512"}, kind: "ext4", extents: true, inlineMin: 4},
		{name: "ext2", tool: "mke2fs", args: []string{"-t", "ext2", "-b", "1024"}, kind: "ext2"},
		{name: "ext3", tool: "mke2fs", args: []string{"-t", "ext3", "-b", "4096"}, kind: "ext3"},
		{name: "ext2-rev0", tool: "mke2fs", args: []string{"-t", "ext2", "-r", "0", "-b", "4096"}, kind: "ext2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			args := append([]string{"-q", "-F", "-d", src}, c.args...)
			size := c.size
			if size == "" {
				size = "48M"
			}
			runCmd(t, c.tool, append(args, img, size)...)
			if c.fsck {
				cmd := exec.Command(needTool(t, "e2fsck"), "-fyD", img)
				if out, err := cmd.CombinedOutput(); err != nil {
					if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
						t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
					}
				}
			}
			want := listing{files: maps.Clone(want.files), symlinks: want.symlinks, other: want.other}
			e, _ := openImage(t, img)
			if e.Kind() != c.kind {
				t.Errorf("kind %s, want %s", e.Kind(), c.kind)
			}
			got, err := imageListing(e)
			if err != nil {
				t.Fatal(err)
			}
			if c.inlineMin > 0 {
				// mke2fs 1.47.0 -O inline_data drops a sparse file's
				// trailing hole from its size; debugfs reads what it wrote.
				out, err := exec.Command(needTool(t, "debugfs"), "-R", "cat /var/sparse.img", img).Output()
				if err != nil {
					t.Fatal(err)
				}
				s := sha256.Sum256(out)
				want.files["/var/sparse.img"] = hex.EncodeToString(s[:])
				data, _ := os.ReadFile(img)
				inline := 0
				for _, p := range []string{"/small", "/medium", "/a/top.txt", "/a/b/c/deep.txt"} {
					if findFile(t, data, p).in.flags&inodeFlagInlineData != 0 {
						inline++
					}
				}
				if inline < c.inlineMin {
					t.Errorf("%d inline files, want %d", inline, c.inlineMin)
				}
			}
			compareListings(t, got, want)
			if c.size != "" {
				g := uint64(0)
				for k := range e.descCache {
					g = max(g, k)
				}
				if perBlock := uint64(e.BlockSize / e.descSize); g < perBlock {
					t.Errorf("inodes read from groups up to %d only: the second meta group (from %d) is not exercised", g, perBlock)
				}
			}
			if c.fsck && e.htreeSeen == 0 {
				t.Error("no htree directory read")
			}
			if d := e.maxDepthSeen.Load(); c.extents != (d > 0) {
				t.Errorf("deepest extent tree %d; extents %v", d, c.extents)
			}
		})
	}
}

// A sparse file past 4 GiB (i_size_high) reads as its size in zeros with
// its data at the end: through extents, and through the ext2 block map's
// triple indirect block (1 KiB blocks: past 64 MiB).
func TestHugeSparseFile(t *testing.T) {
	needTool(t, "mkfs.ext4")
	src := filepath.Join(t.TempDir(), "src")
	const size = 5<<30 + 4096
	p := filepath.Join(src, "huge")
	writeFile(t, p, []byte("start"))
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt([]byte("tail!"), size-5)
	f.Close()
	for _, c := range [][]string{{"mkfs.ext4", "-b", "4096"}, {"mke2fs", "-t", "ext2", "-b", "1024"}} {
		t.Run(c[0], func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			runCmd(t, c[0], append(append([]string{"-q", "-F", "-d", src}, c[1:]...), img, "16M")...)
			e, _ := openImage(t, img)
			var found bool
			err := e.Walk(func(f *File) error {
				if f.Path != "/huge" {
					return nil
				}
				found = true
				if f.Size != size {
					t.Errorf("size %d, want %d", f.Size, size)
				}
				w := &edgeWriter{}
				n, err := f.WriteTo(w)
				if err != nil {
					return err
				}
				if n != size || w.n != size || string(w.head) != "start" || string(w.tail[len(w.tail)-5:]) != "tail!" || w.nonzero != 10 {
					t.Errorf("read %d/%d bytes, head %q tail %q, %d non-zero", n, w.n, w.head, w.tail, w.nonzero)
				}
				return nil
			})
			if err != nil || !found {
				t.Fatalf("walk: %v (found %v)", err, found)
			}
		})
	}
}

var zeroBuf = make([]byte, 1<<20)

// edgeWriter keeps a stream's first and last bytes and counts non-zero
// bytes.
type edgeWriter struct {
	n       int64
	head    []byte
	tail    []byte
	nonzero int
}

func (w *edgeWriter) Write(p []byte) (int, error) {
	if len(w.head) < 5 {
		w.head = append(w.head, p[:min(len(p), 5-len(w.head))]...)
	}
	w.n += int64(len(p))
	for q := p; len(q) > 0; {
		k := min(len(q), len(zeroBuf))
		if !bytes.Equal(q[:k], zeroBuf[:k]) {
			for _, b := range q[:k] {
				if b != 0 {
					w.nonzero++
				}
			}
		}
		q = q[k:]
	}
	if len(p) >= 16 {
		w.tail = append(w.tail[:0], p[len(p)-16:]...)
	} else {
		w.tail = append(w.tail, p...)
		if len(w.tail) > 16 {
			w.tail = append(w.tail[:0], w.tail[len(w.tail)-16:]...)
		}
	}
	return len(p), nil
}

// smallImage is a tiny image for malformation tests and the fuzz seed.
func smallImage(t testing.TB, extra ...string) []byte {
	needTool(t, "mkfs.ext4")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFile(t, filepath.Join(src, "a/b/f.txt"), []byte("nested\n"))
	writeFile(t, filepath.Join(src, "empty"), nil)
	var frag []byte
	for i := 0; i < 6; i++ {
		frag = append(frag, randBytes(uint64(i), 1024)...)
		frag = append(frag, make([]byte, 1024)...)
	}
	writeFile(t, filepath.Join(src, "frag"), frag)
	writeFile(t, filepath.Join(src, "sparse"), []byte("x"))
	os.Truncate(filepath.Join(src, "sparse"), 9000)
	os.Symlink("empty", filepath.Join(src, "link"))
	img := filepath.Join(dir, "img")
	args := append([]string{"-q", "-F", "-d", src, "-b", "1024", "-O", "^has_journal", "-N", "32"}, extra...)
	runCmd(t, "mkfs.ext4", append(args, img, "128k")...)
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func walkBytes(data []byte) (listing, error) {
	e, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return listing{}, err
	}
	return imageListing(e)
}

// findFile returns a file of the image by path.
func findFile(t testing.TB, data []byte, p string) *File {
	e, err := Open(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var found *File
	e.Walk(func(f *File) error {
		if f.Path == p {
			found = f
		}
		return nil
	})
	if found == nil {
		t.Fatalf("%s not in the image", p)
	}
	return found
}

func wantErr(t *testing.T, what string, data []byte, substrs ...string) {
	t.Helper()
	_, err := walkBytes(data)
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	for _, s := range substrs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not mention %q", what, err, s)
		}
	}
}

func TestMalformed(t *testing.T) {
	img := smallImage(t)
	if l, err := walkBytes(img); err != nil || len(l.files) != 4 || l.symlinks != 1 {
		t.Fatalf("good image: %v %+v", err, l)
	}
	wantErr(t, "truncated", img[:len(img)/2], "truncated", "at byte 65536")
	wantErr(t, "tiny", img[:1500], "too small")
	bad := bytes.Clone(img)
	bad[MagicOffset] = 0
	wantErr(t, "bad magic", bad, "bad superblock magic", "at byte 1080")

	// The extent header in the inode of /frag.
	f := findFile(t, img, "/frag")
	bad = bytes.Clone(img)
	bad[f.in.off+0x28] = 0x0b
	wantErr(t, "extent magic", bad, "inode", "(/frag)", "bad extent header magic", "at byte")
	bad = bytes.Clone(img)
	binary.LittleEndian.PutUint16(bad[f.in.off+0x28+6:], 7) // depth 7
	wantErr(t, "extent depth", bad, "(/frag)", "depth 7")
	bad = bytes.Clone(img)
	binary.LittleEndian.PutUint16(bad[f.in.off+0x28+2:], 9) // entries > max
	wantErr(t, "extent entries", bad, "(/frag)", "entries")
	// The leaf's first extent pointing past the image.
	bad = bytes.Clone(img)
	depth := binary.LittleEndian.Uint16(img[f.in.off+0x28+6:])
	if depth != 1 {
		t.Fatalf("/frag has an extent tree of depth %d, want 1", depth)
	}
	{
		leaf := binary.LittleEndian.Uint32(img[f.in.off+0x28+12+4:])
		binary.LittleEndian.PutUint32(bad[int64(leaf)*1024+12+8:], 1<<30)
		wantErr(t, "extent start", bad, "(/frag)", "out of range")
		bad = bytes.Clone(img)
		// An index entry pointing back at its own leaf's parent is cut
		// by the depth check: the leaf (depth 0) pointing to itself.
		binary.LittleEndian.PutUint16(bad[int64(leaf)*1024+6:], 1)
		binary.LittleEndian.PutUint32(bad[int64(leaf)*1024+12+4:], leaf)
		wantErr(t, "extent loop", bad, "(/frag)", "depth")
		// The root index pointing twice at the same leaf.
		bad = bytes.Clone(img)
		binary.LittleEndian.PutUint16(bad[f.in.off+0x28+2:], 2)
		copy(bad[f.in.off+0x28+24:f.in.off+0x28+36], img[f.in.off+0x28+12:f.in.off+0x28+24])
		binary.LittleEndian.PutUint32(bad[f.in.off+0x28+24:], 1000)
		wantErr(t, "shared leaf", bad, "(/frag)", "referenced twice")
	}

	// A directory loop: /a/b's entry for it in /a made to point at /a.
	loop := bytes.Clone(img)
	a := findDirent(t, img, "/a", "b")
	aIno := findDirent(t, img, "/", "a")
	copy(loop[a:a+4], img[aIno:aIno+4])
	wantErr(t, "directory loop", loop, "directory reached twice", "/a/b")

	// An encrypted file is refused by name.
	bad = bytes.Clone(img)
	fl := binary.LittleEndian.Uint32(img[f.in.off+0x20:])
	binary.LittleEndian.PutUint32(bad[f.in.off+0x20:], fl|inodeFlagEncrypt)
	wantErr(t, "encrypted file", bad, "(/frag)", "encrypted")
	// Unsupported features are named.
	bad = bytes.Clone(img)
	in := binary.LittleEndian.Uint32(img[SuperblockOffset+0x60:])
	binary.LittleEndian.PutUint32(bad[SuperblockOffset+0x60:], in|incompatCompression|incompatEncrypt)
	_, err := walkBytes(bad)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "compression, encrypt") {
		t.Errorf("features: %v", err)
	}
	bad = bytes.Clone(img)
	binary.LittleEndian.PutUint32(bad[SuperblockOffset+0x60:], in|incompatRecover)
	if _, err := walkBytes(bad); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "needs recovery") {
		t.Errorf("recover: %v", err)
	}
}

// findDirent returns the image offset of the named entry's inode field in
// a directory held in one extent-mapped block.
func findDirent(t *testing.T, img []byte, dir, name string) int64 {
	e, _ := Open(bytes.NewReader(img), int64(len(img)))
	var in *inode
	var err error
	if dir == "/" {
		in, err = e.readInode(rootInode, "/")
	} else {
		var ino uint32
		e.Walk(func(*File) error { return nil })
		ino = direntIno(t, e, img, "/", strings.TrimPrefix(dir, "/"))
		in, err = e.readInode(ino, dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	return direntOff(t, e, in, name)
}

func direntIno(t *testing.T, e *FS, img []byte, dir, name string) uint32 {
	in, err := e.readInode(rootInode, "/")
	if err != nil {
		t.Fatal(err)
	}
	off := direntOff(t, e, in, name)
	return binary.LittleEndian.Uint32(img[off:])
}

func direntOff(t *testing.T, e *FS, in *inode, name string) int64 {
	le := binary.LittleEndian
	if le.Uint16(in.block[6:]) != 0 || le.Uint16(in.block[2:]) < 1 {
		t.Fatal("directory is not one extent leaf")
	}
	blk := int64(le.Uint32(in.block[12+8:]))
	buf := make([]byte, e.BlockSize)
	e.r.ReadAt(buf, blk*e.BlockSize)
	for pos := 0; pos+8 <= len(buf); {
		rl := int(le.Uint16(buf[pos+4:]))
		nl := int(buf[pos+6])
		if string(buf[pos+8:pos+8+nl]) == name {
			return blk*e.BlockSize + int64(pos)
		}
		if rl == 0 {
			break
		}
		pos += rl
	}
	t.Fatalf("%s not found", name)
	return 0
}

// FuzzExt4 feeds mutated images to the reader: errors are fine, panics,
// hangs and unbounded allocations are not.
func FuzzExt4(f *testing.F) {
	f.Add(smallImage(f))
	f.Add(smallImage(f, "-O", "^extent,^64bit"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		budget := &budgetWriter{left: 4 << 20}
		files := 0
		e.Walk(func(f *File) error {
			if files++; files > 1000 {
				return io.EOF
			}
			if f.Type == Regular {
				_, err := f.WriteTo(budget)
				return err
			}
			return nil
		})
	})
}

// budgetWriter fails once a total number of bytes has been written, so a
// corrupt huge sparse file does not read for ever.
type budgetWriter struct{ left int64 }

func (b *budgetWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		return 0, io.ErrShortWrite
	}
	b.left -= int64(len(p))
	return len(p), nil
}

// Open streams what WriteTo writes, and closing it early does not hang.
func TestFileOpen(t *testing.T) {
	img := smallImage(t)
	f := findFile(t, img, "/frag")
	var want bytes.Buffer
	if _, err := f.WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	r := f.Open()
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, want.Bytes()) || len(got) != 12*1024 {
		t.Fatalf("Open: %d bytes, %v", len(got), err)
	}
	r = f.Open()
	var b [10]byte
	if _, err := io.ReadFull(r, b[:]); err != nil || !bytes.Equal(b[:], want.Bytes()[:10]) {
		t.Fatal(err)
	}
	r.Close()
	bad := bytes.Clone(img)
	bad[f.in.off+0x28] = 0
	f = findFile(t, bad, "/frag")
	if _, err := io.ReadAll(f.Open()); err == nil || !strings.Contains(err.Error(), "extent header") {
		t.Errorf("corrupt file through Open: %v", err)
	}
}
