package pcr

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decodeHex reads a digest written as hex, with or without a 0x prefix.
// The error says what is wrong without a position; callers add it.
func decodeHex(s string) ([]byte, error) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if s == "" {
		return nil, errors.New("empty digest")
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return nil, fmt.Errorf("bad hex digit %q in digest", s[i])
		}
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd number of hex digits (%d) in digest", len(s))
	}
	if len(s)/2 > tpmHAMax {
		return nil, fmt.Errorf("digest is %d bytes, longer than any bank's (%d)", len(s)/2, tpmHAMax)
	}
	return hex.DecodeString(s)
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parsePCRIndex reads a decimal PCR index 0–23.
func parsePCRIndex(s string) (int, error) {
	if s == "" || len(s) > 2 {
		return 0, fmt.Errorf("PCR index %q: want a number 0-%d", s, NumPCRs-1)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("PCR index %q: want a number 0-%d", s, NumPCRs-1)
		}
		n = n*10 + int(s[i]-'0')
	}
	if n >= NumPCRs {
		return 0, fmt.Errorf("PCR index %d out of range 0-%d", n, NumPCRs-1)
	}
	return n, nil
}

func sizeErr(alg Alg, index int, d []byte) error {
	return fmt.Errorf("%s PCR %d: digest is %d bytes, want %d", alg, index, len(d), alg.Size())
}

// appendHexUpper appends d as uppercase hex, as tpm2-tools prints digests.
func appendHexUpper(out []byte, d []byte) []byte {
	const digits = "0123456789ABCDEF"
	for _, c := range d {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return out
}

// --- YAML family: tpm2-yaml, yaml, charra ---

// charraBanks are the bank keys CHARRA's reference file parser knows.
var charraBanks = []Alg{SHA1, SHA256, SHA384, SHA512}

func parseYAMLFamily(data []byte, f Format) (doc *Document, err error) {
	// yaml.v3 reports errors as values, but this is a third-party parser
	// fed hostile input: a panic in it must become an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, &FormatError{Format: f, Msg: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	doc = &Document{}
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err == io.EOF {
			break
		} else if err != nil {
			return nil, &FormatError{Format: f, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		}
		if len(n.Content) == 0 {
			continue // an empty document between separators
		}
		root := n.Content[0]
		if f == FormatTPM2YAML && len(doc.Sets) == 1 {
			return nil, lineErr(f, root.Line, "a second YAML document; tpm2_pcrread output holds one set (read several alternatives as charra or yaml)")
		}
		set, err := yamlSet(f, root, &doc.BankOrder)
		if err != nil {
			return nil, err
		}
		doc.Sets = append(doc.Sets, set)
	}
	return doc, nil
}

func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", truncate(n.Value, 20))
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// yamlSet reads one document: a map bank → map index → hex digest.
func yamlSet(f Format, root *yaml.Node, order *[]Alg) (Values, error) {
	if root.Kind != yaml.MappingNode {
		return nil, lineErr(f, root.Line, "want a map of banks (sha256: …), got %s", yamlKind(root))
	}
	banks := root
	if f == FormatTPM2YAML {
		// tpm2_quote and tpm2_checkquote print the values under "pcrs:"
		// next to other keys; read just those.
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "pcrs" {
				banks = root.Content[i+1]
				if banks.Kind != yaml.MappingNode {
					return nil, lineErr(f, banks.Line, "pcrs: want a map of banks, got %s", yamlKind(banks))
				}
				break
			}
		}
	}
	v := Values{}
	for i := 0; i+1 < len(banks.Content); i += 2 {
		k, val := banks.Content[i], banks.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, lineErr(f, k.Line, "want a bank name, got %s", yamlKind(k))
		}
		alg, err := ParseAlg(k.Value)
		if err != nil {
			return nil, &FormatError{Format: f, Line: k.Line, Err: err}
		}
		if f == FormatCHARRA && !containsAlg(charraBanks, alg) {
			return nil, lineErr(f, k.Line, "bank %s: CHARRA reference files know sha1, sha256, sha384 and sha512 only", alg)
		}
		if _, dup := v[alg]; dup {
			return nil, lineErr(f, k.Line, "bank %s given twice", alg)
		}
		if val.Kind != yaml.MappingNode {
			return nil, lineErr(f, val.Line, "%s: want a map of PCR index to digest, got %s", alg, yamlKind(val))
		}
		*order = appendUnique(*order, alg)
		bank := make(map[int][]byte, len(val.Content)/2)
		v[alg] = bank
		for j := 0; j+1 < len(val.Content); j += 2 {
			ik, iv := val.Content[j], val.Content[j+1]
			if ik.Kind != yaml.ScalarNode {
				return nil, lineErr(f, ik.Line, "%s: want a PCR index, got %s", alg, yamlKind(ik))
			}
			idx, err := parsePCRIndex(ik.Value)
			if err != nil {
				return nil, &FormatError{Format: f, Line: ik.Line, Msg: alg.String(), Err: err}
			}
			if _, dup := bank[idx]; dup {
				return nil, lineErr(f, ik.Line, "%s PCR %d given twice", alg, idx)
			}
			if iv.Kind != yaml.ScalarNode {
				return nil, lineErr(f, iv.Line, "%s PCR %d: want a hex digest, got %s", alg, idx, yamlKind(iv))
			}
			d, err := decodeHex(iv.Value)
			if err != nil {
				return nil, &FormatError{Format: f, Line: iv.Line, Msg: fmt.Sprintf("%s PCR %d", alg, idx), Err: err}
			}
			if len(d) != alg.Size() {
				return nil, &FormatError{Format: f, Line: iv.Line, Err: sizeErr(alg, idx, d)}
			}
			bank[idx] = d
		}
	}
	return v, nil
}

