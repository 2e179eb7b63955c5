package authenticode

import (
	"fmt"
	"io"
	"sort"
	"strconv"
)

// Image is the part of a PE/COFF file the Authenticode digest depends on.
type Image struct {
	// Size is the file size in bytes.
	Size int64
	// PE32Plus is true for 64-bit images (optional header magic 0x20b).
	PE32Plus bool
	Machine  uint16
	// CheckSumOffset is the file offset of the optional header's CheckSum.
	CheckSumOffset int64
	// CertDirOffset is the file offset of the Certificate Table data
	// directory entry, or -1 if the image has fewer than five directories.
	CertDirOffset int64
	// CertTable is the attribute certificate table's file range; Size 0
	// means the image is not signed.
	CertTable Range
	// SizeOfHeaders is the optional header's SizeOfHeaders.
	SizeOfHeaders int64
	// Sections are the section bodies in file order (PointerToRawData
	// ascending), empty ones left out.
	Sections []Section
}

// Range is a span of the file.
type Range struct {
	Offset int64
	Size   int64
}

// Section is one section body.
type Section struct {
	Name string
	Range
	// VirtualSize is the section's size in memory: loaders zero-fill past
	// the raw data, and systemd-stub measures this many bytes.
	VirtualSize int64
}

// FormatError reports a malformed image with the offset of the problem.
type FormatError struct {
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("PE image: byte offset %d (0x%x): %s", e.Offset, e.Offset, e.Msg)
}

func errAt(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// maxSections bounds the section table (the PE specification's limit).
const maxSections = 96

// maxLongName bounds how much of the string table a long section name
// may take.
const maxLongName = 64

// Section returns the first section called name.
func (img *Image) Section(name string) (Section, bool) {
	for _, s := range img.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// Parse reads the headers of the image in r, whose size is size: the DOS
// header, the PE signature and COFF file header, the optional header up to
// the Certificate Table directory entry, and the section table, each as
// the typed structure of headers.go, read in file order by a reader that
// knows where it is.
func Parse(r io.ReaderAt, size int64) (*Image, error) {
	rd := &reader{r: r, size: size}
	var dos dosHeader
	if err := rd.read(&dos, "DOS header"); err != nil {
		return nil, err
	}
	if dos.Magic != dosMagic {
		return nil, errAt(0, "no MZ signature: not a PE image")
	}
	peOff := int64(dos.Lfanew)
	rd.off = peOff
	var nt ntHeaders
	if err := rd.read(&nt, "PE signature and COFF header"); err != nil {
		return nil, err
	}
	if nt.Signature != peSignature {
		return nil, errAt(peOff, "no PE signature")
	}
	fh := &nt.File
	if fh.NumberOfSections > maxSections {
		return nil, errAt(peOff+offNumberOfSections, "%d sections, more than the %d a PE image may have", fh.NumberOfSections, maxSections)
	}
	img := &Image{Size: size, Machine: fh.Machine, CertDirOffset: -1}
	optOff, optSize := rd.off, int64(fh.SizeOfOptionalHeader)
	if optSize < sizeOptionalHeaderStart {
		return nil, errAt(peOff+offSizeOfOptionalHeader, "optional header of %d bytes is too small for a CheckSum", optSize)
	}
	if err := rd.need(optSize, "optional header"); err != nil {
		return nil, err
	}
	if err := img.readOptionalHeader(rd, optSize); err != nil {
		return nil, err
	}
	rd.off = optOff + optSize
	secOff := rd.off
	table := make([]sectionHeader, fh.NumberOfSections)
	if err := rd.read(table, "section table"); err != nil {
		return nil, err
	}
	for i, h := range table {
		s := Section{
			Name:        sectionName(r, size, fh, h.Name),
			Range:       Range{Offset: int64(h.PointerToRawData), Size: int64(h.SizeOfRawData)},
			VirtualSize: int64(h.VirtualSize),
		}
		if s.Size == 0 {
			continue
		}
		if s.Offset+s.Size > size {
			return nil, errAt(secOff+int64(i)*sizeSectionHeader, "section %q body [%d, +%d) runs past the end of the file (size %d)", s.Name, s.Offset, s.Size, size)
		}
		img.Sections = append(img.Sections, s)
	}
	sort.SliceStable(img.Sections, func(a, b int) bool { return img.Sections[a].Offset < img.Sections[b].Offset })
	return img, nil
}

// readOptionalHeader reads the optional header of optSize bytes at rd's
// offset (the file holds them all): the part PE32 and PE32+ share, then,
// where the header is long enough, the rest of its fixed part and the data
// directories up to the Certificate Table entry.
func (img *Image) readOptionalHeader(rd *reader, optSize int64) error {
	optOff := rd.off
	var start optionalHeaderStart
	if err := rd.read(&start, "optional header"); err != nil {
		return err
	}
	var rest interface{ directories() uint32 }
	switch start.Magic {
	case pe32Magic:
		rest = new(optionalHeaderRest32)
	case pe32PlusMagic:
		img.PE32Plus = true
		rest = new(optionalHeaderRest64)
	default:
		return errAt(optOff, "optional header magic 0x%x is neither PE32 nor PE32+", start.Magic)
	}
	img.CheckSumOffset = optOff + offCheckSum
	img.SizeOfHeaders = int64(start.SizeOfHeaders)
	if img.SizeOfHeaders > rd.size {
		return errAt(optOff+offSizeOfHeaders, "SizeOfHeaders %d exceeds the file size %d", img.SizeOfHeaders, rd.size)
	}
	end := optOff + optSize
	if !rd.fits(rest, end) {
		return nil
	}
	if err := rd.read(rest, "optional header"); err != nil {
		return err
	}
	// Step over the directories before the Certificate Table's (export,
	// import, resource, exception): nothing here needs them.
	rd.off += certificateTable * sizeDataDirectory
	var cert dataDirectory
	if rest.directories() <= certificateTable || !rd.fits(&cert, end) {
		return nil
	}
	img.CertDirOffset = rd.off
	if err := rd.read(&cert, "Certificate Table directory entry"); err != nil {
		return err
	}
	// The Certificate Table's "virtual address" is a file offset.
	img.CertTable = Range{Offset: int64(cert.VirtualAddress), Size: int64(cert.Size)}
	if img.CertTable.Size > 0 && (img.CertTable.Offset < img.SizeOfHeaders || img.CertTable.Offset+img.CertTable.Size > rd.size) {
		return errAt(img.CertDirOffset, "certificate table [%d, +%d) lies outside the file body (size %d)", img.CertTable.Offset, img.CertTable.Size, rd.size)
	}
	return nil
}

// sectionName resolves long names ("/4" points into the COFF string
// table), which GNU ld writes for sections like shim's .vendor_cert.
func sectionName(r io.ReaderAt, size int64, fh *fileHeader, field [8]byte) string {
	name := trimName(field[:])
	if len(name) < 2 || name[0] != '/' {
		return name
	}
	off, err := strconv.Atoi(name[1:])
	if err != nil || fh.PointerToSymbolTable == 0 {
		return name
	}
	// The string table follows the symbol table.
	at := int64(fh.PointerToSymbolTable) + int64(fh.NumberOfSymbols)*sizeCOFFSymbol + int64(off)
	if at < 0 || at >= size {
		return name
	}
	buf := make([]byte, min(maxLongName, size-at))
	n, _ := r.ReadAt(buf, at)
	return trimName(buf[:n])
}

func trimName(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
