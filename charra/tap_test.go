package charra

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// specRequest is the C verifier's request from charra.md, with its
// 20-byte nonce set to 00..13.
func specRequest(t *testing.T) []byte {
	t.Helper()
	nonce := make([]byte, 20)
	for i := range nonce {
		nonce[i] = byte(i)
	}
	h := "861a00020200f44e" + hex.EncodeToString([]byte("PK.RSA.default")) + "54" + hex.EncodeToString(nonce) +
		"81820b8900010203040506070a" +
		"828364" + hex.EncodeToString([]byte("ima\x00")) + "0100" + "8369" + hex.EncodeToString([]byte("tcg-boot\x00")) + "0100"
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 78 {
		t.Fatalf("spec request is %d bytes, want 78", len(b))
	}
	return b
}

// TestRequestMarshalAsCHARRA: goldenpcr's request is byte for byte the C
// verifier's (charra.md), and reads back.
func TestRequestMarshalAsCHARRA(t *testing.T) {
	want := specRequest(t)
	sel, _ := pcr.ParseSelection("sha256:0-7,10")
	r := &Request{KeyID: []byte(DefaultKeyID), Nonce: want[23:43], Selection: sel,
		Logs: []LogRequest{{Identifier: LogIMA, Start: 1}, {Identifier: LogTCGBoot, Start: 1}}}
	got, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("request\n got %x\nwant %x", got, want)
	}
	back, err := ParseRequest(want)
	if err != nil {
		t.Fatal(err)
	}
	if back.Selection.String() != "sha256:0-7,10" || back.Logs[1].Identifier != LogTCGBoot || !bytes.Equal(back.Nonce, r.Nonce) {
		t.Errorf("read back %+v", back)
	}
}

// TestParseRequestErrors: what the attester would choke on is refused
// with the field and offset.
func TestParseRequestErrors(t *testing.T) {
	good := specRequest(t)
	for name, tc := range map[string]struct {
		edit func([]byte) []byte
		want string
	}{
		"version":     {func(b []byte) []byte { b[5] = 0x01; return b }, "tap-spec-version at byte 1: 0x020201"},
		"bstr pcrs":   {func(b []byte) []byte { b[46] = 0x49; return b }, "pcrs at byte 46: a bstr, want a array"},
		"trailing":    {func(b []byte) []byte { return append(b, 0) }, "at byte 78: 1 bytes after"},
		"truncated":   {func(b []byte) []byte { return b[:40] }, "request: message at byte 0"},
		"pcr 24":      {func(b []byte) []byte { return append(append(b[:55:55], 0x18, 0x18), b[56:]...) }, "pcr at byte 55: PCR 24 is not 0-23"},
		"bool hello":  {func(b []byte) []byte { b[6] = 0x00; return b }, "hello at byte 6: a uint, want a bool"},
		"short array": {func(b []byte) []byte { b[0] = 0x85; return b[:len(b)-0] }, "request"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRequest(tc.edit(bytes.Clone(good)))
			var de *DecodeError
			if err == nil || !errors.As(err, &de) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a DecodeError with %q", err, tc.want)
			}
		})
	}
}

// TestRawSignatureErrors: a wrong size or size field is refused at its
// offset.
func TestRawSignatureErrors(t *testing.T) {
	b := make([]byte, RawSignatureSize)
	b[0], b[2], b[4], b[5] = 0x14, 0x0b, 0x00, 0x01
	if _, err := ParseRawSignature(b); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		edit func([]byte) []byte
		want string
	}{
		"short":       {func(b []byte) []byte { return b[:517] }, "at byte 0: 517 bytes"},
		"marshalled":  {func(b []byte) []byte { return b[:262] }, "262 bytes"},
		"rsa size":    {func(b []byte) []byte { b[5] = 0x03; return b }, "at byte 4: sig.size 768 is not"},
		"rsa shorter": {func(b []byte) []byte { b[5] = 0; b[4] = 0x80; b[200] = 1; return b }, "at byte 200"},
		"rsa 257":     {func(b []byte) []byte { b[4] = 1; return b }, "at byte 4: sig.size 257"},
		"sigalg":      {func(b []byte) []byte { b[0], b[1] = 0x00, 0x14; return b }, "at byte 0: sigAlg 0x1400"},
		"hash":        {func(b []byte) []byte { b[2] = 0x99; return b }, "at byte 2: hash 0x0099"},
		"ecdsa s":     {func(b []byte) []byte { b[0] = 0x18; b[4], b[5] = 32, 0; b[134] = 200; return b }, "at byte 134: signatureS.size 200 is not"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRawSignature(tc.edit(bytes.Clone(b)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}
