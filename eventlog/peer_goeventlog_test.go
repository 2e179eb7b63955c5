package eventlog

import (
	"bytes"
	"crypto"
	"path/filepath"
	"testing"

	"github.com/google/go-eventlog/register"
	geltcg "github.com/google/go-eventlog/tcg"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// go-eventlog (Google's parser) verifies a log against given PCR values;
// feeding it goldenpcr's replay of every real log must verify.
func TestAgreesWithGoEventlog(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "tcg", "*.bin"))
	if len(files) != 8 {
		t.Fatalf("%d real logs, want 8", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			raw := readFixture(t, "tcg/"+name)
			res, err := ReplayLog(bytes.NewReader(raw), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, bank := range []struct {
				alg pcr.Alg
				h   crypto.Hash
			}{{pcr.SHA1, crypto.SHA1}, {pcr.SHA256, crypto.SHA256}} {
				var mrs []register.MR
				for i := 0; i < pcr.NumPCRs; i++ {
					if res.Touched(i) {
						v, _ := res.Values.Get(bank.alg, i)
						mrs = append(mrs, register.PCR{Index: i, Digest: v, DigestAlg: bank.h})
					}
				}
				if _, err := geltcg.ParseAndReplay(raw, mrs, geltcg.ParseOpts{}); err != nil {
					t.Errorf("%s: go-eventlog rejects goldenpcr's replay: %v", bank.alg, err)
				}
			}
		})
	}
}
