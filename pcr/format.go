package pcr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goldenpcr/goldenpcr/internal/optname"
)

// Format names a PCR value file format.
type Format string

// The PCR file formats goldenpcr reads and writes.
const (
	// FormatValues is tpm2-tools "-F values": the raw digests concatenated
	// in selection order. The file names neither banks nor PCRs, so reading
	// it needs the Selection that produced it.
	FormatValues Format = "values"
	// FormatSerialized is tpm2-tools "-F serialized": the C structures
	// TPML_PCR_SELECTION, a UINT32 list count and that many TPML_DIGEST,
	// written raw with their padding, integers little-endian.
	FormatSerialized Format = "serialized"
	// FormatMarshaled is tpm2-tools "-F marshaled" (5.8 and later): the
	// same data in TPM wire encoding, big-endian and without padding.
	FormatMarshaled Format = "marshaled"
	// FormatTPM2YAML is what tpm2_pcrread prints: "  sha256:\n    0 : 0x…".
	FormatTPM2YAML Format = "tpm2-yaml"
	// FormatEvmctl is the "PCR-NN: HEX" file of evmctl ima_measurement
	// --pcrs, laid out like the TPM 1.2 sysfs file
	// /sys/class/tpm/tpm0/device/pcrs. It holds one bank and does not name
	// it: evmctl takes the bank from "--pcrs sha256,FILE".
	FormatEvmctl Format = "evmctl"
	// FormatJSON is {"sha256": {"0": "hex", …}, …}.
	FormatJSON Format = "json"
	// FormatYAML is the same map as YAML.
	FormatYAML Format = "yaml"
	// FormatMap is go_tpm_remote_attestation's "0:hex,7:hex" flag value,
	// or the same pairs one per line as GyroidOS cmld prints a quote's
	// PCRs ("0: hex"): one bank, not named.
	FormatMap Format = "map"
	// FormatCHARRA is a CHARRA reference-pcrs.yml: a YAML stream whose
	// documents are alternative acceptable sets of sha1/sha256/sha384/
	// sha512 PCR values.
	FormatCHARRA Format = "charra"
)

// FormatInfo describes a format for help texts.
type FormatInfo struct {
	Format Format
	// Summary is the one-line summary in the library's words.
	Summary string
	// Needs is the option the format's reader needs ("" for none), which
	// the summary names.
	Needs Option
	tmpl  string // the summary with %s for the option's name
}

func formatInfo(f Format, tmpl string, needs Option) FormatInfo {
	fi := FormatInfo{Format: f, Needs: needs, tmpl: tmpl}
	fi.Summary = fi.Describe(nil)
	return fi
}

// Describe returns the summary with Needs worded by name (nil: the
// library's words).
func (fi FormatInfo) Describe(name func(Option) string) string {
	if fi.Needs == "" {
		return fi.tmpl
	}
	return fmt.Sprintf(fi.tmpl, optionName(name, fi.Needs))
}

// Formats lists every format with a one-line summary, in the order help
// texts show them.
var Formats = []FormatInfo{
	formatInfo(FormatTPM2YAML, "tpm2_pcrread's printed output (YAML, 0x-prefixed hex)", ""),
	formatInfo(FormatValues, "tpm2_pcrread -F values: bare digests in selection order; needs %s", OptionSelection),
	formatInfo(FormatSerialized, "tpm2_pcrread/tpm2_quote -F serialized: raw little-endian C structs", ""),
	formatInfo(FormatMarshaled, "tpm2-tools 5.8+ -F marshaled: TPM wire encoding", ""),
	formatInfo(FormatEvmctl, "evmctl ima_measurement --pcrs BANK,FILE; one bank, PCR-00 upwards", ""),
	formatInfo(FormatJSON, "JSON map bank → PCR → hex; an array holds alternatives", ""),
	formatInfo(FormatYAML, "the JSON map as YAML; documents (---) hold alternatives", ""),
	formatInfo(FormatMap, "INDEX:HEX pairs split by commas (go_tpm_remote_attestation) or lines (GyroidOS cmld); one bank, from %s or digest size", OptionBank),
	formatInfo(FormatCHARRA, "CHARRA reference-pcrs.yml; each YAML document one acceptable set", ""),
}

// ParseFormat reads a format name as given on a command line.
func ParseFormat(s string) (Format, error) {
	switch n := strings.ToLower(strings.TrimSpace(s)); n {
	case "yml":
		return FormatYAML, nil
	case "marshalled":
		return FormatMarshaled, nil
	case "tpm2yaml", "tpm2_yaml", "pcrread":
		return FormatTPM2YAML, nil
	default:
		for _, fi := range Formats {
			if string(fi.Format) == n {
				return fi.Format, nil
			}
		}
	}
	names := make([]string, len(Formats))
	for i, fi := range Formats {
		names[i] = string(fi.Format)
	}
	return "", fmt.Errorf("unknown PCR file format %q (known: %s)", s, strings.Join(names, ", "))
}

