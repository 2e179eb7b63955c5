package ima

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// streamOnly hides a reader's Len, so the parser cannot know the input
// size and must bound allocations by the data that actually arrives.
type streamOnly struct{ r io.Reader }

func (s streamOnly) Read(p []byte) (int, error) { return s.r.Read(p) }

func entryOffsets(t *testing.T, data []byte) []int64 {
	t.Helper()
	rd, err := NewBinaryReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return offs
		}
		if err != nil {
			t.Fatal(err)
		}
		offs = append(offs, e.Offset)
	}
}

// Cutting a list anywhere inside an entry fails with that entry's index
// and an offset inside the input; cutting between entries just ends it.
func TestBinaryTruncatedAnywhere(t *testing.T) {
	for _, tmpl := range allTemplates {
		data, _ := generate(t, imagen.Options{Template: tmpl, N: 3})
		offs := entryOffsets(t, data)
		offs = append(offs, int64(len(data)))
		for cut := 1; cut < len(data); cut++ {
			entry := 0
			for entry+1 < len(offs) && offs[entry+1] <= int64(cut) {
				entry++
			}
			boundary := offs[entry] == int64(cut)
			for _, r := range []io.Reader{bytes.NewReader(data[:cut]), streamOnly{bytes.NewReader(data[:cut])}} {
				n, err := countEntries(r)
				if boundary {
					if err != nil || n != entry {
						t.Fatalf("%s: cut at entry boundary %d: %d entries, %v", tmpl, cut, n, err)
					}
					continue
				}
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("%s: cut at %d: got %v, want a ParseError", tmpl, cut, err)
				}
				if pe.Index != entry || pe.Offset < offs[entry] || pe.Offset > int64(cut) {
					t.Fatalf("%s: cut at %d inside entry %d (offset %d): error says entry %d at offset %d: %v", tmpl, cut, entry, offs[entry], pe.Index, pe.Offset, err)
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "exceeds") {
					t.Fatalf("%s: cut at %d: %v does not say truncated", tmpl, cut, err)
				}
			}
		}
	}
}

