package tpmstruct_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/internal/testfixtures"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// The peer of goldenpcr's TPM structure parsers is go-tpm's tpm2 package,
// whose reflection-driven tpm2.Unmarshal reads the same structures. Every
// fixture quote (TPMS_ATTEST), signature (TPMT_SIGNATURE) and public key
// (TPM2B_PUBLIC, TPMT_PUBLIC) must parse to the same values both ways,
// and each key to the same TPM Name (go-tpm computes it from its own
// re-marshalling, so equal Names also mean go-tpm read every field the
// way goldenpcr keeps it).

// peerEvidence collects the TPM structures of fixtures/quote and
// fixtures/cml: the tpm2-tools files, the quotes and AKs inside the
// go-tpm-tools and go-attestation attestations, and the EKs.
type peerEvidence struct {
	attests, sigs map[string][]byte
	tpm2bPubs     map[string][]byte
	tpmtPubs      map[string][]byte
}

func loadPeerEvidence(t *testing.T) peerEvidence {
	t.Helper()
	ev := peerEvidence{attests: map[string][]byte{}, sigs: map[string][]byte{}, tpm2bPubs: map[string][]byte{}, tpmtPubs: map[string][]byte{}}
	dir := testfixtures.QuoteDir
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		switch ext := filepath.Ext(n); {
		case ext == ".msg":
			ev.attests[n] = testfixtures.Read(t, dir, n)
		case ext == ".sig" && !strings.HasSuffix(n, "-plain.sig"):
			ev.sigs[n] = testfixtures.Read(t, dir, n)
		case ext == ".pub":
			ev.tpm2bPubs[n] = testfixtures.Read(t, dir, n)
		}
	}
	ev.attests["cml/quote.hex"] = testfixtures.ReadHex(t, testfixtures.CMLDir, "quote.hex")
	ev.sigs["cml/signature.hex"] = testfixtures.ReadHex(t, testfixtures.CMLDir, "signature.hex")
	for _, name := range []string{"gotpmtools-rsa.pb", "gotpmtools-ecc.pb", "goattestation-rsa.json", "goattestation-ecc.json"} {
		data := testfixtures.Read(t, dir, name)
		var b *attestation.Bundle
		if strings.HasSuffix(name, ".pb") {
			b, err = attestation.ParseAttestation(data)
		} else {
			b, err = attestation.ParsePlatformParameters(data)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ev.tpmtPubs[name+" AK"] = b.AKPublic
		for i, q := range b.Quotes {
			ev.attests[fmt.Sprintf("%s quote %d", name, i+1)] = q.Attest.Raw
			ev.sigs[fmt.Sprintf("%s signature %d", name, i+1)] = q.Signature.Marshal()
		}
	}
	if len(ev.attests) < 10 || len(ev.sigs) < 10 || len(ev.tpm2bPubs) < 6 || len(ev.tpmtPubs) != 4 {
		t.Fatalf("fixtures: %d quotes, %d signatures, %d TPM2B_PUBLIC, %d TPMT_PUBLIC", len(ev.attests), len(ev.sigs), len(ev.tpm2bPubs), len(ev.tpmtPubs))
	}
	return ev
}

