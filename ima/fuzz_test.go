package ima

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// fuzzSeeds returns small generated lists of every template in both byte
// orders, and a per-bank one.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, tmpl := range allTemplates {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			var buf bytes.Buffer
			if _, err := imagen.Write(&buf, imagen.Options{Template: tmpl, N: 2, ByteOrder: order, Violations: []int{2}}); err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, buf.Bytes())
		}
	}
	var buf bytes.Buffer
	if _, err := imagen.Write(&buf, imagen.Options{N: 2, TemplateHash: pcr.SHA256}); err != nil {
		f.Fatal(err)
	}
	return append(seeds, buf.Bytes())
}

// checkList reads a whole list, decoding and replaying every entry: no
// input may panic, every failure must be a ParseError placed inside the
// input, and no entry may claim more data than the limit.
func checkList(t *testing.T, data []byte) {
	rd, _, err := NewReader(bytes.NewReader(data), nil)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not a ParseError", err)
		}
		return
	}
	rp, err := NewReplayer(rd.TemplateHash(), &ReplayOptions{Banks: []pcr.Alg{pcr.SHA1, pcr.SHA256, pcr.SM3256}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if pe.Line == 0 && (pe.Offset < 0 || pe.Offset > int64(len(data))) {
				t.Fatalf("error offset %d outside the %d-byte input: %v", pe.Offset, len(data), err)
			}
			return
		}
		if len(e.Data) > MaxTemplateDataSize {
			t.Fatalf("entry %d holds %d bytes of data", e.Index, len(e.Data))
		}
		if ev, err := e.Decode(); err == nil {
			var kr Keyring
			kr.VerifyEntry(ev)
		}
		e.AppendASCII(nil)
		BootAggregateOf(e)
		rp.Extend(e)
	}
	rp.Result()
}

func FuzzParseIMABinary(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkList)
}

func FuzzParseIMAASCII(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.ascii"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// The ASCII form of every generated list.
	for _, s := range fuzzSeeds(f) {
		rd, err := NewBinaryReader(bytes.NewReader(s), nil)
		if err != nil {
			f.Fatal(err)
		}
		var text []byte
		for {
			e, err := rd.Next()
			if err != nil {
				break
			}
			text = e.AppendASCII(text)
		}
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewASCIIReader(bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		for {
			e, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Line < 1 {
					t.Fatalf("error %v is not a ParseError with a line", err)
				}
				return
			}
			if _, err := e.Decode(); err != nil {
				t.Fatalf("entry %d parsed but does not decode: %v", e.Index, err)
			}
			// What the reader accepted prints back to a line it accepts.
			again, err := NewASCIIReader(bytes.NewReader(e.AppendASCII(nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			e2, err := again.Next()
			if err != nil || !bytes.Equal(e2.Data, e.Data) {
				t.Fatalf("entry %d does not survive printing: %v", e.Index, err)
			}
		}
		checkList(t, data)
	})
}

func FuzzParseIMASignature(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	var kr Keyring
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	k, err := keyFromSPKI(der)
	if err != nil {
		f.Fatal(err)
	}
	kr.Keys = append(kr.Keys, k)
	digest := sha256.Sum256([]byte("file"))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
	good := []byte{XattrDigsig, 2, byte(HashSHA256), 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(good[3:], k.ID)
	binary.BigEndian.PutUint16(good[7:], uint16(len(sig)))
	good = append(good, sig...)
	f.Add(good, digest[:])
	f.Add([]byte{XattrVerityDigsig, 3, byte(HashSHA256), 1, 2, 3, 4, 0, 1, 0}, digest[:])
	f.Add([]byte{XattrDigsig, 1, 0, 0, 0, 0}, digest[:])
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, b, d []byte) {
		s, err := ParseSignature(b)
		if err != nil {
			var se *SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a SignatureError", err)
			}
			return
		}
		if s.Version > 1 && len(s.Value)+signatureHeaderSize != len(b) {
			t.Fatalf("value of %d bytes from a %d-byte signature", len(s.Value), len(b))
		}
		res := kr.Verify(s, HashSHA256, d)
		// The type byte is not signed in version 2.
		if res.Status == SigGood && (len(b) == 0 || !bytes.Equal(b[1:], good[1:]) || !bytes.Equal(d, digest[:])) {
			t.Fatalf("forged signature verified: %x over %x", b, d)
		}
	})
}
