package rattestation

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The token kinds of protobuf-c-text's scanner.
type tokenKind int

const (
	tokEOF    tokenKind = iota
	tokName             // a bare word: field names and enum values
	tokNumber           // a decimal integer
	tokOther            // a word that is neither (1.5, 0x10, -x)
	tokBool             // true or false
	tokString           // a double-quoted string, unescaped
	tokOpen             // {
	tokClose            // }
	tokColon            // :
)

type token struct {
	kind tokenKind
	text string
	line int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "the end of the file"
	case tokString:
		return "a string"
	case tokOpen, tokClose, tokColon:
		return "'" + t.text + "'"
	}
	return strconv.Quote(t.text)
}

// scanner splits a config into tokens as protobuf-c-text does, and
// refuses every byte it would stumble on.
type scanner struct {
	data []byte
	pos  int
	line int
}

func (s *scanner) errorf(format string, args ...any) error {
	return &ParseError{Line: s.line, Err: fmt.Errorf(format, args...)}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func (s *scanner) next() (token, error) {
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == ' ' || c == '\t':
			s.pos++
		case c == '\n':
			s.pos++
			s.line++
		case c == '"':
			return s.str()
		case c == '{' || c == '}' || c == ':':
			s.pos++
			kind := map[byte]tokenKind{'{': tokOpen, '}': tokClose, ':': tokColon}[c]
			return token{kind: kind, text: string(c), line: s.line}, nil
		case isWordByte(c):
			return s.word(), nil
		default:
			return token{}, s.refuse(c)
		}
	}
	return token{kind: tokEOF, line: s.line}, nil
}

// refuse explains why byte c cannot stand outside a string.
func (s *scanner) refuse(c byte) error {
	switch {
	case c == 0 || c >= 0x80:
		return s.errorf("byte 0x%02x: protobuf-c-text stops reading at a NUL or non-ASCII byte and silently ignores the rest of the file; write ASCII only", c)
	case c == '\r':
		return s.errorf("carriage return: CRLF line endings are not accepted, use LF")
	case c == '#' || c == '/':
		return s.errorf("%q: comments are not accepted by protobuf-c-text", c)
	case c == ',' || c == ';':
		return s.errorf("%q: separators are not accepted by protobuf-c-text; write one field per line", c)
	case c == '\'':
		return s.errorf("single-quoted strings are not accepted by protobuf-c-text; use double quotes")
	case c < 0x20 || c == 0x7f:
		return s.errorf("control byte 0x%02x", c)
	}
	return s.errorf("unexpected %q", c)
}

func (s *scanner) word() token {
	start := s.pos
	for s.pos < len(s.data) && isWordByte(s.data[s.pos]) {
		s.pos++
	}
	w := string(s.data[start:s.pos])
	t := token{kind: tokOther, text: w, line: s.line}
	switch {
	case w == "true" || w == "false":
		t.kind = tokBool
	case isDecimal(w):
		t.kind = tokNumber
	case !strings.ContainsAny(w, "-."):
		t.kind = tokName
	}
	return t
}

func isDecimal(w string) bool {
	w = strings.TrimPrefix(w, "-")
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < '0' || w[i] > '9' {
			return false
		}
	}
	return true
}

// str reads a double-quoted string with the escapes protobuf-c-text
// knows: \n \r \t \" \' \\ and \0oo.
func (s *scanner) str() (token, error) {
	t := token{kind: tokString, line: s.line}
	var b strings.Builder
	s.pos++ // the opening quote
	for {
		if s.pos >= len(s.data) {
			return t, &ParseError{Line: t.line, Err: errors.New("string not closed")}
		}
		c := s.data[s.pos]
		s.pos++
		switch {
		case c == '"':
			t.text = b.String()
			return t, nil
		case c == '\n':
			s.line++
			b.WriteByte(c)
		case c == 0 || c >= 0x80:
			return t, s.errorf("byte 0x%02x in a string: write ASCII only (a NUL ends the string for rattestation)", c)
		case c == '\\':
			d, err := s.escape()
			if err != nil {
				return t, err
			}
			b.WriteByte(d)
		default:
			b.WriteByte(c)
		}
	}
}