func TestPeerGoTPMAttest(t *testing.T) {
	for name, raw := range loadPeerEvidence(t).attests {
		ours, err := tpmstruct.ParseAttest(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		peer, err := tpm2.Unmarshal[tpm2.TPMSAttest](raw)
		if err != nil {
			t.Fatalf("%s: go-tpm: %v", name, err)
		}
		if uint32(peer.Magic) != ours.Magic || uint16(peer.Type) != uint16(ours.Type) ||
			!bytes.Equal(peer.QualifiedSigner.Buffer, ours.QualifiedSigner) || !bytes.Equal(peer.ExtraData.Buffer, ours.ExtraData) ||
			peer.ClockInfo.Clock != ours.ClockInfo.Clock || peer.ClockInfo.ResetCount != ours.ClockInfo.ResetCount ||
			peer.ClockInfo.RestartCount != ours.ClockInfo.RestartCount || bool(peer.ClockInfo.Safe) != ours.ClockInfo.Safe ||
			peer.FirmwareVersion != ours.FirmwareVersion {
			t.Errorf("%s: header differs:\n go-tpm %+v\n ours   %+v", name, peer, ours)
		}
		q, err := peer.Attested.Quote()
		if err != nil || ours.Quote == nil {
			t.Fatalf("%s: not a quote: go-tpm %v, ours %v", name, err, ours.Quote)
		}
		if !bytes.Equal(q.PCRDigest.Buffer, ours.Quote.PCRDigest) || len(q.PCRSelect.PCRSelections) != len(ours.Quote.PCRSelect) {
			t.Fatalf("%s: quote info differs: go-tpm %+v, ours %+v", name, q, ours.Quote)
		}
		for i, s := range q.PCRSelect.PCRSelections {
			if uint16(s.Hash) != uint16(ours.Quote.PCRSelect[i].Hash) || !bytes.Equal(s.PCRSelect, ours.Quote.PCRSelect[i].Select) {
				t.Errorf("%s: selection %d: go-tpm %v %x, ours %v %x", name, i, s.Hash, s.PCRSelect, ours.Quote.PCRSelect[i].Hash, ours.Quote.PCRSelect[i].Select)
			}
		}
	}
}

func TestPeerGoTPMSignature(t *testing.T) {
	for name, raw := range loadPeerEvidence(t).sigs {
		ours, err := tpmstruct.ParseSignature(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		peer, err := tpm2.Unmarshal[tpm2.TPMTSignature](raw)
		if err != nil {
			t.Fatalf("%s: go-tpm: %v", name, err)
		}
		if uint16(peer.SigAlg) != uint16(ours.Scheme) {
			t.Fatalf("%s: scheme go-tpm 0x%04x, ours %s", name, uint16(peer.SigAlg), ours.Scheme)
		}
		var hash uint16
		var rsaSig, r, s []byte
		switch ours.Scheme {
		case tpmstruct.SchemeRSASSA, tpmstruct.SchemeRSAPSS:
			sig, err := peer.Signature.RSASSA()
			if ours.Scheme == tpmstruct.SchemeRSAPSS {
				sig, err = peer.Signature.RSAPSS()
			}
			if err != nil {
				t.Fatalf("%s: go-tpm: %v", name, err)
			}
			hash, rsaSig = uint16(sig.Hash), sig.Sig.Buffer
		case tpmstruct.SchemeECDSA:
			sig, err := peer.Signature.ECDSA()
			if err != nil {
				t.Fatalf("%s: go-tpm: %v", name, err)
			}
			hash, r, s = uint16(sig.Hash), sig.SignatureR.Buffer, sig.SignatureS.Buffer
		default:
			t.Fatalf("%s: fixture scheme %s", name, ours.Scheme)
		}
		if hash != uint16(ours.Hash) || !bytes.Equal(rsaSig, ours.RSA) || !bytes.Equal(r, ours.R) || !bytes.Equal(s, ours.S) {
			t.Errorf("%s: go-tpm hash 0x%04x rsa %x r %x s %x; ours %+v", name, hash, rsaSig, r, s, ours)
		}
	}
}

func TestPeerGoTPMPublic(t *testing.T) {
	ev := loadPeerEvidence(t)
	check := func(name string, ours *tpmstruct.TPMTPublic, peer *tpm2.TPMTPublic) {
		t.Helper()
		if uint16(peer.Type) != uint16(ours.Type) || uint16(peer.NameAlg) != uint16(ours.NameAlg) ||
			uint32(peerAttributes(peer)) != uint32(ours.Attributes) || !bytes.Equal(peer.AuthPolicy.Buffer, ours.AuthPolicy) {
			t.Errorf("%s: header differs: go-tpm %+v, ours %+v", name, peer, ours)
		}
		switch ours.Type {
		case tpmstruct.KeyRSA:
			p, err := peer.Parameters.RSADetail()
			u, err2 := peer.Unique.RSA()
			if err != nil || err2 != nil {
				t.Fatalf("%s: go-tpm: %v %v", name, err, err2)
			}
			if uint16(p.KeyBits) != ours.KeyBits || p.Exponent != ours.Exponent || uint16(p.Scheme.Scheme) != uint16(ours.Scheme) ||
				uint16(p.Symmetric.Algorithm) != ours.Symmetric.Alg || !bytes.Equal(u.Buffer, ours.Modulus) {
				t.Errorf("%s: RSA parameters differ: go-tpm %+v, ours %+v", name, p, ours)
			}
		case tpmstruct.KeyECC:
			p, err := peer.Parameters.ECCDetail()
			u, err2 := peer.Unique.ECC()
			if err != nil || err2 != nil {
				t.Fatalf("%s: go-tpm: %v %v", name, err, err2)
			}
			if uint16(p.CurveID) != uint16(ours.Curve) || uint16(p.Scheme.Scheme) != uint16(ours.Scheme) || uint16(p.KDF.Scheme) != ours.KDF ||
				uint16(p.Symmetric.Algorithm) != ours.Symmetric.Alg || !bytes.Equal(u.X.Buffer, ours.X) || !bytes.Equal(u.Y.Buffer, ours.Y) {
				t.Errorf("%s: ECC parameters differ: go-tpm %+v, ours %+v", name, p, ours)
			}
		}
		peerName, err := tpm2.ObjectName(peer)
		if err != nil {
			t.Fatalf("%s: go-tpm Name: %v", name, err)
		}
		ourName, err := ours.Name()
		if err != nil || !bytes.Equal(peerName.Buffer, ourName) {
			t.Errorf("%s: Name go-tpm %x, ours %x (%v)", name, peerName.Buffer, ourName, err)
		}
	}
	for name, raw := range ev.tpm2bPubs {
		ours, err := tpmstruct.ParseTPM2BPublic(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := tpm2.Unmarshal[tpm2.TPM2BPublic](raw)
		if err != nil {
			t.Fatalf("%s: go-tpm: %v", name, err)
		}
		peer, err := b.Contents()
		if err != nil {
			t.Fatalf("%s: go-tpm: %v", name, err)
		}
		check(name, ours, peer)
	}
	for name, raw := range ev.tpmtPubs {
		ours, err := tpmstruct.ParseTPMTPublic(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		peer, err := tpm2.Unmarshal[tpm2.TPMTPublic](raw)
		if err != nil {
			t.Fatalf("%s: go-tpm: %v", name, err)
		}
		check(name, ours, peer)
	}
}

// peerAttributes packs go-tpm's TPMA_OBJECT bit fields back into the
// 32-bit word.
func peerAttributes(p *tpm2.TPMTPublic) uint32 {
	b := tpm2.Marshal(p.ObjectAttributes)
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
