package refvals

import (
	"fmt"
	"strconv"
	"strings"
)

// GuestOSMount is what goldenpcr reads of one `mounts` entry of a
// GyroidOS guest-OS configuration (GuestOSConfig, protobuf text): the
// fields that decide whether and how cmld measures its image. Every other
// field, at any depth, is skipped unread.
type GuestOSMount struct {
	// ImageFile names the image: cmld opens <guest-OS dir>/<ImageFile>.img.
	ImageFile string
	// MountType is the enum value's name (SHARED, SHARED_RW, FLASH, …).
	MountType string
	// SHA256 is image_sha2_256 in lowercase hex, "" when the entry has none.
	SHA256 string
	// Verity: image_verity_sha256 is set, so cmld checks (and measures)
	// the image in the background after the container started.
	Verity bool
	// Line is where the entry begins in the configuration.
	Line int
}

// measuredAtStart reports whether cmld checks the image in full, and so
// measures it, when it starts a container of this guest OS: its mount
// types SHARED, SHARED_RW and OVERLAY_RO (FLASH images are checked only
// when flashed, the others are no image files of the guest OS).
func (m GuestOSMount) measuredAtStart() bool {
	switch m.MountType {
	case "SHARED", "SHARED_RW", "OVERLAY_RO":
		return true
	}
	return false
}