func containsAlg(list []Alg, a Alg) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// marshalTPM2YAML writes exactly what tpm2_pcrread prints.
func marshalTPM2YAML(v Values, sel Selection) []byte {
	var out []byte
	for _, b := range sel {
		out = append(out, "  "...)
		out = append(out, b.Alg.String()...)
		out = append(out, ":\n"...)
		for _, i := range b.PCRs {
			out = fmt.Appendf(out, "    %-2d: 0x", i)
			out = appendHexUpper(out, v[b.Alg][i])
			out = append(out, '\n')
		}
	}
	return out
}

// marshalYAML writes the JSON map as YAML. Digests are quoted because an
// all-digit hex string would otherwise read back as a YAML number.
func marshalYAML(sets []Values, sels []Selection) []byte {
	var out []byte
	for s, set := range sets {
		if s > 0 {
			out = append(out, "---\n"...)
		}
		for _, b := range sels[s] {
			out = append(out, b.Alg.String()...)
			out = append(out, ":\n"...)
			for _, i := range b.PCRs {
				out = fmt.Appendf(out, "  %d: \"%x\"\n", i, set[b.Alg][i])
			}
		}
	}
	return out
}

// marshalCHARRA writes a reference-pcrs.yml like CHARRA's own sample: each
// alternative an explicit document, values 0x-prefixed uppercase hex.
func marshalCHARRA(sets []Values, sels []Selection) ([]byte, error) {
	var out []byte
	for s, set := range sets {
		if s > 0 {
			out = append(out, '\n')
		}
		out = append(out, "---\n"...)
		for _, b := range sels[s] {
			if !containsAlg(charraBanks, b.Alg) {
				return nil, fmt.Errorf("charra: bank %s: CHARRA reference files know sha1, sha256, sha384 and sha512 only", b.Alg)
			}
			out = append(out, b.Alg.String()...)
			out = append(out, ":\n"...)
			for _, i := range b.PCRs {
				out = fmt.Appendf(out, "    %-2d: 0x", i)
				out = appendHexUpper(out, set[b.Alg][i])
				out = append(out, '\n')
			}
		}
		out = append(out, "...\n"...)
	}
	return out, nil
}

// --- JSON ---

type jsonReader struct {
	dec  *json.Decoder
	data []byte
}

