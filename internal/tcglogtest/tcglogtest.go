// Package tcglogtest rewrites real TCG event logs for tests: a fixture or
// a boot-lab capture with one thing changed, dropped or inserted, every
// other byte as the firmware wrote it.
package tcglogtest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
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
