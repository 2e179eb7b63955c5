// Package fat reads FAT12, FAT16 and FAT32 file systems (an EFI System
// Partition, a GRUB or systemd-boot ESP image) read-only, in place, with
// limits that keep a hostile image from causing large reads or long loops.
// Finding the partition in a disk image is the caller's business (refvals
// reads the GPT).
package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// Limits that keep a hostile FAT image from causing large reads or long
// loops.
const (
	maxFileSize   = 1 << 30 // largest file ReadFile returns
	maxDirEntries = 1 << 16 // directory entries looked at per directory
	maxPathDepth  = 64
)

// FS is a read-only view of a FAT12, FAT16 or FAT32 file system.
type FS struct {
	r    io.ReaderAt
	base int64 // byte offset of the boot sector in r
	size int64 // bytes of the file system as its boot sector states

	Type          int // 12, 16 or 32
	bytesPerSec   int64
	secPerClus    int64
	fatStart      int64 // byte offset (from base) of the first FAT
	rootStart     int64 // FAT12/16: byte offset of the fixed root directory
	rootEntries   int64 // FAT12/16: entries in the fixed root directory
	rootCluster   uint32
	dataStart     int64 // byte offset of cluster 2
	clusters      uint32
	fatEntryBytes int64 // bytes of one FAT copy
}

// Entry is a directory entry.
type Entry struct {
	Name    string // the long name if there is one, else the 8.3 name
	Short   string // the 8.3 name, "NAME.EXT"
	Dir     bool
	Size    int64
	Cluster uint32
}

