package ima

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// maxLineLen bounds one line of an ASCII list: the hex of the largest
// template data plus the header.
const maxLineLen = 2*MaxTemplateDataSize + 4096

// ASCIIReader reads entries from an ascii_runtime_measurements list,
// rebuilding each entry's template data from its text the way the kernel
// lays it out, so template digests can be checked and banks replayed as for
// a binary list. Integers are rebuilt little-endian unless ReadOptions say
// otherwise (the text does not tell).
type ASCIIReader struct {
	br    *bufio.Reader
	order binary.ByteOrder
	alg   pcr.Alg // template hash algorithm, 0 until the first entry
	ds    int
	line  int
	index int
	err   error

	ev       Entry
	digest   [64]byte
	data     []byte
	long     []byte
	tokens   [][]byte
	tmplName string
	tmpl     *Template
	// guessed: the template hash algorithm was inferred from a 32-byte
	// digest, which sha256 and sm3 share; the first non-violation entry
	// decides, and entries read before it wait in queue.
	guessed bool
	started bool
	queue   []*Entry
}

// NewASCIIReader prepares to read an ASCII list.
func NewASCIIReader(r io.Reader, opts *ReadOptions) (*ASCIIReader, error) {
	var o ReadOptions
	if opts != nil {
		o = *opts
	}
	if o.TemplateHash != 0 && !o.TemplateHash.Valid() {
		return nil, &pcr.UnsupportedAlgError{ID: uint16(o.TemplateHash)}
	}
	if o.ByteOrder == nil {
		o.ByteOrder = binary.LittleEndian
	}
	rd := &ASCIIReader{br: bufio.NewReaderSize(r, 64<<10), order: o.ByteOrder, alg: o.TemplateHash}
	if rd.alg != 0 {
		rd.ds = rd.alg.Size()
	}
	return rd, nil
}

// TemplateHash returns the algorithm of the template digests; 0 before the
// first entry when it was not given.
func (r *ASCIIReader) TemplateHash() pcr.Alg { return r.alg }

// ByteOrder returns the order integers are rebuilt in.
func (r *ASCIIReader) ByteOrder() binary.ByteOrder { return r.order }

// Next returns the next entry, or io.EOF after the last one.
func (r *ASCIIReader) Next() (*Entry, error) {
	if !r.started {
		r.started = true
		if err := r.resolveGuess(); err != nil {
			r.err = err
		}
	}
	if len(r.queue) > 0 {
		e := r.queue[0]
		r.queue = r.queue[1:]
		return e, nil
	}
	return r.next()
}

// resolveGuess reads ahead to the first entry that is not a violation when
// the template hash algorithm is ambiguous, and keeps sm3 if its hash of
// the data is the listed digest and sha256's is not.
func (r *ASCIIReader) resolveGuess() error {
	for {
		e, err := r.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		r.queue = append(r.queue, e.Clone())
		if !r.guessed || e.Violation() {
			if !r.guessed {
				return nil
			}
			continue
		}
		if !bytes.Equal(pcr.SHA256.Sum(e.Data), e.TemplateDigest) && bytes.Equal(pcr.SM3256.Sum(e.Data), e.TemplateDigest) {
			r.alg = pcr.SM3256
		}
		r.guessed = false
		return nil
	}
}

func (r *ASCIIReader) next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		line, err := r.readLine()
		if err != nil {
			r.err = err
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		ev, err := r.parse(line)
		if err != nil {
			r.err = err
			return nil, err
		}
		r.index++
		return ev, nil
	}
}

func (r *ASCIIReader) readLine() ([]byte, error) {
	r.line++
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(r.long) > maxLineLen {
				return nil, &ParseError{Index: r.index, Line: r.line, Offset: -1, Msg: fmt.Sprintf("line longer than %d bytes", maxLineLen)}
			}
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
	}
	if err == io.EOF {
		if len(b) == 0 {
			return nil, io.EOF
		}
	} else if err != nil {
		return nil, &ParseError{Index: r.index, Line: r.line, Offset: -1, Msg: err.Error(), Err: err}
	}
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'}), nil
}

