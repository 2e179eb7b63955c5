package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll parses a whole log, returning cloned events.
func readAll(data []byte) (*Reader, []*Event, error) {
	rd, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	var evs []*Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return rd, evs, nil
		}
		if err != nil {
			return rd, evs, err
		}
		evs = append(evs, ev.Clone())
	}
}

func wantParseError(t *testing.T, err error, index int, offset int64, text string) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want *ParseError", err, err)
	}
	if pe.Index != index || pe.Offset != offset {
		t.Errorf("error at event %d offset %d, want event %d offset %d (%v)", pe.Index, pe.Offset, index, offset, err)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not mention %q", err, text)
	}
}

func TestRealLogsStructure(t *testing.T) {
	_, evs, err := readAll(readFixture(t, "tcg/rhel8-uefi.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 83 {
		t.Fatalf("%d events, want 83", len(evs))
	}
	if evs[0].Type != EvNoAction || evs[0].Offset != 0 {
		t.Errorf("event 0 = %v at %d, want the Spec ID header at 0", evs[0].Type, evs[0].Offset)
	}
	// The header is 32 bytes of TCG_PCR_EVENT plus its data.
	if want := int64(32 + len(evs[0].Data)); evs[1].Offset != want {
		t.Errorf("event 1 at offset %d, want %d", evs[1].Offset, want)
	}
	if len(evs[1].Digests) != 3 || evs[1].Digests[1].Alg != pcr.SHA256 {
		t.Errorf("event 1 digests %v, want sha1,sha256,sha384", evs[1].Digests)
	}
}

// agileEventOffsets returns where each field of event i starts.
func eventFieldOffsets(t *testing.T, data []byte, i int) (start, count, firstAlg, dataSize int64) {
	t.Helper()
	rd, evs, err := readAll(data)
	if err != nil {
		t.Fatal(err)
	}
	start = evs[i].Offset
	count = start + 8
	firstAlg = count + 4
	dataSize = firstAlg
	for _, b := range rd.SpecID().Algorithms {
		dataSize += 2 + int64(b.Size)
	}
	return
}

func TestMalformedLogs(t *testing.T) {
	orig := readFixture(t, "tcg/rhel8-uefi.bin")
	start, count, firstAlg, size := eventFieldOffsets(t, orig, 5)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(orig)) }

	t.Run("truncated header", func(t *testing.T) {
		_, _, err := readAll(orig[:start+6])
		wantParseError(t, err, 5, start, "truncated in event header")
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("error does not wrap io.ErrUnexpectedEOF")
		}
	})
	t.Run("truncated data", func(t *testing.T) {
		_, _, err := readAll(orig[:size+10])
		wantParseError(t, err, 5, size+4, "truncated in event data")
	})
	t.Run("size past end", func(t *testing.T) {
		b := mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[size:], 0x00ffffff)
			return b
		})
		_, _, err := readAll(b)
		wantParseError(t, err, 5, size+4, "event claims 16777215 bytes")
	})
	t.Run("size over limit", func(t *testing.T) {
		b := mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[size:], 0xffffffff)
			return b
		})
		_, _, err := readAll(b)
		wantParseError(t, err, 5, size, "exceeds the 16777216-byte limit")
	})
	t.Run("unknown algorithm", func(t *testing.T) {
		b := mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[firstAlg:], 0x0099)
			return b
		})
		_, _, err := readAll(b)
		wantParseError(t, err, 5, firstAlg, "0x0099 is not a bank of the Spec ID header")
	})
	t.Run("digest count too high", func(t *testing.T) {
		b := mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[count:], 7)
			return b
		})
		_, _, err := readAll(b)
		wantParseError(t, err, 5, count, "digest count 7 does not match the 3 banks")
	})
	t.Run("digest count zero", func(t *testing.T) {
		b := mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[count:], 0)
			return b
		})
		_, _, err := readAll(b)
		wantParseError(t, err, 5, count, "digest count 0")
	})
	t.Run("PCR out of range", func(t *testing.T) {
		b := mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[start:], 99)
			return b
		})
		_, _, err := readAll(b)
		wantParseError(t, err, 5, start, "PCR index 99 out of range")
	})
	t.Run("bad header digest size", func(t *testing.T) {
		b := mutate(func(b []byte) []byte {
			// First algorithm entry of the Spec ID header: sha1 claims 21 bytes.
			binary.LittleEndian.PutUint16(b[32+28+2:], 21)
			return b
		})
		_, _, err := readAll(b)
		wantParseError(t, err, 0, 32, "at header byte 28: bank sha1 has digest size 21, want 20")
	})
	t.Run("empty", func(t *testing.T) {
		_, _, err := readAll(nil)
		wantParseError(t, err, 0, 0, "empty event log")
	})
	t.Run("not a log", func(t *testing.T) {
		_, _, err := readAll(readFixture(t, "tcg-edge/keylime-bogus.bin"))
		wantParseError(t, err, 0, 0, "not a TCG event log")
	})
}

