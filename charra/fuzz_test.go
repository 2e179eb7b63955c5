package charra

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// seeds are the encodings the test attester (internal/charratest) really
// sent, recorded in fixtures/charra (go test ./internal/charratest -run
// TestRecordSeeds -update).
func seeds(f *testing.F, pattern string) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("..", "fixtures", "charra", pattern))
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) < 3 {
		f.Fatalf("no recorded %s in fixtures/charra", pattern)
	}
	return out
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range seeds(f, "request-*.cbor") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest(data)
		if err != nil {
			return
		}
		// What reads back and is valid encodes and reads back the same.
		if r.validate() != nil {
			return
		}
		enc, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		if back.QuoteSelection().String() != r.QuoteSelection().String() || !bytes.Equal(back.Nonce, r.Nonce) || len(back.Logs) != len(r.Logs) {
			t.Fatalf("round trip changed the request: %+v != %+v", back, r)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range seeds(f, "response-*.cbor") {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResponse(data)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error %T is not a DecodeError: %v", err, err)
			}
			return
		}
		if r.Attest == nil || r.Signature == nil || (r.Form == Form3mdeb) != (r.PublicKey != nil) {
			t.Fatalf("parsed response lacks a part: %+v", r)
		}
		Verify(&Request{Nonce: []byte{1}}, r, nil) // must not panic
	})
}

func FuzzParseRawSignature(f *testing.F) {
	for _, s := range seeds(f, "signature-*.raw") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseRawSignature(data)
		if err != nil {
			return
		}
		if len(s.RSA) == 0 && (len(s.R) == 0 || len(s.S) == 0) {
			t.Fatalf("parsed signature without signature bytes: %+v", s)
		}
	})
}

func FuzzParseRawPublic(f *testing.F) {
	for _, s := range seeds(f, "response-*-3mdeb.cbor") {
		if r, err := ParseResponse(s); err == nil {
			f.Add(r.PublicKeyData)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseRawPublic(data) // must not panic
	})
}
