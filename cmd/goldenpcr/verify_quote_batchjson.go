package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"unicode/utf8"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// fastDecodeBatchLine decodes the common shape of a batch line without
// reflection: one flat JSON object whose keys are Request's JSON
// names spelt exactly, each given once, with strings free of escapes and
// control characters, unsigned integers without sign, fraction or
// exponent, booleans, and pcr_values as an object of objects of such
// strings. It reports false, having possibly filled req partly, for
// anything else; the caller then decodes the line with encoding/json,
// whose semantics (case-insensitive keys, escapes, null, duplicate keys,
// errors) stay authoritative. Whatever it accepts, encoding/json decodes
// to the same request (FuzzParseBatchLine checks this).
//
// encoding/json spends as long on a batch line as an RSA-2048 signature
// check does; this keeps the batch hot path close to the signature limit.
// It also allocates little: the string fields share one copy of the line,
// and PCR values are decoded into one buffer, the start of arena. The
// returned inlineHex holds the text of the hex-encoded inputs, aliasing
// data, for decodeInline to put in the rest of arena.
func fastDecodeBatchLine(data []byte, req *Request) (inlineHex, []byte, bool) {
	d := fastJSON{data: data, arena: make([]byte, 0, len(data)/2)}
	if !d.parse(req) {
		return inlineHex{}, nil, false
	}
	return d.hex, d.arena, true
}

func (d *fastJSON) parse(req *Request) bool {
	if !d.consume('{') {
		return false
	}
	var seen uint64
	first := true
	for {
		d.space()
		if d.peek() == '}' && first {
			d.pos++
			break
		}
		key, ok := d.str()
		if !ok || !d.consume(':') {
			return false
		}
		f, ok := batchFieldIndex[string(key)]
		if !ok || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		if !d.field(f, req) {
			return false
		}
		d.space()
		c := d.next()
		if c == '}' {
			break
		}
		if c != ',' {
			return false
		}
		first = false
	}
	d.space()
	return d.pos == len(d.data)
}

// The fields of Request by JSON name, and their kinds.
const (
	fString = iota
	fBool
	fUint32
	fUint64
	fPCRs
)

var batchFields = []struct {
	name string
	kind int
}{
	{"id", fString}, {"ak", fString}, {"ak_hex", fString}, {"ak_name", fString}, {"message", fString},
	{"message_hex", fString}, {"signature", fString}, {"signature_hex", fString}, {"sig_format", fString},
	{"sig_alg", fString}, {"pcrs", fString}, {"pcrs_format", fString}, {"pcrs_sel", fString}, {"pcr_values", fPCRs},
	{"nonce", fString}, {"no_nonce", fBool}, {"eventlog", fString}, {"expected", fString}, {"expected_format", fString},
	{"expected_sel", fString}, {"allow_unrestricted", fBool}, {"min_reset_count", fUint32},
	{"min_restart_count", fUint32}, {"min_clock", fUint64}, {"max_clock", fUint64}, {"require_safe", fBool},
	{"attestation", fString}, {"attestation_format", fString}, {"platform_parameters", fString},
	{"nonce_file", fString}, {"ak_cert", fString}, {"allow_untrusted_ak", fBool}, {"ek_cert", fString},
	{"ek_pub", fString}, {"require_eventlog", fBool}, {"allow_missing_eventlog", fBool}, {"unlogged_pcrs", fString},
	{"corim", fString}, {"corim_sel", fString},
}

var batchFieldIndex = func() map[string]int {
	m := map[string]int{}
	for i, f := range batchFields {
		m[f.name] = i
	}
	return m
}()

