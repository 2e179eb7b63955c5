package quote

import (
	"encoding/binary"
	"fmt"
)

// ParseError reports malformed input: the structure being read, the byte
// offset in the input given to the parser, and what was wrong there.
type ParseError struct {
	Struct string
	Offset int
	Msg    string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s at byte %d: %s", e.Struct, e.Offset, e.Msg)
}

// reader walks big-endian TPM wire data. It is sticky: after the first
// failure every read returns zero values and err keeps that failure, so a
// parser reads a whole structure and checks err where a decision needs
// the values.
type reader struct {
	data   []byte
	off    int
	base   int    // offset of data[0] in the caller's input
	st     string // structure name for errors
	err    error
	errOff int
}

// newReader reads a private copy of data: the byte fields it returns are
// slices of that one copy, so a parse allocates once for all of them and
// nothing aliases the caller's buffer.
func newReader(data []byte, base int, st string) *reader {
	return &reader{data: append([]byte(nil), data...), base: base, st: st}
}

// pos returns the offset of the next byte in the caller's input.
func (r *reader) pos() int { return r.base + r.off }

// failAt records an error at input offset off (the first one wins).
func (r *reader) failAt(off int, format string, args ...any) {
	if r.err == nil {
		r.err = &ParseError{Struct: r.st, Offset: off, Msg: fmt.Sprintf(format, args...)}
		r.errOff = off
	}
}

func (r *reader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.data)-r.off < n {
		r.failAt(r.pos(), "%s: need %d bytes, %d left", what, n, len(r.data)-r.off)
		return false
	}
	return true
}

func (r *reader) u8(what string) uint8 {
	if !r.need(1, what) {
		return 0
	}
	v := r.data[r.off]
	r.off++
	return v
}

func (r *reader) u16(what string) uint16 {
	if !r.need(2, what) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.data[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32(what string) uint32 {
	if !r.need(4, what) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.data[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64(what string) uint64 {
	if !r.need(8, what) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.data[r.off:])
	r.off += 8
	return v
}

// bytes returns the next n bytes, capped so that appending to them
// cannot overwrite what follows.
func (r *reader) bytes(n int, what string) []byte {
	if !r.need(n, what) {
		return nil
	}
	v := r.data[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

// tpm2b reads a UINT16 size and that many bytes, failing when the size
// exceeds max (the buffer size the TPM specification gives the type).
func (r *reader) tpm2b(max int, what string) []byte {
	at := r.pos()
	n := int(r.u16(what + " size"))
	if r.err != nil {
		return nil
	}
	if n > max {
		r.failAt(at, "%s: size %d exceeds the maximum %d", what, n, max)
		return nil
	}
	return r.bytes(n, what)
}

// end fails unless every byte was consumed.
func (r *reader) end() {
	if r.err == nil && r.off != len(r.data) {
		r.failAt(r.pos(), "%d trailing bytes after the structure", len(r.data)-r.off)
	}
}

// writer builds big-endian TPM wire data for Marshal methods.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) raw(p []byte) { w.b = append(w.b, p...) }
func (w *writer) tpm2b(p []byte) {
	w.u16(uint16(len(p)))
	w.raw(p)
}
