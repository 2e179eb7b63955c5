package authenticode

import (
	"encoding/binary"
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

// Section returns the first section called name.
func (img *Image) Section(name string) (Section, bool) {
	for _, s := range img.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return Section{}, false
}

// Parse reads the headers of the image in r, whose size is size.
func Parse(r io.ReaderAt, size int64) (*Image, error) {
	read := func(off int64, n int, what string) ([]byte, error) {
		if off < 0 || off+int64(n) > size {
			return nil, errAt(off, "%s needs %d bytes, file has %d", what, n, size)
		}
		b := make([]byte, n)
		if _, err := r.ReadAt(b, off); err != nil {
			return nil, errAt(off, "reading %s: %v", what, err)
		}
		return b, nil
	}
	dos, err := read(0, 64, "DOS header")
	if err != nil {
		return nil, err
	}
	if dos[0] != 'M' || dos[1] != 'Z' {
		return nil, errAt(0, "no MZ signature: not a PE image")
	}
	peOff := int64(binary.LittleEndian.Uint32(dos[0x3c:]))
	coff, err := read(peOff, 24, "PE signature and COFF header")
	if err != nil {
		return nil, err
	}
	if string(coff[:4]) != "PE\x00\x00" {
		return nil, errAt(peOff, "no PE signature")
	}
	img := &Image{Size: size, Machine: binary.LittleEndian.Uint16(coff[4:]), CertDirOffset: -1}
	nsec := int(binary.LittleEndian.Uint16(coff[6:]))
	optSize := int(binary.LittleEndian.Uint16(coff[20:]))
	optOff := peOff + 24
	if nsec > maxSections {
		return nil, errAt(peOff+6, "%d sections, more than the %d a PE image may have", nsec, maxSections)
	}
	if optSize < 68 {
		return nil, errAt(peOff+20, "optional header of %d bytes is too small for a CheckSum", optSize)
	}
	opt, err := read(optOff, optSize, "optional header")
	if err != nil {
		return nil, err
	}
	var ndirOff, dirOff int
	switch magic := binary.LittleEndian.Uint16(opt); magic {
	case 0x10b:
		ndirOff, dirOff = 92, 96
	case 0x20b:
		img.PE32Plus = true
		ndirOff, dirOff = 108, 112
	default:
		return nil, errAt(optOff, "optional header magic 0x%x is neither PE32 nor PE32+", magic)
	}
	img.CheckSumOffset = optOff + 64
	img.SizeOfHeaders = int64(binary.LittleEndian.Uint32(opt[60:]))
	if img.SizeOfHeaders > size {
		return nil, errAt(optOff+60, "SizeOfHeaders %d exceeds the file size %d", img.SizeOfHeaders, size)
	}
	if ndirOff+4 <= optSize {
		ndirs := int(binary.LittleEndian.Uint32(opt[ndirOff:]))
		const certDir = 4
		if ndirs > certDir && dirOff+(certDir+1)*8 <= optSize {
			e := opt[dirOff+certDir*8:]
			img.CertDirOffset = optOff + int64(dirOff+certDir*8)
			img.CertTable = Range{Offset: int64(binary.LittleEndian.Uint32(e)), Size: int64(binary.LittleEndian.Uint32(e[4:]))}
			if img.CertTable.Size > 0 && (img.CertTable.Offset < img.SizeOfHeaders || img.CertTable.Offset+img.CertTable.Size > size) {
				return nil, errAt(img.CertDirOffset, "certificate table [%d, +%d) lies outside the file body (size %d)", img.CertTable.Offset, img.CertTable.Size, size)
			}
		}
	}
	secOff := optOff + int64(optSize)
	table, err := read(secOff, nsec*40, "section table")
	if err != nil {
		return nil, err
	}
	for i := 0; i < nsec; i++ {
		h := table[i*40:]
		s := Section{
			Name:        sectionName(r, size, coff, h[:8]),
			Range:       Range{Offset: int64(binary.LittleEndian.Uint32(h[20:])), Size: int64(binary.LittleEndian.Uint32(h[16:]))},
			VirtualSize: int64(binary.LittleEndian.Uint32(h[8:])),
		}
		if s.Size == 0 {
			continue
		}
		if s.Offset+s.Size > size {
			return nil, errAt(secOff+int64(i*40), "section %q body [%d, +%d) runs past the end of the file (size %d)", s.Name, s.Offset, s.Size, size)
		}
		img.Sections = append(img.Sections, s)
	}
	sort.SliceStable(img.Sections, func(a, b int) bool { return img.Sections[a].Offset < img.Sections[b].Offset })
	return img, nil
}

// sectionName resolves long names ("/4" points into the COFF string
// table), which GNU ld writes for sections like shim's .vendor_cert.
func sectionName(r io.ReaderAt, size int64, coff, field []byte) string {
	name := trimName(field)
	if len(name) < 2 || name[0] != '/' {
		return name
	}
	off, err := strconv.Atoi(name[1:])
	symtab := int64(binary.LittleEndian.Uint32(coff[12:]))
	nsyms := int64(binary.LittleEndian.Uint32(coff[16:]))
	if err != nil || symtab == 0 {
		return name
	}
	at := symtab + nsyms*18 + int64(off)
	if at < 0 || at >= size {
		return name
	}
	buf := make([]byte, min(64, size-at))
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
