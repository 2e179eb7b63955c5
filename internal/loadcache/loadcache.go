// Package loadcache owns reusing what a batch parsed from its inputs: a
// fleet's lines name a handful of baselines and one AK per device, and
// carry the same event log from every machine of one image, so a batch
// parses each of those once. Files keeps what was parsed from a file for
// as long as the file is unchanged; Contents keeps what was made of a
// byte string, found again by its bytes. ReadFile is the small-file read
// both rest on: one open, one fstat, one read.
//
// A cached value is shared by every caller that loads the same input, so
// it must not be changed after it is made.
package loadcache

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"os"
	"sync"
	"syscall"
	"time"
)

// stamp is what the file system says of a file's contents: which file
// (device, inode), its size and when its data (mtime) or inode (ctime)
// last changed. A rewrite changes the ctime even where it keeps the size
// and sets the mtime back.
type stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // ns
}

func stampOf(st *syscall.Stat_t) stamp {
	return stamp{dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

// settled is how long a file must have been unchanged before its stamp is
// trusted to tell its contents: file timestamps advance in clock ticks,
// so a file rewritten within the tick of its read, at the same size,
// would keep its stamp. As git does for its index, a file changed that
// recently is read again every time.
const settled = time.Second

// ReadFile reads the whole file at path, refusing one larger than max
// bytes, and returns its stamp. Errors name the path.
func ReadFile(path string, max int64) ([]byte, error) {
	data, _, err := readFile(path, max)
	return data, err
}

func readFile(path string, max int64) ([]byte, stamp, error) {
	// Plain system calls: os.Open would also try to register the file
	// with the poller and give it a finalizer, a fifth of the cost of
	// reading a small file.
	fd, err := retry(func() (int, error) { return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0) })
	if err != nil {
		return nil, stamp{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var sys syscall.Stat_t
	if _, err := retry(func() (int, error) { return 0, syscall.Fstat(fd, &sys) }); err != nil {
		return nil, stamp{}, fmt.Errorf("%s: %w", path, &os.PathError{Op: "stat", Path: path, Err: err})
	}
	st := stampOf(&sys)
	size := st.size
	if sys.Mode&syscall.S_IFMT != syscall.S_IFREG || size > max {
		// Not a regular file (a pipe, a device) or too large as it stands:
		// read up to the limit and let what arrives decide.
		size = 512
	}
	// One byte more than the file holds shows it ended (or grew).
	buf := make([]byte, 0, min(size, max)+1)
	for {
		n, err := retry(func() (int, error) { return syscall.Read(fd, buf[len(buf):cap(buf)]) })
		if err != nil {
			return nil, stamp{}, fmt.Errorf("%s: %w", path, &os.PathError{Op: "read", Path: path, Err: err})
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, stamp{}, fmt.Errorf("%s: larger than %d bytes", path, max)
		}
		if n == 0 {
			return buf, st, nil
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// retry calls a system call again while a signal interrupts it.
func retry(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// ReadFileTo is ReadFile into buf's memory (grown when the file is
// larger), for a caller that reads one file after another and is done
// with each before the next: a batch reading an attestation per line
// allocates and clears no buffer for it. The result aliases buf.
func ReadFileTo(path string, max int64, buf []byte) ([]byte, error) {
	fd, err := retry(func() (int, error) { return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0) })
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := retry(func() (int, error) { return syscall.Read(fd, buf[len(buf):cap(buf)]) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, &os.PathError{Op: "read", Path: path, Err: err})
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
		}
		if n == 0 {
			return buf, nil
		}
	}
}

// Limits bound a cache: at most Entries values, made from at most Bytes
// bytes of input in all. Past either, entries are dropped, any of them.
type Limits struct {
	Entries int
	Bytes   int64
}

// Files caches what was parsed from files, by path and parse. The zero
// value is not usable; NewFiles makes one.
type Files struct {
	lim   Limits
	mu    sync.Mutex
	m     map[fileKey]fileEntry
	bytes int64
}

type fileKey struct{ path, parse string }

type fileEntry struct {
	st stamp
	v  any
}

// NewFiles returns an empty cache within lim.
func NewFiles(lim Limits) *Files {
	return &Files{lim: lim, m: map[fileKey]fileEntry{}}
}

// Load returns what parse makes of the file at path, calling it only when
// the file is new to the cache or changed since: its stamp (device,
// inode, size, mtime, ctime) is checked on every call. kind tells apart
// parses of one file into different things or with different options. A
// nil cache reads and parses every time; errors are not cached.
func Load[T any](c *Files, path, kind string, max int64, parse func(data []byte) (T, error)) (T, error) {
	var zero T
	if c == nil {
		data, err := ReadFile(path, max)
		if err != nil {
			return zero, err
		}
		return parse(data)
	}
	k := fileKey{path, kind}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		var sys syscall.Stat_t
		if err := syscall.Stat(path, &sys); err == nil && stampOf(&sys) == e.st {
			return e.v.(T), nil
		}
	}
	data, st, err := readFile(path, max)
	if err != nil {
		return zero, err
	}
	v, err := parse(data)
	if err != nil {
		return zero, err
	}
	cutoff := time.Now().Add(-settled).UnixNano()
	if st.ino != 0 && st.mtime < cutoff && st.ctime < cutoff {
		c.store(k, fileEntry{st: st, v: v})
	}
	return v, nil
}

func (c *Files) store(k fileKey, e fileEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.bytes -= old.st.size
		delete(c.m, k)
	}
	if e.st.size > c.lim.Bytes {
		return
	}
	for k2, old := range c.m {
		if len(c.m) < c.lim.Entries && c.bytes+e.st.size <= c.lim.Bytes {
			break
		}
		c.bytes -= old.st.size
		delete(c.m, k2)
	}
	c.m[k] = e
	c.bytes += e.st.size
}

// Contents caches what was made of byte strings, found again by their
// bytes: a hit is an equal copy, compared in full, never a hash alone.
type Contents[T any] struct {
	lim   Limits
	seed  maphash.Seed
	mu    sync.Mutex
	m     map[uint64][]contentEntry[T]
	n     int
	bytes int64
}

type contentEntry[T any] struct {
	data []byte // a copy: the caller's buffer is the caller's
	v    T
}

// NewContents returns an empty cache within lim.
func NewContents[T any](lim Limits) *Contents[T] {
	return &Contents[T]{lim: lim, seed: maphash.MakeSeed(), m: map[uint64][]contentEntry[T]{}}
}

// Load returns what build makes of data, calling it only for bytes the
// cache has not seen. A nil cache calls make every time; errors are not
// cached.
func (c *Contents[T]) Load(data []byte, build func(data []byte) (T, error)) (T, error) {
	if c == nil {
		return build(data)
	}
	h := maphash.Bytes(c.seed, data)
	c.mu.Lock()
	for _, e := range c.m[h] {
		if bytes.Equal(e.data, data) {
			c.mu.Unlock()
			return e.v, nil
		}
	}
	c.mu.Unlock()
	v, err := build(data)
	if err != nil || int64(len(data)) > c.lim.Bytes {
		return v, err
	}
	e := contentEntry[T]{data: bytes.Clone(data), v: v}
	c.mu.Lock()
	defer c.mu.Unlock()
	for h2, list := range c.m {
		if c.n < c.lim.Entries && c.bytes+int64(len(data)) <= c.lim.Bytes {
			break
		}
		for _, old := range list {
			c.bytes -= int64(len(old.data))
		}
		c.n -= len(list)
		delete(c.m, h2)
	}
	c.m[h] = append(c.m[h], e)
	c.n++
	c.bytes += int64(len(data))
	return v, nil
}
