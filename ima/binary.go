package ima

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Limits that keep hostile input from causing large allocations.
const (
	// MaxTemplateDataSize bounds one entry's template data. Real entries
	// are small: file digests and paths, kexec command lines, keys and
	// module signatures of a few KiB.
	MaxTemplateDataSize = 16 << 20
	// maxNameLen is evmctl's and the kernel's TCG_EVENT_NAME_LEN_MAX.
	maxNameLen = 255
	// bufSize is the read buffer; entries that fit are parsed in place.
	bufSize = 256 << 10
)

// ReadOptions tell a reader what the list itself may not say.
type ReadOptions struct {
	// ByteOrder of a binary list's integers: the kernel writes host order,
	// or little-endian when booted with ima_canonical_fmt. nil detects it
	// from the first entry.
	ByteOrder binary.ByteOrder
	// TemplateHash is the algorithm of the template digests: SHA-1 in
	// binary_runtime_measurements and ascii_runtime_measurements, the
	// bank's own in the per-bank files newer kernels add
	// (binary_runtime_measurements_sha256, …). 0 detects it: from the
	// first entry's layout for binary lists, from the digest length for
	// ASCII lists (32 bytes means sha256, not sm3).
	TemplateHash pcr.Alg
	// Size is the input's length if known; lengths read from the list are
	// checked against it. 0 means unknown (NewReader learns it from an
	// *os.File or a reader with a Len method).
	Size int64
}

// BinaryReader reads entries one at a time from a binary measurement list.
type BinaryReader struct {
	br    *bufio.Reader
	order binary.ByteOrder
	alg   pcr.Alg
	ds    int   // template digest size
	off   int64 // offset of the next entry
	size  int64 // input size, 0 if unknown
	index int
	skip  int // bytes of the current entry still in br, discarded by Next
	err   error

	ev       Entry
	digest   [64]byte
	name     []byte // bytes of the cached template name
	tmpl     *Template
	tmplName string
	legacy   [legacyDataSize]byte
	big      []byte // data of entries larger than the read buffer
}

// NewBinaryReader prepares to read a binary list. The byte order and
// template digest size are learned from the first entry unless opts
// states them; a first entry that fits no layout is an error.
func NewBinaryReader(r io.Reader, opts *ReadOptions) (*BinaryReader, error) {
	var o ReadOptions
	if opts != nil {
		o = *opts
	}
	if o.TemplateHash != 0 && !o.TemplateHash.Valid() {
		return nil, &pcr.UnsupportedAlgError{ID: uint16(o.TemplateHash)}
	}
	if o.Size == 0 {
		o.Size = inputSize(r)
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < bufSize {
		br = bufio.NewReaderSize(r, bufSize)
	}
	rd := &BinaryReader{br: br, size: o.Size, order: o.ByteOrder, alg: o.TemplateHash}
	if err := rd.detectLayout(); err != nil {
		return nil, err
	}
	rd.ds = rd.alg.Size()
	return rd, nil
}

// inputSize returns the bytes left in r when r can tell, else 0.
func inputSize(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return 0
		}
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0
		}
		return st.Size() - pos
	}
	return 0
}

// ByteOrder returns the byte order in use.
func (r *BinaryReader) ByteOrder() binary.ByteOrder { return r.order }

// TemplateHash returns the algorithm of the template digests.
func (r *BinaryReader) TemplateHash() pcr.Alg { return r.alg }