func (s *scanner) escape() (byte, error) {
	if s.pos >= len(s.data) {
		return 0, s.errorf("string not closed after '\\'")
	}
	c := s.data[s.pos]
	s.pos++
	switch c {
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case '"', '\'', '\\':
		return c, nil
	case '0':
		if s.pos+2 <= len(s.data) && isOctal(s.data[s.pos]) && isOctal(s.data[s.pos+1]) {
			v := (s.data[s.pos]-'0')<<3 | (s.data[s.pos+1] - '0')
			s.pos += 2
			if v == 0 {
				return 0, s.errorf(`escape \000: a NUL ends the string for rattestation`)
			}
			return v, nil
		}
	}
	return 0, s.errorf(`escape \%c is not one protobuf-c-text knows (\n \r \t \" \' \\ \0oo)`, c)
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// The kinds of value a field takes.
type fieldKind int

const (
	kindString fieldKind = iota
	kindEnum
	kindInt
	kindBool
	kindMessage
)

// configFields are RAttestationConfig's fields; pcrFields PcrStrings'.
var (
	configFields = map[string]fieldKind{
		"name": kindString, "atype": kindEnum, "halg": kindEnum, "pcrs": kindInt,
		"pcr_values": kindMessage, "kmod_sign_cert": kindString, "tpm_cert": kindString,
		"verify_ima": kindBool, "ima_pcr": kindInt, "verify_containers": kindBool, "container_pcr": kindInt,
	}
	pcrFields = map[string]fieldKind{"number": kindInt, "value": kindString}
	enums     = map[string][]string{"atype": {"BASIC", "ALL", "ADVANCED"}, "halg": {"SHA1", "SHA256", "SHA384"}}
)

// value is one field as the file gave it.
type value struct {
	tok  token
	num  int32
	flag bool
}

// message is the fields of one message, by name, and where each was set.
type message struct {
	fields map[string]value
	pcrs   []message // pcr_values, in file order
	line   int
}

type parser struct {
	s    scanner
	last int // the line of the last token read
}

func (p *parser) next() (token, error) {
	t, err := p.s.next()
	p.last = t.line
	return t, err
}

// Parse reads a rattestation.conf with protobuf-c-text's rules and holds
// it to what rattestation checks as meant: errors carry the line (a
// *ParseError wrapping the typed errors Write gives, where there is one)
// and are given for whatever rattestation would refuse or misread —
// besides the syntax, a value with a lowercase 0x, an empty or
// wrong-sized value, values out of order, a PCR listed twice or not
// quoted, a quoted PCR without a value, ADVANCED without pcrs, atype ALL,
// a halg other than SHA256, and a PCR 10 or 11 of zero with IMA or
// container verification on.
func Parse(data []byte) (*Config, error) {
	if len(data) == 0 {
		return nil, &ParseError{Line: 1, Err: errors.New("empty file: rattestation refuses it")}
	}
	p := &parser{s: scanner{data: data, line: 1}}
	top, err := p.message(configFields, nil)
	if err != nil {
		return nil, err
	}
	return p.config(top)
}

// message reads fields up to the end of the file (open == nil) or the
// closing brace of the block opened by open.
func (p *parser) message(fields map[string]fieldKind, open *token) (message, error) {
	m := message{fields: map[string]value{}}
	if open != nil {
		m.line = open.line
	}
	for {
		t, err := p.next()
		if err != nil {
			return m, err
		}
		switch {
		case t.kind == tokEOF && open == nil:
			return m, nil
		case t.kind == tokEOF:
			return m, &ParseError{Line: t.line, Err: fmt.Errorf("pcr_values opened on line %d is not closed with '}'", open.line)}
		case t.kind == tokClose && open != nil:
			return m, nil
		case t.kind == tokClose:
			return m, &ParseError{Line: t.line, Err: errors.New("'}' closes no block")}
		case t.kind != tokName:
			return m, &ParseError{Line: t.line, Err: fmt.Errorf("want a field name, found %s", t)}
		}
		kind, ok := fields[t.text]
		if !ok {
			return m, &ParseError{Line: t.line, Err: unknownField(t.text, fields, open != nil)}
		}
		if prev, set := m.fields[t.text]; set && kind != kindMessage {
			return m, &ParseError{Line: t.line, Err: fmt.Errorf("%s set twice (first on line %d): protobuf-c-text refuses it", t.text, prev.tok.line)}
		}
		sep, err := p.next()
		if err != nil {
			return m, err
		}
		if kind == kindMessage {
			if sep.kind == tokColon {
				return m, &ParseError{Line: sep.line, Err: fmt.Errorf("%s is a message: write `%s {` without a colon", t.text, t.text)}
			}
			if sep.kind != tokOpen {
				return m, &ParseError{Line: sep.line, Err: fmt.Errorf("want '{' after %s, found %s", t.text, sep)}
			}
			sub, err := p.message(pcrFields, &t)
			if err != nil {
				return m, err
			}
			m.pcrs = append(m.pcrs, sub)
			m.fields[t.text] = value{tok: t}
			continue
		}
		if sep.kind == tokOpen {
			return m, &ParseError{Line: sep.line, Err: fmt.Errorf("%s is not a message: write `%s: VALUE`", t.text, t.text)}
		}
		if sep.kind != tokColon {
			return m, &ParseError{Line: sep.line, Err: fmt.Errorf("want ':' after %s, found %s", t.text, sep)}
		}
		v, err := p.scalar(t.text, kind)
		if err != nil {
			return m, err
		}
		m.fields[t.text] = v
	}
}

func unknownField(name string, fields map[string]fieldKind, inPCR bool) error {
	for known := range fields {
		if strings.EqualFold(known, name) {
			return fmt.Errorf("unknown field %q: field names are case-sensitive, write %q", name, known)
		}
	}
	if inPCR {
		return fmt.Errorf("unknown field %q in pcr_values (it has number and value)", name)
	}
	return fmt.Errorf("unknown field %q of RAttestationConfig", name)
}

// scalar reads the value of field name.
func (p *parser) scalar(name string, kind fieldKind) (value, error) {
	t, err := p.next()
	if err != nil {
		return value{}, err
	}
	v := value{tok: t}
	bad := func(format string, args ...any) (value, error) {
		return v, &ParseError{Line: t.line, Err: fmt.Errorf(name+": "+format, args...)}
	}
	switch kind {
	case kindString:
		if t.kind != tokString {
			return bad("want a double-quoted string, found %s", t)
		}
	case kindEnum:
		switch t.kind {
		case tokName:
			for _, e := range enums[name] {
				if t.text == e {
					return v, nil
				}
			}
			return bad("%s is none of %s (enum values are case-sensitive)", t, strings.Join(enums[name], ", "))
		case tokString, tokNumber:
			return bad("enum values are written as bare names (%s: %s), not %s", name, enums[name][0], t)
		}
		return bad("want one of %s, found %s", strings.Join(enums[name], ", "), t)
	case kindInt:
		if t.kind != tokNumber {
			return bad("want a decimal integer, found %s (protobuf-c-text reads numbers in decimal only, unquoted)", t)
		}
		n, err := strconv.ParseInt(t.text, 10, 32)
		if err != nil {
			return bad("%s does not fit an int32", t)
		}
		v.num = int32(n)
	case kindBool:
		if t.kind != tokBool {
			return bad("want true or false, found %s", t)
		}
		v.flag = t.text == "true"
	}
	return v, nil
}

// config turns the fields read into a Config and holds it to
// rattestation's rules.
func (p *parser) config(top message) (*Config, error) {
	c := &Config{AType: Basic, VerifyIMA: true, VerifyContainers: true, IMAPCR: IMAPCR, ContainerPCR: ContainerPCR, Values: map[int][]byte{}}
	f := top.fields
	// at puts err on the line of the first of fields the file sets.
	at := func(err error, fields ...string) error {
		for _, field := range fields {
			if v, ok := f[field]; ok {
				return &ParseError{Line: v.tok.line, Err: err}
			}
		}
		return &ParseError{Line: p.last, Err: err}
	}
	for _, req := range []string{"name", "kmod_sign_cert"} {
		if _, ok := f[req]; !ok {
			return nil, at(fieldErr(req, "missing: the field is required"))
		}
	}
	c.Name = f["name"].tok.text
	c.KmodCert = f["kmod_sign_cert"].tok.text
	if v, ok := f["atype"]; ok {
		c.AType = map[string]AType{"BASIC": Basic, "ALL": All, "ADVANCED": Advanced}[v.tok.text]
	}
	if v, ok := f["halg"]; ok && v.tok.text != "SHA256" {
		return nil, at(&BankError{PCR: -1, Banks: []string{v.tok.text}}, "halg")
	}
	if v, ok := f["pcrs"]; ok {
		if v.num <= 0 || v.num >= 1<<24 {
			return nil, at(fieldErr("pcrs", "bitmap %d: bit n selects PCR n, n < 24, and at least one bit is set", v.num), "pcrs")
		}
		for i := 0; i < 24; i++ {
			if v.num&(1<<i) != 0 {
				c.PCRs = append(c.PCRs, i)
			}
		}
	}
	if v, ok := f["verify_ima"]; ok {
		c.VerifyIMA = v.flag
	}
	if v, ok := f["verify_containers"]; ok {
		c.VerifyContainers = v.flag
	}
	if v, ok := f["ima_pcr"]; ok {
		c.IMAPCR = int(v.num)
	}
	if v, ok := f["container_pcr"]; ok {
		c.ContainerPCR = int(v.num)
	}
	if err := c.checkAType(); err != nil {
		field := "atype"
		var fe *FieldError
		if errors.As(err, &fe) {
			field = fe.Field
		}
		return nil, at(err, field, "atype")
	}
	pcrLine, err := c.readValues(top.pcrs)
	if err != nil {
		return nil, err
	}
	if strings.Contains(c.KmodCert, "-----BEGIN") {
		if _, err := CertificatePEM([]byte(c.KmodCert)); err != nil {
			return nil, at(err, "kmod_sign_cert")
		}
	} else {
		c.Warnings = append(c.Warnings, fmt.Sprintf("kmod_sign_cert %q is no PEM text (a file name?): rattestation fails at the first signed IMA entry", truncate(c.KmodCert, 40)))
	}
	if _, ok := f["tpm_cert"]; ok {
		c.Warnings = append(c.Warnings, "tpm_cert is unused by rattestation; it is not kept")
	}
	if err := c.check(); err != nil {
		line := p.last
		var u *UnreachableError
		var nq *NotQuotedError
		var fe *FieldError
		switch {
		case errors.As(err, &u):
			line = pcrLine[u.PCR]
		case errors.As(err, &nq):
			return nil, at(err, nq.Field, "atype")
		case errors.As(err, &fe):
			return nil, at(err, fe.Field)
		default:
			return nil, at(err, "atype")
		}
		return nil, &ParseError{Line: line, Err: err}
	}
	return c, nil
}

// readValues reads the pcr_values blocks into c.Values: each with a
// number and a value, in ascending order, quoted by the atype, and the
// value hex of 32 bytes with an optional uppercase 0X. It returns the
// line of each PCR's block.
func (c *Config) readValues(blocks []message) (map[int]int, error) {
	quoted := map[int]bool{}
	for _, q := range c.Quoted() {
		quoted[q] = true
	}
	lines := map[int]int{}
	prev := -1
	for _, b := range blocks {
		bad := func(line int, format string, args ...any) (map[int]int, error) {
			return nil, &ParseError{Line: line, Err: fieldErr("pcr_values", format, args...)}
		}
		num, okN := b.fields["number"]
		val, okV := b.fields["value"]
		if !okN || !okV {
			return bad(b.line, "each block needs a number and a value (a missing number reads as PCR 0)")
		}
		n := int(num.num)
		switch {
		case n < 0 || n > 23:
			return bad(num.tok.line, "PCR %d: want 0-23", n)
		case n == prev:
			return bad(num.tok.line, "PCR %d listed twice; rattestation takes exactly one value per PCR", n)
		case n < prev:
			return bad(num.tok.line, "PCR %d after PCR %d: values must be ascending (rattestation compares them in order)", n, prev)
		case !quoted[n]:
			return bad(num.tok.line, "PCR %d is not quoted by atype %s; rattestation needs exactly one value per quoted PCR and no other", n, c.AType)
		}
		prev = n
		d, err := decodeValue(val.tok.text)
		if err != nil {
			return nil, &ParseError{Line: val.tok.line, Err: fieldErr("pcr_values", "PCR %d: %v", n, err)}
		}
		c.Values[n] = d
		lines[n] = b.line
	}
	return lines, nil
}

// decodeValue reads a PCR value string as rattestation compares it: hex
// of exactly 32 bytes, either case, after an optional uppercase 0X.
func decodeValue(s string) ([]byte, error) {
	switch {
	case s == "":
		return nil, errors.New("empty value: rattestation fails at verification")
	case strings.HasPrefix(s, "0x"):
		return nil, errors.New("lowercase 0x prefix: rattestation strips only 0X, so the value fails at verification")
	}
	h := strings.TrimPrefix(s, "0X")
	if len(h) != 2*valueSize {
		return nil, fmt.Errorf("%d hex digits, want %d (halg SHA256)", len(h), 2*valueSize)
	}
	d, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("value %q is not hex", truncate(s, 20))
	}
	return d, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
