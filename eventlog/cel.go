package eventlog

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/internal/strictjson"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Canonical Event Log formats (TCG Canonical Event Log Format, CEL).
const (
	// FormatCELJSON is CEL-JSON: one JSON object per record, as a JSON
	// array, a JSON text sequence (RFC 7464: RS before each record, as
	// systemd writes /run/log/systemd/tpm2-measure.log) or JSON lines.
	FormatCELJSON Format = iota + 2
	// FormatCELTLV is CEL-TLV: records of type-length-value fields.
	FormatCELTLV
)

// EvCELRecord is the Type of an Event read from a CEL record whose content
// is not pcclient_std: not a TCG event type, the record's content is in
// Event.CEL. A pcclient_std record keeps the TCG type it carries.
const EvCELRecord EventType = 0xCE100000

// MaxLogSize bounds a log ReadLog holds in memory.
const MaxLogSize = 64 << 20

// CELContent is what a CEL record says it measured.
type CELContent struct {
	// Type is the content type: "systemd", "pcclient_std", "ima_template",
	// "ima_tlv", "cel_mgt", or "type N" for an unknown CEL-TLV type.
	Type string `json:"content_type" yaml:"content_type"`
	// Description is a one-line meaning: systemd's string, an IMA
	// template's name, a cel_mgt field.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// EventType is systemd's eventType ("phase", "machine-id", …).
	EventType string `json:"event_type,omitempty" yaml:"event_type,omitempty"`
}

// Log is a whole event log held in memory: a TCG PC Client log or a CEL.
type Log struct {
	// Name identifies the log in messages (a file name), if set.
	Name   string
	Format Format
	// Banks are the digest algorithms of the log: the Spec ID header's,
	// or for a CEL every algorithm any record carries, in order of first
	// appearance.
	Banks  []pcr.Alg
	SpecID *SpecID
	Events []*Event
}

// ReadLog reads a whole log and detects its format from its content:
// CEL-JSON starts with RS, '{' or '['; CEL-TLV with a recnum field
// followed by a PCR or NV index field; anything else is read as a TCG PC
// Client log. On a ParseError the Log holds the events read before it.
func ReadLog(r io.Reader) (*Log, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxLogSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxLogSize {
		return nil, &ParseError{Offset: MaxLogSize, Msg: fmt.Sprintf("log larger than the %d-byte limit", MaxLogSize)}
	}
	switch {
	case looksCELJSON(data):
		return ReadCELJSON(data)
	case looksCELTLV(data):
		return ReadCELTLV(data)
	case bytes.HasPrefix(data, txtContainerSig):
		return ReadTXTContainer(data)
	}
	rd, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	log := &Log{Format: rd.Format(), Banks: rd.Banks(), SpecID: rd.SpecID()}
	log.Events, err = rd.readAll()
	return log, err
}

// ReadLogFile reads the log in the file at path with ReadLog; the Log and
// its errors carry the file's name.
func ReadLogFile(path string) (*Log, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	log, err := ReadLog(f)
	if log != nil {
		log.Name = path
	}
	if err != nil {
		return log, fmt.Errorf("%s: %w", path, err)
	}
	return log, nil
}

func looksCELJSON(data []byte) bool {
	i := skipJSONSpace(data, 0)
	return i < len(data) && (data[i] == 0x1e || data[i] == '{' || data[i] == '[')
}

func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// looksCELTLV reports a recnum TLV (type 0, 1-8 bytes) followed by a PCR
// or NV index TLV (type 1 or 2, 1-4 bytes). A TCG log's first bytes (PCR 0,
// then a little-endian event type) rarely fit: its type field would have to
// be a big-endian length of 1-8 and byte 5+len a 1 or 2.
func looksCELTLV(data []byte) bool {
	if len(data) < 5 || data[0] != celRecnum {
		return false
	}
	n := binary.BigEndian.Uint32(data[1:5])
	if n == 0 || n > 8 || len(data) < int(10+n) {
		return false
	}
	t, m := data[5+n], binary.BigEndian.Uint32(data[6+n:10+n])
	return (t == celPCR || t == celNVIndex) && m >= 1 && m <= 4
}

// ---- CEL-JSON ----

type celJSONDigest struct {
	HashAlg string `json:"hashAlg"`
	Digest  string `json:"digest"`
}

type celJSONRecord struct {
	RecNum      *uint64          `json:"recnum"`
	PCR         *uint32          `json:"pcr"`
	NVIndex     *uint32          `json:"nv_index"`
	RTMR        *uint32          `json:"rtmr"`
	Digests     []celJSONDigest  `json:"digests"`
	ContentType string           `json:"content_type"`
	Content     *json.RawMessage `json:"content"`
}

