package quote

import (
	"bytes"
	"testing"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// TestVerifyBundleVerdictAgrees: the batch's verdict-only report of a
// whole attestation has the verdict and the failed checks, worded the
// same, of the full report, over real go-tpm-tools and go-attestation
// attestations, each quote's PCR values, signature and log changed, and
// the policies a fleet sets.
func TestVerifyBundleVerdictAgrees(t *testing.T) {
	nonce := readHex(t, quoteDir, "gotpmtools-nonce.hex")
	cases := 0
	check := func(what string, b *attestation.Bundle, log *eventlog.Replay, p *Policy) {
		t.Helper()
		cases++
		full := VerifyBundle(b, log, p)
		if v := VerifyBundleVerdict(b, log, p); v.Verified != full.Verified || !sameFailures(v.Failed(), full.Failed()) {
			t.Errorf("%s: VerifyBundleVerdict %v %v, VerifyBundle %v %v", what, v.Verified, v.Failed(), full.Verified, full.Failed())
		}
	}
	verified := 0
	for _, f := range []string{"gotpmtools-rsa.pb", "gotpmtools-ecc.pb", "goattestation-rsa.json", "goattestation-ecc.json"} {
		data := readFile(t, quoteDir, f)
		var b *attestation.Bundle
		var err error
		if bytes.HasPrefix(data, []byte("{")) {
			b, err = attestation.ParsePlatformParameters(data)
		} else {
			b, err = attestation.ParseAttestation(data)
		}
		if err != nil {
			t.Fatal(f, err)
		}
		l, err := eventlog.ReadLog(bytes.NewReader(b.EventLog))
		if err != nil {
			t.Fatal(f, err)
		}
		log, err := eventlog.ReplayLogs([]*eventlog.Log{l}, &eventlog.ReplayOptions{CheckDigests: true})
		if err != nil {
			t.Fatal(f, err)
		}
		name, _ := b.AK.TPM.Name()
		pinned := Policy{Nonce: nonce, AKName: name, RequireEventLog: true}
		changed := log.Values.Clone()
		changed.Set(pcr.SHA256, 7, flip(changed[pcr.SHA256][7], 0))
		policies := map[string]Policy{
			"pinned":               pinned,
			"trusted key":          {Nonce: nonce, TrustedAKs: []*tpmstruct.PublicKey{b.AK}, RequireEventLog: true},
			"untrusted":            {Nonce: nonce, RequireEventLog: true},
			"untrusted allowed":    {Nonce: nonce, AllowUntrustedAK: true},
			"wrong nonce":          {Nonce: flip(nonce, 0), AKName: name},
			"no nonce":             {AKName: name},
			"clock limit":          {Nonce: nonce, AKName: name, MaxClock: 1},
			"unlogged 16":          {Nonce: nonce, AKName: name, UnloggedPCRs: []int{16}},
			"expected":             {Nonce: nonce, AKName: name, Expected: &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{log.Values}}}},
			"expected, sha256 too": {Nonce: nonce, AKName: name, Expected: &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{log.Values}}}, ExpectedBanks: []pcr.Alg{pcr.SHA256}},
			"wrong expected":       {Nonce: nonce, AKName: name, Expected: &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{changed}}}},
		}
		for pn, p := range policies {
			check(f+" "+pn, b, log, &p)
			check(f+" no log, "+pn, b, nil, &p)
			if VerifyBundle(b, log, &p).Verified {
				verified++
			}
		}
		p := policies["pinned"]
		// Each quote: a PCR value changed, the signature changed, the
		// quote dropped.
		for qi, q := range b.Quotes {
			c := *b
			c.Quotes = append([]attestation.BundleQuote(nil), b.Quotes...)
			if q.PCRs != nil {
				bank := q.PCRs.Algs()[0]
				for _, i := range q.PCRs.Indices(bank) {
					cq := q
					cq.PCRs = q.PCRs.Clone()
					cq.PCRs.Set(bank, i, flip(q.PCRs[bank][i], 0))
					c.Quotes[qi] = cq
					check(f+" quote PCR changed", &c, log, &p)
				}
			}
			raw := q.Signature.Marshal()
			cq := q
			if cq.Signature, err = tpmstruct.ParseSignature(flip(raw, len(raw)-1)); err != nil {
				t.Fatal(err)
			}
			c.Quotes[qi] = cq
			check(f+" signature changed", &c, log, &p)
			c.Quotes = append(append([]attestation.BundleQuote(nil), b.Quotes[:qi]...), b.Quotes[qi+1:]...)
			check(f+" quote dropped", &c, log, &p)
		}
		if b.PCRs != nil { // a flat list: a value no quote covers
			c := *b
			c.PCRs = b.PCRs.Clone()
			c.PCRs.Set(pcr.SHA384, 0, make([]byte, 48))
			check(f+" PCR no quote covers", &c, log, &p)
		}
		check(f+" no quotes", &attestation.Bundle{AK: b.AK}, log, &p)
		check(f+" log off in sha256:7", b, fakeReplay(log.Values, pcr.SHA256, 7), &p)
	}
	check("nil bundle", nil, nil, nil)
	if verified == 0 {
		t.Fatal("no case verified")
	}
	t.Logf("%d cases agree, %d verified", cases, verified)
}