// detectLayout picks the byte order and template digest size under which
// the first entry's header is plausible: PCR below 24, a template name of
// 1-255 characters a kernel would use. An empty list keeps the defaults.
func (r *BinaryReader) detectLayout() error {
	orders := []binary.ByteOrder{binary.LittleEndian, binary.BigEndian}
	if r.order != nil {
		orders = []binary.ByteOrder{r.order}
	}
	algs := []pcr.Alg{pcr.SHA1, pcr.SHA256, pcr.SHA384, pcr.SHA512}
	if r.alg != 0 {
		algs = []pcr.Alg{r.alg}
	}
	b, err := r.br.Peek(4 + 64 + 4 + maxNameLen)
	if len(b) == 0 {
		if err != nil && err != io.EOF {
			return &ParseError{Msg: err.Error(), Err: err}
		}
		r.order, r.alg = orders[0], algs[0]
		return nil
	}
	// A layout whose header is complete and plausible wins; failing that,
	// one the input is too short to refute, so that a list cut inside its
	// first entry is reported as truncated rather than as not a list.
	var partial struct {
		o binary.ByteOrder
		a pcr.Alg
	}
	for _, a := range algs {
		for _, o := range orders {
			switch plausibleHeader(b, a.Size(), o) {
			case headerPlausible:
				r.order, r.alg = o, a
				return nil
			case headerIncomplete:
				if partial.o == nil {
					partial.o, partial.a = o, a
				}
			}
		}
	}
	if partial.o != nil {
		r.order, r.alg = partial.o, partial.a
		return nil
	}
	le, be := binary.LittleEndian.Uint32(b), binary.BigEndian.Uint32(b)
	return &ParseError{Msg: fmt.Sprintf("not an IMA binary measurement list: the first entry's header fits no layout (PCR field reads %d little-endian, %d big-endian; no template name follows a 20, 32, 48 or 64-byte digest)", le, be)}
}

const (
	headerImplausible = iota
	headerPlausible
	headerIncomplete
)

// plausibleHeader checks the start of an entry under one layout: PCR
// below 24, a name length of 1-255 and a name of the characters template
// names and field formats use. Input that ends before the check can be
// completed is headerIncomplete if what is there fits.
func plausibleHeader(b []byte, ds int, o binary.ByteOrder) int {
	if len(b) < 4 {
		return headerIncomplete
	}
	if o.Uint32(b) >= pcr.NumPCRs {
		return headerImplausible
	}
	if len(b) < 4+ds+4 {
		return headerIncomplete
	}
	n := int(o.Uint32(b[4+ds:]))
	if n == 0 || n > maxNameLen {
		return headerImplausible
	}
	name := b[4+ds+4:]
	complete := len(name) >= n
	name = name[:min(n, len(name))]
	for _, c := range name {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '|') {
			return headerImplausible
		}
	}
	if !complete {
		return headerIncomplete
	}
	return headerPlausible
}

// Next returns the next entry, or io.EOF after the last one. After an
// error every later call returns the same error.
func (r *BinaryReader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.skip > 0 {
		r.br.Discard(r.skip)
		r.skip = 0
	}
	ev, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	r.index++
	return ev, nil
}

func (r *BinaryReader) next() (*Entry, error) {
	start := r.off
	ev := &r.ev
	*ev = Entry{Index: r.index, Offset: start, order: r.order}
	hdr := 4 + r.ds + 4
	b, err := r.br.Peek(hdr)
	if len(b) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	if len(b) < hdr {
		return nil, r.short(ev, start, len(b), hdr, "entry header (PCR, template digest, name length)", err)
	}
	ev.PCR = r.order.Uint32(b)
	if ev.PCR >= pcr.NumPCRs {
		return nil, ev.errorf(start, "PCR %d out of range 0-%d", ev.PCR, pcr.NumPCRs-1)
	}
	copy(r.digest[:], b[4:4+r.ds])
	ev.TemplateDigest = r.digest[:r.ds]
	nameLen := int(r.order.Uint32(b[4+r.ds:]))
	if nameLen == 0 || nameLen > maxNameLen {
		return nil, ev.errorf(start+4+int64(r.ds), "template name length %d out of range 1-%d", nameLen, maxNameLen)
	}
	b, err = r.br.Peek(hdr + nameLen)
	if len(b) < hdr+nameLen {
		return nil, r.short(ev, start+int64(hdr), len(b)-hdr, nameLen, "template name", err)
	}
	r.setTemplate(b[hdr:])
	ev.TemplateName, ev.Template = r.tmplName, r.tmpl
	pos := hdr + nameLen // bytes of this entry so far

	if ev.Template.isLegacy() {
		return r.legacyData(ev, pos)
	}
	b, err = r.br.Peek(pos + 4)
	if len(b) < pos+4 {
		return nil, r.short(ev, start+int64(pos), len(b)-pos, 4, "template data length", err)
	}
	dataLen := int64(r.order.Uint32(b[pos:]))
	pos += 4
	if dataLen > MaxTemplateDataSize {
		return nil, ev.errorf(start+int64(pos-4), "template data length %d exceeds the %d-byte limit", dataLen, MaxTemplateDataSize)
	}
	if r.size > 0 && start+int64(pos)+dataLen > r.size {
		return nil, ev.errorf(start+int64(pos-4), "template data length %d exceeds the %d bytes left in the list", dataLen, r.size-start-int64(pos))
	}
	ev.DataOffset = start + int64(pos)
	total := pos + int(dataLen)
	if total <= r.br.Size() {
		b, err = r.br.Peek(total)
		if len(b) < total {
			return nil, r.short(ev, ev.DataOffset, len(b)-pos, int(dataLen), "template data", err)
		}
		ev.Data = b[pos:total]
		r.skip = total
	} else {
		r.br.Discard(pos)
		data, err := r.readBig(int(dataLen))
		if err != nil {
			return nil, r.short(ev, ev.DataOffset, len(data), int(dataLen), "template data", err)
		}
		ev.Data = data
	}
	r.off = start + int64(total)
	return ev, r.split(ev)
}

