package attestation_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/internal/strictjson"
	"github.com/goldenpcr/goldenpcr/internal/testfixtures"
	"github.com/goldenpcr/goldenpcr/quote"
	"google.golang.org/protobuf/encoding/protowire"
)

// pbAttestation encodes a bundle as an attest.Attestation (the fields
// attestation.ParseAttestation reads), for seeds and round trips.
func pbAttestation(b *attestation.Bundle) []byte {
	var out []byte
	if b.AKPublic != nil {
		out = appendBytes(out, 1, b.AKPublic)
	}
	for _, q := range b.Quotes {
		var m []byte
		m = appendBytes(m, 1, q.Attest.Raw)
		if q.Signature != nil {
			m = appendBytes(m, 2, q.Signature.Marshal())
		}
		if q.PCRs != nil {
			var p []byte
			p = protowire.AppendTag(p, 1, protowire.VarintType)
			p = protowire.AppendVarint(p, uint64(q.Bank))
			for _, i := range q.PCRs.Indices(q.Bank) {
				var e []byte
				e = protowire.AppendTag(e, 1, protowire.VarintType)
				e = protowire.AppendVarint(e, uint64(i))
				e = appendBytes(e, 2, q.PCRs[q.Bank][i])
				p = appendBytes(p, 2, e)
			}
			m = appendBytes(m, 3, p)
		}
		out = appendBytes(out, 2, m)
	}
	if b.EventLog != nil {
		out = appendBytes(out, 3, b.EventLog)
	}
	return out
}

// fixtureBundle is the committed go-tpm-tools attestation
// (fixtures/quote/gotpmtools-rsa.pb, made with the TPM simulator).
func fixtureBundle(t testing.TB) *attestation.Bundle {
	b, err := attestation.ParseAttestation(testfixtures.Read(t, testfixtures.QuoteDir, "gotpmtools-rsa.pb"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureBundleNonce is the nonce of fixtureBundle.
func fixtureBundleNonce(t testing.TB) []byte {
	return testfixtures.ReadHex(t, testfixtures.QuoteDir, "gotpmtools-nonce.hex")
}

func FuzzParseAttestation(f *testing.F) {
	seed := pbAttestation(fixtureBundle(f))
	f.Add(seed)
	f.Add(append(append([]byte{}, seed...), 0x52, 0x01, 0x00)) // field 10, unknown: skipped
	f.Add([]byte{0x53, 0x08, 0x01, 0x54})                      // a group (field 10), skipped
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := attestation.ParseAttestation(data)
		if err != nil {
			return
		}
		// Whatever was accepted encodes and re-parses to the same bundle.
		again, err := attestation.ParseAttestation(pbAttestation(b))
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
		quote.VerifyBundle(b, nil, &quote.Policy{NoNonce: true}) // must not panic
	})
}

// The JSON attestation readers: go-tpm-tools protojson and go-attestation
// PlatformParameters, seeded from the fixtures. Whatever they accept
// verifies without a panic, and a key given twice is never accepted.
func FuzzParseAttestationJSON(f *testing.F) {
	for _, name := range []string{"gotpmtools-rsa.json", "gotpmtools-ecc.json", "goattestation-rsa.json", "goattestation-ecc.json"} {
		f.Add(testfixtures.Read(f, testfixtures.QuoteDir, name))
	}
	f.Add([]byte(`{"akPub":"AA==","akPub":"AA=="}`))
	f.Add([]byte(`{"TPMVersion":2,"Public":"AA==","public":"AA=="}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, err := attestation.ParseAttestationJSON(data); err == nil {
			quote.VerifyBundle(b, nil, &quote.Policy{NoNonce: true, AllowUntrustedAK: true})
		}
		if b, err := attestation.ParsePlatformParameters(data); err == nil {
			if strictjson.NoDuplicateKeys(data) != nil {
				t.Fatalf("a PlatformParameters with a key given twice was accepted: %q", data)
			}
			quote.VerifyBundle(b, nil, &quote.Policy{NoNonce: true, AllowUntrustedAK: true})
		}
	})
}

// appendBytes appends field num as a length-delimited field holding v.
func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}
