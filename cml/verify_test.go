package cml

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/cml/tpm2dpb"
	"github.com/goldenpcr/goldenpcr/internal/testfixtures"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/quote"
)

// fixtureResponse builds the framed Tpm2dToRemote of the real GyroidOS
// example run (fixtures/cml: quote, signature, PCRs 0-11; its device
// certificate was never published) and returns it with the nonce.
func fixtureResponse(t testing.TB) (frame, nonce []byte) {
	t.Helper()
	dir := testfixtures.CMLDir
	doc, err := pcr.ReadFile(filepath.Join(dir, "pcrs-sha256.txt"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := &tpm2dpb.Tpm2DToRemote{
		Code:      tpm2dpb.Tpm2DToRemote_ATTESTATION_RES.Enum(),
		Atype:     Basic.Enum(),
		Halg:      tpm2dpb.HashAlgLen_SHA256.Enum(),
		Quoted:    testfixtures.ReadHex(t, dir, "quote.hex"),
		Signature: testfixtures.ReadHex(t, dir, "signature.hex"),
	}
	for i := 0; i < 12; i++ {
		v, _ := doc.Sets[0].Get(pcr.SHA256, i)
		m.PcrValues = append(m.PcrValues, &tpm2dpb.Pcr{Number: proto.Int32(int32(i)), Value: v})
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	frame, err = AppendFrame(nil, payload)
	if err != nil {
		t.Fatal(err)
	}
	return frame, testfixtures.ReadHex(t, dir, "nonce.hex")
}

// The real GyroidOS response decodes: its nonce, the selection of PCRs
// 0-11, and pcrDigest = SHA-256 of the twelve values. Without the device
// certificate the verdict is "not verified", for that reason.
func TestFixtureResponse(t *testing.T) {
	frame, nonce := fixtureResponse(t)
	payload, err := NewFrameReader(bytes.NewReader(frame)).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := DecodeResponse(payload)
	if err != nil {
		t.Fatal(err)
	}
	a := resp.Attest
	if !bytes.Equal(a.ExtraData, nonce) || hex.EncodeToString(nonce) != "ef271a344db1da91" {
		t.Errorf("extraData %x, nonce %x", a.ExtraData, nonce)
	}
	sel, err := a.Quote.Selection()
	if err != nil || sel.String() != "sha256:0-11" || len(resp.PCRNumbers) != 12 {
		t.Errorf("selection %v (%v), %d values", sel, err, len(resp.PCRNumbers))
	}
	var concat []byte
	for _, i := range resp.PCRNumbers {
		v, _ := resp.PCRs.Get(pcr.SHA256, i)
		concat = append(concat, v...)
	}
	if sum := sha256.Sum256(concat); !bytes.Equal(sum[:], a.Quote.PCRDigest) || !strings.HasPrefix(hex.EncodeToString(sum[:]), "e75138ab") {
		t.Errorf("pcrDigest %x, SHA-256 of the values %x", a.Quote.PCRDigest, sum)
	}

	expected, err := baseline.Load(filepath.Join(testfixtures.CMLDir, "pcrs-sha256.txt"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{AType: Basic, Nonce: nonce}
	rep := Verify(req, resp, &Policy{InsecureNoCA: true, Expected: expected})
	if rep.Verified {
		t.Fatal("a response without a certificate verified")
	}
	for _, name := range []string{CheckResponse, quote.CheckAttestHeader, quote.CheckNonce, quote.CheckPCRSelection, quote.CheckPCRDigest, quote.CheckExpected, CheckPCRCoverage} {
		if c := rep.Check(name); c == nil || !c.Passed {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if c := rep.Check(quote.CheckSignature); c.Passed || !strings.Contains(c.Reason, "no AK public key given") {
		t.Errorf("signature: %+v", c)
	}
	if c := rep.Check(CheckIMAPCR); !c.Failed() || !strings.Contains(c.Reason, "the device sent no IMA list") {
		t.Errorf("ima-pcr: %+v", c)
	}
	if c := rep.Check(CheckDeviceCert); !c.Skipped || c.Details["warning"] == "" {
		t.Errorf("device certificate with the insecure opt-out: %+v", c)
	}
	// Without a CA and without the opt-out the certificate check fails.
	rep = Verify(req, resp, &Policy{Expected: expected})
	if c := rep.Check(CheckDeviceCert); c == nil || !c.Failed() || !strings.Contains(c.Reason, "no device CA given") {
		t.Errorf("device certificate without a CA: %+v", c)
	}
}

// DecodeResponse names the field of a malformed response.
func TestDecodeResponseErrors(t *testing.T) {
	frame, _ := fixtureResponse(t)
	good, _ := NewFrameReader(bytes.NewReader(frame)).ReadFrame()
	mutate := func(f func(m *tpm2dpb.Tpm2DToRemote)) []byte {
		m := &tpm2dpb.Tpm2DToRemote{}
		if err := proto.Unmarshal(good, m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"no code":       {mutate(func(m *tpm2dpb.Tpm2DToRemote) { m.Code = nil }), "required field"},
		"no halg":       {mutate(func(m *tpm2dpb.Tpm2DToRemote) { m.Halg = nil }), "Tpm2dToRemote.halg: missing"},
		"short quote":   {mutate(func(m *tpm2dpb.Tpm2DToRemote) { m.Quoted = m.Quoted[:50] }), "Tpm2dToRemote.quoted: "},
		"bad signature": {mutate(func(m *tpm2dpb.Tpm2DToRemote) { m.Signature = []byte{0, 0x14} }), "Tpm2dToRemote.signature: "},
		"bad cert":      {mutate(func(m *tpm2dpb.Tpm2DToRemote) { m.Certificate = []byte("junk") }), "Tpm2dToRemote.certificate: "},
		"unordered": {mutate(func(m *tpm2dpb.Tpm2DToRemote) {
			m.PcrValues[3], m.PcrValues[4] = m.PcrValues[4], m.PcrValues[3]
		}), "pcr_values[4]: PCR 3 after PCR 4"},
		"short value":  {mutate(func(m *tpm2dpb.Tpm2DToRemote) { m.PcrValues[2].Value = m.PcrValues[2].Value[:20] }), "PCR 2 has a 20-byte value, halg says 32"},
		"not protobuf": {[]byte{0xff, 0xff, 0xff}, "Tpm2dToRemote: "},
	} {
		if _, err := DecodeResponse(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
