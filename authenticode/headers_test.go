package authenticode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// The header structures whose field offsets Parse takes from Go have no
// padding, so Go's layout is the file's.
func TestPEHeaderLayout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		goSize uintptr
		disk   int
		spec   int // the PE Format specification's size
	}{
		{"dosHeader", unsafe.Sizeof(dosHeader{}), binary.Size(dosHeader{}), 64},
		{"ntHeaders", unsafe.Sizeof(ntHeaders{}), binary.Size(ntHeaders{}), 24},
		{"optionalHeaderStart", unsafe.Sizeof(optionalHeaderStart{}), binary.Size(optionalHeaderStart{}), 68},
		{"dataDirectory", unsafe.Sizeof(dataDirectory{}), binary.Size(dataDirectory{}), 8},
		{"sectionHeader", unsafe.Sizeof(sectionHeader{}), binary.Size(sectionHeader{}), 40},
		{"winCertificate", unsafe.Sizeof(winCertificate{}), binary.Size(winCertificate{}), 8},
	} {
		if int(tc.goSize) != tc.disk || tc.disk != tc.spec {
			t.Errorf("%s: Go size %d, on disk %d, specification %d", tc.name, tc.goSize, tc.disk, tc.spec)
		}
	}
	// PE32 and PE32+ optional headers end their fixed part where the
	// specification says (96 and 112 bytes), CheckSum at 64 in both.
	if n := binary.Size(optionalHeaderStart{}) + binary.Size(optionalHeaderRest32{}); n != 96 {
		t.Errorf("PE32 optional header %d bytes before the directories, want 96", n)
	}
	if n := binary.Size(optionalHeaderStart{}) + binary.Size(optionalHeaderRest64{}); n != 112 {
		t.Errorf("PE32+ optional header %d bytes before the directories, want 112", n)
	}
	if offCheckSum != 64 || offSizeOfHeaders != 60 || offNumberOfSections != 6 || offSizeOfOptionalHeader != 20 {
		t.Errorf("offsets CheckSum %d, SizeOfHeaders %d, NumberOfSections %d, SizeOfOptionalHeader %d", offCheckSum, offSizeOfHeaders, offNumberOfSections, offSizeOfOptionalHeader)
	}
}

// More malformed images, built by hand: each error is a FormatError at
// the offset of the field or structure at fault.
func TestMalformedPEOffsets(t *testing.T) {
	const peOff, optOff = 0x40, 0x40 + 24 // buildPE's layout
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
		offset int64
		want   string
	}{
		{"PE header past the end", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[0x3c:], 1<<20); return b }, 1 << 20, "PE signature and COFF header needs 24 bytes"},
		{"optional header too small", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[peOff+20:], 67); return b }, peOff + 20, "optional header of 67 bytes"},
		{"optional header past the end", func(b []byte) []byte { return b[:optOff+100] }, optOff, "optional header needs 240 bytes"},
		{"section table past the end", func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[peOff+6:], 96)
			return b[:0x200]
		}, optOff + 240, "section table needs 3840 bytes"},
		{"certificate table before the sections end", func(b []byte) []byte {
			dir := optOff + 112 + 4*8
			binary.LittleEndian.PutUint32(b[dir:], 0x200)
			binary.LittleEndian.PutUint32(b[dir+4:], uint32(len(b)-0x200))
			return b
		}, 0x200, "overlaps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(buildPE([][]byte{[]byte("code")}, []byte("trail"), nil))
			img, err := Parse(bytes.NewReader(b), int64(len(b)))
			if err == nil {
				_, err = img.HashedRanges()
			}
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want FormatError with %q", err, tc.want)
			}
			if fe.Offset != tc.offset {
				t.Errorf("offset %d, want %d", fe.Offset, tc.offset)
			}
		})
	}
}

// A PE32 image (the optional header of 32-bit firmware drivers) has its
// data directories 16 bytes earlier than PE32+.
func TestParsePE32(t *testing.T) {
	b := buildPE([][]byte{[]byte("code")}, nil, nil)
	opt := b[0x40+24:]
	binary.LittleEndian.PutUint16(opt, pe32Magic)
	binary.LittleEndian.PutUint32(opt[108:], 0) // where PE32+ keeps NumberOfRvaAndSizes
	binary.LittleEndian.PutUint32(opt[92:], 16)
	img, err := Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if img.PE32Plus || img.CheckSumOffset != 0x40+24+64 || img.CertDirOffset != 0x40+24+96+32 {
		t.Errorf("PE32Plus %v, CheckSum at %d, Certificate Table entry at %d", img.PE32Plus, img.CheckSumOffset, img.CertDirOffset)
	}
	// Four directories: no Certificate Table entry.
	binary.LittleEndian.PutUint32(opt[92:], 4)
	if img, err = Parse(bytes.NewReader(b), int64(len(b))); err != nil || img.CertDirOffset != -1 {
		t.Errorf("four directories: Certificate Table entry at %d, %v", img.CertDirOffset, err)
	}
}

// A long section name is read from the COFF string table.
func TestParsePELongSectionName(t *testing.T) {
	b := longNamePE()
	img, err := Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.Section(".vendor_cert"); !ok {
		t.Errorf("sections %+v, want .vendor_cert", img.Sections)
	}
	peer, err := imageFromDebugPE(bytes.NewReader(b), int64(len(b)))
	if err != nil || peer.Sections[0].Name != ".vendor_cert" {
		t.Errorf("debug/pe: %+v, %v", peer, err)
	}
}
