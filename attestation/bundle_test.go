package attestation_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestParseAttestationWire: proto3 rules the generated code follows —
// unknown fields and groups skipped, a message field seen twice merged,
// the last scalar wins — and errors that name the message and offset.
func TestParseAttestationWire(t *testing.T) {
	b := fixtureBundle(t)
	good := pbAttestation(b)
	q := b.Quotes[0]

	// The quote's PCRs message split in two (hash in one, values in the
	// other), an unknown varint field, an unknown group, and ak_pub twice
	// (the first one garbage): all read as the generated code would.
	var pcrs1, pcrs2 []byte
	pcrs1 = pcrAppendHash(pcrs1, q.Bank)
	for _, i := range q.PCRs.Indices(q.Bank) {
		pcrs2 = appendBytes(pcrs2, 2, mapEntry(uint64(i), q.PCRs[q.Bank][i]))
	}
	var m []byte
	m = appendBytes(m, 1, q.Attest.Raw)
	m = appendBytes(m, 3, pcrs1)
	m = appendBytes(m, 2, q.Signature.Marshal())
	m = appendBytes(m, 3, pcrs2)
	var in []byte
	in = appendBytes(in, 1, []byte("garbage, replaced below"))
	in = protowire.AppendTag(in, 15, protowire.VarintType)
	in = protowire.AppendVarint(in, 1<<40)
	in = append(in, 0x53, 0x08, 0x01, 0x54) // group 10 { field 1 = 1 }
	in = appendBytes(in, 2, m)
	in = appendBytes(in, 1, b.AKPublic)
	in = appendBytes(in, 8, []byte{0x0a, 0x00}) // sev_snp_attestation: noted
	got, err := attestation.ParseAttestation(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.AKPublic, b.AKPublic) || len(got.Quotes) != 1 || got.Quotes[0].Bank != q.Bank ||
		got.Quotes[0].PCRs.Len() != q.PCRs.Len() || len(got.Ignored) != 1 || got.Ignored[0] != "sev_snp_attestation" {
		t.Fatalf("merged parse: %+v", got)
	}
	rep := quote.VerifyBundle(got, nil, &quote.Policy{Nonce: fixtureBundleNonce(t), TrustedAKs: []*tpmstruct.PublicKey{b.AK}})
	if !rep.Verified {
		t.Fatalf("not verified: %v", rep.Failed())
	}

	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)-3], "attest.Attestation at byte"},
		{"wrong wire type", append(protowire.AppendTag(nil, 2, protowire.VarintType), 1), "field 2 (quotes) has wire type 0, want 2"},
		{"field 0", []byte{0x02, 0x00}, "field number 0 is out of range"},
		{"long varint", append([]byte{0x78}, bytes.Repeat([]byte{0xff}, 11)...), "varint"},
		{"open group", []byte{0x53, 0x08, 0x01}, "group 10 is not closed"},
		{"stray end group", []byte{0x54}, "end-group 10 without a start-group"},
		{"bad PCR index", appendBytes(nil, 2, appendBytes(appendBytes(nil, 1, q.Attest.Raw), 3,
			appendBytes(pcrAppendHash(nil, pcr.SHA256), 2, mapEntry(24, make([]byte, 32))))), "quotes[0].pcrs: PCR 24 is out of range"},
		{"bad PCR size", appendBytes(nil, 2, appendBytes(appendBytes(nil, 1, q.Attest.Raw), 3,
			appendBytes(pcrAppendHash(nil, pcr.SHA1), 2, mapEntry(0, make([]byte, 32))))), "sha1 PCR 0 is 32 bytes, want 20"},
		{"no quote", appendBytes(nil, 2, nil), "quotes[0]: no quote (TPMS_ATTEST)"},
		{"bad AK", appendBytes(nil, 1, []byte{1, 2, 3}), "ak_pub: TPMT_PUBLIC"},
	} {
		_, err := attestation.ParseAttestation(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if c.name == "truncated" {
			var pe *tpmstruct.ParseError
			if !errors.As(err, &pe) {
				t.Errorf("truncated: %T is no *tpmstruct.ParseError", err)
			}
		}
	}
}

func pcrAppendHash(b []byte, a pcr.Alg) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(a))
}

func mapEntry(k uint64, v []byte) []byte {
	var e []byte
	e = protowire.AppendTag(e, 1, protowire.VarintType)
	e = protowire.AppendVarint(e, k)
	return appendBytes(e, 2, v)
}

// TestParseAttestationJSONForms: protojson's accepted spellings.
func TestParseAttestationJSONForms(t *testing.T) {
	b := fixtureBundle(t)
	q := b.Quotes[0]
	var pcrs []string
	for _, i := range q.PCRs.Indices(q.Bank) {
		pcrs = append(pcrs, fmt.Sprintf(`"%d": %q`, i, base64.RawURLEncoding.EncodeToString(q.PCRs[q.Bank][i])))
	}
	doc := fmt.Sprintf(`{"ak_pub": %q, "quotes": [{"quote": %q, "rawSig": %q, "pcrs": {"hash": %d, "pcrs": {%s}}}], "eventLog": null, "canonicalEventLog": ""}`,
		base64.StdEncoding.EncodeToString(b.AKPublic), base64.RawStdEncoding.EncodeToString(q.Attest.Raw),
		base64.URLEncoding.EncodeToString(q.Signature.Marshal()), uint16(q.Bank), strings.Join(pcrs, ", "))
	got, err := attestation.ParseAttestationJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !quote.VerifyBundle(got, nil, &quote.Policy{Nonce: fixtureBundleNonce(t), TrustedAKs: []*tpmstruct.PublicKey{b.AK}}).Verified || len(got.Ignored) != 1 {
		t.Fatalf("%+v", got)
	}
	for _, c := range []struct{ doc, want string }{
		{`{"akPub": "!!"}`, "ak_pub: illegal base64"},
		{`{"quotes": [{"pcrs": {"hash": "MD5"}}]}`, `"MD5" is not a tpm.HashAlgo name`},
		{`{"quotes": [{"quote": "AA==", "pcrs": {"pcrs": {"x": ""}}}]}`, `key "x" is not a uint32`},
		{`{"TPMVersion": 2}`, `unknown field "TPMVersion"`},
	} {
		if _, err := attestation.ParseAttestationJSON([]byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
}

// TestParsePlatformParametersErrors: what go-attestation input is refused.
func TestParsePlatformParametersErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{"TPMVersion": 1}`, "TPMVersion 1; goldenpcr verifies TPM 2.0"},
		{`{"TPMVersion": 2}`, "no Public"},
		{`{"TPMVersion": 2, "Public": "AAEACw==", "Quotes": []}`, "PlatformParameters.Public"},
		{`[1]`, "PlatformParameters: json: cannot unmarshal array"},
	} {
		if _, err := attestation.ParsePlatformParameters([]byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
}
