// Package loadcache owns reusing what a batch parsed from its inputs: a
// fleet's lines name a handful of baselines and one AK per device, and
// carry the same event log from every machine of one image, so a batch
// parses each of those once. Files keeps what was parsed from a file for
// as long as the file is unchanged; Contents keeps what was made of a
// byte string, found again by its bytes. ReadFile and ReadFileTo are
// the small-file reads of verify quote and its batch: on Linux one open, one fstat (ReadFile
// only), reads to the end and a close, as plain system calls. Stamps are
// read on Linux only; elsewhere Files parses every time.
//
// A cached value is shared by every caller that loads the same input, so
// it must not be changed after it is made.
package loadcache

import (
	"bytes"
	"hash/maphash"
	"sync"
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

// settled is how long a file must have been unchanged before its stamp is
// trusted to tell its contents: file timestamps advance in clock ticks,
// so a file rewritten within the tick of its read, at the same size,
// would keep its stamp. As git does for its index, a file changed that
// recently is read again every time.
const settled = time.Second

// ReadFile reads the whole file at path, refusing one larger than max
// bytes. Errors name the path.
func ReadFile(path string, max int64) ([]byte, error) {
	data, _, err := readFile(path, max)
	return data, err
}

// ReadFileTo is ReadFile into buf's memory (grown when the file is
// larger), for a caller that reads one file after another and is done
// with each before the next: a batch reading an attestation per line
// allocates and clears no buffer for it. The result aliases buf.
func ReadFileTo(path string, max int64, buf []byte) ([]byte, error) {
	return readFileTo(path, max, buf)
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
// parses of one file into different things or with different options
// (one kind, one T: an entry of another type is parsed again). A nil
// cache reads and parses every time; errors are not cached.
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
		if v, same := e.v.(T); same {
			if st, ok := statPath(path); ok && st == e.st {
				return v, nil
			}
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
// cache has not seen. A nil cache calls build every time; errors are not
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