// binary reports whether f is one of the tpm2-tools binary formats.
func (f Format) binary() bool {
	return f == FormatValues || f == FormatSerialized || f == FormatMarshaled
}

// ReadOptions tells Parse what the file itself may not say.
type ReadOptions struct {
	// Format is the file's format; "" detects it.
	Format Format
	// Selection is the selection a values file was read with; required for
	// FormatValues, whose file holds bare digests.
	Selection Selection
	// Bank is the bank of formats that do not name one (map, evmctl);
	// 0 infers it from the digest size (32 bytes means sha256).
	Bank Alg
	// OptionName, if set, words an Option in the caller's terms for
	// errors that ask for it (a CLI names its flags); nil or "" keeps the
	// library's words, the option's field.
	OptionName func(Option) string
}

// Option names a field of ReadOptions or MarshalOptions that an error
// asks the caller to set.
type Option string

// The options errors ask for.
const (
	OptionSelection Option = "Selection"
	OptionBank      Option = "Bank"
)

// optionName words o with name, or as the option's field.
func optionName(name func(Option) string, o Option) string { return optname.Word(name, o) }

// Document is a parsed PCR file. Sets holds the alternatives: CHARRA files
// (and JSON arrays or YAML streams) may hold several acceptable sets; every
// other format holds exactly one.
type Document struct {
	Format Format
	Sets   []Values
	// BankOrder lists the banks in the order the file states them, so a
	// conversion can keep the selection order a quote was made with.
	BankOrder []Alg
}

// MaxFileSize bounds what ReadFile reads: the largest real PCR file (all
// five banks, serialized) is a few kilobytes, and CHARRA files with many
// alternatives stay far below this.
const MaxFileSize = 16 << 20

// ReadFile reads and parses the PCR file at path.
func ReadFile(path string, opts ReadOptions) (*Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d MiB, not a PCR file", path, MaxFileSize>>20)
	}
	doc, err := Parse(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc, nil
}

// Parse reads a PCR file, detecting its format when opts.Format is "".
// Every returned set has passed Values.Validate and holds at least one PCR.
func Parse(data []byte, opts ReadOptions) (*Document, error) {
	var f Format
	var err error
	if opts.Format == "" {
		f, err = Detect(data, opts)
	} else {
		f, err = ParseFormat(string(opts.Format)) // accepts aliases like "yml"
	}
	if err != nil {
		return nil, err
	}
	if opts.Bank != 0 && !opts.Bank.Valid() {
		return nil, &UnsupportedAlgError{ID: uint16(opts.Bank)}
	}
	if !f.binary() {
		data = bytes.TrimPrefix(data, utf8BOM) // editors on Windows add one
	}
	var doc *Document
	switch f {
	case FormatValues:
		doc, err = parseValues(data, opts.Selection, opts.OptionName)
	case FormatSerialized:
		doc, err = parseSerialized(data)
	case FormatMarshaled:
		doc, err = parseMarshaled(data)
	case FormatTPM2YAML, FormatYAML, FormatCHARRA:
		doc, err = parseYAMLFamily(data, f)
	case FormatJSON:
		doc, err = parseJSON(data)
	case FormatMap:
		doc, err = parseMap(data, opts.Bank)
	case FormatEvmctl:
		doc, err = parseEvmctl(data, opts.Bank)
	}
	if err != nil {
		return nil, err
	}
	doc.Format = f
	for i, set := range doc.Sets {
		if set.Len() == 0 {
			if len(doc.Sets) == 1 {
				return nil, &FormatError{Format: f, Msg: "no PCR values found"}
			}
			return nil, &FormatError{Format: f, Msg: fmt.Sprintf("alternative %d holds no PCR values", i+1)}
		}
		// Readers check sizes and indices with positions already; this is
		// the backstop that keeps the package invariant whatever a reader
		// missed.
		if err := set.Validate(); err != nil {
			return nil, &FormatError{Format: f, Err: err}
		}
	}
	if len(doc.Sets) == 0 {
		return nil, &FormatError{Format: f, Msg: "no PCR values found"}
	}
	return doc, nil
}

