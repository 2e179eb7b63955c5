package tpmstruct

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/testfixtures"
)

// addFiles seeds f with every fixture file of dir whose name ends in one
// of the suffixes.
func addFiles(f *testing.F, dir string, suffixes ...string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		for _, s := range suffixes {
			if strings.HasSuffix(e.Name(), s) {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
}

func FuzzParseAttest(f *testing.F) {
	addFiles(f, testfixtures.QuoteDir, ".msg")
	cml := testfixtures.ReadHex(f, testfixtures.CMLDir, "quote.hex")
	f.Add(cml)
	f.Add(append(binary.BigEndian.AppendUint16(nil, uint16(len(cml))), cml...))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAttest(data)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %T is not *ParseError: %v", err, err)
			}
			return
		}
		// Accepted input is exactly the structure (plus the TPM2B size).
		want := data
		if a.Sized {
			want = data[2:]
		}
		if !bytes.Equal(a.Raw, want) || !bytes.Equal(a.Marshal(), want) {
			t.Fatalf("Marshal %x, Raw %x, input %x", a.Marshal(), a.Raw, want)
		}
		b, err := ParseAttest(a.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		b.Sized = a.Sized
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", a, b)
		}
		if a.Quote != nil {
			a.Quote.Selection() // must not panic
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	addFiles(f, testfixtures.QuoteDir, ".sig")
	f.Add(testfixtures.ReadHex(f, testfixtures.CMLDir, "signature.hex"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := ParseSignature(data); err == nil {
			if !bytes.Equal(s.Marshal(), data) {
				t.Fatalf("Marshal %x, input %x", s.Marshal(), data)
			}
			_ = s.String()
		} else if _, ok := err.(*ParseError); !ok {
			t.Fatalf("error %T is not *ParseError: %v", err, err)
		}
		// The same bytes as a plain ECDSA signature: an accepted one
		// re-parses to the same r and s from its TPMT_SIGNATURE form.
		p, err := ParsePlainSignature(data, "ecdsa-sha256")
		if err != nil {
			return
		}
		q, err := ParseSignature(p.Marshal())
		if err != nil || !bytes.Equal(q.R, p.R) || !bytes.Equal(q.S, p.S) || q.Scheme != SchemeECDSA {
			t.Fatalf("plain %+v re-parsed as %+v, %v", p, q, err)
		}
	})
}

func FuzzParsePublic(f *testing.F) {
	addFiles(f, testfixtures.QuoteDir, "-ak.pub", "-ak.pem", "-key.pub")
	if b, err := os.ReadFile(filepath.Join(testfixtures.QuoteDir, "ecc-ak.pub")); err == nil {
		f.Add(b[2:]) // bare TPMT_PUBLIC
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublic(data)
		if err != nil {
			return
		}
		if k.Key == nil {
			t.Fatal("accepted without a key")
		}
		if p := k.TPM; p != nil {
			if !bytes.Equal(p.Marshal(), p.Raw) {
				t.Fatalf("Marshal %x, Raw %x", p.Marshal(), p.Raw)
			}
			q, err := ParseTPMTPublic(p.Raw)
			if err != nil || !reflect.DeepEqual(p, q) {
				t.Fatalf("re-parse: %+v, %v", q, err)
			}
			p.Name() // must not panic
		}
		again, err := ParsePublic(data)
		if err != nil || !again.Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Key) {
			t.Fatalf("second parse differs: %v", err)
		}
		_ = k.String()
	})
}
