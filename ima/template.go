package ima

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// Field identifiers of the kernel's template fields
// (security/integrity/ima/ima_template.c, supported_fields).
const (
	FieldD            = "d"        // SHA-1/MD5 file digest, no algorithm (template "ima")
	FieldN            = "n"        // file name, at most 255 bytes (template "ima")
	FieldDNG          = "d-ng"     // "<alg>:\0" + digest
	FieldDNGv2        = "d-ngv2"   // "<ima|verity>:<alg>:\0" + digest
	FieldNNG          = "n-ng"     // file name + NUL, no size limit
	FieldSig          = "sig"      // security.ima signature (or EVM portable signature)
	FieldBuf          = "buf"      // measured buffer (kexec cmdline, keys, critical data)
	FieldDModsig      = "d-modsig" // digest of a file without its appended signature
	FieldModsig       = "modsig"   // appended PKCS#7 signature
	FieldEVMSig       = "evmsig"   // EVM portable signature
	FieldIUID         = "iuid"     // inode uid
	FieldIGID         = "igid"     // inode gid
	FieldIMode        = "imode"    // inode mode
	FieldXattrNames   = "xattrnames"
	FieldXattrLengths = "xattrlengths"
	FieldXattrValues  = "xattrvalues"
)

var knownFields = []string{FieldD, FieldN, FieldDNG, FieldDNGv2, FieldNNG, FieldSig, FieldBuf,
	FieldDModsig, FieldModsig, FieldEVMSig, FieldIUID, FieldIGID, FieldIMode,
	FieldXattrNames, FieldXattrLengths, FieldXattrValues}

// maxFields is the kernel's IMA_TEMPLATE_NUM_FIELDS_MAX.
const maxFields = 15

// Template describes the fields of a template, in order.
type Template struct {
	Name   string
	Fields []string
}

// The kernel's built-in templates (ima_template.c, builtin_templates).
var builtinTemplates = []Template{
	{"ima", []string{FieldD, FieldN}},
	{"ima-ng", []string{FieldDNG, FieldNNG}},
	{"ima-sig", []string{FieldDNG, FieldNNG, FieldSig}},
	{"ima-ngv2", []string{FieldDNGv2, FieldNNG}},
	{"ima-sigv2", []string{FieldDNGv2, FieldNNG, FieldSig}},
	{"ima-buf", []string{FieldDNG, FieldNNG, FieldBuf}},
	{"ima-modsig", []string{FieldDNG, FieldNNG, FieldSig, FieldDModsig, FieldModsig}},
	{"evm-sig", []string{FieldDNG, FieldNNG, FieldEVMSig, FieldXattrNames, FieldXattrLengths,
		FieldXattrValues, FieldIUID, FieldIGID, FieldIMode}},
}

// BuiltinTemplates returns the names of the kernel's built-in templates.
func BuiltinTemplates() []string {
	out := make([]string, len(builtinTemplates))
	for i, t := range builtinTemplates {
		out[i] = t.Name
	}
	return out
}

// LookupTemplate returns the descriptor of a template name as a list
// shows it: a built-in name, or the field format ("d-ng|n-ng|sig") the
// kernel shows for a template set with ima_template_fmt=. It returns nil
// for a name it does not know; such entries keep their data as opaque
// length-prefixed fields.
func LookupTemplate(name string) *Template {
	for i := range builtinTemplates {
		if builtinTemplates[i].Name == name {
			return &builtinTemplates[i]
		}
	}
	if !strings.Contains(name, "|") && !isKnownField(name) {
		return nil
	}
	ids := strings.Split(name, "|")
	if len(ids) > maxFields {
		return nil
	}
	for _, id := range ids {
		if !isKnownField(id) || id == FieldD || id == FieldN {
			// "d" and "n" only work in the fixed "ima" layout.
			return nil
		}
	}
	return &Template{Name: name, Fields: ids}
}

func isKnownField(id string) bool {
	for _, f := range knownFields {
		if f == id {
			return true
		}
	}
	return false
}

// isLegacy reports whether t is the "ima" template, whose binary layout
// has no length fields and whose hash covers the name padded to 256 bytes.
func (t *Template) isLegacy() bool { return t != nil && t.Name == "ima" }

// Layout of the "ima" template's hashed data.
const (
	legacyDigestSize = 20  // SHA-1 (or MD5 zero-padded)
	legacyNameMax    = 255 // TCG_EVENT_NAME_LEN_MAX
	legacyDataSize   = legacyDigestSize + legacyNameMax + 1
)

// Field is one template field of an entry. Data aliases the entry's data.
type Field struct {
	ID   string // "" for fields of an unknown template
	Data []byte
}

