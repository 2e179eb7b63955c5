package charra

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// DecodeError is malformed CBOR: what was being read, at which byte of the
// message, and what was wrong.
type DecodeError struct {
	Msg    string // "request", "response"
	Field  string
	Offset int
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s: %s at byte %d: %s", e.Msg, e.Field, e.Offset, e.Reason)
}

// CBOR major types.
const (
	majorUint  = 0
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorOther = 7
)

var majorNames = [8]string{"uint", "negative int", "bstr", "tstr", "array", "map", "tag", "simple/float"}

// decMode refuses what CHARRA's C decoder (QCBOR with definite lengths)
// never sees: indefinite lengths, and caps sizes a hostile peer could
// inflate.
var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		IndefLength:      cbor.IndefLengthForbidden,
		MaxArrayElements: 1 << 16,
		MaxNestedLevels:  8,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// encMode writes shortest-form definite lengths, as CHARRA's encoder does.
var encMode = func() cbor.EncMode {
	em, err := cbor.EncOptions{IndefLength: cbor.IndefLengthForbidden, NilContainers: cbor.NilContainerAsEmpty}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// item is one CBOR data item of a message and where it starts.
type item struct {
	raw []byte
	off int
}

// dec reads items of one message, keeping offsets for errors.
type dec struct{ msg string }

func (d dec) errf(field string, off int, format string, args ...any) *DecodeError {
	return &DecodeError{Msg: d.msg, Field: field, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

func major(it item) int { return int(it.raw[0] >> 5) }

// want checks the item's major type.
func (d dec) want(it item, field string, m int) error {
	if len(it.raw) == 0 {
		return d.errf(field, it.off, "missing")
	}
	if got := major(it); got != m {
		return d.errf(field, it.off, "a %s, want a %s", majorNames[got], majorNames[m])
	}
	return nil
}

// array splits an array item into its elements; n >= 0 requires exactly n.
// Element offsets follow from the definite-length header: the elements
// are the item's bytes after it, back to back.
func (d dec) array(it item, field string, n int) ([]item, error) {
	if err := d.want(it, field, majorArray); err != nil {
		return nil, err
	}
	var elems []cbor.RawMessage
	if err := decMode.Unmarshal(it.raw, &elems); err != nil {
		return nil, d.errf(field, it.off, "%v", err)
	}
	if n >= 0 && len(elems) != n {
		return nil, d.errf(field, it.off, "an array of %d items, want %d", len(elems), n)
	}
	total := 0
	for _, e := range elems {
		total += len(e)
	}
	off := it.off + len(it.raw) - total
	out := make([]item, len(elems))
	for i, e := range elems {
		out[i] = item{raw: e, off: off}
		off += len(e)
	}
	return out, nil
}

func (d dec) uint(it item, field string) (uint64, error) {
	if err := d.want(it, field, majorUint); err != nil {
		return 0, err
	}
	var v uint64
	if err := decMode.Unmarshal(it.raw, &v); err != nil {
		return 0, d.errf(field, it.off, "%v", err)
	}
	return v, nil
}

func (d dec) bytes(it item, field string, max int) ([]byte, error) {
	if err := d.want(it, field, majorBytes); err != nil {
		return nil, err
	}
	var v []byte
	if err := decMode.Unmarshal(it.raw, &v); err != nil {
		return nil, d.errf(field, it.off, "%v", err)
	}
	if len(v) > max {
		return nil, d.errf(field, it.off, "%d bytes, at most %d allowed", len(v), max)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (d dec) text(it item, field string, max int) (string, error) {
	if err := d.want(it, field, majorText); err != nil {
		return "", err
	}
	var v string
	if err := decMode.Unmarshal(it.raw, &v); err != nil {
		return "", d.errf(field, it.off, "%v", err)
	}
	if len(v) > max {
		return "", d.errf(field, it.off, "%d bytes, at most %d allowed", len(v), max)
	}
	return v, nil
}

func (d dec) bool(it item, field string) (bool, error) {
	if len(it.raw) == 1 && (it.raw[0] == 0xf4 || it.raw[0] == 0xf5) {
		return it.raw[0] == 0xf5, nil
	}
	if len(it.raw) == 0 {
		return false, d.errf(field, it.off, "missing")
	}
	return false, d.errf(field, it.off, "a %s, want a bool", majorNames[major(it)])
}

// top reads a whole message as one item; trailing bytes are refused.
func (d dec) top(data []byte) (item, error) {
	if len(data) == 0 {
		return item{}, d.errf("message", 0, "empty")
	}
	var raw cbor.RawMessage
	rest, err := decMode.UnmarshalFirst(data, &raw)
	if err != nil {
		return item{}, d.errf("message", 0, "%v", err)
	}
	if len(rest) > 0 {
		return item{}, d.errf("message", len(data)-len(rest), "%d bytes after the CBOR item", len(rest))
	}
	return item{raw: data, off: 0}, nil
}
