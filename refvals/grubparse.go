package refvals

import (
	"fmt"
	"slices"
	"strings"
)

// GRUB's script language as the simulator reads it: a lexer close to
// GRUB's (words, ";" and newlines, braces as tokens of their own,
// quotes, $var and ${var}, # comments) and a parser for simple
// commands, if/elif/else/fi and menuentry blocks. Words keep their text
// as written: GRUB expands them when the command runs, with the
// variables of that moment.

const (
	tokWord = iota
	tokSep
	tokLBrace
	tokRBrace
)

type grubTok struct {
	kind       int
	raw        string // a word as written, quotes included
	line       int
	start, end int // byte offsets in the script
}

// grubMaxNesting bounds nested if and menuentry blocks, which the parser
// follows by recursion.
const grubMaxNesting = 64

// lexGRUB splits a script into tokens.
func lexGRUB(text string, firstLine int) ([]grubTok, error) {
	var toks []grubTok
	line := firstLine
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '\n' || c == ';':
			toks = append(toks, grubTok{kind: tokSep, line: line, start: i, end: i + 1})
			if c == '\n' {
				line++
			}
			i++
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == '{' || c == '}':
			// Braces are tokens of their own, as in GRUB's lexer: wic
			// writes "menuentry 'boot'{".
			k := tokLBrace
			if c == '}' {
				k = tokRBrace
			}
			toks = append(toks, grubTok{kind: k, raw: string(c), line: line, start: i, end: i + 1})
			i++
		default:
			start, startLine := i, line
			for i < len(text) && !strings.ContainsRune(" \t\r\n;{}", rune(text[i])) {
				switch text[i] {
				case '\'', '"':
					q := text[i]
					j := i + 1
					for j < len(text) && text[j] != q {
						if q == '"' && text[j] == '\\' {
							j++
						}
						j++
					}
					if j >= len(text) {
						return nil, fmt.Errorf("line %d: unterminated %c quote", startLine, q)
					}
					line += strings.Count(text[i:j], "\n")
					i = j + 1
				case '\\':
					if i+1 < len(text) && text[i+1] == '\n' {
						line++
					}
					i += 2
				case '$':
					if i+1 < len(text) && text[i+1] == '{' {
						end := strings.IndexByte(text[i:], '}')
						if end < 0 {
							return nil, fmt.Errorf("line %d: unterminated ${", line)
						}
						i += end + 1
					} else {
						i++
					}
				default:
					i++
				}
			}
			if i > len(text) {
				i = len(text)
			}
			toks = append(toks, grubTok{kind: tokWord, raw: text[start:i], line: startLine, start: start, end: i})
		}
	}
	return toks, nil
}

// grubNode is a parsed command: *grubSimple, *grubIf or *grubMenu.
type grubNode interface{}

type grubList []grubNode

type grubSimple struct {
	words []grubTok
	line  int
}

type grubIf struct {
	conds, bodies []grubList
	els           grubList // nil: no else
	line          int
}

type grubMenu struct {
	words                []grubTok // "menuentry" and its arguments
	body                 grubList
	blockStart, blockEnd int // the block "{…}" as written
	line                 int
}

type grubParser struct {
	s      *grubScript
	toks   []grubTok
	i      int
	depth  int
	inMenu bool
}

// parseGRUB parses a script; errors name the script and line.
func parseGRUB(s *grubScript) (grubList, error) {
	toks, err := lexGRUB(s.text, 1)
	if err != nil {
		return nil, &grubLineError{fmt.Errorf("%s %w", s.name, err)}
	}
	p := &grubParser{s: s, toks: toks}
	list, err := p.list()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		t := p.toks[p.i]
		return nil, p.errf(t.line, "unexpected %q", t.raw)
	}
	return list, nil
}

func (p *grubParser) errf(line int, format string, args ...any) error {
	return errAt(p.s, line, fmt.Errorf(format, args...))
}

// word returns the current token's text if it is a word.
func (p *grubParser) word() (string, bool) {
	if p.i < len(p.toks) && p.toks[p.i].kind == tokWord {
		return p.toks[p.i].raw, true
	}
	return "", false
}