// stringField returns the string field of req with the JSON name.
func stringField(req *Request, name string) *string {
	switch name {
	case "id":
		return &req.ID
	case "ak":
		return &req.AK
	case "ak_hex":
		return &req.AKHex
	case "ak_name":
		return &req.AKName
	case "message":
		return &req.Message
	case "message_hex":
		return &req.MessageHex
	case "signature":
		return &req.Signature
	case "signature_hex":
		return &req.SignatureHex
	case "sig_format":
		return &req.SigFormat
	case "sig_alg":
		return &req.SigAlg
	case "pcrs":
		return &req.PCRs
	case "pcrs_format":
		return &req.PCRsFormat
	case "pcrs_sel":
		return &req.PCRsSel
	case "nonce":
		return &req.Nonce
	case "eventlog":
		return &req.EventLog
	case "expected":
		return &req.Expected
	case "expected_format":
		return &req.ExpectedFormat
	case "expected_sel":
		return &req.ExpectedSel
	case "attestation":
		return &req.Attestation
	case "attestation_format":
		return &req.AttestationFormat
	case "platform_parameters":
		return &req.PlatformParameters
	case "nonce_file":
		return &req.NonceFile
	case "ak_cert":
		return &req.AKCert
	case "ek_cert":
		return &req.EKCert
	case "ek_pub":
		return &req.EKPub
	case "unlogged_pcrs":
		return &req.UnloggedPCRs
	case "corim":
		return &req.Corim
	case "corim_sel":
		return &req.CorimSel
	}
	return nil
}

type fastJSON struct {
	data []byte
	pos  int
	// line is data as a string, made on the first string field; the
	// string fields are slices of it.
	line string
	// arena receives decoded bytes; no hex text decodes to more than
	// half its length, so len(data)/2 holds every value of the line.
	arena []byte
	hex   inlineHex
}

// take returns the next n bytes of the arena.
func (d *fastJSON) take(n int) ([]byte, bool) {
	off := len(d.arena)
	if n > cap(d.arena)-off {
		return nil, false
	}
	d.arena = d.arena[:off+n]
	return d.arena[off : off+n : off+n], true
}

func (d *fastJSON) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *fastJSON) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *fastJSON) next() byte {
	c := d.peek()
	if d.pos < len(d.data) {
		d.pos++
	}
	return c
}

// consume skips white space and then c.
func (d *fastJSON) consume(c byte) bool {
	d.space()
	if d.peek() != c {
		return false
	}
	d.pos++
	return true
}

// str reads a string without escapes or control characters, and valid
// UTF-8 (encoding/json would replace invalid bytes); the result aliases
// the input.
func (d *fastJSON) str() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	n := bytes.IndexByte(d.data[d.pos:], '"')
	if n < 0 {
		return nil, false
	}
	s := d.data[d.pos : d.pos+n]
	plain, ascii := plainString(s)
	if !plain || !ascii && !utf8.Valid(s) {
		return nil, false
	}
	d.pos += n + 1
	return s, true
}

// plainString reports whether s holds no backslash and no control
// character, so its JSON text is its value, and whether it is all ASCII.
// It tests eight bytes at a time: the kilobytes of hex in a batch line
// made a byte loop here a measurable part of verifying a quote.
func plainString(s []byte) (plain, ascii bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ascii = true
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := binary.LittleEndian.Uint64(s[i:])
		bs := w ^ ('\\' * ones)
		// Some byte < 0x20, some byte == '\\' (zero after the xor).
		if (w-0x20*ones)&^w&highs != 0 || (bs-ones)&^bs&highs != 0 {
			return false, false
		}
		if w&highs != 0 {
			ascii = false
		}
	}
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c < 0x20:
			return false, false
		case c >= 0x80:
			ascii = false
		}
	}
	return true, ascii
}

// uint reads digits without sign, fraction, exponent or leading zero,
// at most max.
func (d *fastJSON) uint(max uint64) (uint64, bool) {
	d.space()
	start := d.pos
	var v uint64
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		digit := uint64(d.data[d.pos] - '0')
		if v > (max-digit)/10 {
			return 0, false
		}
		v = v*10 + digit
		d.pos++
	}
	n := d.pos - start
	if n == 0 || (n > 1 && d.data[start] == '0') {
		return 0, false
	}
	switch d.peek() {
	case '.', 'e', 'E':
		return 0, false
	}
	return v, true
}

