package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

const pcrFixtures = "../../fixtures/pcr"

func pcrFixture(name string) string { return filepath.Join(pcrFixtures, name) }

// pcrRunCLI runs goldenpcr with args and returns the exit code and output.
func pcrRunCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func pcrParseDoc(t *testing.T, data []byte, opts pcr.ReadOptions) *pcr.Document {
	t.Helper()
	doc, err := pcr.Parse(data, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return doc
}

func pcrSameValues(a, b pcr.Values) bool {
	if a.Len() != b.Len() {
		return false
	}
	for alg, bank := range a {
		for i, d := range bank {
			if e, ok := b.Get(alg, i); !ok || !bytes.Equal(d, e) {
				return false
			}
		}
	}
	return true
}

func TestPCRConvertToStdout(t *testing.T) {
	code, out, errOut := pcrRunCLI(t, "pcr", "convert", pcrFixture("tpm2-pcrread-sha1-sha256.serialized"), "--to", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := pcrParseDoc(t, []byte(out), pcr.ReadOptions{})
	want := pcrParseDoc(t, pcrReadTestFile(t, pcrFixture("tpm2-pcrread-sha1-sha256.yaml")), pcr.ReadOptions{})
	if got.Format != pcr.FormatJSON || !pcrSameValues(got.Sets[0], want.Sets[0]) {
		t.Errorf("converted JSON differs:\n%s", out)
	}
}

// TestPCRConvertToTPM2YAML turns tpm2_pcrread's -F values file back into
// exactly what tpm2_pcrread printed when it wrote that file.
func TestPCRConvertToTPM2YAML(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "pcrs.yaml")
	opts := &pcrConvertOptions{
		In:      pcrFixture("tpm2-pcrread-reversed.values"),
		To:      "tpm2-yaml",
		Read:    pcrReadFlags{From: "values", Sel: "sha256:0,16,23+sha1:7"},
		OutFile: dst,
	}
	var stdout bytes.Buffer
	if err := runPCRConvert(opts, &stdout); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("wrote to stdout with -O: %q", stdout.String())
	}
	if got, want := pcrReadTestFile(t, dst), pcrReadTestFile(t, pcrFixture("tpm2-pcrread-reversed.yaml")); !bytes.Equal(got, want) {
		t.Errorf("got\n%s\nwant (tpm2_pcrread's output)\n%s", got, want)
	}
}

// TestPCRConvertKeepsBankOrder: serialized → marshaled keeps the bank
// order the quote selection had, so the bytes equal the TPM's.
func TestPCRConvertKeepsBankOrder(t *testing.T) {
	code, out, errOut := pcrRunCLI(t, "pcr", "convert", pcrFixture("tpm2-pcrread-reversed.serialized"), "--to", "marshaled")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := pcrReadTestFile(t, pcrFixture("pcr-read-reversed.marshaled")); out != string(want) {
		t.Errorf("marshaled output differs from the TPM's encoding")
	}
}

func TestPCRConvertOneBank(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "sha256.pcrs")
	code, _, errOut := pcrRunCLI(t, "pcr", "convert", pcrFixture("goldenpcr-sha1-sha256.json"), "--to", "evmctl", "--bank", "sha256", "-O", dst)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	doc := pcrParseDoc(t, pcrReadTestFile(t, dst), pcr.ReadOptions{})
	if doc.Format != pcr.FormatEvmctl || doc.Sets[0].Algs()[0] != pcr.SHA256 || doc.Sets[0].Len() != 10 {
		t.Errorf("evmctl file: %s %v", doc.Format, doc.Sets[0].Selection())
	}
	code, out, errOut := pcrRunCLI(t, "pcr", "convert", pcrFixture("goldenpcr-sha1-sha256.json"), "--to", "map", "--bank", "sha1", "--sel", "sha1:0,7")
	if code != exitOK || !strings.HasPrefix(out, "0:c89b8566") || !strings.Contains(out, ",7:") || strings.Count(out, ":") != 2 {
		t.Errorf("map: exit %d %q %s", code, out, errOut)
	}
}

func TestPCRConvertAlternatives(t *testing.T) {
	code, out, errOut := pcrRunCLI(t, "pcr", "convert", pcrFixture("charra-reference-pcrs.yml"), "--to", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if doc := pcrParseDoc(t, []byte(out), pcr.ReadOptions{}); len(doc.Sets) != 2 {
		t.Errorf("%d alternatives survived, want 2", len(doc.Sets))
	}
	code, _, errOut = pcrRunCLI(t, "pcr", "convert", pcrFixture("charra-reference-pcrs.yml"), "--to", "serialized")
	if code != exitUsage || !strings.Contains(errOut, "not 2 alternatives") {
		t.Errorf("charra → serialized: exit %d %s", code, errOut)
	}
}

func TestPCRConvertErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.yaml")
	if err := os.WriteFile(in, pcrReadTestFile(t, pcrFixture("tpm2-pcrread-sha1-sha256.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "short.serialized")
	if err := os.WriteFile(truncated, pcrReadTestFile(t, pcrFixture("tpm2-pcrread-sha1-sha256.serialized"))[:300], 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		args []string
		msg  string
	}{
		"no --to":         {[]string{in}, "--to is required"},
		"unknown --to":    {[]string{in, "--to", "xml"}, `unknown PCR file format "xml"`},
		"unknown --from":  {[]string{in, "--to", "json", "--from", "csv"}, `--from: unknown PCR file format "csv"`},
		"bad --sel":       {[]string{in, "--to", "json", "--sel", "sha256:25"}, "--sel"},
		"bad --bank":      {[]string{in, "--to", "json", "--bank", "md5"}, "--bank"},
		"overwrite input": {[]string{in, "--to", "tpm2-yaml", "-O", in}, "refusing to overwrite input file"},
		"two banks map":   {[]string{in, "--to", "map"}, "pick one (--bank)"},
		"missing bank":    {[]string{in, "--to", "map", "--bank", "sha384"}, "has no sha384 values (it holds sha1, sha256)"},
		"values no sel":   {[]string{pcrFixture("tpm2-pcrread-sha1-sha256.values"), "--to", "json"}, "a values file needs its selection"},
		"truncated":       {[]string{truncated, "--to", "json"}, "short.serialized: serialized: offset 300 (0x12c): truncated"},
		"missing file":    {[]string{filepath.Join(dir, "nope"), "--to", "json"}, "no such file"},
	} {
		code, _, errOut := pcrRunCLI(t, append([]string{"pcr", "convert"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errOut, c.msg) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", name, code, errOut, c.msg)
		}
	}
	// The refused overwrite left the input intact.
	if got := pcrReadTestFile(t, in); !bytes.Equal(got, pcrReadTestFile(t, pcrFixture("tpm2-pcrread-sha1-sha256.yaml"))) {
		t.Error("input changed")
	}
}

func TestPCRConvertHelp(t *testing.T) {
	code, out, _ := pcrRunCLI(t, "pcr", "convert", "--help")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, fi := range pcr.Formats {
		if !strings.Contains(out, string(fi.Format)+" ") || !strings.Contains(out, fi.Describe(pcrOptionFlag)) {
			t.Errorf("help does not list %s", fi.Format)
		}
	}
	if !strings.Contains(out, "goldenpcr pcr convert pcrs.bin --to json") {
		t.Error("help has no example")
	}
}

func pcrReadTestFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