// ReadCELJSON reads a CEL-JSON log: a JSON array of records, or records
// one after another, each optionally preceded by RS (0x1e) and separated by
// white space. Records without a recnum (systemd writes none) are numbered
// by position from 0; explicit recnums must each be one more than the
// previous, so a removed or moved record is an error.
func ReadCELJSON(data []byte) (*Log, error) {
	c := &celBuilder{log: &Log{Format: FormatCELJSON}}
	i := skipJSONSpace(data, 0)
	array := i < len(data) && data[i] == '['
	if array {
		i++
	}
	for {
		for i < len(data) && (data[i] == 0x1e || data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
			i++
		}
		if array && len(c.log.Events) > 0 {
			if i < len(data) && data[i] == ',' {
				i = skipJSONSpace(data, i+1)
			} else if i < len(data) && data[i] != ']' {
				return c.log, c.errf(int64(i), "want ',' or ']' between records, found %q", data[i])
			}
		}
		if i >= len(data) {
			if array {
				return c.log, c.errf(int64(len(data)), "log truncated: the JSON array is not closed")
			}
			return c.finish()
		}
		if array && data[i] == ']' {
			if rest := skipJSONSpace(data, i+1); rest != len(data) {
				return c.log, c.errf(int64(rest), "%d bytes after the JSON array", len(data)-rest)
			}
			return c.finish()
		}
		if data[i] != '{' {
			return c.log, c.errf(int64(i), "want a JSON object, found %q", data[i])
		}
		dec := json.NewDecoder(bytes.NewReader(data[i:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return c.log, c.errf(int64(i), "malformed JSON: %v", err)
		}
		if err := c.jsonRecord(raw, int64(i)); err != nil {
			return c.log, err
		}
		i += int(dec.InputOffset())
	}
}

func (c *celBuilder) jsonRecord(raw []byte, off int64) error {
	if err := strictjson.NoDuplicateKeys(raw); err != nil {
		return c.errf(off, "%v", err)
	}
	var rec celJSONRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return c.errf(off, "record does not have CEL-JSON's fields: %v", err)
	}
	ev := &Event{Offset: off}
	switch {
	case rec.PCR != nil:
		ev.PCR = *rec.PCR
	case rec.NVIndex != nil:
		return c.errf(off, "record measures NV index 0x%x, not a PCR: it cannot be replayed", *rec.NVIndex)
	case rec.RTMR != nil:
		return c.errf(off, "record measures RTMR %d, not a PCR: it cannot be replayed", *rec.RTMR)
	default:
		return c.errf(off, "record has no \"pcr\"")
	}
	for _, d := range rec.Digests {
		alg, err := pcr.ParseAlg(d.HashAlg)
		if err != nil {
			return c.errf(off, "digest algorithm %q: %v", d.HashAlg, err)
		}
		v, err := hex.DecodeString(d.Digest)
		if err != nil {
			return c.errf(off, "%s digest is not hex: %v", alg, err)
		}
		if err := c.addDigest(ev, alg, v, off); err != nil {
			return err
		}
	}
	var content []byte
	if rec.Content != nil {
		content = *rec.Content
	}
	if err := c.jsonContent(ev, rec.ContentType, content, off); err != nil {
		return err
	}
	return c.add(ev, rec.RecNum)
}

type systemdContent struct {
	String    string `json:"string"`
	EventType string `json:"eventType"`
}

type pcclientJSONContent struct {
	EventType *uint32 `json:"event_type"`
	EventData string  `json:"event_data"`
}

func (c *celBuilder) jsonContent(ev *Event, typ string, content []byte, off int64) error {
	ev.Type = EvCELRecord
	ev.CEL = &CELContent{Type: typ}
	switch typ {
	case "systemd":
		var s systemdContent
		if err := json.Unmarshal(content, &s); err != nil {
			return c.errf(off, "systemd content: %v", err)
		}
		ev.CEL.Description, ev.CEL.EventType = s.String, s.EventType
		ev.Data = []byte(s.String)
	case "pcclient_std":
		var p pcclientJSONContent
		if err := json.Unmarshal(content, &p); err != nil {
			return c.errf(off, "pcclient_std content: %v", err)
		}
		if p.EventType == nil {
			return c.errf(off, "pcclient_std content has no event_type")
		}
		data, err := base64.StdEncoding.DecodeString(p.EventData)
		if err != nil {
			return c.errf(off, "pcclient_std event_data is not base64: %v", err)
		}
		ev.Type, ev.Data = EventType(*p.EventType), data
	case "cel_mgt":
		ev.Type = EvNoAction
		ev.CEL.Description = string(content)
	case "":
		return c.errf(off, "record has no content_type")
	default:
		ev.CEL.Description = typ
		ev.Data = bytes.Clone(content)
	}
	return nil
}

// ---- CEL-TLV ----

// CEL-TLV field types (TCG CEL, "CEL-TLV encoding").
const (
	celRecnum   = 0
	celPCR      = 1
	celNVIndex  = 2
	celDigests  = 3
	celMgt      = 4
	celPCClient = 5
	celIMATmpl  = 7
	celIMATLV   = 8
)

var celTLVContentNames = map[byte]string{celMgt: "cel_mgt", celPCClient: "pcclient_std", celIMATmpl: "ima_template", celIMATLV: "ima_tlv"}

// tlvReader walks TLVs in a byte slice, keeping absolute offsets.
type tlvReader struct {
	buf  []byte
	base int64 // offset of buf[0] in the log
	off  int
}

// next returns the next TLV's type, value and offset; a length past the end
// of the buffer is an error, never an allocation.
func (t *tlvReader) next(what string) (typ byte, val []byte, at int64, err error) {
	at = t.base + int64(t.off)
	if len(t.buf)-t.off < 5 {
		return 0, nil, at, fmt.Errorf("log truncated in the %s field's type and length: %d bytes left", what, len(t.buf)-t.off)
	}
	typ = t.buf[t.off]
	n := binary.BigEndian.Uint32(t.buf[t.off+1:])
	if uint64(n) > uint64(len(t.buf)-t.off-5) {
		return 0, nil, at, fmt.Errorf("%s field claims %d bytes, %d left", what, n, len(t.buf)-t.off-5)
	}
	val = t.buf[t.off+5 : t.off+5+int(n)]
	t.off += 5 + int(n)
	return typ, val, at, nil
}

func (t *tlvReader) done() bool { return t.off >= len(t.buf) }

func bigEndianUint(v []byte, maxLen int) (uint64, bool) {
	if len(v) == 0 || len(v) > maxLen {
		return 0, false
	}
	var n uint64
	for _, b := range v {
		n = n<<8 | uint64(b)
	}
	return n, true
}

// ReadCELTLV reads a CEL-TLV log: each record a recnum, a PCR (or NV
// index), a digests and a content TLV. Recnums must each be one more than
// the previous.
func ReadCELTLV(data []byte) (*Log, error) {
	c := &celBuilder{log: &Log{Format: FormatCELTLV}}
	t := &tlvReader{buf: data}
	for !t.done() {
		start := int64(t.off)
		if err := c.tlvRecord(t, start); err != nil {
			return c.log, err
		}
	}
	return c.finish()
}

func (c *celBuilder) tlvRecord(t *tlvReader, start int64) error {
	typ, val, at, err := t.next("recnum")
	if err != nil {
		return c.errf(at, "%v", err)
	}
	recnum, ok := bigEndianUint(val, 8)
	if typ != celRecnum || !ok {
		return c.errf(at, "want a recnum field (type 0, 1-8 bytes), found type %d with %d bytes", typ, len(val))
	}
	ev := &Event{Offset: start}
	typ, val, at, err = t.next("PCR index")
	if err != nil {
		return c.errf(at, "%v", err)
	}
	idx, ok := bigEndianUint(val, 4)
	switch {
	case typ == celNVIndex:
		return c.errf(at, "record measures NV index 0x%x, not a PCR: it cannot be replayed", idx)
	case typ != celPCR || !ok:
		return c.errf(at, "want a PCR field (type 1, 1-4 bytes), found type %d with %d bytes", typ, len(val))
	}
	ev.PCR = uint32(idx)
	typ, val, at, err = t.next("digests")
	if err != nil {
		return c.errf(at, "%v", err)
	}
	if typ != celDigests {
		return c.errf(at, "want a digests field (type 3), found type %d", typ)
	}
	dt := &tlvReader{buf: val, base: at + 5}
	for !dt.done() {
		id, d, dat, err := dt.next("digest")
		if err != nil {
			return c.errf(dat, "%v", err)
		}
		alg := pcr.Alg(id)
		if err := c.addDigest(ev, alg, d, dat); err != nil {
			return err
		}
	}
	typ, val, at, err = t.next("content")
	if err != nil {
		return c.errf(at, "%v", err)
	}
	if err := c.tlvContent(ev, typ, val, at); err != nil {
		return err
	}
	return c.add(ev, &recnum)
}

func (c *celBuilder) tlvContent(ev *Event, typ byte, val []byte, at int64) error {
	name, ok := celTLVContentNames[typ]
	if !ok {
		name = fmt.Sprintf("type %d", typ)
	}
	ev.Type, ev.CEL, ev.Data = EvCELRecord, &CELContent{Type: name, Description: name}, bytes.Clone(val)
	switch typ {
	case celMgt:
		ev.Type = EvNoAction
	case celPCClient:
		// Nested: event_type (0, 4 bytes big-endian), event_data (1).
		ct := &tlvReader{buf: val, base: at + 5}
		t1, v1, a1, err := ct.next("pcclient_std event_type")
		if err != nil {
			return c.errf(a1, "%v", err)
		}
		et, ok := bigEndianUint(v1, 4)
		if t1 != 0 || !ok {
			return c.errf(a1, "want pcclient_std event_type (type 0, 1-4 bytes), found type %d with %d bytes", t1, len(v1))
		}
		t2, v2, a2, err := ct.next("pcclient_std event_data")
		if err != nil {
			return c.errf(a2, "%v", err)
		}
		if t2 != 1 || !ct.done() {
			return c.errf(a2, "want pcclient_std event_data (type 1) ending the content, found type %d", t2)
		}
		ev.Type, ev.Data = EventType(et), bytes.Clone(v2)
	case celIMATmpl:
		// Nested: template_name (0), template_data (1).
		ct := &tlvReader{buf: val, base: at + 5}
		if t1, v1, _, err := ct.next("template name"); err == nil && t1 == 0 {
			ev.CEL.Description = string(v1)
		}
	}
	return nil
}

// ---- shared ----

// celBuilder collects a CEL's records into a Log.
type celBuilder struct {
	log      *Log
	last     uint64
	explicit bool // recnums come from the log
}

func (c *celBuilder) errf(off int64, format string, args ...any) error {
	return &ParseError{Index: c.nextRecnum(), Offset: off, Msg: fmt.Sprintf(format, args...), Record: true}
}

func (c *celBuilder) nextRecnum() int {
	if len(c.log.Events) == 0 {
		return 0
	}
	return int(c.last) + 1
}

func (c *celBuilder) addDigest(ev *Event, alg pcr.Alg, v []byte, off int64) error {
	switch {
	case !alg.Valid():
		return c.errf(off, "digest algorithm 0x%04x is not one goldenpcr can replay", uint16(alg))
	case len(v) != alg.Size():
		return c.errf(off, "%s digest is %d bytes, want %d", alg, len(v), alg.Size())
	}
	for _, d := range ev.Digests {
		if d.Alg == alg {
			return c.errf(off, "digest for bank %s appears twice", alg)
		}
	}
	ev.Digests = append(ev.Digests, Digest{Alg: alg, Value: bytes.Clone(v)})
	if !slices.Contains(c.log.Banks, alg) {
		c.log.Banks = append(c.log.Banks, alg)
	}
	return nil
}

// add appends a record, checking its PCR index and recnum: explicit recnums
// must each be one more than the previous; absent ones count from 0.
func (c *celBuilder) add(ev *Event, recnum *uint64) error {
	if ev.PCR >= pcr.NumPCRs {
		return c.errf(ev.Offset, "PCR index %d out of range 0-%d", ev.PCR, pcr.NumPCRs-1)
	}
	if ev.Type != EvNoAction && len(ev.Digests) == 0 {
		return c.errf(ev.Offset, "record has no digests")
	}
	n := uint64(c.nextRecnum())
	first := len(c.log.Events) == 0
	switch {
	case recnum == nil && c.explicit && !first:
		return c.errf(ev.Offset, "record has no recnum, the ones before have")
	case recnum != nil && !first && !c.explicit:
		return c.errf(ev.Offset, "record has a recnum, the ones before have none")
	case recnum != nil && !first && *recnum != n:
		return c.errf(ev.Offset, "recnum %d follows recnum %d: records are missing or out of order", *recnum, c.last)
	case recnum != nil:
		n, c.explicit = *recnum, true
		if n > 1<<31 {
			return c.errf(ev.Offset, "recnum %d out of range", n)
		}
	}
	ev.Index = int(n)
	c.last = n
	c.log.Events = append(c.log.Events, ev)
	return nil
}

func (c *celBuilder) finish() (*Log, error) {
	if len(c.log.Events) == 0 {
		return c.log, &ParseError{Msg: "empty canonical event log: no records", Record: true, Err: io.ErrUnexpectedEOF}
	}
	return c.log, nil
}

// Summary is the one-line meaning of a CEL record's content.
func (c *CELContent) Summary() string {
	switch {
	case c.Type == "systemd" && c.EventType != "":
		return fmt.Sprintf("systemd %s %q", c.EventType, c.Description)
	case c.Type == "systemd":
		return fmt.Sprintf("systemd %q", c.Description)
	case c.Description != "" && c.Description != c.Type:
		return c.Type + " " + strings.TrimSpace(c.Description)
	}
	return c.Type
}
