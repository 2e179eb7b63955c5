package ima

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Format is the layout of a measurement list.
type Format string

// List formats.
const (
	FormatBinary Format = "binary"
	FormatASCII  Format = "ascii"
)

// Reader reads a measurement list of either format.
type Reader interface {
	// Next returns the next entry, or io.EOF after the last one. The entry
	// is valid until the next call.
	Next() (*Entry, error)
	// TemplateHash is the algorithm of the entries' template digests.
	TemplateHash() pcr.Alg
	// ByteOrder is the order of the list's integers (binary lists) or the
	// one template data is rebuilt in (ASCII lists).
	ByteOrder() binary.ByteOrder
}

// NewReader detects whether r holds a binary or an ASCII list and returns
// a reader for it. An ASCII list starts with a PCR number in decimal; a
// binary one with a 32-bit PCR index, whose bytes are not all digits and
// spaces.
func NewReader(r io.Reader, opts *ReadOptions) (Reader, Format, error) {
	var o ReadOptions
	if opts != nil {
		o = *opts
	}
	if o.Size == 0 {
		o.Size = inputSize(r)
	}
	br := bufio.NewReaderSize(r, bufSize)
	head, _ := br.Peek(8)
	if isASCIIStart(head) {
		rd, err := NewASCIIReader(br, &o)
		return rd, FormatASCII, err
	}
	rd, err := NewBinaryReader(br, &o)
	if err != nil {
		return nil, FormatBinary, err
	}
	return rd, FormatBinary, nil
}

// isASCIIStart reports whether b starts like an ASCII line: an optional
// space, a PCR number, a space and hex. A binary list's first bytes are a
// 32-bit PCR index below 24, which always holds NUL bytes.
func isASCIIStart(b []byte) bool {
	b = bytes.TrimLeft(b, " ")
	digits := 0
	for digits < len(b) && '0' <= b[digits] && b[digits] <= '9' {
		digits++
	}
	if digits == 0 || digits == len(b) {
		return digits > 0 // a short input of digits: let the ASCII reader explain
	}
	if b[digits] != ' ' {
		return false
	}
	return digits+1 == len(b) || isHex(b[digits+1])
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// TemplateHashFromName returns the template digest algorithm a list's file
// name implies: the per-bank files of newer kernels end in the bank's name
// (binary_runtime_measurements_sha256, ascii_runtime_measurements_sm3).
func TemplateHashFromName(path string) (pcr.Alg, bool) {
	base := filepath.Base(path)
	i := strings.LastIndex(base, "_measurements_")
	if i < 0 {
		return 0, false
	}
	suffix := base[i+len("_measurements_"):]
	if algo, ok := LookupHashAlgo(suffix); ok {
		return algo.Bank()
	}
	return 0, false
}

// OpenFile opens a list for reading; the caller closes the file.
func OpenFile(path string, opts *ReadOptions) (Reader, Format, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, err
	}
	var o ReadOptions
	if opts != nil {
		o = *opts
	}
	if o.TemplateHash == 0 {
		o.TemplateHash, _ = TemplateHashFromName(path)
	}
	rd, format, err := NewReader(f, &o)
	if err != nil {
		f.Close()
		return nil, format, nil, err
	}
	return rd, format, f, nil
}
