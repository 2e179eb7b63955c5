package cml

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	for _, p := range [][]byte{{0x08, 0x01}, bytes.Repeat([]byte{7}, 300)} {
		if err := WriteFrame(&buf, p); err != nil {
			t.Fatal(err)
		}
	}
	fr := NewFrameReader(&buf)
	for _, want := range []int{2, 300} {
		p, err := fr.ReadFrame()
		if err != nil || len(p) != want {
			t.Fatalf("frame: %d bytes, %v; want %d", len(p), err, want)
		}
	}
	if _, err := fr.ReadFrame(); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
	if fr.Offset() != 4+2+4+300 {
		t.Errorf("offset %d", fr.Offset())
	}
	if _, err := AppendFrame(nil, nil); err == nil {
		t.Error("an empty message was framed")
	}
}

// countingReader counts the bytes asked for, to show a claimed length is
// not allocated.
type countingReader struct {
	r       io.Reader
	largest int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.largest = max(c.largest, len(p))
	return c.r.Read(p)
}

func TestFrameErrors(t *testing.T) {
	hdr := func(n uint32, rest ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, n), rest...)
	}
	// A good frame first, so the offsets are those of the stream.
	good := hdr(2, 0x08, 0x01)
	for _, tc := range []struct {
		name   string
		in     []byte
		offset int64
		want   string
	}{
		{"zero length", hdr(0), 6, "length 0: an empty message"},
		{"4 GiB", hdr(0xffffffff), 6, "length 4294967295 (4.0 GiB) is not below the limit of 67108864 bytes (64.0 MiB)"},
		{"64 MiB exactly", hdr(MaxFrame), 6, "is not below the limit"},
		{"truncated body", hdr(100, 1, 2, 3), 13, "length 100, but the stream ended after 3 bytes of it (connection closed)"},
		{"truncated length", []byte{0, 0}, 8, "the stream ended after 2 of the 4 length bytes"},
	} {
		cr := &countingReader{r: bytes.NewReader(append(append([]byte{}, good...), tc.in...))}
		fr := NewFrameReader(cr)
		if _, err := fr.ReadFrame(); err != nil {
			t.Fatal(err)
		}
		_, err := fr.ReadFrame()
		var fe *FrameError
		if !errors.As(err, &fe) || fe.Offset != tc.offset || !strings.Contains(fe.Reason, tc.want) {
			t.Errorf("%s: %v (offset %v), want %q at byte %d", tc.name, err, fe, tc.want, tc.offset)
		}
		if cr.largest > 1<<20 {
			t.Errorf("%s: a read of %d bytes", tc.name, cr.largest)
		}
	}
	// MaxFrame-1 is allowed; what is missing of it is a truncation.
	fr := NewFrameReader(bytes.NewReader(hdr(MaxFrame-1, 1)))
	if _, err := fr.ReadFrame(); err == nil || !strings.Contains(err.Error(), "stream ended after 1 bytes") {
		t.Errorf("63.99 MiB frame: %v", err)
	}
}

func TestRequests(t *testing.T) {
	r, err := NewRequest(Basic, 0, RattestationNonceSize)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// rattestation's request: 08 01 10 00 1a 08 + the 8-byte nonce.
	if want := append([]byte{0x08, 0x01, 0x10, 0x00, 0x1a, 0x08}, r.Nonce...); !bytes.Equal(b, want) {
		t.Errorf("BASIC request %x, want %x", b, want)
	}
	adv := &Request{AType: Advanced, PCRs: 1<<10 | 1<<11 | 0xff, Nonce: bytes.Repeat([]byte{1}, 32)}
	b, err = adv.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRequest(b)
	if err != nil || back.AType != Advanced || back.PCRs != adv.PCRs || !bytes.Equal(back.Nonce, adv.Nonce) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if sel, _ := adv.Selection(); sel.String() != "sha256:0-7,10-11" {
		t.Errorf("selection %s", sel)
	}
	for _, bad := range []*Request{{AType: Advanced}, {AType: Advanced, PCRs: 1 << 24}, {AType: 7}} {
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	for _, n := range []int{0, 7, 65} {
		if _, err := NewRequest(Basic, 0, n); err == nil {
			t.Errorf("nonce size %d accepted", n)
		}
	}
	for in, want := range map[string]string{"host": "host:9505", "10.0.0.2:7000": "10.0.0.2:7000", "::1": "[::1]:9505", "[::1]": "[::1]:9505", "[fe80::1]:9": "[fe80::1]:9"} {
		if got, err := Address(in); got != want || err != nil {
			t.Errorf("Address(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
