// Package ext4 reads the regular files of an ext2, ext3 or ext4 file system
// image, read-only and without mounting it: superblock, group descriptors
// (32- and 64-bit), inodes, extent trees, the ext2/3 block map, inline data
// and linear directory walks (htree directories read linearly).
//
// Every structure is checked against the image before it is used: block
// numbers against the block count and the image size, extent trees against
// their depth, directories against loops. Errors carry the inode and the
// byte offset in the image of what was wrong.
package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"
)

// Magic is the superblock's s_magic.
const Magic = 0xEF53

// SuperblockOffset is where the superblock starts in the image.
const SuperblockOffset = 1024

// MagicOffset is the byte offset of s_magic in the image.
const MagicOffset = SuperblockOffset + 0x38

// incompat feature bits.
const (
	incompatCompression = 0x1
	incompatFiletype    = 0x2
	incompatRecover     = 0x4
	incompatJournalDev  = 0x8
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64Bit       = 0x80
	incompatMMP         = 0x100
	incompatFlexBG      = 0x200
	incompatEAInode     = 0x400
	incompatDirData     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargeDir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000

	incompatKnown = incompatFiletype | incompatMetaBG | incompatExtents | incompat64Bit | incompatMMP |
		incompatFlexBG | incompatEAInode | incompatCsumSeed | incompatLargeDir | incompatInlineData | incompatCasefold
)

const (
	compatHasJournal     = 0x4
	roCompatSparseSuper  = 0x1
	inodeFlagEncrypt     = 0x800
	inodeFlagExtents     = 0x80000
	inodeFlagIndex       = 0x1000
	inodeFlagInlineData  = 0x10000000
	extentMagic          = 0xF30A
	maxExtentDepth       = 5
	rootInode            = 2
	maxDirDepth          = 4096
	zeroChunk            = 64 << 10
	readChunk            = 256 << 10
	modeTypeMask         = 0xF000
	modeDir              = 0x4000
	modeRegular          = 0x8000
	modeSymlink          = 0xA000
	xattrMagic           = 0xEA020000
	xattrIndexSystem     = 7
	inlineDataInIBlock   = 60
	maxLogicalBlockCount = 1 << 32
)