func (d *fastJSON) boolean() (bool, bool) {
	d.space()
	rest := d.data[d.pos:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		d.pos += 4
		return true, true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		d.pos += 5
		return false, true
	}
	return false, false
}

// field reads the value of field f into req.
func (d *fastJSON) field(f int, req *Request) bool {
	switch batchFields[f].kind {
	case fString:
		s, ok := d.str()
		if !ok || len(s) == 0 { // an empty value is refused by the reference decoder
			return false
		}
		if d.line == "" {
			d.line = string(d.data)
		}
		end := d.pos - 1 // the closing quote
		name := batchFields[f].name
		*stringField(req, name) = d.line[end-len(s) : end]
		if h := d.hex.field(name); h != nil {
			*h = s
		}
	case fBool:
		b, ok := d.boolean()
		if !ok {
			return false
		}
		switch batchFields[f].name {
		case "no_nonce":
			req.NoNonce = b
		case "allow_unrestricted":
			req.AllowUnrestricted = b
		case "require_safe":
			req.RequireSafe = b
		case "allow_untrusted_ak":
			req.AllowUntrustedAK = b
		case "require_eventlog":
			req.RequireEventLog = b
		case "allow_missing_eventlog":
			req.AllowMissingEventLog = b
		}
	case fUint32:
		v, ok := d.uint(1<<32 - 1)
		if !ok {
			return false
		}
		if batchFields[f].name == "min_reset_count" {
			req.MinResetCount = uint32(v)
		} else {
			req.MinRestartCount = uint32(v)
		}
	case fUint64:
		v, ok := d.uint(1<<64 - 1)
		if !ok {
			return false
		}
		if batchFields[f].name == "min_clock" {
			req.MinClock = v
		} else {
			req.MaxClock = v
		}
	case fPCRs:
		m, ok := d.pcrValues()
		if !ok {
			return false
		}
		req.PCRValues = m
	}
	return true
}

// pcrValues reads {"bank": {"index": "hex", …}, …} straight into PCR
// values; anything InlinePCRs.UnmarshalJSON would reject, or a key given
// twice, makes it report false.
func (d *fastJSON) pcrValues() (InlinePCRs, bool) {
	out := pcr.Values{}
	var banks [][]byte
	ok := d.object(func(bank []byte) bool {
		for _, b := range banks {
			if bytes.Equal(b, bank) { // encoding/json would keep the last object only
				return false
			}
		}
		banks = append(banks, bank)
		alg, err := pcr.ParseAlg(string(bank))
		if err != nil {
			return false
		}
		return d.object(func(idx []byte) bool {
			v, ok := d.str()
			i, isIndex := pcrIndex(idx)
			if !ok || !isIndex || len(v) != 2*alg.Size() {
				return false
			}
			vals := out[alg]
			if vals == nil { // made on the first value: an empty bank adds none
				vals = make(map[int][]byte, 8)
				out[alg] = vals
			}
			if _, dup := vals[i]; dup {
				return false
			}
			dst, ok := d.take(alg.Size())
			if !ok {
				return false
			}
			if _, err := hex.Decode(dst, v); err != nil {
				return false
			}
			vals[i] = dst
			return true
		})
	})
	if !ok || out.Len() == 0 {
		return nil, false
	}
	return InlinePCRs(out), true
}

// pcrIndex reads a PCR index as addInlinePCR accepts it: decimal without
// sign or leading zero, below pcr.NumPCRs.
func pcrIndex(s []byte) (int, bool) {
	if len(s) == 0 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	i := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if i = i*10 + int(c-'0'); i >= pcr.NumPCRs {
			return 0, false
		}
	}
	return i, true
}

// object reads an object, calling value for each key with the decoder
// at the value.
func (d *fastJSON) object(value func(key []byte) bool) bool {
	if !d.consume('{') {
		return false
	}
	d.space()
	if d.peek() == '}' {
		d.pos++
		return true
	}
	for {
		k, ok := d.str()
		if !ok || !d.consume(':') || !value(k) {
			return false
		}
		d.space()
		switch d.next() {
		case '}':
			return true
		case ',':
		default:
			return false
		}
	}
}