// lineAt turns a byte offset into a 1-based line number; only errors pay
// for the scan.
func (r *jsonReader) lineAt(off int64) int {
	if off > int64(len(r.data)) {
		off = int64(len(r.data))
	}
	return 1 + bytes.Count(r.data[:off], []byte("\n"))
}

func (r *jsonReader) errorf(format string, args ...any) error {
	return lineErr(FormatJSON, r.lineAt(r.dec.InputOffset()), format, args...)
}

func (r *jsonReader) token() (json.Token, error) {
	tok, err := r.dec.Token()
	if err == nil {
		return tok, nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, lineErr(FormatJSON, r.lineAt(se.Offset), "%s", se.Error())
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, lineErr(FormatJSON, r.lineAt(int64(len(r.data))), "unexpected end of input")
	}
	return nil, r.errorf("%s", err.Error())
}

func (r *jsonReader) delim(want json.Delim, what string) error {
	tok, err := r.token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return r.errorf("want %s, got %s", what, jsonDesc(tok))
	}
	return nil
}

func jsonDesc(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(t))
	case string:
		return fmt.Sprintf("string %q", truncate(t, 20))
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

func (r *jsonReader) str(what string) (string, error) {
	tok, err := r.token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", r.errorf("want %s, got %s", what, jsonDesc(tok))
	}
	return s, nil
}

func parseJSON(data []byte) (*Document, error) {
	r := &jsonReader{dec: json.NewDecoder(bytes.NewReader(data)), data: data}
	r.dec.UseNumber()
	doc := &Document{}
	tok, err := r.token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		set, err := r.set(&doc.BankOrder)
		if err != nil {
			return nil, err
		}
		doc.Sets = append(doc.Sets, set)
	case json.Delim('['):
		for r.dec.More() {
			if err := r.delim('{', "an object of banks"); err != nil {
				return nil, err
			}
			set, err := r.set(&doc.BankOrder)
			if err != nil {
				return nil, err
			}
			doc.Sets = append(doc.Sets, set)
		}
		if err := r.delim(']', `"]"`); err != nil {
			return nil, err
		}
	default:
		return nil, r.errorf("want an object of banks, got %s", jsonDesc(tok))
	}
	if _, err := r.dec.Token(); err != io.EOF {
		return nil, r.errorf("trailing data after the PCR values")
	}
	return doc, nil
}

// set reads the rest of an object {"bank": {"index": "hex"}} after its "{".
func (r *jsonReader) set(order *[]Alg) (Values, error) {
	v := Values{}
	for r.dec.More() {
		name, err := r.str("a bank name")
		if err != nil {
			return nil, err
		}
		alg, err := ParseAlg(name)
		if err != nil {
			return nil, &FormatError{Format: FormatJSON, Line: r.lineAt(r.dec.InputOffset()), Err: err}
		}
		if _, dup := v[alg]; dup {
			return nil, r.errorf("bank %s given twice", alg)
		}
		if err := r.delim('{', "an object of PCR index to digest"); err != nil {
			return nil, err
		}
		*order = appendUnique(*order, alg)
		bank := map[int][]byte{}
		v[alg] = bank
		for r.dec.More() {
			key, err := r.str("a PCR index")
			if err != nil {
				return nil, err
			}
			idx, err := parsePCRIndex(key)
			if err != nil {
				return nil, &FormatError{Format: FormatJSON, Line: r.lineAt(r.dec.InputOffset()), Msg: alg.String(), Err: err}
			}
			if _, dup := bank[idx]; dup {
				return nil, r.errorf("%s PCR %d given twice", alg, idx)
			}
			s, err := r.str("a hex digest string")
			if err != nil {
				return nil, err
			}
			d, err := decodeHex(s)
			if err != nil {
				return nil, &FormatError{Format: FormatJSON, Line: r.lineAt(r.dec.InputOffset()), Msg: fmt.Sprintf("%s PCR %d", alg, idx), Err: err}
			}
			if len(d) != alg.Size() {
				return nil, &FormatError{Format: FormatJSON, Line: r.lineAt(r.dec.InputOffset()), Err: sizeErr(alg, idx, d)}
			}
			bank[idx] = d
		}
		if err := r.delim('}', `"}"`); err != nil {
			return nil, err
		}
	}
	if err := r.delim('}', `"}"`); err != nil {
		return nil, err
	}
	return v, nil
}