// Detect guesses the format of data. Binary data is serialized or
// marshaled when it parses as such, and values when opts.Selection accounts
// for its exact length; text is told apart by its first significant line.
func Detect(data []byte, opts ReadOptions) (Format, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return "", errors.New("empty PCR file")
	}
	if !isText(data) {
		if _, err := parseSerialized(data); err == nil {
			return FormatSerialized, nil
		}
		if _, err := parseMarshaled(data); err == nil {
			return FormatMarshaled, nil
		}
		if opts.Selection != nil && len(data) == valuesSize(opts.Selection) {
			return FormatValues, nil
		}
		// A damaged file still shows its selection count: serialized starts
		// with a little-endian, marshaled with a big-endian count of 1-16.
		// Naming the format lets its parser say what is wrong and where.
		if len(data) >= 4 {
			le, be := binary.LittleEndian.Uint32(data), binary.BigEndian.Uint32(data)
			switch {
			case le >= 1 && le <= tpmNumPCRBanks:
				return FormatSerialized, nil
			case be >= 1 && be <= tpmNumPCRBanks:
				return FormatMarshaled, nil
			}
		}
		if opts.Selection != nil {
			return "", fmt.Errorf("cannot detect PCR file format: %d bytes of binary data are neither tpm2-tools serialized nor marshaled, and selection %s needs %d bytes as values", len(data), opts.Selection, valuesSize(opts.Selection))
		}
		return "", fmt.Errorf("cannot detect PCR file format: %d bytes of binary data are neither tpm2-tools serialized nor marshaled (a values file needs its selection, e.g. %s sha256:0-7)", len(data), optionName(opts.OptionName, OptionSelection))
	}
	line, rest := firstSignificantLine(data)
	trimmed := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(trimmed, "{"), strings.HasPrefix(trimmed, "["):
		return FormatJSON, nil
	case strings.HasPrefix(trimmed, "PCR-"):
		return FormatEvmctl, nil
	case trimmed != "" && trimmed[0] >= '0' && trimmed[0] <= '9':
		// Every YAML format starts with a bank name; only the map starts
		// with a PCR index.
		return FormatMap, nil
	case trimmed == "---" || strings.HasPrefix(trimmed, "--- ") || strings.HasPrefix(trimmed, "%YAML"):
		if hexWith0x(rest) {
			return FormatCHARRA, nil
		}
		return FormatYAML, nil
	case strings.HasPrefix(trimmed, "pcrs:"):
		return FormatTPM2YAML, nil
	case strings.Contains(trimmed, ":"):
		// Several documents of 0x values are CHARRA's alternatives, even
		// when the first document has no "---" of its own.
		if hexWith0x(rest) && (bytes.HasPrefix(rest, []byte("---")) || bytes.Contains(rest, []byte("\n---"))) {
			return FormatCHARRA, nil
		}
		// tpm2_pcrread indents bank names and prefixes values with 0x.
		if line != strings.TrimLeft(line, " ") || hexWith0x(rest) {
			return FormatTPM2YAML, nil
		}
		return FormatYAML, nil
	}
	return "", fmt.Errorf("cannot detect PCR file format from its first line %q", truncate(trimmed, 40))
}

// isText reports whether data is UTF-8 without control characters other
// than tab, CR and LF; every binary format starts with NUL bytes.
func isText(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	for _, c := range data {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// firstSignificantLine returns the first line that is neither blank nor a
// comment, and the text after it.
var utf8BOM = []byte("\xef\xbb\xbf")

func firstSignificantLine(data []byte) (string, []byte) {
	data = bytes.TrimPrefix(data, utf8BOM)
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return string(bytes.TrimRight(line, "\r")), rest
		}
		data = rest
	}
	return "", nil
}