// ReadGuestOSConf reads the top-level `mounts` entries of a GyroidOS
// guest-OS configuration in protobuf text format. It follows the text
// format's grammar (comments, `:` optional before a message, `{}` or
// `<>`, separators, lists, adjacent strings and their escapes) so that
// whatever else the file holds is skipped safely, and it refuses what
// would make image_sha2_256 ambiguous: a field given twice in one entry,
// a value that is not 64 hex digits.
func ReadGuestOSConf(data []byte) ([]GuestOSMount, error) {
	p := &confParser{lx: confLexer{src: string(data), line: 1}}
	var out []GuestOSMount
	for {
		t, err := p.lx.next()
		if err != nil {
			return nil, err
		}
		if t.kind == tokEOF {
			return out, nil
		}
		if t.kind != tokIdent {
			return nil, p.lx.errorf(t.line, "want a field name, got %q", t.text)
		}
		if t.text != "mounts" {
			if err := p.skipValue(); err != nil {
				return nil, err
			}
			continue
		}
		m, err := p.mount(t.line)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
}

type confParser struct{ lx confLexer }

// mount reads one `mounts { … }` entry.
func (p *confParser) mount(line int) (GuestOSMount, error) {
	m := GuestOSMount{Line: line}
	closer, err := p.open()
	if err != nil {
		return m, err
	}
	seen := map[string]bool{}
	for {
		t, err := p.lx.next()
		if err != nil {
			return m, err
		}
		switch {
		case t.kind == tokPunct && t.text == closer:
			return m, p.separator()
		case t.kind != tokIdent:
			return m, p.lx.errorf(t.line, "mounts entry of line %d: want a field name, got %q", line, t.text)
		}
		field := t.text
		switch field {
		case "image_file", "mount_type", "image_sha2_256", "image_verity_sha256":
		default:
			if err := p.skipValue(); err != nil {
				return m, err
			}
			continue
		}
		if seen[field] {
			return m, p.lx.errorf(t.line, "mounts entry of line %d: %s given twice", line, field)
		}
		seen[field] = true
		if err := p.colon(); err != nil {
			return m, err
		}
		v, err := p.lx.next()
		if err != nil {
			return m, err
		}
		if field == "mount_type" {
			if v.kind != tokIdent {
				return m, p.lx.errorf(v.line, "mount_type: want an enum name, got %q", v.text)
			}
			m.MountType = v.text
		} else {
			if v.kind != tokString {
				return m, p.lx.errorf(v.line, "%s: want a string, got %q", field, v.text)
			}
			s, err := p.moreStrings(v.text)
			if err != nil {
				return m, err
			}
			switch field {
			case "image_file":
				m.ImageFile = s
			case "image_verity_sha256":
				m.Verity = true
			case "image_sha2_256":
				if !isHex(s, 64) {
					return m, p.lx.errorf(v.line, "image_sha2_256 %q: not a SHA-256 in hex (64 digits)", s)
				}
				m.SHA256 = strings.ToLower(s)
			}
		}
		if err := p.separator(); err != nil {
			return m, err
		}
	}
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// open reads an optional colon and a message's opening brace; it returns
// the closing one.
func (p *confParser) open() (string, error) {
	t, err := p.lx.next()
	if err != nil {
		return "", err
	}
	if t.kind == tokPunct && t.text == ":" {
		if t, err = p.lx.next(); err != nil {
			return "", err
		}
	}
	switch {
	case t.kind == tokPunct && t.text == "{":
		return "}", nil
	case t.kind == tokPunct && t.text == "<":
		return ">", nil
	}
	return "", p.lx.errorf(t.line, "want { after mounts, got %q", t.text)
}

func (p *confParser) colon() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	if t.kind != tokPunct || t.text != ":" {
		return p.lx.errorf(t.line, "want : after a field name, got %q", t.text)
	}
	return nil
}

// moreStrings joins adjacent string literals ("a" "b" is "ab").
func (p *confParser) moreStrings(s string) (string, error) {
	for {
		t, err := p.lx.peek()
		if err != nil || t.kind != tokString {
			return s, err
		}
		p.lx.next()
		s += t.text
	}
}

// separator skips an optional , or ; after a field.
func (p *confParser) separator() error {
	t, err := p.lx.peek()
	if err == nil && t.kind == tokPunct && (t.text == "," || t.text == ";") {
		p.lx.next()
	}
	return err
}

// skipValue skips what follows a field name: `: scalar`, `: [list]`, or
// a message with or without the colon.
func (p *confParser) skipValue() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	colon := t.kind == tokPunct && t.text == ":"
	if colon {
		if t, err = p.lx.next(); err != nil {
			return err
		}
	}
	switch {
	case t.kind == tokPunct && (t.text == "{" || t.text == "<"):
		if err := p.skipMessage(t); err != nil {
			return err
		}
	case !colon:
		return p.lx.errorf(t.line, "want : or { after a field name, got %q", t.text)
	case t.kind == tokPunct && t.text == "[":
		if err := p.skipList(t.line); err != nil {
			return err
		}
	case t.kind == tokString:
		if _, err := p.moreStrings(t.text); err != nil {
			return err
		}
	case t.kind == tokPunct && t.text == "-":
		// a negative number: the sign, then the number.
		if t, err = p.lx.next(); err != nil {
			return err
		}
		if t.kind != tokIdent {
			return p.lx.errorf(t.line, "want a number after -, got %q", t.text)
		}
	case t.kind != tokIdent:
		return p.lx.errorf(t.line, "want a value, got %q", t.text)
	}
	return p.separator()
}

// skipMessage skips fields up to the brace that closes open.
func (p *confParser) skipMessage(open confToken) error {
	closer := map[string]string{"{": "}", "<": ">"}[open.text]
	for {
		t, err := p.lx.peek()
		if err != nil {
			return err
		}
		if t.kind == tokPunct && t.text == closer {
			p.lx.next()
			return nil
		}
		if t.kind == tokEOF {
			return p.lx.errorf(open.line, "%s not closed", open.text)
		}
		p.lx.next()
		if t.kind != tokIdent {
			return p.lx.errorf(t.line, "want a field name, got %q", t.text)
		}
		if err := p.skipValue(); err != nil {
			return err
		}
	}
}