// Every edge-case log parses to its end, except the bogus file.
func TestEdgeLogsParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "tcg-edge", "*.bin"))
	if len(files) < 17 {
		t.Fatalf("found %d edge fixtures", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, "tcg-edge/"+name)
			rd, evs, err := readAll(data)
			if name == "keylime-bogus.bin" {
				if err == nil {
					t.Fatal("bogus file parsed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			end := evs[len(evs)-1]
			if got := end.Offset + int64(eventSize(rd.Format(), end)); got != int64(len(data)) {
				t.Errorf("last event ends at %d, file has %d bytes", got, len(data))
			}
			for _, ev := range evs {
				if c := CheckDigest(ev); c.Status == DigestMismatch {
					t.Errorf("event %d (%v): digest mismatch under %s", ev.Index, ev.Type, c.Rule)
				}
				if _, err := Decode(ev); err != nil {
					t.Errorf("decode: %v", err)
				}
			}
			if _, err := ReplayLog(bytes.NewReader(data), nil); err != nil {
				t.Errorf("replay: %v", err)
			}
		})
	}
}

// eventSize is the encoded size of an event in a log of format f.
func eventSize(f Format, ev *Event) int {
	if ev.Index == 0 || f == FormatSHA1 {
		return 32 + len(ev.Data)
	}
	n := 12 + 4 + len(ev.Data)
	for _, d := range ev.Digests {
		n += 2 + len(d.Value)
	}
	return n
}

func TestEdgeLogSpecifics(t *testing.T) {
	replay := func(name string) *Replay {
		t.Helper()
		res, err := ReplayLog(bytes.NewReader(readFixture(t, "tcg-edge/"+name)), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	hasQuirk := func(r *Replay, text string) bool {
		for _, q := range r.Quirks {
			if strings.Contains(q.What, text) {
				return true
			}
		}
		return false
	}

	// A SHA-1 log holding only StartupLocality 3: PCR 0 starts at ...03.
	r := replay("short_no_action_eventlog.bin")
	if r.Format != FormatSHA1 || r.Locality != 3 {
		t.Errorf("short_no_action: format %v locality %d, want sha1 and 3", r.Format, r.Locality)
	}
	if v, _ := r.Values.Get(pcr.SHA1, 0); v[19] != 3 || r.Touched(0) {
		t.Errorf("short_no_action: PCR 0 = %x, want locality 3 start value, untouched", v)
	}

	if r := replay("ebs_event_missing_eventlog.bin"); !hasQuirk(r, "Exit Boot Services") {
		t.Errorf("ebs_event_missing: quirk not named, got %v", r.Quirks)
	}
	if r := replay("option_rom_eventlog.bin"); !hasQuirk(r, "PCR index -1") || r.Events != 61 {
		t.Errorf("option_rom: %d events, quirks %v", r.Events, r.Quirks)
	}
	// The header lists four banks; events carry only sha1 and sha256.
	r = replay("event-uefivar.bin")
	if len(r.Banks) != 2 || len(r.Dropped) != 2 {
		t.Errorf("event-uefivar: banks %v dropped %v, want sha1,sha256 kept and sha384,sha512 dropped", r.Banks, r.Dropped)
	}
	_, err := ReplayLog(bytes.NewReader(readFixture(t, "tcg-edge/event-uefivar.bin")), &ReplayOptions{Banks: []pcr.Alg{pcr.SHA384}})
	wantParseError(t, err, 1, 77, "no sha384 digest")
}