// list parses commands up to a keyword among stop (or "}" for a block),
// which it leaves unread.
func (p *grubParser) list(stop ...string) (grubList, error) {
	var out grubList
	for {
		for p.i < len(p.toks) && p.toks[p.i].kind == tokSep {
			p.i++
		}
		if p.i >= len(p.toks) {
			return out, nil
		}
		t := p.toks[p.i]
		if (t.kind == tokWord || t.kind == tokRBrace) && slices.Contains(stop, t.raw) {
			return out, nil
		}
		n, err := p.command()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
}

func grubBlank(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }

func (p *grubParser) expect(kw string, opened int, what string) error {
	if w, ok := p.word(); ok && w == kw || kw == "}" && p.i < len(p.toks) && p.toks[p.i].kind == tokRBrace {
		p.i++
		return nil
	}
	return p.errf(opened, "%s never closed (no %q)", what, kw)
}

func (p *grubParser) command() (grubNode, error) {
	t := p.toks[p.i]
	if t.kind != tokWord {
		return nil, p.errf(t.line, "unexpected %q", t.raw)
	}
	if p.inMenu && (t.raw == "menuentry" || t.raw == "submenu" || t.raw == "function") {
		return nil, p.errf(t.line, "%s inside a menuentry block is not simulated", t.raw)
	}
	switch t.raw {
	case "if":
		return p.ifBlock()
	case "menuentry":
		return p.menuentry()
	case "submenu", "function", "for", "while", "until":
		return nil, p.errf(t.line, "%q is not simulated", t.raw)
	case "then", "elif", "else", "fi", "do", "done":
		return nil, p.errf(t.line, "unexpected %q", t.raw)
	}
	n := &grubSimple{line: t.line}
	for p.i < len(p.toks) && p.toks[p.i].kind == tokWord {
		n.words = append(n.words, p.toks[p.i])
		p.i++
	}
	if p.i < len(p.toks) && p.toks[p.i].kind == tokLBrace {
		return nil, p.errf(p.toks[p.i].line, "a block after %q is not simulated", t.raw)
	}
	return n, nil
}

func (p *grubParser) nest(line int) error {
	if p.depth++; p.depth > grubMaxNesting {
		return p.errf(line, "blocks nested deeper than %d", grubMaxNesting)
	}
	return nil
}

func (p *grubParser) ifBlock() (grubNode, error) {
	line := p.toks[p.i].line
	if err := p.nest(line); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	n := &grubIf{line: line}
	for kw := "if"; ; {
		p.i++ // if or elif
		cond, err := p.list("then")
		if err != nil {
			return nil, err
		}
		if err := p.expect("then", line, kw); err != nil {
			return nil, err
		}
		body, err := p.list("elif", "else", "fi")
		if err != nil {
			return nil, err
		}
		n.conds, n.bodies = append(n.conds, cond), append(n.bodies, body)
		w, _ := p.word()
		if w == "elif" {
			kw = "elif"
			continue
		}
		if w == "else" {
			p.i++
			els, err := p.list("fi")
			if err != nil {
				return nil, err
			}
			n.els = append(grubList{}, els...)
		}
		return n, p.expect("fi", line, "if")
	}
}

func (p *grubParser) menuentry() (grubNode, error) {
	t := p.toks[p.i]
	n := &grubMenu{line: t.line}
	for p.i < len(p.toks) && p.toks[p.i].kind == tokWord {
		n.words = append(n.words, p.toks[p.i])
		p.i++
	}
	if len(n.words) < 2 || p.i >= len(p.toks) || p.toks[p.i].kind != tokLBrace {
		return nil, p.errf(t.line, "only \"menuentry TITLE {\" with the brace on its line is simulated")
	}
	if err := p.nest(t.line); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	n.blockStart = p.toks[p.i].start
	p.i++
	p.inMenu = true
	body, err := p.list("}")
	p.inMenu = false
	if err != nil {
		return nil, err
	}
	if p.i >= len(p.toks) {
		return nil, p.errf(t.line, "menuentry block never closed")
	}
	n.blockEnd = p.toks[p.i].end
	p.i++
	n.body = body
	return n, nil
}

// grubWords splits a command line into its arguments, expanded: quotes
// group and are removed, $var and ${var} expand, each expansion taken
// from *budget; braces are words of their own, ";" separates nothing.
func grubWords(line string, vars map[string]string, budget *int) ([]string, error) {
	toks, err := lexGRUB(line, 1)
	if err != nil {
		return nil, err
	}
	var words []string
	for _, t := range toks {
		switch t.kind {
		case tokLBrace, tokRBrace:
			words = append(words, t.raw)
		case tokWord:
			f, err := expandWord(t.raw, vars, budget)
			if err != nil {
				return nil, err
			}
			words = append(words, f...)
		}
	}
	return words, nil
}

// expandWord expands one word as written into its fields: an unquoted
// variable's value splits at blanks (and an empty one adds no field);
// quoted text stays one field.
func expandWord(raw string, vars map[string]string, budget *int) ([]string, error) {
	var fields []string
	var cur strings.Builder
	have := false
	flush := func() {
		if have {
			fields = append(fields, cur.String())
		}
		cur.Reset()
		have = false
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '\'':
			end := strings.IndexByte(raw[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' quote")
			}
			cur.WriteString(raw[i+1 : i+1+end])
			have = true
			i += end + 1
		case '"':
			j := i + 1
			for ; j < len(raw) && raw[j] != '"'; j++ {
				switch {
				case raw[j] == '\\' && j+1 < len(raw) && strings.IndexByte("$\"\\", raw[j+1]) >= 0:
					j++
					cur.WriteByte(raw[j])
				case raw[j] == '$':
					name, next, err := grubVar(raw, j)
					if err != nil {
						return nil, err
					}
					if err := expandVar(&cur, name, vars, budget); err != nil {
						return nil, err
					}
					j = next - 1
				default:
					cur.WriteByte(raw[j])
				}
			}
			if j >= len(raw) {
				return nil, fmt.Errorf("unterminated \" quote")
			}
			have = true
			i = j
		case '\\':
			if i+1 < len(raw) {
				i++
				if raw[i] != '\n' {
					cur.WriteByte(raw[i])
					have = true
				}
			}
		case '$':
			name, next, err := grubVar(raw, i)
			if err != nil {
				return nil, err
			}
			var v strings.Builder
			if err := expandVar(&v, name, vars, budget); err != nil {
				return nil, err
			}
			val := v.String()
			parts := strings.FieldsFunc(val, grubBlank)
			if val != "" && grubBlank(rune(val[0])) {
				flush()
			}
			for k, part := range parts {
				if k > 0 {
					flush()
				}
				cur.WriteString(part)
				have = true
			}
			if len(parts) > 0 && grubBlank(rune(val[len(val)-1])) {
				flush()
			}
			i = next - 1
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	flush()
	return fields, nil
}

// grubVar reads the variable reference at line[i] ("$name" or
// "${name}") and returns its name and the index just past it.
func grubVar(line string, i int) (string, int, error) {
	j := i + 1
	if j < len(line) && line[j] == '{' {
		end := strings.IndexByte(line[j:], '}')
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated ${")
		}
		return line[j+1 : j+end], j + end + 1, nil
	}
	for j < len(line) && (line[j] == '_' || line[j] >= 'a' && line[j] <= 'z' || line[j] >= 'A' && line[j] <= 'Z' || line[j] >= '0' && line[j] <= '9') {
		j++
	}
	return line[i+1 : j], j, nil
}

// grubRuntimeVars are variables GRUB sets from the running machine that
// no input states: expanding one before the configuration sets it is
// refused rather than taken as empty.
var grubRuntimeVars = map[string]string{
	"cmdpath":    "the directory GRUB's image was started from",
	"fw_path":    "the firmware's boot path",
	"net_pxe_ip": "the network's address", "net_default_ip": "the network's address", "net_default_server": "the network's server",
}

// expandVar writes the value of the variable name to out, if *budget
// allows.
func expandVar(out *strings.Builder, name string, vars map[string]string, budget *int) error {
	v, set := vars[name]
	if why, ok := grubRuntimeVars[name]; ok && !set {
		return fmt.Errorf("$%s is %s, which no input states", name, why)
	}
	if len(v) > *budget {
		return fmt.Errorf("expanding $%s exceeds the budget for variable expansion (%d bytes per byte of configuration plus %d KiB)", name, grubExpansionPerByte, grubExpansionFloor>>10)
	}
	*budget -= len(v)
	out.WriteString(v)
	return nil
}