func (p *confParser) skipList(line int) error {
	for {
		t, err := p.lx.next()
		if err != nil {
			return err
		}
		switch {
		case t.kind == tokEOF:
			return p.lx.errorf(line, "[ not closed")
		case t.kind == tokPunct && t.text == "]":
			return nil
		case t.kind == tokPunct && (t.text == "{" || t.text == "<"):
			if err := p.skipMessage(t); err != nil {
				return err
			}
		}
	}
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokPunct
)

type confToken struct {
	kind tokKind
	text string // a string's value with its escapes decoded
	line int
}

// confLexer splits protobuf text into identifiers (names, enum values,
// numbers), strings and punctuation, dropping # comments.
type confLexer struct {
	src    string
	pos    int
	line   int
	peeked *confToken
}

func (lx *confLexer) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

func (lx *confLexer) peek() (confToken, error) {
	if lx.peeked == nil {
		t, err := lx.scan()
		if err != nil {
			return t, err
		}
		lx.peeked = &t
	}
	return *lx.peeked, nil
}

func (lx *confLexer) next() (confToken, error) {
	t, err := lx.peek()
	lx.peeked = nil
	return t, err
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '.' || c == '+' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (lx *confLexer) scan() (confToken, error) {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == '\n':
			lx.line++
			lx.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			lx.pos++
		case c == '#':
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
				lx.pos++
			}
		case c == '"' || c == '\'':
			return lx.str(c)
		case isIdentByte(c):
			start := lx.pos
			for lx.pos < len(lx.src) && (isIdentByte(lx.src[lx.pos]) || lx.src[lx.pos] == '-' && (lx.src[lx.pos-1] == 'e' || lx.src[lx.pos-1] == 'E')) {
				lx.pos++
			}
			return confToken{kind: tokIdent, text: lx.src[start:lx.pos], line: lx.line}, nil
		case strings.IndexByte("{}<>:,;[]-", c) >= 0:
			lx.pos++
			return confToken{kind: tokPunct, text: string(c), line: lx.line}, nil
		default:
			return confToken{}, lx.errorf(lx.line, "unexpected byte %q", c)
		}
	}
	return confToken{kind: tokEOF, text: "end of file", line: lx.line}, nil
}

// str reads a quoted string and decodes its escapes (C-style, as the text
// format has them: \n \t \\ \" \' \xHH \ooo …).
func (lx *confLexer) str(quote byte) (confToken, error) {
	line := lx.line
	lx.pos++
	var b strings.Builder
	for {
		if lx.pos >= len(lx.src) || lx.src[lx.pos] == '\n' {
			return confToken{}, lx.errorf(line, "string not closed")
		}
		c := lx.src[lx.pos]
		lx.pos++
		if c == quote {
			return confToken{kind: tokString, text: b.String(), line: line}, nil
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if lx.pos >= len(lx.src) {
			return confToken{}, lx.errorf(line, "string not closed")
		}
		e := lx.src[lx.pos]
		lx.pos++
		switch {
		case strings.IndexByte(`"'\?`, e) >= 0:
			b.WriteByte(e)
		case strings.IndexByte("abfnrtv", e) >= 0:
			b.WriteByte("\a\b\f\n\r\t\v"[strings.IndexByte("abfnrtv", e)])
		case e == 'x' || e == 'X' || e >= '0' && e <= '7':
			base, max, start := 8, 3, lx.pos-1
			if e == 'x' || e == 'X' {
				base, max, start = 16, 2, lx.pos
			}
			end := start
			for end < len(lx.src) && end-start < max && strings.IndexByte("0123456789abcdefABCDEF"[:base+(base/16)*6], lx.src[end]) >= 0 {
				end++
			}
			v, err := strconv.ParseUint(lx.src[start:end], base, 8)
			if err != nil {
				return confToken{}, lx.errorf(line, "bad escape \\%s", lx.src[lx.pos-1:end])
			}
			b.WriteByte(byte(v))
			lx.pos = end
		default:
			return confToken{}, lx.errorf(line, "unknown escape \\%c", e)
		}
	}
}
