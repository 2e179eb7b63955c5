package lab

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// The quote made from the saved TPM state verifies end to end with
// goldenpcr's quote package: tpm2_createak's AK (TPM2B_PUBLIC, restricted,
// its Name), the nonce, the PCR digest over quote.pcrs, and the replay of
// the firmware event log captured in the same boot (with systemd's log
// after it for uki-pcrphase).
func TestQuoteVerifies(t *testing.T) {
	forEachVariant(t, func(t *testing.T, c *Capture) {
		ev, pol := labQuoteEvidence(t, c)
		log, err := ReplayCapture(c)
		if err != nil {
			t.Fatal(err)
		}
		ev.EventLog = log
		rep := quote.Verify(ev, pol)
		for _, ch := range rep.Checks {
			if ch.Failed() {
				t.Errorf("%s: quote check %s failed: %s", c.Dir, ch.Name, ch.Reason)
			}
		}
		for _, name := range []string{quote.CheckSignature, quote.CheckAKAttributes, quote.CheckAKName, quote.CheckNonce, quote.CheckPCRDigest, quote.CheckEventLog} {
			if ch := rep.Check(name); ch == nil || !ch.Passed {
				t.Errorf("%s: quote check %s did not pass: %+v", c.Dir, name, ch)
			}
		}
		if !rep.Verified {
			t.Errorf("%s: quote not verified", c.Dir)
		}
	})
}

// labQuoteEvidence reads a capture's quote, AK and quoted PCRs (no event
// log) and the policy it must meet: its nonce, the AK's Name, PCR 10
// unlogged (IMA extends it without TCG log events; the IMA tests check it
// against the IMA list).
func labQuoteEvidence(t *testing.T, c *Capture) (*quote.Evidence, *quote.Policy) {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(c.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	attest, err := tpmstruct.ParseAttest(read("quote.msg"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := tpmstruct.ParseSignature(read("quote.sig"))
	if err != nil {
		t.Fatal(err)
	}
	ak, err := tpmstruct.ParsePublic(read("ak.pub"))
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := hex.DecodeString(strings.TrimSpace(string(read("nonce"))))
	if err != nil {
		t.Fatal(err)
	}
	q, err := pcr.ReadFile(c.Path("quote.pcrs"), pcr.ReadOptions{Format: pcr.FormatSerialized})
	if err != nil {
		t.Fatal(err)
	}
	return &quote.Evidence{Attest: attest, Signature: sig, AK: ak, PCRs: q.Sets[0]},
		&quote.Policy{Nonce: nonce, AKName: read("ak.name"), UnloggedPCRs: []int{10}}
}
