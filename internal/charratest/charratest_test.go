package charratest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/charra"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// TestAttester: the genuine attester's answer to CHARRA's default request
// verifies, it comes block-wise (well over 1024 bytes) from one quote, and
// a second request gets a fresh quote.
func TestAttester(t *testing.T) {
	a := New(t, RSASSA)
	addr, err := charra.ParseTarget(a.Serve(t, Genuine))
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := pcr.ParseSelection("sha256:0-7,10")
	akData, err := os.ReadFile(a.AKPath)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := tpmstruct.ParsePublic(akData)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := baseline.Load(a.ReferencePath, pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		req, err := charra.NewRequest(sel, []string{charra.LogTCGBoot, charra.LogIMA}, charra.DefaultNonceSize)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := charra.Attest(context.Background(), addr, req, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(ex.Payload) < 8*1024 {
			t.Errorf("a %d-byte answer does not exercise block-wise transfer", len(ex.Payload))
		}
		rep := charra.VerifyExchange(ex, &charra.Policy{AK: ak, Expected: ref})
		for _, c := range rep.Checks {
			t.Logf("%s passed=%v skipped=%v: %s", c.Name, c.Passed, c.Skipped, c.Reason)
		}
		if !rep.Verified {
			t.Fatalf("round %d: not verified: %v", round, rep.Failed())
		}
		if q := a.Quotes(); q != round {
			t.Errorf("after %d requests the attester quoted %d times (a block of the answer re-ran the handler?)", round, q)
		}
	}
}
