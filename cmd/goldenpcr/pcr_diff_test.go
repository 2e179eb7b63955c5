package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// pcrWriteTestFile writes sets in format f into dir and returns the path.
func pcrWriteTestFile(t *testing.T, dir, name string, f pcr.Format, sets ...pcr.Values) string {
	t.Helper()
	data, err := pcr.Marshal(f, sets)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func pcrTestValues(t *testing.T, sel string, fill byte) pcr.Values {
	t.Helper()
	s, err := pcr.ParseSelection(sel)
	if err != nil {
		t.Fatal(err)
	}
	v := pcr.Values{}
	for _, b := range s {
		for _, i := range b.PCRs {
			v.Set(b.Alg, i, bytes.Repeat([]byte{fill + byte(i)}, b.Alg.Size()))
		}
	}
	return v
}

func TestPCRDiffEqualAcrossFormats(t *testing.T) {
	// The same PCRs as printed by tpm2_pcrread and as a -F values file.
	code, out, errOut := pcrRunCLI(t, "pcr", "diff",
		pcrFixture("tpm2-pcrread-sha1-sha256.yaml"), pcrFixture("tpm2-pcrread-sha1-sha256.values"),
		"--from-b", "values", "--sel", "sha1:0,1,7+sha256:0,7,16")
	if code != exitOK {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if !strings.Contains(out, "equal: all 6 compared PCRs match") || !strings.Contains(out, "sha256   16") {
		t.Errorf("output:\n%s", out)
	}
	// A serialized file of all banks against a JSON of two: the 20 PCRs
	// both name are compared, the rest listed.
	code, out, _ = pcrRunCLI(t, "pcr", "diff", pcrFixture("goldenpcr-sha1-sha256.json"), pcrFixture("tpm2-pcrread-all-banks.serialized"))
	if code != exitOK || !strings.Contains(out, "all 20 compared") || !strings.Contains(out, "only in B: sha1:10-23+sha256:10-23+sha384:0-23+sha512:0-23") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestPCRDiffMismatch(t *testing.T) {
	dir := t.TempDir()
	a := pcrTestValues(t, "sha256:0-7", 1)
	b := pcrTestValues(t, "sha256:0-7", 1)
	b.Set(pcr.SHA256, 7, make([]byte, 32))
	pa := pcrWriteTestFile(t, dir, "a.yaml", pcr.FormatTPM2YAML, a)
	pb := pcrWriteTestFile(t, dir, "b.map", pcr.FormatMap, b)

	code, out, errOut := pcrRunCLI(t, "pcr", "diff", pa, pb)
	if code != exitMismatch {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	if !strings.Contains(out, "sha256    7  0808080808080808…  0000000000000000…  mismatch") ||
		!strings.Contains(out, "different: 1 of 8 compared PCRs differ") {
		t.Errorf("output:\n%s", out)
	}
	if !strings.Contains(errOut, "1 of 8 PCRs differ between") {
		t.Errorf("stderr: %s", errOut)
	}

	// The run function reports the difference as a mismatch, not a failure.
	var buf bytes.Buffer
	err := runPCRDiff(&pcrDiffOptions{A: pa, B: pb, Output: "json"}, &buf)
	var mm *mismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("runPCRDiff: %v, want a mismatch", err)
	}
	var rep pcrDiffReport
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if rep.Equal || len(rep.Rows) != 8 || rep.Rows[7].Status != diffMismatch || rep.Rows[7].B != strings.Repeat("00", 32) || rep.B.Format != "map" {
		t.Errorf("report: %+v", rep)
	}
}

func TestPCRDiffSelection(t *testing.T) {
	dir := t.TempDir()
	a := pcrTestValues(t, "sha256:0-7", 1)
	pa := pcrWriteTestFile(t, dir, "a.json", pcr.FormatJSON, a)
	pb := pcrWriteTestFile(t, dir, "b.json", pcr.FormatJSON, pcrTestValues(t, "sha256:0-3", 1))

	// Without --sel only the common PCRs 0-3 count.
	if code, out, _ := pcrRunCLI(t, "pcr", "diff", pa, pb); code != exitOK || !strings.Contains(out, "only in A: sha256:4-7") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// With --sel a PCR missing from B is a difference.
	code, out, _ := pcrRunCLI(t, "pcr", "diff", pa, pb, "--sel", "sha256:0,5", "-o", "yaml")
	if code != exitMismatch || !strings.Contains(out, "status: missing-b") || !strings.Contains(out, "equal: false") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// --bank limits the comparison to one bank.
	two := pcrTestValues(t, "sha1:0-3+sha256:0-3", 1)
	other := pcrTestValues(t, "sha1:0-3+sha256:0-3", 1)
	other.Set(pcr.SHA1, 2, make([]byte, 20))
	p2 := pcrWriteTestFile(t, dir, "two.yaml", pcr.FormatYAML, two)
	p3 := pcrWriteTestFile(t, dir, "other.yaml", pcr.FormatYAML, other)
	if code, out, _ := pcrRunCLI(t, "pcr", "diff", p2, p3, "--bank", "sha256"); code != exitOK || strings.Contains(out, "sha1 ") {
		t.Errorf("--bank sha256: exit %d:\n%s", code, out)
	}
	if code, _, _ := pcrRunCLI(t, "pcr", "diff", p2, p3); code != exitMismatch {
		t.Errorf("all banks: exit %d, want 1", code)
	}
}

// TestPCRDiffAlternatives: A equals B when it equals any document of a
// CHARRA reference file.
func TestPCRDiffAlternatives(t *testing.T) {
	dir := t.TempDir()
	measured := pcrTestValues(t, "sha256:0-9", 1)
	old := pcrTestValues(t, "sha256:0-9", 1)
	old.Set(pcr.SHA256, 4, make([]byte, 32))
	older := pcrTestValues(t, "sha256:0-9", 9)
	pm := pcrWriteTestFile(t, dir, "measured.serialized", pcr.FormatSerialized, measured)
	ref := pcrWriteTestFile(t, dir, "reference-pcrs.yml", pcr.FormatCHARRA, older, old, measured)
	code, out, errOut := pcrRunCLI(t, "pcr", "diff", pm, ref)
	if code != exitOK || !strings.Contains(out, "(charra, alternative 3 of 3)") {
		t.Errorf("exit %d: %s%s", code, out, errOut)
	}
	// Without the matching document, the closest one is shown.
	ref2 := pcrWriteTestFile(t, dir, "reference2-pcrs.yml", pcr.FormatCHARRA, older, old)
	code, out, _ = pcrRunCLI(t, "pcr", "diff", pm, ref2)
	if code != exitMismatch || !strings.Contains(out, "alternative 2 of 2") || !strings.Contains(out, "1 of 10 compared PCRs differ") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestPCRDiffErrors(t *testing.T) {
	dir := t.TempDir()
	pa := pcrWriteTestFile(t, dir, "a.json", pcr.FormatJSON, pcrTestValues(t, "sha1:0-3", 1))
	pb := pcrWriteTestFile(t, dir, "b.json", pcr.FormatJSON, pcrTestValues(t, "sha256:0-3", 1))
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("  sha256:\n    24: 0x00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		args []string
		msg  string
	}{
		"nothing in common": {[]string{pa, pb}, "name no PCR in common"},
		"one argument":      {[]string{pa}, "accepts 2 arg(s)"},
		"bad file":          {[]string{pa, bad}, "bad.yaml: tpm2-yaml: line 2"},
		"bad --from-b":      {[]string{pa, pb, "--from-b", "xml"}, "--from-b: unknown PCR file format"},
		"bad output":        {[]string{pa, pa, "-o", "xml"}, "unknown output format"},
	} {
		code, _, errOut := pcrRunCLI(t, append([]string{"pcr", "diff"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errOut, c.msg) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", name, code, errOut, c.msg)
		}
	}
}

func TestPCRDiffHelp(t *testing.T) {
	code, out, _ := pcrRunCLI(t, "pcr", "diff", "--help")
	if code != exitOK || !strings.Contains(out, "any alternative of A equals any") || !strings.Contains(out, "charra") || !strings.Contains(out, "Exit codes") {
		t.Errorf("help:\n%s", out)
	}
}