// Open reads the boot sector at byte offset base of r; size bounds the
// file system (0: not known).
func Open(r io.ReaderAt, base, size int64) (*FS, error) {
	bs := make([]byte, 512)
	if _, err := r.ReadAt(bs, base); err != nil {
		return nil, fmt.Errorf("FAT boot sector at byte %d: %w", base, err)
	}
	if bs[510] != 0x55 || bs[511] != 0xaa {
		return nil, fmt.Errorf("FAT boot sector at byte %d: no 55 AA signature", base)
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(bs[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(bs[o:])) }
	f := &FS{r: r, base: base}
	f.bytesPerSec = le16(11)
	switch f.bytesPerSec {
	case 512, 1024, 2048, 4096:
	default:
		return nil, fmt.Errorf("FAT boot sector at byte %d: %d bytes per sector", base, f.bytesPerSec)
	}
	f.secPerClus = int64(bs[13])
	if f.secPerClus == 0 || f.secPerClus&(f.secPerClus-1) != 0 {
		return nil, fmt.Errorf("FAT boot sector at byte %d: %d sectors per cluster", base, f.secPerClus)
	}
	reserved, nfats, rootEnt := le16(14), int64(bs[16]), le16(17)
	if reserved == 0 || nfats == 0 {
		return nil, fmt.Errorf("FAT boot sector at byte %d: %d reserved sectors, %d FATs", base, reserved, nfats)
	}
	totSec, fatSz := le16(19), le16(22)
	if totSec == 0 {
		totSec = le32(32)
	}
	if fatSz == 0 {
		fatSz = le32(36)
	}
	if fatSz == 0 || totSec == 0 {
		return nil, fmt.Errorf("FAT boot sector at byte %d: %d sectors, FAT of %d sectors", base, totSec, fatSz)
	}
	rootSecs := (rootEnt*32 + f.bytesPerSec - 1) / f.bytesPerSec
	meta := reserved + nfats*fatSz + rootSecs
	if meta >= totSec {
		return nil, fmt.Errorf("FAT boot sector at byte %d: %d sectors of metadata in a file system of %d", base, meta, totSec)
	}
	clusters := (totSec - meta) / f.secPerClus
	switch {
	case clusters < 4085:
		f.Type = 12
	case clusters < 65525:
		f.Type = 16
	default:
		f.Type = 32
	}
	if clusters > 0x0ffffff5 {
		return nil, fmt.Errorf("FAT boot sector at byte %d: %d clusters", base, clusters)
	}
	f.clusters = uint32(clusters)
	f.fatStart = reserved * f.bytesPerSec
	f.fatEntryBytes = fatSz * f.bytesPerSec
	f.rootStart = (reserved + nfats*fatSz) * f.bytesPerSec
	f.rootEntries = rootEnt
	f.dataStart = meta * f.bytesPerSec
	f.size = totSec * f.bytesPerSec
	if size > 0 && f.size > size {
		return nil, fmt.Errorf("FAT boot sector at byte %d: file system of %d bytes in %d bytes", base, f.size, size)
	}
	if need := map[int]int64{12: (clusters + 2) * 3 / 2, 16: (clusters + 2) * 2, 32: (clusters + 2) * 4}[f.Type]; need > f.fatEntryBytes {
		return nil, fmt.Errorf("FAT boot sector at byte %d: a FAT of %d bytes cannot map %d clusters", base, f.fatEntryBytes, clusters)
	}
	if f.Type == 32 {
		if rootEnt != 0 {
			return nil, fmt.Errorf("FAT32 boot sector at byte %d: %d fixed root entries", base, rootEnt)
		}
		f.rootCluster = uint32(le32(44))
		if !f.validCluster(f.rootCluster) {
			return nil, fmt.Errorf("FAT32 boot sector at byte %d: root cluster %d out of range", base, f.rootCluster)
		}
	} else if rootEnt == 0 {
		return nil, fmt.Errorf("FAT%d boot sector at byte %d: no root directory entries", f.Type, base)
	}
	return f, nil
}

func (f *FS) validCluster(c uint32) bool { return c >= 2 && c < f.clusters+2 }

func (f *FS) clusterBytes() int64 { return f.secPerClus * f.bytesPerSec }

// next reads the FAT entry of cluster c; eoc reports the end of a chain.
func (f *FS) next(c uint32) (n uint32, eoc bool, err error) {
	var off int64
	switch f.Type {
	case 12:
		off = int64(c) + int64(c)/2
	case 16:
		off = int64(c) * 2
	default:
		off = int64(c) * 4
	}
	var b [4]byte
	width := map[int]int{12: 2, 16: 2, 32: 4}[f.Type]
	at := f.base + f.fatStart + off
	if _, err := f.r.ReadAt(b[:width], at); err != nil {
		return 0, false, fmt.Errorf("FAT entry of cluster %d at byte %d: %w", c, at, err)
	}
	switch f.Type {
	case 12:
		n = uint32(binary.LittleEndian.Uint16(b[:]))
		if c&1 == 1 {
			n >>= 4
		}
		n &= 0xfff
		if n >= 0xff8 {
			return 0, true, nil
		}
	case 16:
		n = uint32(binary.LittleEndian.Uint16(b[:]))
		if n >= 0xfff8 {
			return 0, true, nil
		}
	default:
		n = binary.LittleEndian.Uint32(b[:]) & 0x0fffffff
		if n >= 0x0ffffff8 {
			return 0, true, nil
		}
	}
	if !f.validCluster(n) {
		return 0, false, fmt.Errorf("FAT entry of cluster %d at byte %d: next cluster %#x out of range (2..%d)", c, at, n, f.clusters+1)
	}
	return n, false, nil
}

// chain reads the clusters of a chain starting at c, at most limit bytes
// (limit < 0: no limit but the number of clusters).
func (f *FS) chain(c uint32, limit int64) ([]byte, error) {
	var out []byte
	cb := f.clusterBytes()
	seen := map[uint32]bool{}
	for {
		if !f.validCluster(c) {
			return nil, fmt.Errorf("cluster %d out of range (2..%d)", c, f.clusters+1)
		}
		if seen[c] {
			return nil, fmt.Errorf("cluster chain loops back to cluster %d", c)
		}
		seen[c] = true
		at := f.base + f.dataStart + int64(c-2)*cb
		buf := make([]byte, cb)
		if _, err := f.r.ReadAt(buf, at); err != nil {
			return nil, fmt.Errorf("cluster %d at byte %d: %w", c, at, err)
		}
		out = append(out, buf...)
		if limit >= 0 && int64(len(out)) >= limit {
			return out[:limit], nil
		}
		n, eoc, err := f.next(c)
		if err != nil {
			return nil, err
		}
		if eoc {
			if limit >= 0 {
				return nil, fmt.Errorf("cluster chain ends after %d bytes, %d expected", len(out), limit)
			}
			return out, nil
		}
		if limit < 0 && int64(len(out)) > int64(maxDirEntries)*32 {
			return nil, fmt.Errorf("directory longer than %d entries", maxDirEntries)
		}
		c = n
	}
}

// dirData returns the raw entries of a directory (cluster 0: the root).
func (f *FS) dirData(cluster uint32) ([]byte, error) {
	if cluster == 0 && f.Type != 32 {
		buf := make([]byte, f.rootEntries*32)
		if _, err := f.r.ReadAt(buf, f.base+f.rootStart); err != nil {
			return nil, fmt.Errorf("root directory at byte %d: %w", f.base+f.rootStart, err)
		}
		return buf, nil
	}
	if cluster == 0 {
		cluster = f.rootCluster
	}
	return f.chain(cluster, -1)
}

// ReadDir lists a directory given by its path ("/" or "" for the root).
func (f *FS) ReadDir(path string) ([]Entry, error) {
	cluster, err := f.lookupDir(path)
	if err != nil {
		return nil, err
	}
	return f.readDir(cluster)
}

func (f *FS) readDir(cluster uint32) ([]Entry, error) {
	data, err := f.dirData(cluster)
	if err != nil {
		return nil, err
	}
	var out []Entry
	var lfn []uint16
	var lfnSum byte
	lfnNext := 0 // sequence number the next LFN entry must carry; 0: none pending
	for i := 0; i+32 <= len(data) && i/32 < maxDirEntries; i += 32 {
		e := data[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xe5 {
			lfnNext = 0
			continue
		}
		attr := e[11]
		if attr&0x3f == 0x0f { // long-name entry
			seq := int(e[0] & 0x1f)
			if e[0]&0x40 != 0 {
				lfn = make([]uint16, seq*13)
				lfnSum = e[13]
				lfnNext = seq
			}
			if seq == 0 || seq != lfnNext || e[13] != lfnSum || len(lfn) < seq*13 {
				lfnNext = 0
				continue
			}
			var chars []uint16
			for _, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				chars = append(chars, binary.LittleEndian.Uint16(e[o:]))
			}
			copy(lfn[(seq-1)*13:], chars)
			lfnNext = seq - 1
			if lfnNext == 0 {
				lfnNext = -1 // complete, waiting for its short entry
			}
			continue
		}
		if attr&0x08 != 0 { // volume label
			lfnNext = 0
			continue
		}
		short := shortName(e)
		if short == "." || short == ".." {
			lfnNext = 0
			continue
		}
		name := short
		if lfnNext == -1 && lfnChecksum(e[:11]) == lfnSum {
			end := len(lfn)
			for j, c := range lfn {
				if c == 0 {
					end = j
					break
				}
			}
			name = string(utf16.Decode(lfn[:end]))
		}
		lfnNext = 0
		cl := uint32(binary.LittleEndian.Uint16(e[26:]))
		if f.Type == 32 {
			cl |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		out = append(out, Entry{Name: name, Short: short, Dir: attr&0x10 != 0, Size: int64(binary.LittleEndian.Uint32(e[28:])), Cluster: cl})
	}
	return out, nil
}

func shortName(e []byte) string {
	base := []byte(strings.TrimRight(string(e[0:8]), " "))
	ext := strings.TrimRight(string(e[8:11]), " ")
	if len(base) > 0 && base[0] == 0x05 {
		base[0] = 0xe5
	}
	b := string(base)
	if e[12]&0x08 != 0 {
		b = strings.ToLower(b)
	}
	if e[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext == "" {
		return b
	}
	return b + "." + ext
}

func lfnChecksum(name []byte) byte {
	var sum byte
	for _, c := range name {
		sum = (sum>>1 | sum<<7) + c
	}
	return sum
}

func splitFATPath(path string) ([]string, error) {
	var parts []string
	for _, p := range strings.Split(strings.ReplaceAll(path, "\\", "/"), "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("%s: \"..\" not supported", path)
		}
		parts = append(parts, p)
	}
	if len(parts) > maxPathDepth {
		return nil, fmt.Errorf("%s: deeper than %d", path, maxPathDepth)
	}
	return parts, nil
}

// find looks name up, case-insensitively, in the directory at cluster.
func (f *FS) find(cluster uint32, name string) (Entry, error) {
	entries, err := f.readDir(cluster)
	if err != nil {
		return Entry{}, err
	}
	for _, e := range entries {
		if strings.EqualFold(e.Name, name) || strings.EqualFold(e.Short, name) {
			return e, nil
		}
	}
	return Entry{}, ErrNotFound
}

// ErrNotFound is wrapped by the errors for a path the file system lacks.
var ErrNotFound = errors.New("no such file")

// Stat finds the entry of a path, case-insensitively as firmware does.
func (f *FS) Stat(path string) (Entry, error) {
	parts, err := splitFATPath(path)
	if err != nil {
		return Entry{}, err
	}
	if len(parts) == 0 {
		return Entry{Name: "/", Dir: true}, nil
	}
	var cluster uint32
	for i, p := range parts {
		e, err := f.find(cluster, p)
		if err != nil {
			return Entry{}, fmt.Errorf("%s: %s: %w", path, strings.Join(parts[:i+1], "/"), err)
		}
		if i == len(parts)-1 {
			return e, nil
		}
		if !e.Dir {
			return Entry{}, fmt.Errorf("%s: %s is not a directory", path, strings.Join(parts[:i+1], "/"))
		}
		cluster = e.Cluster
		if cluster != 0 && !f.validCluster(cluster) {
			return Entry{}, fmt.Errorf("%s: %s starts at cluster %d, out of range", path, strings.Join(parts[:i+1], "/"), cluster)
		}
	}
	panic("unreachable")
}

func (f *FS) lookupDir(path string) (uint32, error) {
	e, err := f.Stat(path)
	if err != nil {
		return 0, err
	}
	if !e.Dir {
		return 0, fmt.Errorf("%s: not a directory", path)
	}
	return e.Cluster, nil
}

// ReadFile returns the contents of a file, found case-insensitively.
func (f *FS) ReadFile(path string) ([]byte, error) {
	e, err := f.Stat(path)
	if err != nil {
		return nil, err
	}
	if e.Dir {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	if e.Size > maxFileSize || e.Size > f.size {
		return nil, fmt.Errorf("%s: %d bytes, larger than the file system allows", path, e.Size)
	}
	if e.Size == 0 {
		return []byte{}, nil
	}
	data, err := f.chain(e.Cluster, e.Size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}
