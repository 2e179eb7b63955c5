package eventlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// A dynamic launch (Intel TXT's GETSEC[SENTER], AMD's SKINIT) resets PCRs
// 17–22 to zero with the locality-4 hash start, and its loader and kernel
// log what they extend there in a DRTM log of their own:
//   - Linux Secure Launch's /sys/kernel/security/slaunch/eventlog: a TCG
//     crypto-agile log at the start of a buffer whose tail is zeroed;
//   - TXT on TPM 1.2: the "TXT Event Container", a header and SHA-1
//     events;
//   - TXT on TPM 2.0 and TrenchBoot's SKL: TCG crypto-agile logs.

// zeroedTail reports a clean end at a record of zeros: a DRTM buffer is
// allocated whole and the loader writes events from its start, so the
// first record whose PCR, type and digest count (or SHA-1 digest and size)
// are all zero starts the unused tail, which must be zeros to its end.
func (r *Reader) zeroedTail() error {
	n := 12 // PCR, type, digest count
	if r.format != FormatCryptoAgile {
		n = 32 // PCR, type, SHA-1 digest, data size
	}
	head, _ := r.br.Peek(n)
	if len(head) < n || !isZero(head) {
		return nil
	}
	start := r.off
	var buf [4096]byte
	for {
		k, err := r.br.Read(buf[:])
		if i := bytes.IndexFunc(buf[:k], func(c rune) bool { return c != 0 }); i >= 0 {
			return &ParseError{Index: r.index, Offset: r.off + int64(i),
				Msg: fmt.Sprintf("non-zero byte in the zeroed tail that starts at byte offset %d", start)}
		}
		r.off += int64(k)
		if err == io.EOF {
			r.tail = start
			return io.EOF
		}
		if err != nil {
			return &ParseError{Index: r.index, Offset: r.off, Msg: "reading the zeroed tail: " + err.Error(), Err: err}
		}
	}
}

// ZeroedTail returns the byte offset where a zeroed tail began, or -1.
func (r *Reader) ZeroedTail() int64 { return r.tail }

// txtContainerSig starts a TPM 1.2 TXT event log container.
var txtContainerSig = []byte("TXT Event Container\x00")

// txtContainerHeader is the size of the container's header: signature[20],
// reserved[12], four version bytes, then size, PCR events offset and next
// event offset (u32 each).
const txtContainerHeader = 48

// ReadTXTContainer reads a TPM 1.2 "TXT Event Container": its events lie
// between PcrEventsOffset and NextEventOffset, in the TCG_PCR_EVENT
// (SHA-1) layout. Offsets in events and errors count from the container's
// start.
func ReadTXTContainer(data []byte) (*Log, error) {
	if len(data) < txtContainerHeader || !bytes.HasPrefix(data, txtContainerSig) {
		return nil, &ParseError{Msg: "not a TXT event container: no \"TXT Event Container\" signature"}
	}
	if data[32] != 1 || data[34] != 1 {
		return nil, &ParseError{Offset: 32, Msg: fmt.Sprintf("TXT event container version %d.%d with events version %d.%d: only 1.x with 1.x events is read", data[32], data[33], data[34], data[35])}
	}
	size := binary.LittleEndian.Uint32(data[36:])
	first := binary.LittleEndian.Uint32(data[40:])
	next := binary.LittleEndian.Uint32(data[44:])
	switch {
	case uint64(size) > uint64(len(data)):
		return nil, &ParseError{Offset: 36, Msg: fmt.Sprintf("container size %d exceeds the %d bytes given", size, len(data))}
	case first < txtContainerHeader || first > next || next > size:
		return nil, &ParseError{Offset: 40, Msg: fmt.Sprintf("PCR events at [%d, %d) do not lie within the container's %d bytes after its %d-byte header", first, next, size, txtContainerHeader)}
	}
	log := &Log{Format: FormatTXT12, Banks: []pcr.Alg{pcr.SHA1}}
	rd := &Reader{br: bufio.NewReader(bytes.NewReader(data[first:next])), off: int64(first), format: FormatSHA1, tail: -1}
	// The SHA-1 layout has no header event here: every event is one.
	events, err := rd.readAll()
	log.Events = events
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.Msg = "TXT event container: " + pe.Msg
	}
	return log, err
}

// IsDRTM reports whether the log is a DRTM log: every event it extends
// goes into PCRs 17–22, and it extends some.
func (l *Log) IsDRTM() bool {
	some := false
	for _, ev := range l.Events {
		if ev.Type == EvNoAction || ev.Type == EvTXTPCRMapping {
			continue
		}
		if ev.PCR < 17 || ev.PCR > 22 {
			return false
		}
		some = true
	}
	return some
}