// FileDigest is a decoded d, d-ng, d-ngv2 or d-modsig field.
type FileDigest struct {
	// Type is "ima" or "verity" for d-ngv2 fields, "" otherwise.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Algo is the kernel hash algorithm; for the legacy d field it is sha1
	// (or md5 for a 16-byte digest).
	Algo  HashAlgo `json:"-" yaml:"-"`
	Value []byte   `json:"-" yaml:"-"`
}

// Zero reports whether the digest is all zeros, as violations record it.
func (d *FileDigest) Zero() bool { return allZero(d.Value) }

// Event is an entry's template data decoded field by field. Byte slices
// alias the entry's data.
type Event struct {
	Digest       *FileDigest
	Path         string
	Signature    []byte // sig field: security.ima xattr value
	Buffer       []byte
	ModsigDigest *FileDigest
	Modsig       []byte
	EVMSig       []byte
	XattrNames   string
	XattrLengths []byte
	XattrValues  []byte
	UID, GID     *uint32
	Mode         *uint16
	// Fields lists every field in template order, known or not.
	Fields []Field
}

// fieldError is a problem inside template data: off is relative to the
// start of the data.
type fieldError struct {
	field string
	off   int
	msg   string
	err   error // the typed cause, if any
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + " field: " + e.msg
}