// parse reads "PCR template-hash template-name field…": the kernel prints
// the PCR right-aligned in two columns and one space before every field,
// so an empty last field leaves a trailing space.
func (r *ASCIIReader) parse(line []byte) (*Entry, error) {
	ev := &r.ev
	*ev = Entry{Index: r.index, Line: r.line, order: r.order}
	// The kernel prints C strings: a NUL cannot be part of a real line.
	if i := bytes.IndexByte(line, 0); i >= 0 {
		return nil, ev.errorf(-1, "NUL byte at column %d", i+1)
	}
	rest := bytes.TrimLeft(line, " ")
	pcrTok, rest, _ := bytes.Cut(rest, []byte{' '})
	p, err := strconv.ParseUint(string(pcrTok), 10, 32)
	if err != nil || p >= pcr.NumPCRs {
		return nil, ev.errorf(-1, "want \"PCR template-hash template-name fields…\", PCR %q is not a number 0-%d", truncate(pcrTok, 16), pcr.NumPCRs-1)
	}
	ev.PCR = uint32(p)
	hashTok, rest, _ := bytes.Cut(rest, []byte{' '})
	if err := r.templateDigest(ev, hashTok); err != nil {
		return nil, err
	}
	nameTok, rest, hasFields := bytes.Cut(rest, []byte{' '})
	if len(nameTok) == 0 {
		return nil, ev.errorf(-1, "no template name")
	}
	if string(nameTok) != r.tmplName {
		r.tmplName = string(nameTok)
		r.tmpl = LookupTemplate(r.tmplName)
	}
	ev.TemplateName, ev.Template = r.tmplName, r.tmpl
	if ev.Template == nil {
		return nil, ev.errorf(-1, "unknown template %q: an ASCII list does not show how to rebuild its data (known: %v, or a field format such as d-ng|n-ng)", ev.TemplateName, BuiltinTemplates())
	}
	r.tokens = r.tokens[:0]
	if hasFields {
		for {
			tok, more, found := bytes.Cut(rest, []byte{' '})
			r.tokens = append(r.tokens, tok)
			if !found {
				break
			}
			rest = more
		}
	}
	toks, err := assignTokens(ev.Template, r.tokens)
	if err != nil {
		return nil, ev.errorf(-1, "template %s: %v", ev.TemplateName, err)
	}
	if err := r.rebuild(ev, toks); err != nil {
		return nil, err
	}
	return ev, nil
}

func (r *ASCIIReader) templateDigest(ev *Entry, tok []byte) error {
	n := hex.DecodedLen(len(tok))
	if len(tok)%2 != 0 || n > len(r.digest) {
		return ev.errorf(-1, "template hash %q is not a digest in hex", truncate(tok, 24))
	}
	if _, err := hex.Decode(r.digest[:n], tok); err != nil {
		return ev.errorf(-1, "template hash: %v", err)
	}
	if r.alg == 0 {
		a, ok := pcr.AlgForSize(n)
		if !ok {
			return ev.errorf(-1, "template hash is %d bytes, which is no bank's digest size", n)
		}
		r.alg, r.ds, r.guessed = a, n, a == pcr.SHA256
	}
	if n != r.ds {
		return ev.errorf(-1, "template hash is %d bytes, want %d (%s) like the entries before", n, r.ds, r.alg)
	}
	ev.TemplateDigest = r.digest[:n]
	return nil
}

// assignTokens matches the space-separated tokens to the template's
// fields. Kernels before 5.x did not replace spaces in file names, so a
// name field takes any surplus tokens; trailing fields that may be empty
// (signatures, buffers) may be missing altogether.
func assignTokens(t *Template, toks [][]byte) ([][]byte, error) {
	k := len(t.Fields)
	if len(toks) > k {
		nameAt := -1
		for i, id := range t.Fields {
			if id == FieldN || id == FieldNNG {
				nameAt = i
			}
		}
		if nameAt < 0 {
			return nil, fmt.Errorf("%d fields, the line has %d", k, len(toks))
		}
		extra := len(toks) - k
		joined := bytes.Join(toks[nameAt:nameAt+extra+1], []byte{' '})
		out := append([][]byte{}, toks[:nameAt]...)
		out = append(out, joined)
		return append(out, toks[nameAt+extra+1:]...), nil
	}
	for len(toks) < k {
		switch t.Fields[len(toks)] {
		case FieldSig, FieldBuf, FieldDModsig, FieldModsig, FieldEVMSig, FieldXattrNames,
			FieldXattrLengths, FieldXattrValues, FieldIUID, FieldIGID, FieldIMode:
			toks = append(toks, nil)
		default:
			return nil, fmt.Errorf("%d fields, the line has %d", k, len(toks))
		}
	}
	return toks, nil
}

