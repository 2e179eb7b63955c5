package authenticode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// buildPE writes a minimal PE32+ image: headers of 0x200 bytes, one
// section per body at 0x200-aligned offsets, trailing data, and a
// certificate table (if cert is non-empty) at the end.
func buildPE(bodies [][]byte, trailing, cert []byte) []byte {
	const peOff, optSize, hdrSize = 0x40, 240, 0x200
	b := make([]byte, hdrSize)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], peOff)
	copy(b[peOff:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[peOff+4:], 0x8664)
	binary.LittleEndian.PutUint16(b[peOff+6:], uint16(len(bodies)))
	binary.LittleEndian.PutUint16(b[peOff+20:], optSize)
	opt := b[peOff+24:]
	binary.LittleEndian.PutUint16(opt, 0x20b)
	binary.LittleEndian.PutUint32(opt[60:], hdrSize)
	binary.LittleEndian.PutUint32(opt[64:], 0xdeadbeef) // CheckSum: never hashed
	binary.LittleEndian.PutUint32(opt[108:], 16)
	sec := b[peOff+24+optSize:]
	for i, body := range bodies {
		h := sec[i*40:]
		copy(h, ".s"+string(rune('a'+i)))
		binary.LittleEndian.PutUint32(h[16:], uint32(len(body)))
		binary.LittleEndian.PutUint32(h[20:], uint32(len(b)))
		b = append(b, body...)
	}
	b = append(b, trailing...)
	if len(cert) > 0 {
		dir := b[peOff+24+112+4*8:] // b has grown: index it afresh
		binary.LittleEndian.PutUint32(dir, uint32(len(b)))
		binary.LittleEndian.PutUint32(dir[4:], uint32(len(cert)))
		b = append(b, cert...)
	}
	return b
}

// The digest is the hash of the image less CheckSum, the Certificate Table
// entry and the table itself: a hand-built image checks every range.
func TestHashedRangesByHand(t *testing.T) {
	img := buildPE([][]byte{bytes.Repeat([]byte{1}, 0x200), bytes.Repeat([]byte{2}, 0x100)}, []byte("trail"), bytes.Repeat([]byte{9}, 16))
	parsed, err := Parse(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = append(want, img[:0x40+24+64]...)               // up to CheckSum
	want = append(want, img[0x40+24+68:0x40+24+112+32]...) // to the Certificate Table entry
	want = append(want, img[0x40+24+112+40:0x200]...)      // rest of the headers
	want = append(want, img[0x200:0x200+0x300+5]...)       // sections and trailing data
	got, err := parsed.Digest(bytes.NewReader(img), pcr.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pcr.SHA256.Sum(want)) {
		t.Errorf("digest %x, want %x", got, pcr.SHA256.Sum(want))
	}
	// The same image unsigned, with another CheckSum, digests the same.
	unsigned := buildPE([][]byte{bytes.Repeat([]byte{1}, 0x200), bytes.Repeat([]byte{2}, 0x100)}, []byte("trail"), nil)
	binary.LittleEndian.PutUint32(unsigned[0x40+24+64:], 1)
	p2, _ := Parse(bytes.NewReader(unsigned), int64(len(unsigned)))
	if d, _ := p2.Digest(bytes.NewReader(unsigned), pcr.SHA256); !bytes.Equal(d, got) {
		t.Errorf("unsigned digest %x differs from signed %x", d, got)
	}
}

// longNamePE is buildPE's image with a section named "/4": the name is
// at offset 4 of the COFF string table, which follows the (empty) symbol
// table in the trailing data.
func longNamePE() []byte {
	strtab := append(binary.LittleEndian.AppendUint32(nil, 4+13), ".vendor_cert\x00"...)
	b := buildPE([][]byte{[]byte("cert")}, strtab, nil)
	binary.LittleEndian.PutUint32(b[0x40+12:], uint32(len(b)-len(strtab))) // PointerToSymbolTable
	copy(b[0x40+24+240:], "/4\x00")
	return b
}

// FuzzParsePE: parsing, hashing and reading signatures of any bytes must
// not panic; failures are FormatErrors; the hashed ranges lie in the file
// and add up to no more than one pass over it per section and one for the
// rest; and wherever Go's debug/pe reads the headers too, it reads what
// Parse reads (long section names aside, see hasLongNames).
func FuzzParsePE(f *testing.F) {
	f.Add(buildPE([][]byte{[]byte("code")}, nil, nil))
	f.Add(buildPE([][]byte{[]byte("code"), []byte("data")}, []byte("x"), []byte{16, 0, 0, 0, 0, 2, 2, 0, 0x30, 0x03, 1, 2, 3, 0, 0, 0}))
	f.Add(longNamePE())
	f.Fuzz(func(t *testing.T, data []byte) {
		size := int64(len(data))
		img, err := Parse(bytes.NewReader(data), size)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FormatError", err)
			}
			return
		}
		if rs, err := img.HashedRanges(); err == nil {
			var total int64
			for _, r := range rs {
				if r.Offset < 0 || r.Size < 0 || r.Offset+r.Size > size {
					t.Fatalf("hashed range [%d, +%d) outside the file of %d bytes", r.Offset, r.Size, size)
				}
				total += r.Size
			}
			if total > int64(len(img.Sections)+1)*size {
				t.Fatalf("%d bytes hashed from a file of %d with %d sections", total, size, len(img.Sections))
			}
		}
		if _, err := img.Digest(bytes.NewReader(data), pcr.SHA256); err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("digest error %v is not a FormatError", err)
			}
		}
		sigs, _ := img.Signatures(bytes.NewReader(data))
		for i := range sigs {
			sigs[i].Signer()
		}
		if peer, err := imageFromDebugPE(bytes.NewReader(data), size); err == nil && !hasLongNames(data) && !reflect.DeepEqual(img, peer) {
			t.Fatalf("Parse\n%+v\ndebug/pe\n%+v", img, peer)
		}
	})
}

// hasLongNames reports whether a section of the image in data, which
// Parse accepted, has its name in the COFF string table ("/4"). Parse and
// debug/pe may resolve such a name differently without either being
// wrong: Parse reads up to maxLongName bytes and stops at a NUL, debug/pe stops at
// the table's end too, and computes the table's place in 32 bits.
func hasLongNames(data []byte) bool {
	var dos dosHeader
	var nt ntHeaders
	binary.Decode(data, binary.LittleEndian, &dos)
	binary.Decode(data[dos.Lfanew:], binary.LittleEndian, &nt)
	table := int(dos.Lfanew) + binary.Size(nt) + int(nt.File.SizeOfOptionalHeader)
	for i := range int(nt.File.NumberOfSections) {
		if data[table+i*binary.Size(sectionHeader{})] == '/' {
			return true
		}
	}
	return false
}