// legacyData reads the "ima" template's fields, which have no overall
// length: a 20-byte digest, a name length and the name without NUL.
func (r *BinaryReader) legacyData(ev *Entry, pos int) (*Entry, error) {
	start := ev.Offset
	b, err := r.br.Peek(pos + legacyDigestSize + 4)
	if len(b) < pos+legacyDigestSize+4 {
		return nil, r.short(ev, start+int64(pos), len(b)-pos, legacyDigestSize+4, "\"ima\" template digest and name length", err)
	}
	ev.DataOffset = start + int64(pos)
	n := int(r.order.Uint32(b[pos+legacyDigestSize:]))
	if n > legacyNameMax {
		return nil, ev.errorf(start+int64(pos+legacyDigestSize), "\"ima\" template file name length %d exceeds %d", n, legacyNameMax)
	}
	total := pos + legacyDigestSize + 4 + n
	b, err = r.br.Peek(total)
	if len(b) < total {
		return nil, r.short(ev, start+int64(pos+legacyDigestSize+4), len(b)-pos-legacyDigestSize-4, n, "\"ima\" template file name", err)
	}
	clear(r.legacy[:])
	copy(r.legacy[:], b[pos:pos+legacyDigestSize])
	copy(r.legacy[legacyDigestSize:], b[pos+legacyDigestSize+4:total])
	ev.Data = r.legacy[:]
	r.skip = total
	r.off = start + int64(total)
	return ev, r.split(ev)
}

// readBig reads n bytes growing the buffer as data arrives, so a length
// field larger than the input cannot make it allocate more than the input.
func (r *BinaryReader) readBig(n int) ([]byte, error) {
	const chunk = 1 << 20
	buf := r.big[:0]
	for len(buf) < n {
		step := min(chunk, n-len(buf))
		buf = append(buf, make([]byte, step)...)
		got, err := io.ReadFull(r.br, buf[len(buf)-step:])
		if err != nil {
			return buf[:len(buf)-step+got], err
		}
	}
	r.big = buf
	return buf, nil
}

// setTemplate caches the name and descriptor: lists repeat one or two
// template names, and a string per entry would dominate allocation.
func (r *BinaryReader) setTemplate(name []byte) {
	if r.tmplName != "" && string(name) == r.tmplName {
		return
	}
	r.tmplName = string(name)
	r.tmpl = LookupTemplate(r.tmplName)
}

func (r *BinaryReader) split(ev *Entry) error { return ev.split(r.order) }

// short reports input that ends inside an entry.
func (r *BinaryReader) short(ev *Entry, off int64, have, need int, what string, err error) error {
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		pe := ev.errorf(off, "reading %s: %v", what, err)
		pe.Err = err
		return pe
	}
	have = max(have, 0)
	pe := ev.errorf(off, "truncated: %s needs %d bytes, only %d left", what, need, have)
	pe.Err = io.ErrUnexpectedEOF
	return pe
}