// rebuild lays the fields out as the binary list would hold them.
func (r *ASCIIReader) rebuild(ev *Entry, toks [][]byte) error {
	t := ev.Template
	if t.isLegacy() {
		if len(r.data) < legacyDataSize {
			r.data = make([]byte, legacyDataSize)
		}
		data := r.data[:legacyDataSize]
		clear(data)
		d, err := hexField(toks[0])
		if err != nil || (len(d) != 20 && len(d) != 16) {
			return ev.errorf(-1, "template ima: d field %q is not a 20-byte SHA-1 or 16-byte MD5 digest in hex", truncate(toks[0], 24))
		}
		copy(data, d)
		if len(toks[1]) > legacyNameMax {
			return ev.errorf(-1, "template ima: file name is %d bytes, the limit is %d", len(toks[1]), legacyNameMax)
		}
		copy(data[legacyDigestSize:], toks[1])
		ev.Data = data
		return r.split(ev)
	}
	data := r.data[:0]
	for i, id := range t.Fields {
		tok := toks[i]
		at := len(data)
		data = append(data, 0, 0, 0, 0)
		var err error
		switch id {
		case FieldDNG, FieldDNGv2, FieldDModsig:
			if len(tok) == 0 && id == FieldDModsig {
				break
			}
			c := bytes.LastIndexByte(tok, ':')
			if c < 0 {
				err = fmt.Errorf("want \"<algorithm>:<hex digest>\", got %q", truncate(tok, 24))
				break
			}
			data = append(data, tok[:c+1]...)
			data = append(data, 0)
			data, err = appendHex(data, tok[c+1:])
		case FieldNNG:
			data = append(data, tok...)
			data = append(data, 0)
		case FieldXattrNames:
			data = append(data, tok...)
		case FieldIUID, FieldIGID, FieldIMode:
			if len(tok) == 0 {
				break
			}
			bits := 32
			if id == FieldIMode {
				bits = 16
			}
			var v uint64
			if v, err = strconv.ParseUint(string(tok), 10, bits); err != nil {
				err = fmt.Errorf("%q is not a %d-bit number", truncate(tok, 16), bits)
				break
			}
			if bits == 32 {
				data = append(data, 0, 0, 0, 0)
				r.order.PutUint32(data[len(data)-4:], uint32(v))
			} else {
				data = append(data, 0, 0)
				r.order.PutUint16(data[len(data)-2:], uint16(v))
			}
		default: // sig, buf, modsig, evmsig, xattrlengths, xattrvalues: hex
			data, err = appendHex(data, tok)
		}
		if err != nil {
			r.data = data
			return ev.errorf(-1, "template %s: %s field: %v", ev.TemplateName, id, err)
		}
		if len(data) > MaxTemplateDataSize {
			r.data = data
			return ev.errorf(-1, "template data exceeds the %d-byte limit", MaxTemplateDataSize)
		}
		r.order.PutUint32(data[at:], uint32(len(data)-at-4))
	}
	r.data = data
	ev.Data = data
	return r.split(ev)
}

func (r *ASCIIReader) split(ev *Entry) error { return ev.split(r.order) }

func hexField(tok []byte) ([]byte, error) {
	out := make([]byte, hex.DecodedLen(len(tok)))
	_, err := hex.Decode(out, tok)
	return out, err
}

func appendHex(dst, tok []byte) ([]byte, error) {
	if len(tok)%2 != 0 {
		return dst, fmt.Errorf("odd number of hex digits (%d)", len(tok))
	}
	n := len(dst)
	dst = append(dst, make([]byte, len(tok)/2)...)
	if _, err := hex.Decode(dst[n:], tok); err != nil {
		return dst[:n], fmt.Errorf("not hex: %v", err)
	}
	return dst, nil
}
