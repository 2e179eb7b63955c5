package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// A batch keeps what it parsed from AK and baseline files (package
// loadcache). These tests make the files old enough to be cached, then
// change them under a running batch, and give two folders files of the
// same name: every line must be judged on the file as it is.

// settle waits until files written now count as unchanged long enough
// for the batch's cache to keep them (loadcache's settled time).
func settle() { time.Sleep(1100 * time.Millisecond) }

// quoteBaseline writes a baseline of a fixture quote's PCR values, with
// sha256 PCR flip (−1: none) changed in one byte: the same size either way.
func quoteBaseline(t *testing.T, path, quote string, flip int) {
	t.Helper()
	doc, err := pcr.ReadFile(qf(quote+".pcrs"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vals := doc.Sets[0].Clone()
	if flip >= 0 {
		v, _ := vals.Get(pcr.SHA256, flip)
		vals.Set(pcr.SHA256, flip, flipByte(v, 0))
	}
	y, err := yaml.Marshal(baseline.FromValues([]pcr.Values{vals}, "test"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, y)
}

// fileLine is a batch line for a fixture quote whose AK and baseline are
// the files given.
func fileLine(t *testing.T, id, quote, ak, expected string) string {
	l := inlineLine(t, id, quote, quote[:3]+"-ak.pub", fixtureNonceHex(t))
	delete(l, "ak_hex")
	l["ak"], l["expected"] = ak, expected
	return jsonLine(t, l)
}

// rewrite replaces a file's contents in place (same inode) with data of
// the same size, as an editor or a config tool that truncates would.
func rewrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(data)) {
		t.Fatalf("%s: want a rewrite of the same size (%v)", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyQuoteBatchCacheSeesChangedFiles(t *testing.T) {
	dir := t.TempDir()
	ak, base := filepath.Join(dir, "ak.pub"), filepath.Join(dir, "base.yaml")
	writeFile(t, ak, readFixture(t, "rsa-ak.pub"))
	quoteBaseline(t, base, "rsa-quote", -1)
	good, _ := os.ReadFile(base)
	settle()

	inW, results, done := startBatchStream()
	ask := func(id string) batchLineResult {
		t.Helper()
		if _, err := io.WriteString(inW, fileLine(t, id, "rsa-quote", ak, base)+"\n"); err != nil {
			t.Fatal(err)
		}
		if !results.Scan() {
			t.Fatalf("%s: no result", id)
		}
		var r batchLineResult
		if err := json.Unmarshal(results.Bytes(), &r); err != nil || r.ID != id {
			t.Fatalf("%s: result %q (%v)", id, results.Text(), err)
		}
		return r
	}
	failed := func(r batchLineResult) []string {
		var names []string
		for _, f := range r.Failed {
			names = append(names, f.Check)
		}
		return names
	}
	for _, id := range []string{"first", "cached"} {
		if r := ask(id); !r.Verified {
			t.Fatalf("%s: not verified: %+v", id, r)
		}
	}
	// Another RSA-2048 AK's TPM2B_PUBLIC is as long as the first.
	rewrite(t, ak, readFixture(t, "rsapss-ak.pub"))
	if r := ask("other-ak"); r.Verified || !slices.Contains(failed(r), "signature") {
		t.Errorf("quote verified with the AK file replaced by another key: %+v", r)
	}
	rewrite(t, ak, readFixture(t, "rsa-ak.pub"))
	if r := ask("ak-back"); !r.Verified {
		t.Errorf("AK file restored, quote not verified: %+v", r)
	}
	quoteBaseline(t, base, "rsa-quote", 7)
	if r := ask("other-baseline"); r.Verified || !slices.Equal(failed(r), []string{"expected-pcrs"}) {
		t.Errorf("quote verified against a baseline changed in PCR 7: %+v", r)
	}
	inW.Close()
	if code := <-done; code != exitMismatch {
		t.Errorf("exit %d", code)
	}

	// The next run, on the baseline as restored.
	rewrite(t, base, good)
	batch := filepath.Join(dir, "batch.jsonl")
	writeFile(t, batch, []byte(fileLine(t, "next-run", "rsa-quote", ak, base)+"\n"))
	if code, out, errs := run(t, "verify", "quote", "--batch", batch); code != 0 || !strings.Contains(out, `"verified":true`) {
		t.Errorf("next run on the restored files: exit %d: %s%s", code, out, errs)
	}
}

func TestVerifyQuoteBatchCacheSameNameOtherFolder(t *testing.T) {
	dir := t.TempDir()
	// Both fixture quotes are of one swtpm's PCRs: the ecc folder's
	// baseline differs in PCR 7, so only the rsa folder's matches either.
	for _, d := range []struct {
		folder, quote string
		flip          int
	}{{"rsa", "rsa-quote", -1}, {"ecc", "ecc-quote", 7}} {
		if err := os.Mkdir(filepath.Join(dir, d.folder), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, d.folder, "ak.pub"), readFixture(t, d.quote[:3]+"-ak.pub"))
		quoteBaseline(t, filepath.Join(dir, d.folder, "base.yaml"), d.quote, d.flip)
	}
	settle()
	type want struct {
		id, quote, akDir, baseDir string
		verified                  bool
	}
	cases := []want{
		{"rsa", "rsa-quote", "rsa", "rsa", true},
		{"ecc", "ecc-quote", "ecc", "rsa", true},
		{"rsa-with-ecc-ak", "rsa-quote", "ecc", "rsa", false},
		{"ecc-with-rsa-ak", "ecc-quote", "rsa", "rsa", false},
		{"rsa-with-ecc-baseline", "rsa-quote", "rsa", "ecc", false},
		{"ecc-with-ecc-baseline", "ecc-quote", "ecc", "ecc", false},
	}
	var lines []string
	for round := 0; round < 3; round++ { // the later rounds from the cache
		for _, c := range cases {
			lines = append(lines, fileLine(t, c.id, c.quote, filepath.Join(c.akDir, "ak.pub"), filepath.Join(c.baseDir, "base.yaml")))
		}
	}
	res, raw := runBatchIn(t, dir, lines, exitMismatch)
	for i, r := range res {
		if c := cases[i%len(cases)]; r.ID != c.id || r.Verified != c.verified || r.Error != "" {
			t.Errorf("line %d (%s): %s", i+1, c.id, raw[i])
		}
	}
}