func countEntries(r io.Reader) (int, error) {
	rd, _, err := NewReader(r, nil)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// patch overwrites a little-endian u32 at off.
func patch(data []byte, off int, v uint32) []byte {
	out := bytes.Clone(data)
	binary.LittleEndian.PutUint32(out[off:], v)
	return out
}

// Lengths from hostile input never allocate beyond the input: a 4 GiB
// template data length fails at once when the size is known, and after
// reading what is there when it is not.
func TestBinaryOversizedLengths(t *testing.T) {
	data, _ := generate(t, imagen.Options{N: 2})
	offs := entryOffsets(t, data)
	second := int(offs[1])
	nameLen := int(binary.LittleEndian.Uint32(data[second+24:]))
	dataLenAt := second + 28 + nameLen
	cases := []struct {
		name string
		data []byte
		want string
		off  int64
	}{
		{"pcr", patch(data, second, 24), "PCR 24 out of range", int64(second)},
		{"name length", patch(data, second+24, 0x10000), "template name length 65536 out of range", int64(second + 24)},
		{"zero name length", patch(data, second+24, 0), "template name length 0", int64(second + 24)},
		{"data length max", patch(data, dataLenAt, 0xffffffff), "exceeds the 16777216-byte limit", int64(dataLenAt)},
		{"data length past end", patch(data, dataLenAt, 1<<20), "exceeds the", int64(dataLenAt)},
		{"field length", patch(data, dataLenAt+4, 0x7fffffff), "d-ng field: length 2147483647 exceeds", int64(dataLenAt + 4)},
	}
	for _, c := range cases {
		for _, stream := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(c.data)
			if stream {
				r = streamOnly{r}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := countEntries(r)
			runtime.ReadMemStats(&after)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Index != 1 {
				t.Fatalf("%s (stream %v): got %v, want a ParseError for entry 1", c.name, stream, err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
				t.Errorf("%s (stream %v): allocated %d bytes for a %d-byte input", c.name, stream, grew, len(c.data))
			}
			if stream && c.name == "data length past end" {
				// Unknown size: read what is there, then report truncation.
				if !errors.Is(err, io.ErrUnexpectedEOF) || pe.Offset != int64(dataLenAt+4) {
					t.Errorf("%s (stream): %v", c.name, err)
				}
				continue
			}
			if !strings.Contains(err.Error(), c.want) || pe.Offset != c.off {
				t.Errorf("%s (stream %v): %v, want %q at offset %d", c.name, stream, err, c.want, c.off)
			}
		}
	}
}

func TestBinaryNotAList(t *testing.T) {
	for _, in := range [][]byte{[]byte("\x7fELF\x02\x01\x01\x00garbage garbage garbage"), make([]byte, 100), {1}} {
		_, err := countEntries(bytes.NewReader(in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Index != 0 || pe.Offset != 0 {
			t.Errorf("%q: got %v, want a ParseError at entry 0", in[:min(8, len(in))], err)
		}
	}
	if n, err := countEntries(bytes.NewReader(nil)); n != 0 || err != nil {
		t.Errorf("empty input: %d entries, %v", n, err)
	}
}

// Both byte orders and every template read back the generator's entries,
// and the ASCII form the kernel would print reads back to the same
// template data (so ASCII lists replay like binary ones).
func TestBinaryByteOrdersAndASCIIRoundTrip(t *testing.T) {
	for _, tmpl := range allTemplates {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			data, _ := generate(t, imagen.Options{Template: tmpl, N: 6, ByteOrder: order, Violations: []int{2}})
			rd, format, err := NewReader(bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			if format != FormatBinary || rd.ByteOrder() != order || rd.TemplateHash() != pcr.SHA1 {
				t.Fatalf("%s %s: detected %s %v %s", tmpl, order, format, rd.ByteOrder(), rd.TemplateHash())
			}
			entries := readAll(t, rd)
			var ascii []byte
			for _, e := range entries {
				ascii = e.AppendASCII(ascii)
				ev, err := e.Decode()
				if err != nil {
					t.Fatalf("%s: entry %d: %v", tmpl, e.Index, err)
				}
				if ev.Digest == nil || ev.Path == "" {
					t.Fatalf("%s: entry %d: no digest or path: %+v", tmpl, e.Index, ev)
				}
			}
			ard, err := NewASCIIReader(bytes.NewReader(ascii), &ReadOptions{ByteOrder: order})
			if err != nil {
				t.Fatal(err)
			}
			back := readAll(t, ard)
			if len(back) != len(entries) {
				t.Fatalf("%s: %d entries back from ASCII, want %d", tmpl, len(back), len(entries))
			}
			for i := range back {
				if !bytes.Equal(back[i].Data, entries[i].Data) || back[i].PCR != entries[i].PCR ||
					!bytes.Equal(back[i].TemplateDigest, entries[i].TemplateDigest) {
					t.Fatalf("%s %s entry %d: ASCII %q reads back differently:\n%x\n%x", tmpl, order, i, ascii, back[i].Data, entries[i].Data)
				}
			}
		}
	}
}

// Templates the kernel does not ship keep their data as opaque
// length-prefixed fields; a field format as name is decoded by field.
func TestBinaryUnknownAndCustomTemplates(t *testing.T) {
	var b []byte
	u32 := func(v int) { b = binary.LittleEndian.AppendUint32(b, uint32(v)) }
	entry := func(name string, fields ...[]byte) {
		u32(10)
		b = append(b, make([]byte, 20)...)
		b[len(b)-1] = 1 // not a violation
		u32(len(name))
		b = append(b, name...)
		n := 0
		for _, f := range fields {
			n += 4 + len(f)
		}
		u32(n)
		for _, f := range fields {
			u32(len(f))
			b = append(b, f...)
		}
	}
	entry("vendor-tmpl", []byte("abc"), []byte{1, 2})
	entry("d-ng|n-ng|buf", []byte("sha1:\x00aaaaaaaaaaaaaaaaaaaa"), []byte("/x\x00"), []byte{9})
	rd, err := NewBinaryReader(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	entries := readAll(t, rd)
	if entries[0].Template != nil {
		t.Fatalf("vendor template decoded as %v", entries[0].Template)
	}
	f := entries[0].Fields()
	if len(f) != 2 || string(f[0].Data) != "abc" || !bytes.Equal(f[1].Data, []byte{1, 2}) {
		t.Errorf("opaque fields: %+v", f)
	}
	ev, err := entries[1].Decode()
	if err != nil || ev.Path != "/x" || !bytes.Equal(ev.Buffer, []byte{9}) || ev.Digest.Algo != HashSHA1 {
		t.Errorf("custom template: %+v %v", ev, err)
	}
}
