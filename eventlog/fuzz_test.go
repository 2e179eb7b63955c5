package eventlog

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"
)

// FuzzParseEventLog feeds arbitrary bytes to the reader, decoder, digest
// checks and replay: none may panic, every failure must be a ParseError,
// and a log that parses must replay.
func FuzzParseEventLog(f *testing.F) {
	// Small inputs mutate and run fast: seed with each log's first events
	// (header, variables, boot entries) and the small logs whole.
	const seedSize = 8 << 10
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "tcg*", "*.bin"))
	for _, p := range files {
		data := readFixture(f, filepath.Join(filepath.Base(filepath.Dir(p)), filepath.Base(p)))
		f.Add(data[:min(len(data), seedSize)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			return
		}
		total := 0
		for {
			ev, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a ParseError", err)
				}
				if pe.Offset < 0 || pe.Offset > int64(len(data)) {
					t.Fatalf("error offset %d outside the %d-byte input", pe.Offset, len(data))
				}
				return
			}
			total += len(ev.Data)
			if total > len(data) {
				t.Fatalf("events hold %d data bytes from a %d-byte input", total, len(data))
			}
			p, _ := Decode(ev)
			_ = p.Summary()
			CheckDigest(ev)
		}
		if _, err := ReplayLog(bytes.NewReader(data), &ReplayOptions{CheckDigests: true}); err != nil {
			t.Fatalf("log parsed but replay failed: %v", err)
		}
	})
}

// FuzzParseSignatureLists: EFI signature lists (PK, KEK, db, dbx) of any
// shape fail with an error, never a panic; seeded with the lists in the
// fixture logs' PCR 7 events.
func FuzzParseSignatureLists(f *testing.F) {
	for _, name := range []string{"tcg/rhel8-uefi.bin", "tcg-edge/sb_cert_eventlog.bin"} {
		rd, err := NewReader(bytes.NewReader(readFixture(f, name)))
		if err != nil {
			f.Fatal(err)
		}
		for {
			ev, err := rd.Next()
			if err != nil {
				break
			}
			if ev.Type != EvEFIVariableDriverCfg {
				continue
			}
			if p, err := Decode(ev); err == nil && p.(Variable).SignatureLists != nil {
				f.Add(bytes.Clone(p.(Variable).VariableData))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lists, err := ParseSignatureLists(data)
		if err != nil {
			return
		}
		n := 0
		for _, l := range lists {
			n += len(l.Signatures)
		}
		if n*16 > len(data) {
			t.Fatalf("%d entries from %d bytes", n, len(data))
		}
	})
}
