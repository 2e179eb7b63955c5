package eventlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Format is the layout of a log's events.
type Format int

// Log formats.
const (
	// FormatSHA1 is the TPM 1.2-era layout: one SHA-1 digest per event.
	FormatSHA1 Format = iota
	// FormatCryptoAgile is the TPM 2.0 layout announced by a "Spec ID
	// Event03" header: one digest per bank the header lists.
	FormatCryptoAgile
	// FormatTXT12 is Intel TXT's TPM 1.2 "TXT Event Container": a header,
	// then SHA-1 events (drtm.go).
	FormatTXT12 = FormatCELTLV + 1
)

func (f Format) String() string {
	switch f {
	case FormatCryptoAgile:
		return "crypto-agile"
	case FormatCELJSON:
		return "cel-json"
	case FormatCELTLV:
		return "cel-tlv"
	case FormatTXT12:
		return "txt-1.2"
	}
	return "sha1"
}

// IsCEL reports a Canonical Event Log format.
func (f Format) IsCEL() bool { return f == FormatCELJSON || f == FormatCELTLV }

// Limits that keep hostile input from causing large allocations. Real event
// payloads are small (the largest, dbx contents, are tens of KiB).
const (
	// MaxEventSize bounds one event's data.
	MaxEventSize = 16 << 20
	// maxBanks bounds the Spec ID header's algorithm list.
	maxBanks = 16
	// maxUnknownDigestSize bounds digest sizes of banks goldenpcr cannot hash.
	maxUnknownDigestSize = 128
)

// Digest is one bank's digest of an event.
type Digest struct {
	Alg   pcr.Alg
	Value []byte
}

// Event is one measurement of the log. A Reader reuses an Event's memory on
// the next call to Next; use Clone to keep it.
type Event struct {
	Index   int    // position in the log, counting the header as 0
	Offset  int64  // byte offset of the event's first byte
	PCR     uint32 // PCR index the event was extended into
	Type    EventType
	Digests []Digest
	Data    []byte
	// CEL is set for a record of a Canonical Event Log: its content type
	// and meaning. Index is then the record number.
	CEL *CELContent
}

// Digest returns the event's digest for bank alg.
func (e *Event) Digest(alg pcr.Alg) ([]byte, bool) {
	for _, d := range e.Digests {
		if d.Alg == alg {
			return d.Value, true
		}
	}
	return nil, false
}

// Clone returns a deep copy that stays valid after the Reader moves on.
func (e *Event) Clone() *Event {
	n := len(e.Data)
	for _, d := range e.Digests {
		n += len(d.Value)
	}
	a := eventArena{events: make([]Event, 0, 1), digests: make([]Digest, 0, len(e.Digests)), bytes: make([]byte, 0, n)}
	return a.clone(e)
}

// BankSize is one entry of the Spec ID header's algorithm list.
type BankSize struct {
	Alg  pcr.Alg
	Size uint16
}

// SpecID is the decoded "Spec ID Event03" header of a crypto-agile log.
type SpecID struct {
	Signature        string
	PlatformClass    uint32
	SpecVersionMajor uint8
	SpecVersionMinor uint8
	SpecErrata       uint8
	UintnSize        uint8
	Algorithms       []BankSize
	VendorInfo       []byte
}

// ParseError reports malformed input with the event and byte it concerns.
type ParseError struct {
	Index  int   // event index, counting the header as 0
	Offset int64 // absolute byte offset of the problem
	Msg    string
	Err    error // underlying I/O error, if any
	// Record is set for a Canonical Event Log: Index is then the record
	// number.
	Record bool
}

func (e *ParseError) Error() string {
	unit := "event"
	if e.Record {
		unit = "record"
	}
	return fmt.Sprintf("%s %d at byte offset %d (0x%x): %s", unit, e.Index, e.Offset, e.Offset, e.Msg)
}

func (e *ParseError) Unwrap() error { return e.Err }

var specID03 = []byte("Spec ID Event03\x00")

