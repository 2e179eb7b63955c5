package attestation

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// The protocol-buffers wire format is read with protobuf-go's protowire,
// against go-tpm-tools' attest.proto and tpm.proto: goldenpcr does not
// link the generated go-tpm-tools packages, which pull in the SEV-SNP,
// TDX and GPU attestation protos and cost every goldenpcr invocation
// their descriptor initialisation; protowire itself costs about 0.1 ms
// at start-up. Field semantics follow proto3: a scalar field seen twice
// keeps the last value, a message field seen twice is merged, repeated
// fields and map entries accumulate, unknown fields are skipped. What
// pbReader adds is errors that name the message, the field and the byte
// offset in the whole input.

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
	return &tpmstruct.ParseError{Struct: r.msg, Offset: r.base + at, Msg: fmt.Sprintf(format, args...)}
}

func (r *pbReader) done() bool { return r.off >= len(r.data) }

// varint reads a base-128 varint of at most 10 bytes.
func (r *pbReader) varint(what string) (uint64, error) { return r.varintOf(what, "") }

// varintOf is varint for the field what+suffix, a name joined only for
// an error: every length prefix of a message is read this way.
func (r *pbReader) varintOf(what, suffix string) (uint64, error) {
	v, n := protowire.ConsumeVarint(r.data[r.off:])
	if n < 0 {
		if errors.Is(protowire.ParseError(n), io.ErrUnexpectedEOF) {
			return 0, r.fail(r.off, "%s%s: truncated varint", what, suffix)
		}
		return 0, r.fail(r.off, "%s%s: varint overflows 64 bits", what, suffix)
	}
	r.off += n
	return v, nil
}

// tag reads a field key: field number and wire type.
func (r *pbReader) tag() (num protowire.Number, wt protowire.Type, at int, err error) {
	at = r.off
	k, err := r.varint("field key")
	if err != nil {
		return 0, 0, at, err
	}
	// DecodeTag truncates the number to 32 bits: check the whole key.
	if n := k >> 3; n < uint64(protowire.MinValidNumber) || n > uint64(protowire.MaxValidNumber) {
		return 0, 0, at, r.fail(at, "field number %d is out of range", n)
	}
	num, wt = protowire.DecodeTag(k)
	return num, wt, at, nil
}

// bytesField reads a length-delimited field's payload (not copied) and
// where it starts in r's data.
func (r *pbReader) bytesField(what string) ([]byte, int, error) {
	at := r.off
	n, err := r.varintOf(what, " length")
	if err != nil {
		return nil, 0, err
	}
	if n > uint64(len(r.data)-r.off) {
		return nil, 0, r.fail(at, "%s: length %d, but %d bytes left", what, n, len(r.data)-r.off)
	}
	b, m := protowire.ConsumeBytes(r.data[at:])
	if m < 0 { // cannot happen: the length was checked above
		return nil, 0, r.fail(at, "%s: %v", what, protowire.ParseError(m))
	}
	start := r.off
	r.off = at + m
	return b, start, nil
}

// skip skips a field of wire type wt whose key was read at keyAt.
func (r *pbReader) skip(num protowire.Number, wt protowire.Type, keyAt, depth int) error {
	switch wt {
	case protowire.VarintType:
		_, err := r.varint(fmt.Sprintf("field %d", num))
		return err
	case protowire.Fixed64Type, protowire.Fixed32Type:
		n := protowire.ConsumeFieldValue(num, wt, r.data[r.off:])
		if n < 0 {
			bits := 64
			if wt == protowire.Fixed32Type {
				bits = 32
			}
			return r.fail(r.off, "field %d: truncated fixed%d", num, bits)
		}
		r.off += n
		return nil
	case protowire.BytesType:
		_, _, err := r.bytesField(fmt.Sprintf("field %d", num))
		return err
	case protowire.StartGroupType:
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
			if w == protowire.EndGroupType {
				if n != num {
					return r.fail(at, "group %d closed by end-group %d", num, n)
				}
				return nil
			}
			if err := r.skip(n, w, at, depth+1); err != nil {
				return err
			}
		}
	case protowire.EndGroupType:
		return r.fail(keyAt, "end-group %d without a start-group", num)
	}
	return r.fail(keyAt, "field %d: wire type %d does not exist", num, wt)
}

// expect fails unless a known field has the wire type its .proto type
// gives it.
func (r *pbReader) expect(name string, num protowire.Number, wt, want protowire.Type, at int) error {
	if wt != want {
		return r.fail(at, "field %d (%s) has wire type %d, want %d", num, name, wt, want)
	}
	return nil
}
