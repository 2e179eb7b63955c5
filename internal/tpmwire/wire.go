// Package tpmwire owns the TPM 2.0 wire encoding that every goldenpcr
// parser of TPM structures shares: one big-endian reader that tracks the
// byte offset and names the structure and field in its errors, its
// writer, and the one TPML_PCR_SELECTION parser with the one set of
// limits from the TPM specification and the TSS headers. It sits below
// pcr and knows no hash algorithms: a selection is read as raw
// (TPM_ALG_ID, bitmap) pairs, which pcr and tpmstruct interpret.
package tpmwire

import (
	"encoding/binary"
	"fmt"
)

// Limits from the TPM 2.0 specification and the TSS headers.
const (
	// MaxPCRBanks is TPM2_NUM_PCR_BANKS, the capacity of a TPML_PCR_SELECTION.
	MaxPCRBanks = 16
	// MaxSizeofSelect is TPM2_PCR_SELECT_MAX, the bytes of a pcrSelect bitmap.
	MaxSizeofSelect = 4
	// MaxDigest is sizeof(TPMU_HA), the largest digest.
	MaxDigest = 64
)

// Error reports malformed input: the structure being read, the byte
// offset in the input given to the parser, and what was wrong there.
type Error struct {
	Struct string
	Offset int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s at byte %d: %s", e.Struct, e.Offset, e.Msg)
}

// Reader walks big-endian TPM wire data. It is sticky: after the first
// failure every read returns zero values and Err keeps that failure, so a
// parser reads a whole structure and checks Err where a decision needs
// the values.
type Reader struct {
	data []byte
	off  int
	base int // offset of data[0] in the caller's input
	// Struct names the structure being read, for errors; a parser sets it
	// as it descends into nested structures.
	Struct string
	err    error
}

// NewReader reads data, which starts at offset base of the caller's
// input. Byte fields it returns are slices of data.
func NewReader(data []byte, base int, st string) *Reader {
	return &Reader{data: data, base: base, Struct: st}
}

// Err returns the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Pos returns the offset of the next byte in the caller's input.
func (r *Reader) Pos() int { return r.base + r.off }

// Left returns how many bytes are unread.
func (r *Reader) Left() int { return len(r.data) - r.off }

// Failf records an error at input offset off (the first one wins).
func (r *Reader) Failf(off int, format string, args ...any) {
	if r.err == nil {
		r.err = &Error{Struct: r.Struct, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
}

func (r *Reader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.data)-r.off < n {
		r.Failf(r.Pos(), "%s: need %d bytes, %d left", what, n, len(r.data)-r.off)
		return false
	}
	return true
}

// U8 reads one byte.
func (r *Reader) U8(what string) uint8 {
	if !r.need(1, what) {
		return 0
	}
	v := r.data[r.off]
	r.off++
	return v
}

// U16 reads a big-endian UINT16.
func (r *Reader) U16(what string) uint16 {
	if !r.need(2, what) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.data[r.off:])
	r.off += 2
	return v
}

// U32 reads a big-endian UINT32.
func (r *Reader) U32(what string) uint32 {
	if !r.need(4, what) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.data[r.off:])
	r.off += 4
	return v
}

// U64 reads a big-endian UINT64.
func (r *Reader) U64(what string) uint64 {
	if !r.need(8, what) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.data[r.off:])
	r.off += 8
	return v
}

// Bytes returns the next n bytes, capped so that appending to them
// cannot overwrite what follows.
func (r *Reader) Bytes(n int, what string) []byte {
	if !r.need(n, what) {
		return nil
	}
	v := r.data[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

// TPM2B reads a UINT16 size and that many bytes, failing when the size
// exceeds max (the buffer size the TPM specification gives the type).
func (r *Reader) TPM2B(max int, what string) []byte {
	at := r.Pos()
	if r.err != nil || len(r.data)-r.off < 2 {
		r.U16(what + " size") // fails, naming the size field
		return nil
	}
	n := int(binary.BigEndian.Uint16(r.data[r.off:]))
	r.off += 2
	if n > max {
		r.Failf(at, "%s: size %d exceeds the maximum %d", what, n, max)
		return nil
	}
	return r.Bytes(n, what)
}

// End fails unless every byte was consumed.
func (r *Reader) End() {
	if r.err == nil && r.off != len(r.data) {
		r.Failf(r.Pos(), "%d trailing bytes after the structure", len(r.data)-r.off)
	}
}

// Writer builds big-endian TPM wire data.
type Writer struct{ B []byte }

func (w *Writer) U8(v uint8)   { w.B = append(w.B, v) }
func (w *Writer) U16(v uint16) { w.B = binary.BigEndian.AppendUint16(w.B, v) }
func (w *Writer) U32(v uint32) { w.B = binary.BigEndian.AppendUint32(w.B, v) }
func (w *Writer) U64(v uint64) { w.B = binary.BigEndian.AppendUint64(w.B, v) }
func (w *Writer) Raw(p []byte) { w.B = append(w.B, p...) }

// TPM2B writes a UINT16 size and p.
func (w *Writer) TPM2B(p []byte) {
	w.U16(uint16(len(p)))
	w.Raw(p)
}