// Error is a malformed or unsupported image.
type Error struct {
	Inode  uint32 // 0 when not about an inode
	Path   string // the file, when known
	Offset int64  // byte offset in the image, -1 when not known
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ext4: ")
	if e.Inode != 0 {
		fmt.Fprintf(&b, "inode %d", e.Inode)
		if e.Path != "" {
			fmt.Fprintf(&b, " (%s)", e.Path)
		}
		b.WriteString(": ")
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, "at byte %d: ", e.Offset)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrUnsupported marks images or files using a feature this package cannot
// read (errors.Is).
var ErrUnsupported = errors.New("unsupported feature")

type unsupportedError struct{ e *Error }

func (u unsupportedError) Error() string   { return u.e.Error() }
func (u unsupportedError) Unwrap() []error { return []error{ErrUnsupported, u.e} }

// FS is an opened image.
type FS struct {
	r              io.ReaderAt
	size           int64
	BlockSize      int64
	blocksCount    uint64
	firstDataBlock uint32
	blocksPerGroup uint32
	inodesPerGroup uint32
	inodesCount    uint32
	inodeSize      int64
	descSize       int64
	groups         uint64
	firstMetaBG    uint32
	incompat       uint32
	compat         uint32
	roCompat       uint32
	maxDepthSeen   atomic.Int64 // deepest extent tree met, for tests
	htreeSeen      int          // hash-indexed directories read, for tests
	descCache      map[uint64]int64
	zeros          []byte
}

func errAt(ino uint32, off int64, format string, args ...any) *Error {
	return &Error{Inode: ino, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// Open reads the superblock and checks the features. size is the image's
// size in bytes.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	sb := make([]byte, 1024)
	if size < SuperblockOffset+1024 {
		return nil, errAt(0, 0, "image of %d bytes is too small for a superblock", size)
	}
	if _, err := r.ReadAt(sb, SuperblockOffset); err != nil {
		return nil, errAt(0, SuperblockOffset, "reading the superblock: %v", err)
	}
	le := binary.LittleEndian
	if m := le.Uint16(sb[0x38:]); m != Magic {
		return nil, errAt(0, MagicOffset, "bad superblock magic 0x%04x, want 0x%04x", m, Magic)
	}
	fs := &FS{r: r, size: size, descCache: map[uint64]int64{}}
	logBS := le.Uint32(sb[0x18:])
	if logBS > 6 { // 1 KiB … 64 KiB
		return nil, errAt(0, SuperblockOffset+0x18, "block size 1024<<%d is out of range", logBS)
	}
	fs.BlockSize = 1024 << logBS
	fs.inodesCount = le.Uint32(sb[0x0:])
	fs.blocksCount = uint64(le.Uint32(sb[0x4:]))
	fs.firstDataBlock = le.Uint32(sb[0x14:])
	fs.blocksPerGroup = le.Uint32(sb[0x20:])
	fs.inodesPerGroup = le.Uint32(sb[0x28:])
	rev := le.Uint32(sb[0x4C:])
	fs.compat = le.Uint32(sb[0x5C:])
	fs.incompat = le.Uint32(sb[0x60:])
	fs.roCompat = le.Uint32(sb[0x64:])
	fs.inodeSize = 128
	if rev >= 1 {
		fs.inodeSize = int64(le.Uint16(sb[0x58:]))
		if fs.incompat&incompatRecover != 0 {
			return nil, unsupportedError{errAt(0, SuperblockOffset+0x60, "the journal needs recovery (the file system was not unmounted cleanly): run e2fsck -fy on a copy first")}
		}
		if fs.incompat&^incompatKnown != 0 {
			return nil, fs.featureError()
		}
	} else {
		fs.compat, fs.incompat, fs.roCompat = 0, 0, 0
	}
	if fs.inodeSize < 128 || fs.inodeSize > fs.BlockSize || fs.inodeSize&(fs.inodeSize-1) != 0 {
		return nil, errAt(0, SuperblockOffset+0x58, "inode size %d is not a power of two from 128 to the block size", fs.inodeSize)
	}
	fs.descSize = 32
	if fs.incompat&incompat64Bit != 0 {
		fs.blocksCount |= uint64(le.Uint32(sb[0x150:])) << 32
		fs.descSize = int64(le.Uint16(sb[0xFE:]))
		if fs.descSize < 64 || fs.descSize > fs.BlockSize || fs.descSize&(fs.descSize-1) != 0 {
			return nil, errAt(0, SuperblockOffset+0xFE, "group descriptor size %d is not a power of two from 64 to the block size", fs.descSize)
		}
	}
	fs.firstMetaBG = le.Uint32(sb[0x104:])
	if fs.blocksPerGroup == 0 || fs.inodesPerGroup == 0 {
		return nil, errAt(0, SuperblockOffset+0x20, "zero blocks (%d) or inodes (%d) per group", fs.blocksPerGroup, fs.inodesPerGroup)
	}
	if fs.blocksCount <= uint64(fs.firstDataBlock) {
		return nil, errAt(0, SuperblockOffset+0x4, "block count %d is not past the first data block %d", fs.blocksCount, fs.firstDataBlock)
	}
	if fs.inodesPerGroup > uint32(fs.BlockSize*8) {
		return nil, errAt(0, SuperblockOffset+0x28, "%d inodes per group do not fit an inode bitmap", fs.inodesPerGroup)
	}
	if fs.blocksCount > uint64(size/fs.BlockSize) {
		return nil, errAt(0, size, "the image is truncated: the superblock counts %d blocks of %d bytes (%d bytes), the image has %d bytes",
			fs.blocksCount, fs.BlockSize, fs.blocksCount*uint64(fs.BlockSize), size)
	}
	fs.groups = (fs.blocksCount - uint64(fs.firstDataBlock) + uint64(fs.blocksPerGroup) - 1) / uint64(fs.blocksPerGroup)
	fs.zeros = make([]byte, min(zeroChunk, fs.BlockSize*16))
	return fs, nil
}

func (fs *FS) featureError() error {
	var names []string
	bits := fs.incompat &^ incompatKnown
	for _, f := range []struct {
		bit  uint32
		name string
	}{{incompatCompression, "compression"}, {incompatEncrypt, "encrypt"}, {incompatJournalDev, "journal_dev (an external journal, not a file system)"},
		{incompatDirData, "dirdata"}, {incompatRecover, "needs_recovery"}} {
		if bits&f.bit != 0 {
			names = append(names, f.name)
			bits &^= f.bit
		}
	}
	if bits != 0 {
		names = append(names, fmt.Sprintf("unknown %#x", bits))
	}
	return unsupportedError{errAt(0, SuperblockOffset+0x60, "incompatible features goldenpcr cannot read: %s", strings.Join(names, ", "))}
}

// setPath names the file in an *Error that does not name one yet.
func setPath(err error, p string) error {
	var e *Error
	if errors.As(err, &e) && e.Path == "" {
		e.Path = p
	}
	return err
}

// Kind is "ext2", "ext3" or "ext4", guessed from the features.
func (fs *FS) Kind() string {
	switch {
	case fs.incompat&^(incompatFiletype|incompatMetaBG) != 0:
		return "ext4"
	case fs.compat&compatHasJournal != 0:
		return "ext3"
	}
	return "ext2"
}

// readAt reads len(p) bytes at off, which must lie in the image.
func (fs *FS) readAt(ino uint32, p []byte, off int64, what string) error {
	if off < 0 || off > fs.size || int64(len(p)) > fs.size-off {
		return errAt(ino, off, "%s (%d bytes) lies past the end of the %d-byte image", what, len(p), fs.size)
	}
	if _, err := fs.r.ReadAt(p, off); err != nil {
		return errAt(ino, off, "reading %s: %v", what, err)
	}
	return nil
}

// blockOffset checks a block run and returns its byte offset.
func (fs *FS) blockOffset(ino uint32, blk, count uint64, at int64, what string) (int64, error) {
	if blk < uint64(fs.firstDataBlock) || blk >= fs.blocksCount || count > fs.blocksCount-blk {
		return 0, errAt(ino, at, "%s: blocks %d+%d out of range (block count %d)", what, blk, count, fs.blocksCount)
	}
	off := int64(blk) * fs.BlockSize
	if off/fs.BlockSize != int64(blk) || off > fs.size || int64(count) > (fs.size-off)/fs.BlockSize {
		return 0, errAt(ino, at, "%s: blocks %d+%d lie past the end of the %d-byte image", what, blk, count, fs.size)
	}
	return off, nil
}

func (fs *FS) readBlock(ino uint32, blk uint64, at int64, what string) ([]byte, int64, error) {
	off, err := fs.blockOffset(ino, blk, 1, at, what)
	if err != nil {
		return nil, 0, err
	}
	b := make([]byte, fs.BlockSize)
	return b, off, fs.readAt(ino, b, off, what)
}

// groupHasSuper reports whether a block group holds a superblock backup.
func (fs *FS) groupHasSuper(g uint64) bool {
	if g <= 1 || fs.roCompat&roCompatSparseSuper == 0 {
		return true
	}
	for _, p := range []uint64{3, 5, 7} {
		n := p
		for n < g {
			n *= p
		}
		if n == g {
			return true
		}
	}
	return false
}

// inodeTable returns the byte offset of a group's inode table.
func (fs *FS) inodeTable(ino uint32, g uint64) (int64, error) {
	if off, ok := fs.descCache[g]; ok {
		return off, nil
	}
	perBlock := uint64(fs.BlockSize / fs.descSize)
	var descBlock uint64
	mg := g / perBlock
	if fs.incompat&incompatMetaBG != 0 && mg >= uint64(fs.firstMetaBG) {
		first := mg * perBlock
		descBlock = first*uint64(fs.blocksPerGroup) + uint64(fs.firstDataBlock)
		if fs.groupHasSuper(first) {
			descBlock++
		}
	} else {
		descBlock = uint64(fs.firstDataBlock) + 1 + mg
	}
	boff, err := fs.blockOffset(ino, descBlock, 1, SuperblockOffset, fmt.Sprintf("group %d descriptor block", g))
	if err != nil {
		return 0, err
	}
	doff := boff + int64(g%perBlock)*fs.descSize
	d := make([]byte, fs.descSize)
	if err := fs.readAt(ino, d, doff, fmt.Sprintf("group %d descriptor", g)); err != nil {
		return 0, err
	}
	tbl := uint64(binary.LittleEndian.Uint32(d[0x8:]))
	if fs.descSize >= 64 {
		tbl |= uint64(binary.LittleEndian.Uint32(d[0x28:])) << 32
	}
	tblBlocks := (uint64(fs.inodesPerGroup)*uint64(fs.inodeSize) + uint64(fs.BlockSize) - 1) / uint64(fs.BlockSize)
	off, err := fs.blockOffset(ino, tbl, tblBlocks, doff+0x8, fmt.Sprintf("group %d inode table", g))
	if err != nil {
		return 0, err
	}
	fs.descCache[g] = off
	return off, nil
}

// inode is a decoded on-disk inode.
type inode struct {
	num   uint32
	off   int64 // byte offset in the image
	mode  uint16
	flags uint32
	size  uint64
	block []byte // i_block, 60 bytes
	raw   []byte
	path  string
}

func (fs *FS) readInode(num uint32, p string) (*inode, error) {
	if num == 0 || num > fs.inodesCount {
		return nil, &Error{Inode: num, Path: p, Offset: -1, Msg: fmt.Sprintf("inode number out of range (1..%d)", fs.inodesCount)}
	}
	g := uint64(num-1) / uint64(fs.inodesPerGroup)
	if g >= fs.groups {
		return nil, &Error{Inode: num, Path: p, Offset: -1, Msg: fmt.Sprintf("inode's group %d is past the last group %d", g, fs.groups-1)}
	}
	tbl, err := fs.inodeTable(num, g)
	if err != nil {
		return nil, err
	}
	off := tbl + int64(uint64(num-1)%uint64(fs.inodesPerGroup))*fs.inodeSize
	raw := make([]byte, fs.inodeSize)
	if err := fs.readAt(num, raw, off, "inode"); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	in := &inode{num: num, off: off, raw: raw, path: p,
		mode:  le.Uint16(raw[0x0:]),
		flags: le.Uint32(raw[0x20:]),
		size:  uint64(le.Uint32(raw[0x4:])) | uint64(le.Uint32(raw[0x6C:]))<<32,
		block: raw[0x28 : 0x28+60],
	}
	return in, nil
}

func (in *inode) err(off int64, format string, args ...any) *Error {
	return &Error{Inode: in.num, Path: in.path, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// contentWriter receives a file's bytes in order; holes come as zeros.
type contentWriter struct {
	fs   *FS
	in   *inode
	w    io.Writer
	next uint64 // next logical block to emit
	done uint64 // bytes emitted
	buf  []byte
	// seen holds the mapping blocks (extent tree, indirect) read: one met
	// twice is a loop or a shared subtree, which could otherwise multiply
	// the work beyond the image's size.
	seen map[uint64]bool
}

// mapBlock reads a mapping block once per file.
func (c *contentWriter) mapBlock(blk uint64, at int64, what string) ([]byte, int64, error) {
	if c.seen[blk] {
		return nil, 0, c.in.err(at, "%s %d is referenced twice in the file's block mapping", what, blk)
	}
	if c.seen == nil {
		c.seen = map[uint64]bool{}
	}
	c.seen[blk] = true
	b, off, err := c.fs.readBlock(c.in.num, blk, at, what)
	return b, off, setPath(err, c.in.path)
}

func (c *contentWriter) remaining() uint64 { return c.in.size - c.done }

// zerosTo writes zeros up to byte offset end (at most the size).
func (c *contentWriter) zerosTo(end uint64) error {
	end = min(end, c.in.size)
	for c.done < end {
		n := min(uint64(len(c.fs.zeros)), end-c.done)
		if _, err := c.w.Write(c.fs.zeros[:n]); err != nil {
			return err
		}
		c.done += n
	}
	return nil
}

// run emits count blocks from pblk at logical block lblk (zeros when
// uninit). at is where the mapping was read, for errors.
func (c *contentWriter) run(lblk, pblk, count uint64, uninit bool, at int64) error {
	if lblk < c.next {
		return c.in.err(at, "block mapping for logical block %d overlaps or goes backwards (next is %d)", lblk, c.next)
	}
	if count == 0 {
		return nil
	}
	if lblk >= maxLogicalBlockCount || count > maxLogicalBlockCount-lblk {
		return c.in.err(at, "logical blocks %d+%d exceed the 2^32 limit", lblk, count)
	}
	off, err := c.fs.blockOffset(c.in.num, pblk, count, at, "file data")
	if err != nil {
		return setPath(err, c.in.path)
	}
	bs := uint64(c.fs.BlockSize)
	if err := c.zerosTo(lblk * bs); err != nil {
		return err
	}
	c.next = lblk + count
	if uninit {
		return c.zerosTo((lblk + count) * bs)
	}
	n := min(count*bs, c.remaining())
	if n > 0 && c.buf == nil {
		c.buf = make([]byte, min(readChunk, c.in.size))
	}
	for pos := uint64(0); pos < n; {
		k := min(uint64(len(c.buf)), n-pos)
		if err := c.fs.readAt(c.in.num, c.buf[:k], off+int64(pos), "file data"); err != nil {
			return setPath(err, c.in.path)
		}
		if _, err := c.w.Write(c.buf[:k]); err != nil {
			return err
		}
		pos += k
		c.done += k
	}
	return nil
}

// finish pads the file with zeros up to its size (a hole at the end).
func (c *contentWriter) finish() error {
	for c.remaining() > 0 {
		n := min(uint64(len(c.fs.zeros)), c.remaining())
		if _, err := c.w.Write(c.fs.zeros[:n]); err != nil {
			return err
		}
		c.done += n
	}
	return nil
}

// full reports whether every byte of the file has been emitted.
func (c *contentWriter) full() bool { return c.remaining() == 0 }

// copyContents writes an inode's contents (i_size bytes) to w.
func (fs *FS) copyContents(in *inode, w io.Writer) (int64, error) {
	if in.flags&inodeFlagEncrypt != 0 {
		return 0, unsupportedError{in.err(in.off+0x20, "the file is encrypted (fscrypt); its contents cannot be read")}
	}
	maxSize := uint64(maxLogicalBlockCount) * uint64(fs.BlockSize)
	if in.size > maxSize {
		return 0, in.err(in.off+0x4, "size %d exceeds the largest possible file (%d)", in.size, maxSize)
	}
	c := &contentWriter{fs: fs, in: in, w: w}
	var err error
	switch {
	case in.flags&inodeFlagInlineData != 0:
		err = fs.inlineData(in, w)
		c.done = in.size
	case in.flags&inodeFlagExtents != 0:
		err = fs.walkExtents(c, in.block, in.off+0x28, -1)
	default:
		err = fs.walkBlockMap(c)
	}
	if err == nil {
		err = c.finish()
	}
	return int64(c.done), err
}

// walkExtents walks an extent tree node; wantDepth is -1 for the root.
func (fs *FS) walkExtents(c *contentWriter, node []byte, at int64, wantDepth int) error {
	le := binary.LittleEndian
	in := c.in
	if len(node) < 12 {
		return in.err(at, "extent node of %d bytes is too short", len(node))
	}
	if m := le.Uint16(node[0:]); m != extentMagic {
		return in.err(at, "bad extent header magic 0x%04x, want 0x%04x", m, extentMagic)
	}
	entries, maxEntries, depth := int(le.Uint16(node[2:])), int(le.Uint16(node[4:])), int(le.Uint16(node[6:]))
	if 12+12*maxEntries > len(node) || entries > maxEntries {
		return in.err(at, "extent header: %d entries, %d max, do not fit a %d-byte node", entries, maxEntries, len(node))
	}
	if depth > maxExtentDepth || (wantDepth >= 0 && depth != wantDepth) {
		return in.err(at, "extent tree depth %d is wrong (want %d, at most %d)", depth, wantDepth, maxExtentDepth)
	}
	for d := fs.maxDepthSeen.Load(); int64(depth) > d && !fs.maxDepthSeen.CompareAndSwap(d, int64(depth)); d = fs.maxDepthSeen.Load() {
	}
	for i := 0; i < entries; i++ {
		e := node[12+12*i:]
		eat := at + 12 + 12*int64(i)
		if c.full() {
			return nil
		}
		lblk := uint64(le.Uint32(e[0:]))
		if depth == 0 {
			n := uint64(le.Uint16(e[4:]))
			uninit := false
			if n > 32768 {
				n -= 32768
				uninit = true
			}
			pblk := uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))
			if err := c.run(lblk, pblk, n, uninit, eat); err != nil {
				return err
			}
			continue
		}
		child := uint64(le.Uint32(e[4:])) | uint64(le.Uint16(e[8:]))<<32
		if lblk < c.next {
			return in.err(eat, "extent index for logical block %d overlaps or goes backwards (next is %d)", lblk, c.next)
		}
		b, boff, err := c.mapBlock(child, eat, "extent tree block")
		if err != nil {
			return err
		}
		if err := fs.walkExtents(c, b, boff, depth-1); err != nil {
			return err
		}
	}
	return nil
}

// walkBlockMap reads the ext2/3 direct and (double, triple) indirect blocks.
func (fs *FS) walkBlockMap(c *contentWriter) error {
	le := binary.LittleEndian
	in := c.in
	for i := 0; i < 12; i++ {
		if c.full() {
			return nil
		}
		if p := le.Uint32(in.block[4*i:]); p != 0 {
			if err := c.run(uint64(i), uint64(p), 1, false, in.off+0x28+4*int64(i)); err != nil {
				return err
			}
		}
	}
	per := uint64(fs.BlockSize / 4)
	lblk := uint64(12)
	span := per
	for level := 1; level <= 3; level++ {
		if c.full() {
			return nil
		}
		p := le.Uint32(in.block[4*(11+level):])
		if p != 0 {
			if err := fs.walkIndirect(c, uint64(p), level, lblk, in.off+0x28+4*int64(11+level)); err != nil {
				return err
			}
		}
		lblk += span
		span *= per
	}
	return nil
}

func (fs *FS) walkIndirect(c *contentWriter, blk uint64, level int, lblk uint64, at int64) error {
	b, boff, err := c.mapBlock(blk, at, fmt.Sprintf("level-%d indirect block", level))
	if err != nil {
		return err
	}
	per := uint64(fs.BlockSize / 4)
	span := uint64(1)
	for i := 1; i < level; i++ {
		span *= per
	}
	le := binary.LittleEndian
	for i := uint64(0); i < per; i++ {
		if c.full() || (lblk+i*span)*uint64(fs.BlockSize) >= c.in.size {
			return nil
		}
		p := uint64(le.Uint32(b[4*i:]))
		if p == 0 {
			continue
		}
		eat := boff + 4*int64(i)
		if level == 1 {
			// Coalesce physically contiguous blocks into one run.
			n := uint64(1)
			for i+n < per && uint64(le.Uint32(b[4*(i+n):])) == p+n {
				n++
			}
			if err := c.run(lblk+i, p, n, false, eat); err != nil {
				return err
			}
			i += n - 1
			continue
		}
		if err := fs.walkIndirect(c, p, level-1, lblk+i*span, eat); err != nil {
			return err
		}
	}
	return nil
}

// inlineData writes a file kept in the inode: i_block, then the
// system.data extended attribute.
func (fs *FS) inlineData(in *inode, w io.Writer) error {
	first, rest, err := fs.inlineParts(in)
	if err != nil {
		return err
	}
	if uint64(len(first)+len(rest)) < in.size {
		return in.err(in.off, "inline data holds %d bytes, the size is %d", len(first)+len(rest), in.size)
	}
	data := append(append([]byte{}, first...), rest...)[:in.size]
	_, err = w.Write(data)
	return err
}

// inlineParts returns the inline data in i_block and in system.data.
func (fs *FS) inlineParts(in *inode) ([]byte, []byte, error) {
	le := binary.LittleEndian
	if fs.inodeSize <= 128 {
		return in.block, nil, nil
	}
	extra := int64(le.Uint16(in.raw[0x80:]))
	start := 128 + extra
	if extra%4 != 0 || start+4 > fs.inodeSize {
		return nil, nil, in.err(in.off+0x80, "i_extra_isize %d does not fit the %d-byte inode", extra, fs.inodeSize)
	}
	if le.Uint32(in.raw[start:]) != xattrMagic {
		return in.block, nil, nil
	}
	area := in.raw[start+4:]
	areaOff := in.off + start + 4
	for pos := 0; pos+16 <= len(area); {
		if le.Uint32(area[pos:]) == 0 {
			break
		}
		nameLen, index := int(area[pos]), area[pos+1]
		voff, vinum, vsize := int(le.Uint16(area[pos+2:])), le.Uint32(area[pos+4:]), int(le.Uint32(area[pos+8:]))
		if pos+16+nameLen > len(area) {
			return nil, nil, in.err(areaOff+int64(pos), "extended attribute entry runs past the inode")
		}
		name := string(area[pos+16 : pos+16+nameLen])
		if index == xattrIndexSystem && name == "data" {
			if vinum != 0 {
				return nil, nil, unsupportedError{in.err(areaOff+int64(pos), "inline data kept in an extended attribute inode (ea_inode)")}
			}
			if voff < 0 || vsize < 0 || voff > len(area) || vsize > len(area)-voff {
				return nil, nil, in.err(areaOff+int64(pos), "inline data value (%d bytes at %d) runs past the inode", vsize, voff)
			}
			return in.block, area[voff : voff+vsize], nil
		}
		pos += (16 + nameLen + 3) &^ 3
	}
	return in.block, nil, nil
}

// EntryType is what a directory entry's inode is.
type EntryType int

const (
	Regular EntryType = iota
	Symlink
	Other // devices, FIFOs, sockets
)

// File is a non-directory found by Walk.
type File struct {
	fs   *FS
	in   *inode
	Path string // absolute, from the image's root
	Type EntryType
	Size int64
	Ino  uint32
}

// WriteTo writes a regular file's contents (sparse regions as zeros) to w.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if f.Type != Regular {
		return 0, &Error{Inode: f.Ino, Path: f.Path, Offset: -1, Msg: "not a regular file"}
	}
	return f.fs.copyContents(f.in, w)
}

