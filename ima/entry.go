package ima

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Entry is one measurement of an IMA list. Readers reuse an Entry's memory
// on the next call to Next; use Clone to keep one.
type Entry struct {
	// Index is the entry's position in the list, from 0.
	Index int
	// Offset is the byte offset of the entry in a binary list (0 for ASCII).
	Offset int64
	// Line is the 1-based line of an ASCII list (0 for binary).
	Line int
	PCR  uint32
	// TemplateDigest is the digest the list states: SHA-1 in the classic
	// files, the bank's own algorithm in per-bank files. All zeros marks a
	// violation.
	TemplateDigest []byte
	TemplateName   string
	// Template describes the fields; nil for a template goldenpcr does not
	// know (its data is kept as opaque fields).
	Template *Template
	// Data is the template data the template digest covers: as the binary
	// list holds it, rebuilt from the text for ASCII lists, and for the
	// "ima" template the digest followed by the name zero-padded to 256
	// bytes, as the kernel hashes it.
	Data []byte
	// DataOffset is the byte offset of Data's first byte in a binary list.
	DataOffset int64

	order   binary.ByteOrder
	spans   [maxFields][2]uint32
	nfields int
}

// Violation reports whether the entry records a measurement violation
// (open-writers or ToMToU): its template digest is all zeros, and the
// kernel extended all ones instead.
func (e *Entry) Violation() bool { return allZero(e.TemplateDigest) }

// Fields returns the template fields, aliasing Data.
func (e *Entry) Fields() []Field {
	out := make([]Field, e.nfields)
	for i := range out {
		out[i].Data = e.Data[e.spans[i][0]:e.spans[i][1]]
		if e.Template != nil {
			out[i].ID = e.Template.Fields[i]
		}
	}
	return out
}

// Decode returns the entry's fields decoded. Its slices alias Data.
func (e *Entry) Decode() (*Event, error) {
	ev, err := decodeEvent(e.Template, e.Data, e.byteOrder(), &e.spans, e.nfields)
	if err != nil {
		return nil, e.fieldErr(err)
	}
	return ev, nil
}

// Path returns the n or n-ng field without decoding the others, "" if the
// template has none.
func (e *Entry) Path() string {
	if e.Template == nil {
		return ""
	}
	for i, id := range e.Template.Fields {
		if i >= e.nfields {
			break
		}
		f := e.Data[e.spans[i][0]:e.spans[i][1]]
		switch id {
		case FieldN:
			return string(f)
		case FieldNNG:
			return string(bytes.TrimSuffix(f, []byte{0}))
		}
	}
	return ""
}

func (e *Entry) byteOrder() binary.ByteOrder {
	if e.order == nil {
		return binary.LittleEndian
	}
	return e.order
}

// Clone returns a deep copy that stays valid after the reader moves on.
func (e *Entry) Clone() *Entry {
	c := *e
	c.TemplateDigest = bytes.Clone(e.TemplateDigest)
	c.Data = bytes.Clone(e.Data)
	return &c
}

// split finds the template's fields in the entry's data and checks them.
func (e *Entry) split(order binary.ByteOrder) error {
	n, err := splitFields(e.Template, e.Data, order, &e.spans)
	if err == nil {
		e.nfields = n
		err = checkFields(e.Template, e.Data, &e.spans, n)
	}
	if err != nil {
		return e.fieldErr(err)
	}
	return nil
}

func (e *Entry) fieldErr(err error) error {
	fe, ok := err.(*fieldError)
	if !ok {
		return e.errorf(e.DataOffset, "%v", err)
	}
	pe := e.errorf(e.DataOffset+int64(fe.off), "template %s: %s", e.TemplateName, fe.Error())
	pe.Err = fe.err
	return pe
}

func (e *Entry) errorf(off int64, format string, args ...any) *ParseError {
	pe := &ParseError{Index: e.Index, Line: e.Line, Offset: off, Msg: fmt.Sprintf(format, args...)}
	if e.Line > 0 {
		pe.Offset = -1
	}
	return pe
}

// ParseError reports malformed input with the entry and the byte offset
// (binary lists) or line (ASCII lists) it concerns.
type ParseError struct {
	Index  int   // entry index, from 0
	Offset int64 // byte offset of the problem in a binary list; -1 for ASCII
	Line   int   // 1-based line in an ASCII list; 0 for binary
	Msg    string
	Err    error // underlying error, if any
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d (entry %d): %s", e.Line, e.Index, e.Msg)
	}
	return fmt.Sprintf("entry %d at byte offset %d (0x%x): %s", e.Index, e.Offset, e.Offset, e.Msg)
}

func (e *ParseError) Unwrap() error { return e.Err }
