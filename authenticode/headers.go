package authenticode

import (
	"encoding/binary"
	"io"
	"unsafe"
)

// The PE/COFF headers Parse reads, as the PE Format specification lays
// them out ("MS-DOS Stub", "COFF File Header", "Optional Header", "Section
// Table"): little-endian, fields in file order. A field's place in the file
// is its place in its structure; where an error or a hashed range needs it,
// unsafe.Offsetof says so, which is exact because these structures have no
// padding (TestPEHeaderLayout checks that each one's Go size is its size on
// disk).

// dosHeader is the MS-DOS header at the start of the file. Of its fields
// only e_magic and e_lfanew matter to a PE reader.
type dosHeader struct {
	Magic [2]byte // e_magic, "MZ"
	// e_cblp through e_res2: the DOS program's relocation and memory
	// layout, and reserved words.
	_      [29]uint16
	Lfanew uint32 // e_lfanew: file offset of the PE signature
}

// ntHeaders is the PE signature and the COFF file header after it.
type ntHeaders struct {
	Signature [4]byte // "PE\0\0"
	File      fileHeader
}

// fileHeader is the COFF file header.
type fileHeader struct {
	Machine              uint16
	NumberOfSections     uint16
	TimeDateStamp        uint32
	PointerToSymbolTable uint32 // 0: no COFF symbol (and string) table
	NumberOfSymbols      uint32
	SizeOfOptionalHeader uint16
	Characteristics      uint16
}

// optionalHeaderStart is the optional header as far as PE32 and PE32+
// lay it out alike: from Magic through CheckSum.
type optionalHeaderStart struct {
	Magic                   uint16
	MajorLinkerVersion      uint8
	MinorLinkerVersion      uint8
	SizeOfCode              uint32
	SizeOfInitializedData   uint32
	SizeOfUninitializedData uint32
	AddressOfEntryPoint     uint32
	BaseOfCode              uint32
	// PE32 has BaseOfData and a 32-bit ImageBase here, PE32+ a 64-bit
	// ImageBase: the same eight bytes.
	ImageBase                   [8]byte
	SectionAlignment            uint32
	FileAlignment               uint32
	MajorOperatingSystemVersion uint16
	MinorOperatingSystemVersion uint16
	MajorImageVersion           uint16
	MinorImageVersion           uint16
	MajorSubsystemVersion       uint16
	MinorSubsystemVersion       uint16
	Win32VersionValue           uint32
	SizeOfImage                 uint32
	SizeOfHeaders               uint32
	CheckSum                    uint32
}

// optionalHeaderRest32 follows optionalHeaderStart in a PE32 image; the
// data directories follow it.
type optionalHeaderRest32 struct {
	Subsystem           uint16
	DllCharacteristics  uint16
	SizeOfStackReserve  uint32
	SizeOfStackCommit   uint32
	SizeOfHeapReserve   uint32
	SizeOfHeapCommit    uint32
	LoaderFlags         uint32
	NumberOfRvaAndSizes uint32
}

// optionalHeaderRest64 is optionalHeaderRest32 for PE32+: the stack and
// heap sizes are 64-bit. (Alone, Go pads it after DllCharacteristics;
// nothing takes an offset in it, and encoding/binary reads it packed.)
type optionalHeaderRest64 struct {
	Subsystem           uint16
	DllCharacteristics  uint16
	SizeOfStackReserve  uint64
	SizeOfStackCommit   uint64
	SizeOfHeapReserve   uint64
	SizeOfHeapCommit    uint64
	LoaderFlags         uint32
	NumberOfRvaAndSizes uint32
}

func (h *optionalHeaderRest32) directories() uint32 { return h.NumberOfRvaAndSizes }
func (h *optionalHeaderRest64) directories() uint32 { return h.NumberOfRvaAndSizes }

// dataDirectory is one entry of the optional header's data directories.
type dataDirectory struct {
	VirtualAddress uint32
	Size           uint32
}

// sectionHeader is one entry of the section table.
type sectionHeader struct {
	Name                 [8]byte // NUL-padded, or "/n": offset n in the string table
	VirtualSize          uint32
	VirtualAddress       uint32
	SizeOfRawData        uint32
	PointerToRawData     uint32
	PointerToRelocations uint32
	PointerToLinenumbers uint32
	NumberOfRelocations  uint16
	NumberOfLinenumbers  uint16
	Characteristics      uint32
}

var (
	dosMagic    = [2]byte{'M', 'Z'}
	peSignature = [4]byte{'P', 'E', 0, 0}
)

const (
	pe32Magic     = 0x10b
	pe32PlusMagic = 0x20b
	// certificateTable is the Certificate Table's index among the data
	// directories (after export, import, resource and exception).
	certificateTable = 4
	// sizeCOFFSymbol is the size of a COFF symbol table record; the
	// string table follows the last one.
	sizeCOFFSymbol = 18
)

// Where fields lie in their structures, and how big those are on disk.
const (
	offNumberOfSections     = int64(unsafe.Sizeof(ntHeaders{}.Signature) + unsafe.Offsetof(fileHeader{}.NumberOfSections))
	offSizeOfOptionalHeader = int64(unsafe.Sizeof(ntHeaders{}.Signature) + unsafe.Offsetof(fileHeader{}.SizeOfOptionalHeader))
	offSizeOfHeaders        = int64(unsafe.Offsetof(optionalHeaderStart{}.SizeOfHeaders))
	offCheckSum             = int64(unsafe.Offsetof(optionalHeaderStart{}.CheckSum))
	sizeCheckSum            = int64(unsafe.Sizeof(optionalHeaderStart{}.CheckSum))
	sizeOptionalHeaderStart = int64(unsafe.Sizeof(optionalHeaderStart{}))
	sizeDataDirectory       = int64(unsafe.Sizeof(dataDirectory{}))
	sizeSectionHeader       = int64(unsafe.Sizeof(sectionHeader{}))
)

// reader reads little-endian structures from an image at a file offset it
// keeps, so that every error names the offset it happened at (in the way
// of debug/pe's reads through encoding/binary, with the offset kept).
type reader struct {
	r    io.ReaderAt
	size int64 // the file's size: nothing past it is read
	off  int64 // where the next read starts; reads move it on
}

// need checks that the file holds n bytes at the offset; what names them.
func (rd *reader) need(n int64, what string) error {
	if rd.off < 0 || n > rd.size-rd.off {
		return errAt(rd.off, "%s needs %d bytes, file has %d", what, n, rd.size)
	}
	return nil
}

// fits reports whether v, read at the offset, ends by end.
func (rd *reader) fits(v any, end int64) bool {
	return int64(binary.Size(v)) <= end-rd.off
}

// read decodes v, a pointer to one of the structures above or a slice of
// them, from the bytes at the offset and moves the offset past them.
func (rd *reader) read(v any, what string) error {
	n := int64(binary.Size(v))
	if err := rd.need(n, what); err != nil {
		return err
	}
	buf := make([]byte, n)
	if _, err := rd.r.ReadAt(buf, rd.off); err != nil {
		return errAt(rd.off, "reading %s: %v", what, err)
	}
	if _, err := binary.Decode(buf, binary.LittleEndian, v); err != nil {
		return errAt(rd.off, "decoding %s: %v", what, err) // buf has v's size: cannot happen
	}
	rd.off += n
	return nil
}
