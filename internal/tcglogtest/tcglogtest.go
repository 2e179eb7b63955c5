// Package tcglogtest rewrites real TCG event logs for tests (a fixture or
// a boot-lab capture with one thing changed, dropped or inserted, every
// other byte as the firmware wrote it) and writes logs from events (the
// DRTM logs a test extends into swtpm as it writes them).
package tcglogtest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Edit re-encodes the crypto-agile log, handing each event after the
// header to edit (as a copy it may change) and writing the events edit
// returns in its place: the event itself, none to drop it, or more to
// insert some.
func Edit(t testing.TB, log []byte, edit func(ev *eventlog.Event) []*eventlog.Event) []byte {
	t.Helper()
	l, err := eventlog.ReadLog(bytes.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if l.Format != eventlog.FormatCryptoAgile || len(l.Events) < 2 {
		t.Fatalf("tcglogtest: a crypto-agile log with events is needed, got %v with %d events", l.Format, len(l.Events))
	}
	out := bytes.Clone(log[:l.Events[1].Offset])
	for _, ev := range l.Events[1:] {
		for _, e := range edit(ev.Clone()) {
			out = appendEvent(out, e)
		}
	}
	return out
}

func appendEvent(b []byte, ev *eventlog.Event) []byte {
	b = binary.LittleEndian.AppendUint32(b, ev.PCR)
	b = binary.LittleEndian.AppendUint32(b, uint32(ev.Type))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ev.Digests)))
	for _, d := range ev.Digests {
		b = binary.LittleEndian.AppendUint16(b, uint16(d.Alg))
		b = append(b, d.Value...)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ev.Data)))
	return append(b, ev.Data...)
}

// Rehash sets every digest of ev to its bank's hash of data.
func Rehash(ev *eventlog.Event, data []byte) {
	for i := range ev.Digests {
		ev.Digests[i].Value = ev.Digests[i].Alg.Sum(data)
	}
}

// Write encodes a crypto-agile log with the banks' Spec ID header and the
// events, each of which carries a digest for every bank.
func Write(banks []pcr.Alg, events []*eventlog.Event) []byte {
	spec := append([]byte("Spec ID Event03\x00"), 0, 0, 0, 0, 0, 2, 0, 2)
	spec = binary.LittleEndian.AppendUint32(spec, uint32(len(banks)))
	for _, b := range banks {
		spec = binary.LittleEndian.AppendUint16(spec, uint16(b))
		spec = binary.LittleEndian.AppendUint16(spec, uint16(b.Size()))
	}
	spec = append(spec, 0) // no vendor info
	out := binary.LittleEndian.AppendUint32(nil, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(eventlog.EvNoAction))
	out = append(out, make([]byte, 20)...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(spec)))
	out = append(out, spec...)
	for _, ev := range events {
		out = appendEvent(out, ev)
	}
	return out
}

// WriteTXT12 encodes a TPM 1.2 "TXT Event Container" of SHA-1 events,
// allocated size bytes (at least what the events need).
func WriteTXT12(events []*eventlog.Event, size int) []byte {
	var body []byte
	for _, ev := range events {
		body = binary.LittleEndian.AppendUint32(body, ev.PCR)
		body = binary.LittleEndian.AppendUint32(body, uint32(ev.Type))
		body = append(body, ev.Digests[0].Value...)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(ev.Data)))
		body = append(body, ev.Data...)
	}
	size = max(size, 48+len(body))
	out := append([]byte("TXT Event Container\x00"), make([]byte, 12)...)
	out = append(out, 1, 0, 1, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(size))
	out = binary.LittleEndian.AppendUint32(out, 48)
	out = binary.LittleEndian.AppendUint32(out, uint32(48+len(body)))
	out = append(out, body...)
	return append(out, make([]byte, size-len(out))...)
}
