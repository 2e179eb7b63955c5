package refvals

import (
	"encoding/binary"
	"fmt"
	"os"
)

// An x86 bzImage is the real-mode setup (its boot sector and setup_sects
// sectors) followed by the protected-mode kernel a boot loader loads at
// code32_start. Linux Secure Launch's measured launch environment (MLE) is
// that protected-mode image: GRUB's Secure Launch loader (grub-sl, Linux
// boot protocol) gives the ACM the whole of it as the MLE (its mle_size is
// the protected-mode size; only non-Linux kernels are cut to their MLE
// header's end), and TrenchBoot's SKL measures the same range as the DLME.

// BzImage is what a dynamic launch needs of a bzImage.
type BzImage struct {
	// Protocol is the boot protocol version (0x020f is 2.15).
	Protocol uint16
	// SetupSize is the size of the real-mode part: (setup_sects+1)·512.
	SetupSize int
	// CmdlineSize is the largest command line the kernel takes (the
	// setup header's cmdline_size; 255 before protocol 2.06).
	CmdlineSize uint32
	// ProtectedMode is the protected-mode kernel: the file after the
	// real-mode part.
	ProtectedMode []byte
	// MLE is the kernel's Secure Launch MLE header, nil when the kernel
	// has none (not built with CONFIG_SECURE_LAUNCH).
	MLE *MLEHeader
}

// MLEHeader is the Intel TXT MLE header a Secure Launch kernel carries,
// which its kernel_info points at.
type MLEHeader struct {
	Offset uint32 // of the header in the protected-mode image
	// Entry is the offset of the Secure Launch entry point in the
	// protected-mode image: the "DLME entry offset" SKL measures.
	Entry uint32
	// Start and End bound the MLE in the protected-mode image.
	Start, End uint32
}

// mleUUID starts a TXT MLE header: 9082ac5a-74a7476f-a2555c0f-42b651cb,
// four little-endian words.
var mleUUID = [4]uint32{0x9082ac5a, 0x74a7476f, 0xa2555c0f, 0x42b651cb}

// LaunchImageError is a malformed bzImage or SLB, with the byte offset
// concerned.
type LaunchImageError struct {
	Kind   string // "bzImage", "SLB"
	Offset int64
	Msg    string
}

func (e *LaunchImageError) Error() string {
	return fmt.Sprintf("%s: byte offset %d: %s", e.Kind, e.Offset, e.Msg)
}

// ReadBzImage reads a bzImage file.
func ReadBzImage(path string) (*BzImage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseBzImage(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseBzImage reads the setup header (Linux boot protocol, x86) and,
// when kernel_info names one, the Secure Launch MLE header.
func ParseBzImage(data []byte) (*BzImage, error) {
	const hdrS = 0x202 // "HdrS", the setup header's magic
	if len(data) < 0x250 {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: int64(len(data)), Msg: "file ends before the setup header"}
	}
	if string(data[hdrS:hdrS+4]) != "HdrS" {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: hdrS, Msg: "no \"HdrS\" setup header: not a bzImage"}
	}
	if data[0x1fe] != 0x55 || data[0x1ff] != 0xaa {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: 0x1fe, Msg: "no 0xAA55 boot sector signature"}
	}
	k := &BzImage{Protocol: binary.LittleEndian.Uint16(data[0x206:])}
	if k.Protocol < 0x0200 {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: 0x206, Msg: fmt.Sprintf("boot protocol %#04x: a bzImage has 2.00 or later", k.Protocol)}
	}
	if data[0x211]&1 == 0 {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: 0x211, Msg: "loadflags: LOADED_HIGH is not set: a zImage, not a bzImage"}
	}
	sects := int(data[0x1f1])
	if sects == 0 {
		sects = 4 // the boot protocol's rule for a zero setup_sects
	}
	k.SetupSize = (sects + 1) * 512
	if k.SetupSize >= len(data) {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: 0x1f1, Msg: fmt.Sprintf("setup_sects %d puts the protected-mode kernel at byte %d, past the file's %d bytes", sects, k.SetupSize, len(data))}
	}
	k.ProtectedMode = data[k.SetupSize:]
	k.CmdlineSize = 255
	if k.Protocol >= 0x0206 {
		k.CmdlineSize = binary.LittleEndian.Uint32(data[0x238:])
	}
	if k.Protocol < 0x020f {
		return k, nil // kernel_info came with 2.15
	}
	mle, err := k.readMLEHeader(int64(binary.LittleEndian.Uint32(data[0x268:])))
	if err != nil {
		return nil, err
	}
	k.MLE = mle
	return k, nil
}