// Reader reads events one at a time from a binary_bios_measurements stream.
type Reader struct {
	br     *bufio.Reader
	off    int64 // bytes consumed so far
	index  int   // index of the next event
	format Format
	spec   *SpecID
	header *Event // the first event, returned by the first Next
	tail   int64  // where a zeroed tail began, or -1 (drtm.go)

	ev      Event
	data    []byte
	digests []byte
	// scratch holds fixed-size fields; a field of the Reader, so reads
	// through io.ReadFull do not allocate per event.
	scratch [32]byte
}

// NewReader reads the log's first event to learn its format. It fails if
// the stream is empty or the first event is malformed.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReader(r), tail: -1}
	first, err := rd.readSHA1Event()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ParseError{Msg: "empty event log", Err: io.ErrUnexpectedEOF}
		}
		var pe *ParseError
		if errors.As(err, &pe) {
			pe.Msg = "not a TCG event log: " + pe.Msg
		}
		return nil, err
	}
	if first.PCR == 0 && first.Type == EvNoAction && bytes.HasPrefix(first.Data, specID03) {
		spec, err := parseSpecID(first.Data)
		if err != nil {
			return nil, &ParseError{Index: 0, Offset: first.Offset + 32, Msg: "Spec ID header: " + err.Error()}
		}
		rd.spec = spec
		rd.format = FormatCryptoAgile
	}
	rd.header = first.Clone()
	return rd, nil
}

// Format returns the log's layout.
func (r *Reader) Format() Format { return r.format }

// SpecID returns the crypto-agile header, or nil for a SHA-1 log.
func (r *Reader) SpecID() *SpecID { return r.spec }

// Banks returns the digest algorithms every event carries.
func (r *Reader) Banks() []pcr.Alg {
	if r.spec == nil {
		return []pcr.Alg{pcr.SHA1}
	}
	out := make([]pcr.Alg, len(r.spec.Algorithms))
	for i, a := range r.spec.Algorithms {
		out[i] = a.Alg
	}
	return out
}

// Next returns the next event, or io.EOF after the last one. The event's
// slices are valid until the following call.
func (r *Reader) Next() (*Event, error) {
	if r.header != nil {
		ev := r.header
		r.header = nil
		return ev, nil
	}
	if r.format == FormatCryptoAgile {
		return r.readAgileEvent()
	}
	return r.readSHA1Event()
}

// ReadEvents reads every event of a log, each a copy that stays valid.
func ReadEvents(rd io.Reader) ([]*Event, error) {
	r, err := NewReader(rd)
	if err != nil {
		return nil, err
	}
	out, err := r.readAll()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readAll reads the rest of the log, each event a copy; on an error it
// returns the events before it too.
func (r *Reader) readAll() ([]*Event, error) {
	var out []*Event
	var a eventArena
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, a.clone(ev))
	}
}

// eventArena makes deep copies of events in shared blocks: readAll keeps
// a log's events in a few allocations instead of several per event, and
// Clone is one event's arena, sized to it.
type eventArena struct {
	events  []Event
	digests []Digest
	bytes   []byte
}

func (a *eventArena) clone(e *Event) *Event {
	if len(a.events) == cap(a.events) {
		a.events = make([]Event, 0, 64)
	}
	a.events = append(a.events, *e)
	c := &a.events[len(a.events)-1] // never moved: a full block is left, not grown
	c.Data = a.copy(e.Data)
	if len(e.Digests) == 0 {
		c.Digests = make([]Digest, 0) // empty, not nil, as Clone has always made it
		return c
	}
	if cap(a.digests)-len(a.digests) < len(e.Digests) {
		a.digests = make([]Digest, 0, max(256, len(e.Digests)))
	}
	start := len(a.digests)
	for _, d := range e.Digests {
		a.digests = append(a.digests, Digest{Alg: d.Alg, Value: a.copy(d.Value)})
	}
	c.Digests = a.digests[start:len(a.digests):len(a.digests)]
	return c
}

// copy is bytes.Clone into the arena's current block.
func (a *eventArena) copy(b []byte) []byte {
	if len(b) == 0 {
		return bytes.Clone(b)
	}
	if cap(a.bytes)-len(a.bytes) < len(b) {
		// Blocks double from 4 KiB: a small log wastes little, a large
		// one takes a few blocks.
		a.bytes = make([]byte, 0, max(4<<10, 2*cap(a.bytes), len(b)))
	}
	start := len(a.bytes)
	a.bytes = append(a.bytes, b...)
	return a.bytes[start:len(a.bytes):len(a.bytes)]
}