// Open returns a reader of a regular file's contents, fed by WriteTo on a
// goroutine; Close it to stop that early.
func (f *File) Open() io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		_, err := f.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	return pr
}

// Walk calls fn for every file other than a directory reachable from the
// root directory, in directory order. A directory reached twice (a loop or
// a hard-linked directory) is an error.
func (fs *FS) Walk(fn func(f *File) error) error {
	visited := map[uint32]bool{}
	return fs.walkDir(rootInode, "/", 0, visited, fn)
}

func (fs *FS) walkDir(num uint32, p string, depth int, visited map[uint32]bool, fn func(*File) error) error {
	if visited[num] {
		return &Error{Inode: num, Path: p, Offset: -1, Msg: "directory reached twice: a directory loop or hard-linked directory"}
	}
	if depth > maxDirDepth {
		return &Error{Inode: num, Path: p, Offset: -1, Msg: fmt.Sprintf("directories nested deeper than %d", maxDirDepth)}
	}
	visited[num] = true
	in, err := fs.readInode(num, p)
	if err != nil {
		return err
	}
	if in.mode&modeTypeMask != modeDir {
		return in.err(in.off, "not a directory (mode %#o)", in.mode)
	}
	if in.flags&inodeFlagEncrypt != 0 {
		return unsupportedError{in.err(in.off+0x20, "the directory is encrypted (fscrypt); its names cannot be read")}
	}
	if in.flags&inodeFlagIndex != 0 {
		fs.htreeSeen++
	}
	type chunk struct {
		data []byte
		off  int64 // image offset of data[0], -1 for a copy
	}
	var chunks []chunk
	if in.flags&inodeFlagInlineData != 0 {
		first, rest, err := fs.inlineParts(in)
		if err != nil {
			return err
		}
		// The first 4 bytes are the parent's inode number.
		chunks = append(chunks, chunk{first[4:], in.off + 0x28 + 4})
		if len(rest) > 0 {
			chunks = append(chunks, chunk{rest, -1})
		}
	} else {
		if in.size > uint64(fs.size) {
			return in.err(in.off+0x4, "directory size %d exceeds the %d-byte image", in.size, fs.size)
		}
		if in.size%uint64(fs.BlockSize) != 0 {
			return in.err(in.off+0x4, "directory size %d is not a multiple of the block size %d", in.size, fs.BlockSize)
		}
		var buf sliceWriter
		if _, err := fs.copyContents(in, &buf); err != nil {
			return err
		}
		for i := int64(0); i < int64(len(buf.b)); i += fs.BlockSize {
			chunks = append(chunks, chunk{buf.b[i : i+fs.BlockSize], -1})
		}
	}
	le := binary.LittleEndian
	hasType := fs.incompat&incompatFiletype != 0
	type sub struct {
		ino  uint32
		name string
	}
	var dirs []sub
	for ci, ch := range chunks {
		d := ch.data
		for pos := 0; pos < len(d); {
			at := int64(-1)
			if ch.off >= 0 {
				at = ch.off + int64(pos)
			}
			if pos+8 > len(d) {
				return in.err(at, "directory chunk %d: entry header at %d runs past the chunk", ci, pos)
			}
			ino := le.Uint32(d[pos:])
			recLen := int(le.Uint16(d[pos+4:]))
			if fs.BlockSize == 65536 && (recLen == 65535 || recLen == 0) {
				recLen = 65536
			}
			nameLen := int(d[pos+6])
			if !hasType {
				nameLen = int(le.Uint16(d[pos+6:]))
			}
			if recLen < 8 || recLen%4 != 0 || pos+recLen > len(d) || 8+nameLen > recLen {
				return in.err(at, "directory chunk %d: bad entry at %d (rec_len %d, name_len %d, chunk %d bytes)", ci, pos, recLen, nameLen, len(d))
			}
			name := string(d[pos+8 : pos+8+nameLen])
			pos += recLen
			if ino == 0 || name == "." || name == ".." || nameLen == 0 {
				continue
			}
			if strings.ContainsAny(name, "/\x00") {
				return in.err(at, "directory entry name %q holds a '/' or NUL", name)
			}
			child := path.Join(p, name)
			cin, err := fs.readInode(ino, child)
			if err != nil {
				return err
			}
			switch cin.mode & modeTypeMask {
			case modeDir:
				dirs = append(dirs, sub{ino, child})
				continue
			case modeRegular:
				err = fn(&File{fs: fs, in: cin, Path: child, Type: Regular, Size: int64(cin.size), Ino: ino})
			case modeSymlink:
				err = fn(&File{fs: fs, in: cin, Path: child, Type: Symlink, Size: int64(cin.size), Ino: ino})
			default:
				err = fn(&File{fs: fs, in: cin, Path: child, Type: Other, Ino: ino})
			}
			if err != nil {
				return err
			}
		}
	}
	for _, s := range dirs {
		if err := fs.walkDir(s.ino, s.name, depth+1, visited, fn); err != nil {
			return err
		}
	}
	return nil
}

// sliceWriter collects bytes.
type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}