// readMLEHeader follows kernel_info (at ki in the protected-mode image:
// "LToP", size, size_total, setup_type_max, then mle_header_offset when
// size covers it) to the MLE header.
func (k *BzImage) readMLEHeader(ki int64) (*MLEHeader, error) {
	pm := k.ProtectedMode
	at := func(off int64) int64 { return int64(k.SetupSize) + off } // file offset, for errors
	if ki > int64(len(pm))-8 {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: 0x268, Msg: fmt.Sprintf("kernel_info_offset %d lies past the protected-mode kernel's %d bytes", ki, len(pm))}
	}
	if string(pm[ki:ki+4]) != "LToP" {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: at(ki), Msg: "kernel_info does not start with \"LToP\""}
	}
	size := int64(binary.LittleEndian.Uint32(pm[ki+4:]))
	if size < 16 || size > int64(len(pm))-ki {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: at(ki + 4), Msg: fmt.Sprintf("kernel_info size %d does not fit the protected-mode kernel", size)}
	}
	if size < 20 {
		return nil, nil // no mle_header_offset: not a Secure Launch kernel
	}
	off := binary.LittleEndian.Uint32(pm[ki+16:])
	if off == 0 {
		return nil, nil
	}
	const hdrLen = 0x34
	if int64(off) > int64(len(pm))-hdrLen {
		return nil, &LaunchImageError{Kind: "bzImage", Offset: at(ki + 16), Msg: fmt.Sprintf("mle_header_offset %d lies past the protected-mode kernel's %d bytes", off, len(pm))}
	}
	h := pm[off : off+hdrLen]
	for i, w := range mleUUID {
		if binary.LittleEndian.Uint32(h[4*i:]) != w {
			return nil, &LaunchImageError{Kind: "bzImage", Offset: at(int64(off)), Msg: "the MLE header kernel_info points at lacks the TXT MLE UUID"}
		}
	}
	m := &MLEHeader{Offset: off, Entry: binary.LittleEndian.Uint32(h[24:]), Start: binary.LittleEndian.Uint32(h[32:]), End: binary.LittleEndian.Uint32(h[36:])}
	switch {
	case m.Start > m.End || m.End > uint32(len(pm)):
		return nil, &LaunchImageError{Kind: "bzImage", Offset: at(int64(off) + 32), Msg: fmt.Sprintf("MLE [%d, %d) does not lie within the protected-mode kernel's %d bytes", m.Start, m.End, len(pm))}
	case m.Entry >= uint32(len(pm)):
		return nil, &LaunchImageError{Kind: "bzImage", Offset: at(int64(off) + 24), Msg: fmt.Sprintf("MLE entry point %d lies past the protected-mode kernel's %d bytes", m.Entry, len(pm))}
	}
	return m, nil
}

// SLB is the secure loader block AMD's SKINIT measures: the CPU hashes
// its first Length bytes (the u16 at offset 2) into PCR 17.
type SLB struct {
	Entry  uint16 // offset of the entry point
	Length uint16
	// Measured is the part SKINIT hashes, Data[:Length].
	Measured []byte
}

// ParseSLB reads an SLB (TrenchBoot's SKL binary, skl.bin).
func ParseSLB(data []byte) (*SLB, error) {
	if len(data) < 4 {
		return nil, &LaunchImageError{Kind: "SLB", Offset: int64(len(data)), Msg: "file ends before its 4-byte header"}
	}
	s := &SLB{Entry: binary.LittleEndian.Uint16(data), Length: binary.LittleEndian.Uint16(data[2:])}
	switch {
	case s.Length < 4 || int(s.Length) > len(data):
		return nil, &LaunchImageError{Kind: "SLB", Offset: 2, Msg: fmt.Sprintf("length %d is not within the file's %d bytes", s.Length, len(data))}
	case s.Entry >= s.Length:
		return nil, &LaunchImageError{Kind: "SLB", Offset: 0, Msg: fmt.Sprintf("entry point %d lies past its measured length %d", s.Entry, s.Length)}
	}
	s.Measured = data[:s.Length]
	return s, nil
}