// hexWith0x reports whether the first "key: value" line of text has a
// 0x-prefixed value, as tpm2-tools and CHARRA write them.
func hexWith0x(text []byte) bool {
	for len(text) > 0 {
		line, rest, _ := bytes.Cut(text, []byte("\n"))
		if _, v, ok := bytes.Cut(line, []byte(":")); ok {
			if v = bytes.TrimSpace(v); len(v) > 0 {
				return bytes.HasPrefix(v, []byte("0x")) || bytes.HasPrefix(v, []byte("0X"))
			}
		}
		text = rest
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// FormatError reports malformed input and where it is: a line for text
// formats, a byte offset for binary ones.
type FormatError struct {
	Format Format
	Line   int // 1-based; 0 when the position is a byte offset or unknown
	Column int // 1-based column within Line, 0 when not known
	Offset int // byte offset; used when Line is 0 and HasOffset is set
	// HasOffset marks Offset as meaningful (offset 0 is a real position).
	HasOffset bool
	Msg       string
	Err       error // an underlying cause such as *UnsupportedAlgError
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Format))
	switch {
	case e.Line > 0 && e.Column > 0:
		fmt.Fprintf(&b, ": line %d, column %d", e.Line, e.Column)
	case e.Line > 0:
		fmt.Fprintf(&b, ": line %d", e.Line)
	case e.HasOffset:
		fmt.Fprintf(&b, ": offset %d (0x%x)", e.Offset, e.Offset)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

func lineErr(f Format, line int, format string, args ...any) *FormatError {
	return &FormatError{Format: f, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func offErr(f Format, off int, format string, args ...any) *FormatError {
	return &FormatError{Format: f, Offset: off, HasOffset: true, Msg: fmt.Sprintf(format, args...)}
}

// MarshalOptions shapes what Marshal writes.
type MarshalOptions struct {
	// Selection, when set, restricts every set to these PCRs and writes
	// banks in its order; a selected PCR missing from a set is an error.
	Selection Selection
	// BankOrder orders banks (e.g. a Document's BankOrder) when Selection
	// is nil; banks it does not list follow in TPM_ALG_ID order.
	BankOrder []Alg
	// OptionName words an Option for errors, as ReadOptions.OptionName.
	OptionName func(Option) string
}

// Marshal writes sets in format f, banks in TPM_ALG_ID order. values,
// serialized, marshaled, map, evmctl and tpm2-yaml hold one set; map and
// evmctl also hold one bank.
func Marshal(f Format, sets []Values) ([]byte, error) {
	return MarshalWith(f, sets, MarshalOptions{})
}

// MarshalWith is Marshal with control over selection and bank order.
func MarshalWith(f Format, sets []Values, opts MarshalOptions) ([]byte, error) {
	f, err := ParseFormat(string(f))
	if err != nil {
		return nil, err
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%s: no PCR values to write", f)
	}
	sels := make([]Selection, len(sets))
	for i, set := range sets {
		if err := set.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		sel, err := writeSelection(set, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(sel) == 0 {
			return nil, fmt.Errorf("%s: no PCR values to write", f)
		}
		sels[i] = sel
	}
	switch f {
	case FormatJSON:
		return marshalJSON(sets, sels), nil
	case FormatYAML:
		return marshalYAML(sets, sels), nil
	case FormatCHARRA:
		return marshalCHARRA(sets, sels)
	}
	if len(sets) > 1 {
		return nil, fmt.Errorf("%s holds one set of PCR values, not %d alternatives (write json, yaml or charra)", f, len(sets))
	}
	set, sel := sets[0], sels[0]
	switch f {
	case FormatValues:
		return marshalValues(set, sel), nil
	case FormatSerialized:
		return marshalSerialized(set, sel)
	case FormatMarshaled:
		return marshalMarshaled(set, sel)
	case FormatTPM2YAML:
		return marshalTPM2YAML(set, sel), nil
	case FormatMap:
		return marshalMap(set, sel, opts.OptionName)
	case FormatEvmctl:
		return marshalEvmctl(set, sel, opts.OptionName)
	}
	return nil, fmt.Errorf("unknown PCR file format %q", f)
}

// writeSelection returns the PCRs of set to write, in writing order.
func writeSelection(set Values, opts MarshalOptions) (Selection, error) {
	if opts.Selection != nil {
		for _, b := range opts.Selection {
			for _, i := range b.PCRs {
				if _, ok := set.Get(b.Alg, i); !ok {
					return nil, fmt.Errorf("no value for selected PCR %s:%d", b.Alg, i)
				}
			}
		}
		return opts.Selection, nil
	}
	sel := set.Selection()
	if len(opts.BankOrder) == 0 {
		return sel, nil
	}
	rank := func(a Alg) int {
		if i := slices.Index(opts.BankOrder, a); i >= 0 {
			return i
		}
		return len(opts.BankOrder) + int(a)
	}
	slices.SortStableFunc(sel, func(x, y BankSelection) int { return rank(x.Alg) - rank(y.Alg) })
	return sel, nil
}

// Match compares got against each alternative. ok is true when an
// alternative matches fully: every PCR it names is present in got and
// equal. index is that alternative, or the closest one (fewest rows not
// matching, first on ties) when none matches; rows are its comparison.
func (d *Document) Match(got Values) (index int, rows []Comparison, ok bool) {
	index, best := -1, -1
	for i, want := range d.Sets {
		r, match := Compare(got, want)
		if match {
			return i, r, true
		}
		bad := 0
		for _, row := range r {
			if row.Status != Match {
				bad++
			}
		}
		if best < 0 || bad < best {
			index, best, rows = i, bad, r
		}
	}
	return index, rows, false
}
