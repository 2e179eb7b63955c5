package authenticode

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"unsafe"
)

// imageFromDebugPE is the other way to get an Image: Go's debug/pe reads
// the headers. It gives no file offsets, so the place of e_lfanew and the
// layout of debug/pe's own header types stand in for them. Tests check it
// agrees with Parse; benchmarks weigh it against Parse (docs/pe.md).
func imageFromDebugPE(r io.ReaderAt, size int64) (*Image, error) {
	f, err := pe.NewFile(r)
	if err != nil {
		return nil, err
	}
	var lfanew [4]byte
	if _, err := r.ReadAt(lfanew[:], int64(unsafe.Offsetof(dosHeader{}.Lfanew))); err != nil {
		return nil, err
	}
	optOff := int64(binary.LittleEndian.Uint32(lfanew[:])) + int64(len(peSignature)+binary.Size(f.FileHeader))
	img := &Image{Size: size, Machine: f.Machine, CertDirOffset: -1}
	var dirs []pe.DataDirectory
	var dirsOff int64
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		img.CheckSumOffset = optOff + int64(unsafe.Offsetof(oh.CheckSum))
		img.SizeOfHeaders = int64(oh.SizeOfHeaders)
		dirs = oh.DataDirectory[:min(oh.NumberOfRvaAndSizes, uint32(len(oh.DataDirectory)))]
		dirsOff = optOff + int64(unsafe.Offsetof(oh.DataDirectory))
	case *pe.OptionalHeader64:
		img.PE32Plus = true
		img.CheckSumOffset = optOff + int64(unsafe.Offsetof(oh.CheckSum))
		img.SizeOfHeaders = int64(oh.SizeOfHeaders)
		dirs = oh.DataDirectory[:min(oh.NumberOfRvaAndSizes, uint32(len(oh.DataDirectory)))]
		dirsOff = optOff + int64(unsafe.Offsetof(oh.DataDirectory))
	default:
		return nil, errors.New("no optional header")
	}
	if len(dirs) > certificateTable {
		img.CertDirOffset = dirsOff + certificateTable*int64(binary.Size(dirs[0]))
		img.CertTable = Range{Offset: int64(dirs[certificateTable].VirtualAddress), Size: int64(dirs[certificateTable].Size)}
	}
	for _, s := range f.Sections {
		if s.Size > 0 {
			img.Sections = append(img.Sections, Section{Name: s.Name, Range: Range{Offset: int64(s.Offset), Size: int64(s.Size)}, VirtualSize: int64(s.VirtualSize)})
		}
	}
	sort.SliceStable(img.Sections, func(a, b int) bool { return img.Sections[a].Offset < img.Sections[b].Offset })
	return img, nil
}

// digestSectionReaders hashes the ranges the way debug/pe hands out
// section data, an io.SectionReader each, copied into h by io.Copy.
func digestSectionReaders(r io.ReaderAt, img *Image, h hash.Hash) ([]byte, error) {
	rs, err := img.HashedRanges()
	if err != nil {
		return nil, err
	}
	for _, rg := range rs {
		if _, err := io.Copy(h, io.NewSectionReader(r, rg.Offset, rg.Size)); err != nil {
			return nil, err
		}
	}
	return h.Sum(nil), nil
}

// Go's debug/pe reads every Debian binary's headers as Parse does: the
// same machine, SizeOfHeaders, CheckSum and Certificate Table places,
// certificate table, and sections.
func TestParsePEAgreesWithDebugPE(t *testing.T) {
	paths := append([]string(nil), debianUnsigned...)
	for p := range debianSigned {
		paths = append(paths, p)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run make deps)", err)
			}
			got, err := Parse(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			want, err := imageFromDebugPE(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatalf("debug/pe: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse\n%+v\ndebug/pe\n%+v", got, want)
			}
		})
	}
}
