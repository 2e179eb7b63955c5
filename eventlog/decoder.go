package eventlog

import (
	"encoding/binary"
	"fmt"
)

// decoder is a little-endian cursor over an event payload. The first short
// read sets err (with the payload offset) and every later read returns zero
// values, so decoding code reads straight through and checks err once.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.err = fmt.Errorf("payload truncated at byte %d: %s needs %d bytes, %d left", d.off, what, n, len(d.buf)-d.off)
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

func (d *decoder) bytes(n int) []byte { return d.take(n, "field") }

// guid reads an EFI_GUID; a short read leaves the zero GUID and sets err.
func (d *decoder) guid() GUID {
	var g GUID
	copy(g[:], d.take(16, "GUID"))
	return g
}

func (d *decoder) u8() uint8 {
	if b := d.take(1, "u8"); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2, "u16"); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4, "u32"); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8, "u64"); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// length reads a u64 length and checks it fits in what is left, so hostile
// lengths fail before anything is allocated for them.
func (d *decoder) length(what string) int {
	n := d.u64()
	if d.err == nil && n > uint64(len(d.buf)-d.off) {
		d.err = fmt.Errorf("payload byte %d: %s %d exceeds the %d bytes left", d.off-8, what, n, len(d.buf)-d.off)
		return 0
	}
	return int(n)
}

func (d *decoder) rest() []byte { return d.take(len(d.buf)-d.off, "rest") }

func (d *decoder) remaining() int { return len(d.buf) - d.off }