// ReadFile reads every event of the log in the file at path; errors name
// the file.
func ReadFile(path string) ([]*Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	events, err := ReadEvents(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return events, nil
}

func (r *Reader) errf(offset int64, format string, args ...any) error {
	return &ParseError{Index: r.index, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// read fills p, turning a short read into a ParseError naming what was cut.
func (r *Reader) read(p []byte, what string) error {
	start := r.off
	n, err := io.ReadFull(r.br, p)
	r.off += int64(n)
	if err == nil {
		return nil
	}
	if err == io.ErrUnexpectedEOF || (err == io.EOF && len(p) > 0) {
		return &ParseError{Index: r.index, Offset: start, Msg: fmt.Sprintf("log truncated in %s: want %d bytes, %d left", what, len(p), n), Err: io.ErrUnexpectedEOF}
	}
	return &ParseError{Index: r.index, Offset: start, Msg: "reading " + what + ": " + err.Error(), Err: err}
}

// readData reads an n-byte payload into the reusable buffer, growing it in
// steps so a huge size on a short stream fails before it allocates much.
func (r *Reader) readData(n uint32) ([]byte, error) {
	const step = 64 << 10
	if n > MaxEventSize {
		return nil, r.errf(r.off-4, "event data size %d exceeds the %d-byte limit", n, MaxEventSize)
	}
	want := int(n)
	if cap(r.data) >= want {
		r.data = r.data[:want]
		return r.data, r.read(r.data, "event data")
	}
	start := r.off
	r.data = r.data[:0]
	for len(r.data) < want {
		chunk := min(want-len(r.data), max(len(r.data), step))
		r.data = append(r.data, make([]byte, chunk)...)
		if err := r.read(r.data[len(r.data)-chunk:], "event data"); err != nil {
			var pe *ParseError
			if errors.As(err, &pe) {
				pe.Offset = start
				pe.Msg = fmt.Sprintf("log truncated in event data: event claims %d bytes, at most %d left", want, r.off-start)
			}
			return nil, err
		}
	}
	return r.data, nil
}

// startEvent begins the next event: it reports a clean end of the log as
// io.EOF and reads the PCR index and event type every layout starts with.
func (r *Reader) startEvent() (*Event, error) {
	if _, err := r.br.Peek(1); err == io.EOF {
		return nil, io.EOF
	} else if err != nil {
		return nil, &ParseError{Index: r.index, Offset: r.off, Msg: "reading event: " + err.Error(), Err: err}
	}
	if err := r.zeroedTail(); err != nil {
		return nil, err
	}
	ev := &r.ev
	ev.Index, ev.Offset = r.index, r.off
	h := r.scratch[:8]
	if err := r.read(h, "event header"); err != nil {
		return nil, err
	}
	ev.PCR = binary.LittleEndian.Uint32(h[0:])
	ev.Type = EventType(binary.LittleEndian.Uint32(h[4:]))
	if err := r.checkPCR(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// finishEvent reads the data size and data that end every layout.
func (r *Reader) finishEvent(ev *Event) (*Event, error) {
	sz := r.scratch[:4]
	if err := r.read(sz, "event data size"); err != nil {
		return nil, err
	}
	data, err := r.readData(binary.LittleEndian.Uint32(sz))
	if err != nil {
		return nil, err
	}
	ev.Data = data
	r.index++
	return ev, nil
}

// readSHA1Event reads a TCG_PCR_EVENT: one SHA-1 digest.
func (r *Reader) readSHA1Event() (*Event, error) {
	ev, err := r.startEvent()
	if err != nil {
		return nil, err
	}
	r.digests = append(r.digests[:0], make([]byte, 20)...)
	if err := r.read(r.digests, "event header"); err != nil {
		return nil, err
	}
	ev.Digests = append(ev.Digests[:0], Digest{Alg: pcr.SHA1, Value: r.digests})
	return r.finishEvent(ev)
}

func (r *Reader) checkPCR(ev *Event) error {
	// PC Client PCRs are 0–23; the kernel and firmware use no others.
	if ev.PCR >= pcr.NumPCRs && !windowsNoActionPCR(ev) && ev.Type != EvTXTPCRMapping {
		return r.errf(ev.Offset, "PCR index %d out of range 0-%d", ev.PCR, pcr.NumPCRs-1)
	}
	return nil
}

// readAgileEvent reads a TCG_PCR_EVENT2: one digest per logged bank.
func (r *Reader) readAgileEvent() (*Event, error) {
	ev, err := r.startEvent()
	if err != nil {
		return nil, err
	}
	hdr := r.scratch[:4]
	if err := r.read(hdr, "digest count"); err != nil {
		return nil, err
	}
	count := binary.LittleEndian.Uint32(hdr)
	banks := r.spec.Algorithms
	if count == 0 || count > uint32(len(banks)) {
		return nil, r.errf(r.off-4, "digest count %d does not match the %d banks of the Spec ID header", count, len(banks))
	}
	// First pass sizes the digest buffer so the Digest slices stay stable.
	total := 0
	for _, b := range banks {
		total += int(b.Size)
	}
	r.digests = r.digests[:0]
	if cap(r.digests) < total {
		r.digests = make([]byte, 0, total)
	}
	ev.Digests = ev.Digests[:0]
	for i := uint32(0); i < count; i++ {
		at := r.off
		id := r.scratch[:2]
		if err := r.read(id, "digest algorithm id"); err != nil {
			return nil, err
		}
		alg := pcr.Alg(binary.LittleEndian.Uint16(id))
		size, ok := r.bankSize(alg)
		if !ok {
			return nil, r.errf(at, "digest algorithm id 0x%04x is not a bank of the Spec ID header", uint16(alg))
		}
		for _, d := range ev.Digests {
			if d.Alg == alg {
				return nil, r.errf(at, "digest for bank %s appears twice", alg)
			}
		}
		start := len(r.digests)
		r.digests = r.digests[:start+size]
		if err := r.read(r.digests[start:], "event digest"); err != nil {
			return nil, err
		}
		ev.Digests = append(ev.Digests, Digest{Alg: alg, Value: r.digests[start : start+size : start+size]})
	}
	return r.finishEvent(ev)
}

func (r *Reader) bankSize(alg pcr.Alg) (int, bool) {
	for _, b := range r.spec.Algorithms {
		if b.Alg == alg {
			return int(b.Size), true
		}
	}
	return 0, false
}

// parseSpecID decodes the TCG_EfiSpecIdEvent structure.
func parseSpecID(data []byte) (*SpecID, error) {
	d := decoder{buf: data}
	sig := d.bytes(16)
	s := &SpecID{Signature: string(bytes.TrimRight(sig, "\x00"))}
	s.PlatformClass = d.u32()
	s.SpecVersionMinor = d.u8()
	s.SpecVersionMajor = d.u8()
	s.SpecErrata = d.u8()
	s.UintnSize = d.u8()
	n := d.u32()
	if d.err != nil {
		return nil, d.err
	}
	if n == 0 || n > maxBanks {
		return nil, fmt.Errorf("numberOfAlgorithms %d out of range 1-%d", n, maxBanks)
	}
	for i := uint32(0); i < n; i++ {
		at := d.off
		alg := pcr.Alg(d.u16())
		size := d.u16()
		if d.err != nil {
			return nil, d.err
		}
		if want := alg.Size(); want != 0 && int(size) != want {
			return nil, fmt.Errorf("at header byte %d: bank %s has digest size %d, want %d", at, alg, size, want)
		}
		if size == 0 || size > maxUnknownDigestSize {
			return nil, fmt.Errorf("at header byte %d: digest size %d of algorithm 0x%04x out of range", at, size, uint16(alg))
		}
		for _, b := range s.Algorithms {
			if b.Alg == alg {
				return nil, fmt.Errorf("at header byte %d: bank %s listed twice", at, alg)
			}
		}
		s.Algorithms = append(s.Algorithms, BankSize{Alg: alg, Size: size})
	}
	vlen := int(d.u8())
	s.VendorInfo = bytes.Clone(d.bytes(vlen))
	return s, d.err
}
