package main

import (
	"crypto"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

func absQF(t *testing.T, name string) string {
	p, err := filepath.Abs(qf(name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(qf(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inlineLine is a batch request for a fixture quote with every input
// inline as hex.
func inlineLine(t *testing.T, id, name, ak, nonce string) map[string]any {
	t.Helper()
	doc, err := pcr.ReadFile(qf(name+".pcrs"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]map[string]string{}
	for _, a := range doc.Sets[0].Algs() {
		vals[a.String()] = map[string]string{}
		for _, i := range doc.Sets[0].Indices(a) {
			vals[a.String()][fmt.Sprint(i)] = hex.EncodeToString(doc.Sets[0][a][i])
		}
	}
	return map[string]any{"id": id, "ak_hex": hex.EncodeToString(readFixture(t, ak)),
		"message_hex": hex.EncodeToString(readFixture(t, name+".msg")), "signature_hex": hex.EncodeToString(readFixture(t, name+".sig")),
		"pcr_values": vals, "nonce": nonce}
}

func jsonLine(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type batchLineResult struct {
	Line     int
	ID       string
	Verified bool
	Error    string
	Failed   []struct{ Check, Reason string }
}

func runBatch(t *testing.T, lines []string, extra ...string) (int, []batchLineResult, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "batch.jsonl")
	writeFile(t, path, []byte(strings.Join(lines, "\n")+"\n"))
	// Relative paths resolve against the batch file's folder.
	for _, f := range []string{"rsa-quote.msg", "rsa-quote.sig", "rsa-quote.pcrs", "rsa-ak.pub", "rsa-ak.name"} {
		writeFile(t, filepath.Join(dir, f), readFixture(t, f))
	}
	code, out, errs := run(t, append([]string{"verify", "quote", "--batch", path}, extra...)...)
	res, _ := parseBatchResults(t, out)
	return code, res, errs
}

// runBatchIn runs lines as the batch file dir/batch.jsonl, requires the
// exit code and a result for every line, and returns the results and
// their lines.
func runBatchIn(t *testing.T, dir string, lines []string, wantCode int) ([]batchLineResult, []string) {
	t.Helper()
	batch := filepath.Join(dir, "batch.jsonl")
	writeFile(t, batch, []byte(strings.Join(lines, "\n")+"\n"))
	code, out, errs := run(t, "verify", "quote", "--batch", batch)
	if code != wantCode {
		t.Fatalf("exit %d, want %d: %s", code, wantCode, errs)
	}
	res, raw := parseBatchResults(t, out)
	if len(res) != len(lines) {
		t.Fatalf("%d results for %d lines", len(res), len(lines))
	}
	return res, raw
}

// parseBatchResults reads a batch's output: each result, and its line.
func parseBatchResults(t *testing.T, out string) ([]batchLineResult, []string) {
	t.Helper()
	var res []batchLineResult
	var raw []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var r batchLineResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("result line %q: %v", l, err)
		}
		res, raw = append(res, r), append(raw, l)
	}
	return res, raw
}

func TestVerifyQuoteBatch(t *testing.T) {
	nonce := fixtureNonceHex(t)
	wrong := inlineLine(t, "wrong-nonce", "ecc-quote", "ecc-ak.pub", "00"+nonce)
	tamperedSig := inlineLine(t, "bad-sig", "rsa-quote", "rsa-ak.pub", nonce)
	sig := readFixture(t, "rsa-quote.sig")
	sig[len(sig)-1] ^= 1
	tamperedSig["signature_hex"] = hex.EncodeToString(sig)
	lines := []string{
		jsonLine(t, inlineLine(t, "rsa", "rsa-quote", "rsa-ak.pub", nonce)), // 1
		jsonLine(t, map[string]any{"id": "files", "ak": "rsa-ak.pub", "ak_name": "rsa-ak.name", "message": "rsa-quote.msg", // 2
			"signature": "rsa-quote.sig", "pcrs": "rsa-quote.pcrs", "nonce": nonce}),
		jsonLine(t, wrong),        // 3
		"",                        // 4: blank, skipped
		`{"id": "broken", "ak": `, // 5: malformed JSON
		jsonLine(t, tamperedSig),  // 6
		jsonLine(t, map[string]any{"id": "typo", "ak": "rsa-ak.pub", "mesage": "rsa-quote.msg", "signature": "rsa-quote.sig"}), // 7
		jsonLine(t, map[string]any{"message": "missing.msg", "signature": "rsa-quote.sig", "no_nonce": true}),                  // 8
		jsonLine(t, inlineLine(t, "ecc", "ecc-quote", "ecc-ak.pub", nonce)),                                                    // 9
		jsonLine(t, map[string]any{"id": "pss-files", "ak": absQF(t, "rsapss-ak.pub"), "message": absQF(t, "rsapss-quote.msg"), // 10: absolute paths
			"signature": absQF(t, "rsapss-quote.sig"), "pcrs": absQF(t, "rsapss-quote.pcrs"), "no_nonce": true}),
		`[1, 2]`, // 11
		jsonLine(t, map[string]any{"message_hex": "zz", "signature": "rsa-quote.sig"}), // 12
		jsonLine(t, map[string]any{"id": "pem", "ak": absQF(t, "rsa-ak.pem"), "message": "rsa-quote.msg", "signature": "rsa-quote.sig", // 13
			"pcrs": "rsa-quote.pcrs", "nonce": nonce}),
		// 14: longer than the reader's buffer, assembled; 15: too long.
		`{"id": "long"` + strings.Repeat(" ", 200<<10) + `, "message": "rsa-quote.msg", "signature": "rsa-quote.sig", "ak": "rsa-ak.pub", "pcrs": "rsa-quote.pcrs", "nonce": "` + nonce + `"}`,
		`{"id": "too long"` + strings.Repeat(" ", 2<<20) + `}`,
	}
	code, res, errs := runBatch(t, lines)
	if code != exitMismatch || !strings.Contains(errs, "batch: 9 of 14 requests NOT verified (the first is request 3)") {
		t.Fatalf("exit %d, stderr %q\n%+v", code, errs, res)
	}
	want := []struct {
		line     int
		id       string
		verified bool
		failed   string // "check: reason fragment" or "error: fragment"
	}{
		{1, "rsa", true, ""},
		{2, "files", true, ""},
		{3, "wrong-nonce", false, "nonce: extraData " + nonce + " differs from the expected nonce 00" + nonce},
		{5, "", false, "error: invalid JSON: unexpected EOF"},
		{6, "bad-sig", false, "signature: RSASSA-PKCS1-v1_5 with sha256"},
		{7, "", false, `error: unknown field "mesage"`},
		{8, "", false, "error: message: open "},
		{9, "ecc", true, ""},
		{10, "pss-files", true, ""},
		{11, "", false, "error: not a JSON object"},
		{12, "", false, "error: message_hex: not hex"},
		{13, "pem", false, "ak-attributes: a PEM PUBLIC KEY key carries no TPM object attributes"},
		{14, "long", true, ""},
		{15, "", false, "error: line longer than 1048576 bytes"},
	}
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(res), len(want), res)
	}
	for i, w := range want {
		r := res[i]
		if r.Line != w.line || r.ID != w.id || r.Verified != w.verified {
			t.Errorf("result %d: %+v, want line %d id %q verified %v", i, r, w.line, w.id, w.verified)
			continue
		}
		if w.failed == "" {
			if len(r.Failed) > 0 || r.Error != "" {
				t.Errorf("line %d: %+v", w.line, r)
			}
			continue
		}
		got := "error: " + r.Error
		if r.Error == "" && len(r.Failed) > 0 {
			got = r.Failed[0].Check + ": " + r.Failed[0].Reason
		}
		if !strings.Contains(got, w.failed) {
			t.Errorf("line %d: %q, want %q", w.line, got, w.failed)
		}
	}

	// All verified: exit 0.
	code, res, errs = runBatch(t, []string{lines[0], lines[1], lines[8]})
	if code != 0 || len(res) != 3 || !strings.Contains(jsonLine(t, res), `"Verified":true`) {
		t.Errorf("all good: exit %d %s %+v", code, errs, res)
	}

	// Unreadable batch input: exit 2.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "quote", "--batch", filepath.Join(t.TempDir(), "missing.jsonl")}, "no such file"},
		{[]string{"verify", "quote", "--batch", t.TempDir()}, "is a folder"},
		{[]string{"verify", "quote", "--batch", qf("nonce.hex"), "--nonce", nonce}, "--batch: each line names its own inputs and policy; drop --nonce"},
	} {
		code, _, errs := run(t, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, errs, c.want)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty.jsonl")
	writeFile(t, empty, []byte("\n\n"))
	if code, _, errs := run(t, "verify", "quote", "--batch", empty); code != exitUsage || !strings.Contains(errs, "holds no requests") {
		t.Errorf("empty batch: exit %d %q", code, errs)
	}
}

// TestVerifyQuoteBatchOrder: many lines on several workers come out in
// input order with the right verdicts.
func TestVerifyQuoteBatchOrder(t *testing.T) {
	nonce := fixtureNonceHex(t)
	good := jsonLine(t, inlineLine(t, "", "ecc-quote", "ecc-ak.pub", nonce))
	bad := jsonLine(t, inlineLine(t, "", "ecc-quote", "ecc-ak.pub", "01"))
	var lines []string
	for i := 0; i < 300; i++ {
		l := good
		if i%7 == 3 {
			l = bad
		}
		lines = append(lines, strings.Replace(l, `"id":""`, fmt.Sprintf(`"id":"n%d"`, i), 1))
	}
	code, res, _ := runBatch(t, lines, "--jobs", "5")
	if code != exitMismatch || len(res) != 300 {
		t.Fatalf("exit %d, %d results", code, len(res))
	}
	for i, r := range res {
		if r.Line != i+1 || r.ID != fmt.Sprintf("n%d", i) || r.Verified != (i%7 != 3) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
}

// platformParametersFromFixture builds a go-attestation PlatformParameters
// from the genuine tpm2-tools quote of fixtures/quote: Public is the
// TPMT_PUBLIC inside rsa-ak.pub (a TPM2B_PUBLIC), PCRs the quoted values
// with their crypto.Hash, as encoding/json writes go-attestation's struct.
func platformParametersFromFixture(t *testing.T, name, ak string) map[string]any {
	t.Helper()
	doc, err := pcr.ReadFile(qf(name+".pcrs"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[pcr.Alg]crypto.Hash{pcr.SHA1: crypto.SHA1, pcr.SHA256: crypto.SHA256}
	var pcrs []map[string]any
	for _, a := range doc.Sets[0].Algs() {
		idx := doc.Sets[0].Indices(a)
		sort.Ints(idx)
		for _, i := range idx {
			pcrs = append(pcrs, map[string]any{"Index": i, "Digest": doc.Sets[0][a][i], "DigestAlg": hashes[a]})
		}
	}
	return map[string]any{"TPMVersion": 2, "Public": readFixture(t, ak)[2:], "EventLog": nil,
		"Quotes": []map[string]any{{"Version": 2, "Quote": readFixture(t, name+".msg"), "Signature": readFixture(t, name+".sig")}},
		"PCRs":   pcrs}
}

// TestPlatformParametersTPM2Tools verifies a PlatformParameters made from
// genuine swtpm + tpm2-tools quotes (no cgo needed), on the command line
// and in a batch.
func TestPlatformParametersTPM2Tools(t *testing.T) {
	nonce := fixtureNonceHex(t)
	dir := t.TempDir()
	pp := filepath.Join(dir, "pp.json")
	writeFile(t, pp, []byte(jsonLine(t, platformParametersFromFixture(t, "rsa-quote", "rsa-ak.pub"))))
	// tpm2-tools quotes come without an event log: an attestation needs
	// one unless the verifier says it does without.
	code, out, _ := run(t, "verify", "quote", "--platform-parameters", pp, "--nonce", nonce, "--ak-name", qf("rsa-ak.name"))
	if code != exitMismatch || !strings.Contains(out, "✗ event-log      an event log is required, and none was given") {
		t.Errorf("no event log: exit %d\n%s", code, out)
	}
	code, out, errs := run(t, "verify", "quote", "--platform-parameters", pp, "--nonce", nonce, "--ak-name", qf("rsa-ak.name"), "--allow-missing-eventlog")
	if code != 0 || !strings.Contains(out, "go-attestation PlatformParameters (JSON), 1 quotes, 6 PCR values, no event log") ||
		!strings.Contains(out, "✓ pcr-coverage  all 6 listed PCR values are covered by a verified quote") ||
		!strings.Contains(out, "✓ ak-name        the AK's Name") {
		t.Fatalf("exit %d %s\n%s", code, errs, out)
	}
	// The ecc quote's PCRs listed too: not covered by any quote.
	p := platformParametersFromFixture(t, "rsa-quote", "rsa-ak.pub")
	p["PCRs"] = append(p["PCRs"].([]map[string]any), map[string]any{"Index": 8, "Digest": make([]byte, 32), "DigestAlg": crypto.SHA256})
	extra := filepath.Join(dir, "pp-extra.json")
	writeFile(t, extra, []byte(jsonLine(t, p)))
	code, out, _ = run(t, "verify", "quote", "--platform-parameters", extra, "--nonce", nonce, "--ak-name", qf("rsa-ak.name"), "--allow-missing-eventlog")
	if code != exitMismatch || !strings.Contains(out, "✗ pcr-coverage  1 of the 7 listed PCR values are not authenticated by a verified quote: sha256:8") {
		t.Errorf("uncovered PCR: exit %d\n%s", code, out)
	}
	// Usage errors.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--platform-parameters", pp, "--attestation", pp}, "not both"},
		{[]string{"--platform-parameters", pp, "-m", qf("rsa-quote.msg")}, "--message: an attestation carries its own"},
		{[]string{"--platform-parameters", qf("rsa-quote.msg")}, "PlatformParameters: invalid character"},
		{[]string{"--attestation", pp}, `attest.Attestation: unknown field "EventLog"`},
		{[]string{"--attestation", qf("rsa-quote.msg")}, "attest.Attestation at byte"},
		{[]string{"--attestation", pp, "--attestation-format", "xml"}, `--attestation-format "xml"`},
	} {
		code, _, errs := run(t, append([]string{"verify", "quote", "--nonce", nonce}, c.args...)...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, errs, c.want)
		}
	}
	// In a batch, next to a single quote.
	batch := filepath.Join(dir, "b.jsonl")
	name := absQF(t, "rsa-ak.name")
	writeFile(t, batch, []byte(jsonLine(t, map[string]any{"platform_parameters": "pp.json", "nonce": nonce, "ak_name": name, "allow_missing_eventlog": true})+"\n"+
		jsonLine(t, map[string]any{"platform_parameters": "pp-extra.json", "nonce": nonce, "ak_name": name, "allow_missing_eventlog": true})+"\n"))
	code, out, _ = run(t, "verify", "quote", "--batch", batch)
	if code != exitMismatch || !strings.Contains(out, `{"line":1,"verified":true}`) ||
		!strings.Contains(out, `{"line":2,"verified":false,"failed":[{"check":"pcr-coverage","reason":"1 of the 7 listed PCR values`) {
		t.Errorf("batch: exit %d\n%s", code, out)
	}
}

// A batch line's "expected" may be a goldenpcr baseline: the quoted values
// must match it, on the fast path as on the full one (a baseline that
// differs in one PCR fails the line, one that differs only in a variant
// passes).
func TestVerifyQuoteBatchExpectedBaseline(t *testing.T) {
	nonce := fixtureNonceHex(t)
	doc, err := pcr.ReadFile(qf("rsa-quote.pcrs"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good := doc.Sets[0]
	bad := pcr.Values{}
	for _, a := range good.Algs() {
		for _, i := range good.Indices(a) {
			bad.Set(a, i, good[a][i])
		}
	}
	bad.Set(pcr.SHA256, 7, flipByte(good[pcr.SHA256][7], 0))
	dir := t.TempDir()
	write := func(name string, sets ...pcr.Values) string {
		y, err := yaml.Marshal(baseline.FromValues(sets, "test"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		writeFile(t, p, y)
		return p
	}
	line := func(id, expected string) string {
		l := inlineLine(t, id, "rsa-quote", "rsa-ak.pub", nonce)
		l["expected"] = expected
		return jsonLine(t, l)
	}
	code, res, errs := runBatch(t, []string{
		line("good", write("good.yaml", good)),
		line("bad", write("bad.yaml", bad)),
		line("variant", write("variant.yaml", bad, good)),
	})
	if code != exitMismatch || len(res) != 3 {
		t.Fatalf("exit %d, %d results: %s", code, len(res), errs)
	}
	if !res[0].Verified || !res[2].Verified {
		t.Errorf("good or variant baseline not verified: %+v", res)
	}
	if res[1].Verified || len(res[1].Failed) != 1 || res[1].Failed[0].Check != "expected-pcrs" {
		t.Errorf("baseline with another PCR 7 verified: %+v", res[1])
	}
}