// marshalJSON writes indices in numeric order, which encoding/json's
// string-sorted map keys would not ("10" before "2").
func marshalJSON(sets []Values, sels []Selection) []byte {
	var out []byte
	indent := ""
	if len(sets) > 1 {
		out = append(out, "[\n"...)
		indent = "  "
	}
	for s, set := range sets {
		out = append(out, indent...)
		out = append(out, "{\n"...)
		for bi, b := range sels[s] {
			out = fmt.Appendf(out, "%s  %q: {\n", indent, b.Alg.String())
			for k, i := range b.PCRs {
				out = fmt.Appendf(out, "%s    \"%d\": \"%x\"", indent, i, set[b.Alg][i])
				if k < len(b.PCRs)-1 {
					out = append(out, ',')
				}
				out = append(out, '\n')
			}
			out = append(out, indent...)
			out = append(out, "  }"...)
			if bi < len(sels[s])-1 {
				out = append(out, ',')
			}
			out = append(out, '\n')
		}
		out = append(out, indent...)
		out = append(out, '}')
		if len(sets) > 1 && s < len(sets)-1 {
			out = append(out, ',')
		}
		out = append(out, '\n')
	}
	if len(sets) > 1 {
		out = append(out, "]\n"...)
	}
	return out
}

// --- go_tpm_remote_attestation map ---

// bankFor picks the bank of a format that does not name one: the caller's,
// or the one whose digests have this size.
func bankFor(bank Alg, d []byte) (Alg, error) {
	if bank != 0 {
		if len(d) != bank.Size() {
			return 0, fmt.Errorf("digest is %d bytes, but bank %s needs %d", len(d), bank, bank.Size())
		}
		return bank, nil
	}
	a, ok := AlgForSize(len(d))
	if !ok {
		return 0, fmt.Errorf("digest is %d bytes, which is no bank's size (20 sha1, 32 sha256, 48 sha384, 64 sha512)", len(d))
	}
	return a, nil
}

// parseMap reads INDEX:HEX pairs separated by commas, as
// go_tpm_remote_attestation's flag value has them on one line, or by line
// breaks, as GyroidOS cmld lists a quote's PCRs ("0: 2f02…"); both
// together are fine too. Errors give the line and column of the pair.
func parseMap(data []byte, bank Alg) (*Document, error) {
	const f = FormatMap
	v := Values{}
	var alg Alg
	for n, rest := 1, string(data); rest != ""; n++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		col := 1
		for _, item := range strings.Split(strings.TrimRight(line, "\r"), ",") {
			itemCol := col
			col += len(item) + 1
			at := func(format string, args ...any) error {
				e := lineErr(f, n, format, args...)
				e.Column = itemCol + len(item) - len(strings.TrimLeft(item, " \t"))
				return e
			}
			trimmed := strings.TrimSpace(item)
			if trimmed == "" {
				return nil, at("empty entry: want INDEX:HEX")
			}
			idxStr, hexStr, ok := strings.Cut(trimmed, ":")
			if !ok {
				return nil, at("want INDEX:HEX, got %q", truncate(trimmed, 20))
			}
			idx, err := parsePCRIndex(strings.TrimSpace(idxStr))
			if err != nil {
				return nil, at("%s", err)
			}
			d, err := decodeHex(strings.TrimSpace(hexStr))
			if err != nil {
				return nil, at("PCR %d: %s", idx, err)
			}
			if alg == 0 {
				if alg, err = bankFor(bank, d); err != nil {
					return nil, at("PCR %d: %s", idx, err)
				}
			} else if len(d) != alg.Size() {
				return nil, at("%s", sizeErr(alg, idx, d))
			}
			if _, dup := v.Get(alg, idx); dup {
				return nil, at("PCR %d given twice", idx)
			}
			v.Set(alg, idx, d)
		}
	}
	if alg == 0 {
		return nil, lineErr(f, 1, "no INDEX:HEX pairs")
	}
	return &Document{Sets: []Values{v}, BankOrder: []Alg{alg}}, nil
}

