package eventlog

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/pcr"
)

const fixtureDir = "../fixtures"

type expectedPCRs struct {
	Logs map[string]map[string]map[int]string `yaml:"logs"`
}

func loadExpected(t testing.TB) expectedPCRs {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, "tcg", "expected-pcrs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var e expectedPCRs
	if err := yaml.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Logs) != 8 {
		t.Fatalf("expected-pcrs.yaml lists %d logs, want 8", len(e.Logs))
	}
	return e
}

// Every PCR of every bank the real machines reported must replay exactly.
func TestReplayMatchesRealPCRs(t *testing.T) {
	exp := loadExpected(t)
	names := make([]string, 0, len(exp.Logs))
	for n := range exp.Logs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(fixtureDir, "tcg", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := ReplayLog(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for bankName, pcrs := range exp.Logs[name] {
				alg, err := pcr.ParseAlg(bankName)
				if err != nil {
					t.Fatal(err)
				}
				for idx, want := range pcrs {
					got, ok := res.Values.Get(alg, idx)
					if !ok {
						t.Errorf("%s PCR %d: not replayed", alg, idx)
						continue
					}
					if hex.EncodeToString(got) != want {
						t.Errorf("%s PCR %d = %x, want %s", alg, idx, got, want)
					}
					checked++
				}
			}
			if checked < 10 {
				t.Fatalf("only %d PCRs checked", checked)
			}
		})
	}
}
