package quote

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A minimal protocol-buffers wire reader: just what decoding go-tpm-tools'
// attest.Attestation against its .proto needs. goldenpcr does not link
// the generated go-tpm-tools packages (they pull in the SEV-SNP, TDX and
// GPU attestation protos and cost every goldenpcr invocation their
// descriptor initialisation), and the wire format is small enough to read
// directly. Field semantics follow proto3: a scalar field seen twice keeps
// the last value, a message field seen twice is merged, repeated fields
// and map entries accumulate, unknown fields are skipped.

// Wire types.
const (
	pbVarint     = 0
	pbFixed64    = 1
	pbBytes      = 2
	pbStartGroup = 3
	pbEndGroup   = 4
	pbFixed32    = 5
)

// maxGroupDepth bounds the nesting of (deprecated) groups skipped as
// unknown fields, as protobuf-go bounds recursion.
const maxGroupDepth = 100

// pbReader walks one message's bytes.
type pbReader struct {
	data []byte
	off  int
	base int    // offset of data[0] in the whole input, for errors
	msg  string // message name for errors
}

func (r *pbReader) fail(at int, format string, args ...any) error {
	return &ParseError{Struct: r.msg, Offset: r.base + at, Msg: fmt.Sprintf(format, args...)}
}

func (r *pbReader) done() bool { return r.off >= len(r.data) }

// varint reads a base-128 varint of at most 10 bytes.
func (r *pbReader) varint(what string) (uint64, error) {
	start := r.off
	var v uint64
	for i := 0; i < 10; i++ {
		if r.off >= len(r.data) {
			return 0, r.fail(start, "%s: truncated varint", what)
		}
		b := r.data[r.off]
		r.off++
		if i == 9 && b > 1 {
			return 0, r.fail(start, "%s: varint overflows 64 bits", what)
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, r.fail(start, "%s: varint longer than 10 bytes", what)
}

// tag reads a field key: field number and wire type.
func (r *pbReader) tag() (num int, wt int, at int, err error) {
	at = r.off
	k, err := r.varint("field key")
	if err != nil {
		return 0, 0, at, err
	}
	n := k >> 3
	if n == 0 || n > math.MaxInt32>>2 { // field numbers are 1 … 2^29-1
		return 0, 0, at, r.fail(at, "field number %d is out of range", n)
	}
	return int(n), int(k & 7), at, nil
}

// bytesField reads a length-delimited field's payload (not copied).
func (r *pbReader) bytesField(what string) ([]byte, int, error) {
	at := r.off
	n, err := r.varint(what + " length")
	if err != nil {
		return nil, 0, err
	}
	if n > uint64(len(r.data)-r.off) {
		return nil, 0, r.fail(at, "%s: length %d, but %d bytes left", what, n, len(r.data)-r.off)
	}
	start := r.off
	r.off += int(n)
	return r.data[start:r.off], start, nil
}

// skip skips a field of wire type wt whose key was read at keyAt.
func (r *pbReader) skip(num, wt, keyAt, depth int) error {
	switch wt {
	case pbVarint:
		_, err := r.varint(fmt.Sprintf("field %d", num))
		return err
	case pbFixed64, pbFixed32:
		n := 8
		if wt == pbFixed32 {
			n = 4
		}
		if len(r.data)-r.off < n {
			return r.fail(r.off, "field %d: truncated fixed%d", num, n*8)
		}
		r.off += n
		return nil
	case pbBytes:
		_, _, err := r.bytesField(fmt.Sprintf("field %d", num))
		return err
	case pbStartGroup:
		if depth >= maxGroupDepth {
			return r.fail(keyAt, "groups nested deeper than %d", maxGroupDepth)
		}
		for {
			if r.done() {
				return r.fail(keyAt, "group %d is not closed", num)
			}
			n, w, at, err := r.tag()
			if err != nil {
				return err
			}
			if w == pbEndGroup {
				if n != num {
					return r.fail(at, "group %d closed by end-group %d", num, n)
				}
				return nil
			}
			if err := r.skip(n, w, at, depth+1); err != nil {
				return err
			}
		}
	case pbEndGroup:
		return r.fail(keyAt, "end-group %d without a start-group", num)
	}
	return r.fail(keyAt, "field %d: wire type %d does not exist", num, wt)
}

// expect fails unless a known field has the wire type its .proto type
// gives it.
func (r *pbReader) expect(name string, num, wt, want, at int) error {
	if wt != want {
		return r.fail(at, "field %d (%s) has wire type %d, want %d", num, name, wt, want)
	}
	return nil
}

// pbAppendVarint and the helpers below build wire data: tests use them to
// write inputs, and they document the encoding the reader expects.
func pbAppendVarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func pbAppendTag(b []byte, num, wt int) []byte { return pbAppendVarint(b, uint64(num)<<3|uint64(wt)) }

func pbAppendBytes(b []byte, num int, v []byte) []byte {
	b = pbAppendTag(b, num, pbBytes)
	b = pbAppendVarint(b, uint64(len(v)))
	return append(b, v...)
}