func oneBank(f Format, sel Selection, name func(Option) string) (BankSelection, error) {
	if len(sel) != 1 {
		names := make([]string, len(sel))
		for i, b := range sel {
			names[i] = b.Alg.String()
		}
		return BankSelection{}, fmt.Errorf("%s holds one bank, not %d (%s); pick one (%s)", f, len(sel), strings.Join(names, ", "), optionName(name, OptionBank))
	}
	return sel[0], nil
}

func marshalMap(v Values, sel Selection, name func(Option) string) ([]byte, error) {
	b, err := oneBank(FormatMap, sel, name)
	if err != nil {
		return nil, err
	}
	var out []byte
	for k, i := range b.PCRs {
		if k > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, ':')
		out = hex.AppendEncode(out, v[b.Alg][i])
	}
	return append(out, '\n'), nil
}

// --- evmctl ---

// parseEvmctl reads what evmctl's read_one_bank accepts: lines
// "PCR-NN: HEX" with a two-digit index, in order from PCR-00, the hex
// either contiguous or in space-separated bytes (the TPM 1.2 sysfs form).
// evmctl silently skips a line out of sequence, and so every later one;
// goldenpcr refuses such a file instead of reading something evmctl
// would not.
func parseEvmctl(data []byte, bank Alg) (*Document, error) {
	const f = FormatEvmctl
	v := Values{}
	var alg Alg
	next := 0
	for n, rest := 1, data; len(rest) > 0; n++ {
		var raw []byte
		raw, rest, _ = bytes.Cut(rest, []byte("\n"))
		line := strings.TrimRight(string(raw), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(line) < 7 || !strings.HasPrefix(line, "PCR-") || line[6] != ':' ||
			!isDigit(line[4]) || !isDigit(line[5]) {
			return nil, lineErr(f, n, "want \"PCR-NN: HEX\" with a two-digit index, got %q", truncate(line, 24))
		}
		idx := int(line[4]-'0')*10 + int(line[5]-'0')
		if idx >= NumPCRs {
			return nil, lineErr(f, n, "PCR index %d out of range 0-%d", idx, NumPCRs-1)
		}
		if idx != next {
			return nil, lineErr(f, n, "PCR-%02d out of sequence: evmctl reads PCR-00, PCR-01, … in order and would skip it (want PCR-%02d)", idx, next)
		}
		digits := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, line[7:])
		d, err := decodeHex(digits)
		if err != nil {
			return nil, lineErr(f, n, "PCR-%02d: %s", idx, err)
		}
		if alg == 0 {
			if alg, err = bankFor(bank, d); err != nil {
				return nil, lineErr(f, n, "PCR-%02d: %s", idx, err)
			}
		} else if len(d) != alg.Size() {
			return nil, lineErr(f, n, "%s", sizeErr(alg, idx, d))
		}
		v.Set(alg, idx, d)
		next++
	}
	return &Document{Sets: []Values{v}, BankOrder: []Alg{alg}}, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// evmctlLineMax is evmctl's fgets buffer less its NUL: MAX_DIGEST_SIZE*2+8-1.
const evmctlLineMax = tpmHAMax*2 + 8 - 1

func marshalEvmctl(v Values, sel Selection, name func(Option) string) ([]byte, error) {
	b, err := oneBank(FormatEvmctl, sel, name)
	if err != nil {
		return nil, err
	}
	for k, i := range b.PCRs {
		if i != k {
			return nil, fmt.Errorf("evmctl reads PCR-00, PCR-01, … in order and stops at a gap, but %s PCR %d is missing", b.Alg, k)
		}
	}
	var out []byte
	for _, i := range b.PCRs {
		out = fmt.Appendf(out, "PCR-%02d:", i)
		// The space the sysfs file has would push a sha512 line past
		// evmctl's line buffer; hex2bin reads the digits either way.
		if 8+2*b.Alg.Size() <= evmctlLineMax {
			out = append(out, ' ')
		}
		out = hex.AppendEncode(out, v[b.Alg][i])
		out = append(out, '\n')
	}
	return out, nil
}