// splitFields finds each field of data, checking the lengths the way the
// kernel's ima_parse_buf does with ENFORCE_FIELDS|ENFORCE_BUFEND: every
// field present and the data consumed exactly. For a template it does not
// know it splits data into length-prefixed fields if they fit exactly, and
// keeps it as one opaque field otherwise. It fills spans with [start,end)
// offsets of each field's value and returns the count.
func splitFields(t *Template, data []byte, order binary.ByteOrder, spans *[maxFields][2]uint32) (int, error) {
	if t.isLegacy() {
		name := data[legacyDigestSize:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		spans[0] = [2]uint32{0, legacyDigestSize}
		spans[1] = [2]uint32{legacyDigestSize, uint32(legacyDigestSize + len(name))}
		return 2, nil
	}
	if t == nil {
		n, ok := splitOpaque(data, order, spans)
		if !ok {
			spans[0] = [2]uint32{0, uint32(len(data))}
			return 1, nil
		}
		return n, nil
	}
	off := 0
	for i, id := range t.Fields {
		if len(data)-off < 4 {
			return 0, &fieldError{id, off, fmt.Sprintf("field %d of %d missing: %d bytes left, need a 4-byte length", i+1, len(t.Fields), len(data)-off), nil}
		}
		l := order.Uint32(data[off:])
		if uint64(l) > uint64(len(data)-off-4) {
			return 0, &fieldError{id, off, fmt.Sprintf("length %d exceeds the %d bytes left in the template data", l, len(data)-off-4), nil}
		}
		start := off + 4
		off = start + int(l)
		spans[i] = [2]uint32{uint32(start), uint32(off)}
	}
	if off != len(data) {
		return 0, &fieldError{"", off, fmt.Sprintf("%d bytes after the last field of template %s", len(data)-off, t.Name), nil}
	}
	return len(t.Fields), nil
}

func splitOpaque(data []byte, order binary.ByteOrder, spans *[maxFields][2]uint32) (int, bool) {
	off, n := 0, 0
	for off < len(data) {
		if n == maxFields || len(data)-off < 4 {
			return 0, false
		}
		l := order.Uint32(data[off:])
		if uint64(l) > uint64(len(data)-off-4) {
			return 0, false
		}
		spans[n] = [2]uint32{uint32(off + 4), uint32(off + 4 + int(l))}
		off += 4 + int(l)
		n++
	}
	return n, true
}

// checkFields validates the contents of the fields goldenpcr must read to
// replay and check a list: digest fields must name a kernel hash algorithm
// and have its size, name fields must end in NUL.
func checkFields(t *Template, data []byte, spans *[maxFields][2]uint32, n int) error {
	if t == nil {
		return nil
	}
	for i := 0; i < n; i++ {
		f := data[spans[i][0]:spans[i][1]]
		switch id := t.Fields[i]; id {
		case FieldDNG, FieldDNGv2, FieldDModsig:
			if err := checkDigestField(id, f); err != nil {
				return &fieldError{id, int(spans[i][0]), err.Error(), err}
			}
		case FieldNNG:
			if len(f) == 0 || f[len(f)-1] != 0 {
				return &fieldError{id, int(spans[i][0]), "file name does not end in NUL", nil}
			}
		}
	}
	return nil
}

// checkDigestField is parseDigestField without allocating, for the hot
// path of reading a list: it only returns an error.
func checkDigestField(id string, f []byte) error {
	if id == FieldDModsig && len(f) == 0 {
		return nil
	}
	nul := bytes.IndexByte(f, 0)
	if nul < 1 || f[nul-1] != ':' {
		_, err := parseDigestField(id, f)
		return err
	}
	name := f[:nul-1]
	if id == FieldDNGv2 {
		c := bytes.IndexByte(name, ':')
		if c < 0 || (string(name[:c]) != "ima" && string(name[:c]) != "verity") {
			_, err := parseDigestField(id, f)
			return err
		}
		name = name[c+1:]
	}
	for i := range hashAlgos {
		if string(name) == hashAlgos[i].name {
			if n := len(f) - nul - 1; n == hashAlgos[i].size || n == legacyDigestSize && allZero(f[nul+1:]) {
				return nil
			}
			break
		}
	}
	_, err := parseDigestField(id, f) // the slow path words the error
	return err
}

// parseDigestField decodes "<alg>:\0<digest>" (d-ng, d-modsig) or
// "<type>:<alg>:\0<digest>" (d-ngv2).
func parseDigestField(id string, f []byte) (*FileDigest, error) {
	if id == FieldDModsig && len(f) == 0 {
		return nil, nil // no appended signature: the kernel leaves it empty
	}
	nul := bytes.IndexByte(f, 0)
	if nul < 1 || f[nul-1] != ':' {
		return nil, fmt.Errorf("want \"<algorithm>:\\0<digest>\", got %q", truncate(f, 24))
	}
	prefix := string(f[:nul-1])
	d := &FileDigest{Value: f[nul+1:]}
	algName := prefix
	if id == FieldDNGv2 {
		typ, alg, ok := strings.Cut(prefix, ":")
		if !ok {
			return nil, fmt.Errorf("want \"<type>:<algorithm>:\\0<digest>\", got %q", prefix)
		}
		if typ != "ima" && typ != "verity" {
			return nil, fmt.Errorf("unknown digest type %q (want ima or verity)", typ)
		}
		d.Type, algName = typ, alg
	}
	algo, ok := LookupHashAlgo(algName)
	if !ok {
		return nil, &UnknownAlgorithmError{Name: algName}
	}
	d.Algo = algo
	// Violations record zeros; kernels before 5.10 made room for 20 bytes
	// whatever the algorithm.
	if len(d.Value) != algo.Size() && !(len(d.Value) == legacyDigestSize && allZero(d.Value)) {
		return nil, fmt.Errorf("%s digest is %d bytes, want %d", algo, len(d.Value), algo.Size())
	}
	return d, nil
}

// UnknownAlgorithmError is a digest field naming an algorithm the kernel
// does not have.
type UnknownAlgorithmError struct{ Name string }

func (e *UnknownAlgorithmError) Error() string {
	return fmt.Sprintf("unknown digest algorithm %q", e.Name)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// decodeEvent turns the fields of an entry into an Event.
func decodeEvent(t *Template, data []byte, order binary.ByteOrder, spans *[maxFields][2]uint32, n int) (*Event, error) {
	ev := &Event{Fields: make([]Field, n)}
	for i := 0; i < n; i++ {
		f := data[spans[i][0]:spans[i][1]]
		id := ""
		if t != nil {
			id = t.Fields[i]
		}
		ev.Fields[i] = Field{ID: id, Data: f}
		var err error
		switch id {
		case FieldD:
			algo := HashSHA1
			if len(f) == 16 {
				algo = HashMD5
			}
			ev.Digest = &FileDigest{Algo: algo, Value: f}
		case FieldN:
			ev.Path = string(f)
		case FieldDNG, FieldDNGv2:
			ev.Digest, err = parseDigestField(id, f)
		case FieldDModsig:
			ev.ModsigDigest, err = parseDigestField(id, f)
		case FieldNNG:
			ev.Path = string(bytes.TrimSuffix(f, []byte{0}))
		case FieldSig:
			ev.Signature = f
		case FieldBuf:
			ev.Buffer = f
		case FieldModsig:
			ev.Modsig = f
		case FieldEVMSig:
			ev.EVMSig = f
		case FieldXattrNames:
			ev.XattrNames = string(f)
		case FieldXattrLengths:
			ev.XattrLengths = f
		case FieldXattrValues:
			ev.XattrValues = f
		case FieldIUID, FieldIGID:
			if len(f) == 4 {
				v := order.Uint32(f)
				if id == FieldIUID {
					ev.UID = &v
				} else {
					ev.GID = &v
				}
			} else if len(f) != 0 {
				err = fmt.Errorf("%d bytes, want 4", len(f))
			}
		case FieldIMode:
			if len(f) == 2 {
				v := order.Uint16(f)
				ev.Mode = &v
			} else if len(f) != 0 {
				err = fmt.Errorf("%d bytes, want 2", len(f))
			}
		}
		if err != nil {
			return nil, &fieldError{id, int(spans[i][0]), err.Error(), err}
		}
	}
	return ev, nil
}
