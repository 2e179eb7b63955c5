package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

const imaFixtures = "../../fixtures/ima"

func writeList(t *testing.T, opts imagen.Options) (string, *imagen.Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := imagen.Write(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "binary_runtime_measurements")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, res
}

func writePCRs(t *testing.T, v pcr.Values, format pcr.Format) string {
	t.Helper()
	data, err := pcr.Marshal(format, []pcr.Values{v})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pcrs."+string(format))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// `ima show` prints a binary list the way the kernel's ASCII file reads,
// and the ASCII text replays to the same values.
func TestImaShowTextIsTheKernelASCII(t *testing.T) {
	list, res := writeList(t, imagen.Options{Template: "ima-sig", N: 5, Violations: []int{3}})
	code, out, errOut := run(t, "ima", "show", list)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "10 ") || !strings.Contains(lines[0], " ima-sig sha256:") ||
		!strings.HasSuffix(lines[0], " boot_aggregate ") {
		t.Fatalf("output:\n%s", out)
	}
	ascii := filepath.Join(t.TempDir(), "ascii_runtime_measurements")
	os.WriteFile(ascii, []byte(out), 0o644)
	code, out, errOut = run(t, "ima", "replay", ascii, "--pcrs", writePCRs(t, res.PerBank, pcr.FormatJSON))
	if code != 0 {
		t.Fatalf("ASCII replay exit %d:\n%s%s", code, out, errOut)
	}
}

func TestImaShowKeylimeFixtures(t *testing.T) {
	for alg, want := range map[string]string{"sha1": "sha1", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512", "sm3_256": "sm3"} {
		code, out, errOut := run(t, "ima", "show", filepath.Join(imaFixtures, "keylime-ima-log-"+alg+".ascii"), "-o", "yaml")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", alg, code, errOut)
		}
		var doc struct {
			Format  string
			Entries []struct {
				Path   string
				Digest struct{ Algorithm string }
			}
		}
		if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Format != "ascii" || len(doc.Entries) != 2 || doc.Entries[1].Path != "/data" || doc.Entries[1].Digest.Algorithm != want {
			t.Errorf("%s: %+v", alg, doc)
		}
	}
	code, _, errOut := run(t, "ima", "show", filepath.Join(imaFixtures, "keylime-ima-log-unknown.ascii"))
	if code != 2 || !strings.Contains(errOut, "line 1 (entry 0)") || !strings.Contains(errOut, `unknown digest algorithm "unknown"`) {
		t.Errorf("unknown algorithm: exit %d: %s", code, errOut)
	}
}

