package quote

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
	addFiles(f, quoteDir, ".msg")
	cml := readHex(f, cmlDir, "quote.hex")
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
	addFiles(f, quoteDir, ".sig")
	f.Add(readHex(f, cmlDir, "signature.hex"))
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
	addFiles(f, quoteDir, "-ak.pub", "-ak.pem", "-key.pub")
	if b, err := os.ReadFile(filepath.Join(quoteDir, "ecc-ak.pub")); err == nil {
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

// pbAttestation encodes a bundle as an attest.Attestation (the fields
// ParseAttestation reads), for seeds and round trips.
func pbAttestation(b *Bundle) []byte {
	var out []byte
	if b.AKPublic != nil {
		out = pbAppendBytes(out, 1, b.AKPublic)
	}
	for _, q := range b.Quotes {
		var m []byte
		m = pbAppendBytes(m, 1, q.Attest.Raw)
		if q.Signature != nil {
			m = pbAppendBytes(m, 2, q.Signature.Marshal())
		}
		if q.PCRs != nil {
			var p []byte
			p = pbAppendTag(p, 1, pbVarint)
			p = pbAppendVarint(p, uint64(q.Bank))
			for _, i := range q.PCRs.Indices(q.Bank) {
				var e []byte
				e = pbAppendTag(e, 1, pbVarint)
				e = pbAppendVarint(e, uint64(i))
				e = pbAppendBytes(e, 2, q.PCRs[q.Bank][i])
				p = pbAppendBytes(p, 2, e)
			}
			m = pbAppendBytes(m, 3, p)
		}
		out = pbAppendBytes(out, 2, m)
	}
	if b.EventLog != nil {
		out = pbAppendBytes(out, 3, b.EventLog)
	}
	return out
}

// fixtureBundle is the committed go-tpm-tools attestation
// (fixtures/quote/gotpmtools-rsa.pb, made with the TPM simulator).
func fixtureBundle(t testing.TB) *Bundle {
	b, err := ParseAttestation(readFile(t, quoteDir, "gotpmtools-rsa.pb"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureBundleNonce is the nonce of fixtureBundle.
func fixtureBundleNonce(t testing.TB) []byte { return readHex(t, quoteDir, "gotpmtools-nonce.hex") }

func FuzzParseAttestation(f *testing.F) {
	seed := pbAttestation(fixtureBundle(f))
	f.Add(seed)
	f.Add(append(append([]byte{}, seed...), 0x52, 0x01, 0x00)) // field 10, unknown: skipped
	f.Add([]byte{0x53, 0x08, 0x01, 0x54})                      // a group (field 10), skipped
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseAttestation(data)
		if err != nil {
			return
		}
		// Whatever was accepted encodes and re-parses to the same bundle.
		again, err := ParseAttestation(pbAttestation(b))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !bytes.Equal(again.AKPublic, b.AKPublic) || !bytes.Equal(again.EventLog, b.EventLog) || len(again.Quotes) != len(b.Quotes) {
			t.Fatalf("re-parse differs")
		}
		for i := range b.Quotes {
			if !bytes.Equal(again.Quotes[i].Attest.Raw, b.Quotes[i].Attest.Raw) || !reflect.DeepEqual(again.Quotes[i].PCRs, b.Quotes[i].PCRs) {
				t.Fatalf("quote %d differs", i)
			}
		}
		VerifyBundle(b, nil, &Policy{NoNonce: true}) // must not panic
	})
}

func FuzzParseBatchLine(f *testing.F) {
	f.Add([]byte(`{"id":"a","ak":"ak.pub","message":"q.msg","signature":"q.sig","pcrs":"q.pcrs","nonce":"00ff"}`))
	f.Add([]byte(`{"message_hex":"ff544347","signature_hex":"0014","pcr_values":{"sha256":{"0":"` + strings.Repeat("00", 32) + `"}},"no_nonce":true}`))
	f.Add([]byte(`{"attestation":"a.pb","attestation_format":"pb","nonce":"0x01","min_clock":5}`))
	f.Add([]byte(`{"id": "x", "ak": `))
	f.Add([]byte(`{"id":"é","min_reset_count":4294967295,"max_clock":18446744073709551615,"require_safe":false,"pcr_values":{}}`))
	f.Add([]byte(`{"ID":"x","message":"m","signature":"s"}`))
	z := strings.Repeat("00", 32)
	f.Add([]byte(`{"message":"m","signature":"s","pcr_values":{"sha256":{"0":"` + z + `"},"sha256":{"1":"` + z + `"}}}`))
	f.Add([]byte(`{"message":"m","signature":"s","pcr_values":{"sha256":{"0":"` + z + `"},"SHA256":{"7":"` + z + `"},"sha1":{"07":"` + z[:40] + `"}}}`))
	f.Add([]byte(`{"id":"a\u0041","message":"m","signature":"s","no_nonce":true} `))
	// An empty bank object adds no bank (found by this target).
	f.Add([]byte(`{"pcr_values":{"shA256":{"0":"` + z + `"},"SHA256":{"1":"` + z + `"},"shA1":{}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		// The fast decoder accepts only what encoding/json decodes the
		// same way.
		var fast, std Request
		if _, _, ok := fastDecodeBatchLine(bytes.TrimSpace(line), &fast); ok {
			if err := decodeBatchLineJSON(bytes.TrimSpace(line), &std); err != nil {
				t.Fatalf("fast decoder accepted what encoding/json rejects (%v): %q", err, line)
			}
			if !reflect.DeepEqual(fast, std) {
				t.Fatalf("fast and encoding/json differ on %q:\n%+v\n%+v", line, fast, std)
			}
		}
		req, err := ParseBatchLine(line)
		if err != nil {
			if _, ok := err.(*BatchLineError); !ok {
				t.Fatalf("error %T is not *BatchLineError: %v", err, err)
			}
			return
		}
		// An accepted request survives a JSON round trip unchanged.
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseBatchLine(b)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", req, again)
		}
	})
}

// The JSON attestation readers: go-tpm-tools protojson and go-attestation
// PlatformParameters, seeded from the fixtures. Whatever they accept
// verifies without a panic, and a key given twice is never accepted.
func FuzzParseAttestationJSON(f *testing.F) {
	for _, name := range []string{"gotpmtools-rsa.json", "gotpmtools-ecc.json", "goattestation-rsa.json", "goattestation-ecc.json"} {
		f.Add(readFile(f, quoteDir, name))
	}
	f.Add([]byte(`{"akPub":"AA==","akPub":"AA=="}`))
	f.Add([]byte(`{"TPMVersion":2,"Public":"AA==","public":"AA=="}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, err := ParseAttestationJSON(data); err == nil {
			VerifyBundle(b, nil, &Policy{NoNonce: true, AllowUntrustedAK: true})
		}
		if b, err := ParsePlatformParameters(data); err == nil {
			if noDuplicateKeys(data) != nil {
				t.Fatalf("a PlatformParameters with a key given twice was accepted: %q", data)
			}
			VerifyBundle(b, nil, &Policy{NoNonce: true, AllowUntrustedAK: true})
		}
	})
}