func TestImaShowJSONStreams(t *testing.T) {
	list, _ := writeList(t, imagen.Options{Template: "ima-modsig", N: 3})
	code, out, errOut := run(t, "ima", "show", list, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Format, ByteOrder, TemplateHash string
		Entries                         []struct {
			Index        int
			Offset       *int64
			Path         string
			ModsigDigest *struct{ Algorithm string } `json:"modsig_digest"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(doc.Entries) != 4 || doc.Entries[1].ModsigDigest == nil || doc.Entries[1].ModsigDigest.Algorithm != "sha256" ||
		doc.Entries[2].ModsigDigest != nil || doc.Entries[0].Offset == nil || *doc.Entries[0].Offset != 0 {
		t.Errorf("%s", out)
	}
}

func TestImaShowMalformed(t *testing.T) {
	list, _ := writeList(t, imagen.Options{N: 3})
	data, _ := os.ReadFile(list)
	os.WriteFile(list, data[:len(data)-3], 0o644)
	code, out, errOut := run(t, "ima", "show", list)
	if code != 2 || !strings.Contains(errOut, "entry 3 at byte offset") || !strings.Contains(errOut, "exceeds the 74 bytes left") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if strings.Count(out, "\n") != 3 {
		t.Errorf("the entries before the damage should still print:\n%s", out)
	}
}

// boot_aggregate is recomputed from a real TCG log's replay: PCRs 0-9 of
// the sha256 bank (Linux 5.8+) or 0-7 of SHA-1; a log of another machine
// does not match.
func TestImaReplayBootAggregateFromTCGLog(t *testing.T) {
	f, err := os.Open(rhel8)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := eventlog.ReplayLog(f, nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ rule, bank string }{{"pcr0-9", "sha256"}, {"pcr0-7", "sha1"}} {
		list, res := writeList(t, imagen.Options{N: 4, BootPCRs: boot.Values, BootAggregate: c.rule})
		pcrs := writePCRs(t, pcr.Values{pcr.SHA256: {10: res.PerBank[pcr.SHA256][10]}}, pcr.FormatJSON)
		code, out, errOut := run(t, "ima", "replay", list, "--tcg-log", rhel8, "--pcrs", pcrs, "-o", "json")
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s%s", c.rule, code, out, errOut)
		}
		var rep struct {
			BootAggregate struct{ Rule, Bank, Status, Source string } `json:"boot_aggregate"`
		}
		json.Unmarshal([]byte(out), &rep)
		if b := rep.BootAggregate; b.Rule != c.rule || b.Bank != c.bank || b.Status != "match" || !strings.Contains(b.Source, "rhel8-uefi.bin") {
			t.Errorf("%s: %+v", c.rule, b)
		}
		other := "../../fixtures/tcg/ubuntu-2104-no-secure-boot.bin"
		code, out, _ = run(t, "ima", "replay", list, "--tcg-log", other, "--pcrs", pcrs)
		if code != 1 || !strings.Contains(out, "✗ boot_aggregate") {
			t.Errorf("%s against %s: exit %d:\n%s", c.rule, other, code, out)
		}
	}
}

// evmctl PCR files, tpm2_pcrread YAML and JSON all work as --pcrs; the
// replay names the rule, and the pre-5.8 values match sha1-padded.
func TestImaReplayRulesAndFormats(t *testing.T) {
	list, res := writeList(t, imagen.Options{Template: "ima-ng", N: 6, Banks: []pcr.Alg{pcr.SHA1, pcr.SHA256, pcr.SHA384}})
	ev256, err := imagen.EvmctlPCRs(res.PerBank, pcr.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	evFile := filepath.Join(t.TempDir(), "sha256.pcrs")
	os.WriteFile(evFile, ev256, 0o644)
	code, out, errOut := run(t, "ima", "replay", list, "--pcrs", "sha256,"+evFile)
	if code != 0 || !strings.Contains(out, "kernel rule: per-bank") || strings.Contains(out, "sha1    10") {
		t.Errorf("evmctl file: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "ima", "replay", list, "--pcrs", writePCRs(t, res.Padded, pcr.FormatTPM2YAML))
	if code != 0 || !strings.Contains(out, "kernel rule: sha1-padded") || !strings.Contains(out, "sha384") {
		t.Errorf("padded yaml: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run(t, "ima", "replay", list, "--pcrs", writePCRs(t, res.PerBank, pcr.FormatJSON), "-o", "yaml")
	var rep struct {
		Against struct {
			Verdict struct {
				OK   bool
				Rule string
			}
		}
		Problems []string
	}
	if err := yaml.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.Against.Verdict.OK || rep.Against.Verdict.Rule != "per-bank" {
		t.Errorf("yaml: exit %d %v\n%s", code, err, out)
	}
	// Without PCR values: print the replay, exit 0.
	code, out, _ = run(t, "ima", "replay", list)
	if code != 0 || !strings.Contains(out, "sha1-padded:") {
		t.Errorf("no pcrs: exit %d\n%s", code, out)
	}
}

func TestImaReplayBadInput(t *testing.T) {
	list, _ := writeList(t, imagen.Options{N: 2})
	for _, args := range [][]string{
		{"ima", "replay", "/nonexistent"},
		{"ima", "replay", list, "--pcrs", "/nonexistent"},
		{"ima", "replay", list, "--bank", "md5"},
		{"ima", "replay", list, "--byte-order", "middle"},
		{"ima", "replay", filepath.Join(imaFixtures, "keylime-ima-log-unknown.ascii")},
	} {
		if code, _, errOut := run(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errOut)
		}
	}
}
