package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// verdictOf reads the verdict of a JSON or YAML report.
type verdictOf struct {
	Verified bool
	Checks   []struct {
		Name    string
		Passed  bool
		Skipped bool
		NotRun  bool `json:"not_run" yaml:"not_run"`
		Reason  string
	}
}

func (v verdictOf) check(name string) string {
	for _, c := range v.Checks {
		switch {
		case c.Name != name:
		case c.Passed:
			return "passed"
		case c.Skipped:
			return "skipped"
		case c.NotRun:
			return "not-run"
		default:
			return "failed"
		}
	}
	return "absent"
}

// runAllFormats runs a command line with -o text, json and yaml, checks
// the three exit with want, and returns the text output and the verdict
// of the JSON and YAML reports.
func runAllFormats(t *testing.T, want int, args ...string) (string, verdictOf) {
	t.Helper()
	code, text, errOut := run(t, args...)
	if code != want {
		t.Errorf("%v: exit %d, want %d\n%s%s", args, code, want, text, errOut)
	}
	var js, ys verdictOf
	for _, f := range []string{"json", "yaml"} {
		code, out, errOut := run(t, append(append([]string{}, args...), "-o", f)...)
		if code != want {
			t.Errorf("%v -o %s: exit %d, want %d (text: %d)\n%s", args, f, code, want, want, errOut)
		}
		var err error
		if f == "json" {
			err = json.Unmarshal([]byte(out), &js)
		} else {
			err = yaml.Unmarshal([]byte(out), &ys)
		}
		if err != nil {
			t.Fatalf("%v -o %s: %v\n%s", args, f, err, out)
		}
	}
	if js.Verified != ys.Verified || js.Verified != (want == 0) || len(js.Checks) != len(ys.Checks) {
		t.Errorf("%v: verdicts json %+v, yaml %+v, exit %d", args, js, ys, want)
	}
	return text, js
}

// Issue #11: PCR values without PCRs 0-9 cannot check the boot_aggregate.
// That used to print "✗ boot_aggregate … lack PCRs" and exit 0; now the
// check shows as "-" with its reason and fails, unless opted out of.
func TestImaReplayBootAggregateThatCannotBeCheckedFails(t *testing.T) {
	list, res := writeList(t, imagen.Options{N: 3})
	pcr10 := writePCRs(t, pcr.Values{pcr.SHA256: {10: res.PerBank[pcr.SHA256][10]}}, pcr.FormatJSON)
	text, v := runAllFormats(t, 1, "ima", "replay", list, "--pcrs", pcr10)
	if strings.Contains(text, "✗ boot_aggregate") || !strings.Contains(text, "- boot_aggregate (sha256): the sha256 PCR values lack PCRs") ||
		!strings.Contains(text, "--no-boot-aggregate") || !strings.Contains(text, "✓ sha256  10  match") {
		t.Errorf("text:\n%s", text)
	}
	if v.check("boot-aggregate") != "not-run" || v.check("pcrs") != "passed" {
		t.Errorf("verdict %+v", v)
	}

	text, v = runAllFormats(t, 0, "ima", "replay", list, "--pcrs", pcr10, "--no-boot-aggregate")
	if !strings.Contains(text, "- boot_aggregate not checked (--no-boot-aggregate)") || strings.Contains(text, "✗") {
		t.Errorf("opted out:\n%s", text)
	}
	if v.check("boot-aggregate") != "skipped" {
		t.Errorf("opted out: verdict %+v", v)
	}

	// PCR values holding PCRs 0-9 check it, as before.
	runAllFormats(t, 0, "ima", "replay", list, "--pcrs", writePCRs(t, res.PerBank, pcr.FormatJSON))
	// The opt-out and a TCG log given to check the boot_aggregate contradict.
	if code, _, errOut := run(t, "ima", "replay", list, "--pcrs", pcr10, "--no-boot-aggregate", "--tcg-log", rhel8); code != 2 {
		t.Errorf("--no-boot-aggregate --tcg-log: exit %d: %s", code, errOut)
	}
}

// A list that does not start with boot_aggregate is tied to no boot:
// checked against PCR values, that fails (it used to be a note, exit 0).
func TestImaReplayListWithoutBootAggregateFails(t *testing.T) {
	bin, _ := writeList(t, imagen.Options{N: 3})
	code, out, errOut := run(t, "ima", "show", bin)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut)
	}
	ascii := filepath.Join(t.TempDir(), "ascii_runtime_measurements")
	os.WriteFile(ascii, []byte(out[strings.Index(out, "\n")+1:]), 0o644)
	// The replay alone says so in a note, and exits 0 as before.
	code, out, _ = run(t, "ima", "replay", ascii, "-o", "json")
	var rep imaReplayReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || len(rep.Notes) == 0 || !strings.Contains(rep.Notes[0], "not boot_aggregate") {
		t.Fatalf("replay: exit %d %v\n%s", code, err, out)
	}
	values := pcr.Values{}
	for _, p := range rep.PCRs {
		d, _ := hex.DecodeString(p.PerBank)
		a, _ := pcr.ParseAlg(p.Bank)
		values.Set(a, p.PCR, d)
	}
	pcrs := writePCRs(t, values, pcr.FormatJSON)
	text, v := runAllFormats(t, 1, "ima", "replay", ascii, "--pcrs", pcrs)
	if !strings.Contains(text, `- boot_aggregate: the first entry is "/opt/imagen/bin/tool-0000001", not boot_aggregate`) || strings.Contains(text, "✗") {
		t.Errorf("text:\n%s", text)
	}
	if v.check("boot-aggregate") != "not-run" || v.check("pcrs") != "passed" {
		t.Errorf("verdict %+v", v)
	}
	runAllFormats(t, 0, "ima", "replay", ascii, "--pcrs", pcrs, "--no-boot-aggregate")
}

// A bank asked for with --bank that the PCR values lack cannot be
// checked: it fails (it used to be left out, exit 0). Without --bank the
// banks are those of the values, as before.
func TestImaReplayBankAskedForButNotGivenFails(t *testing.T) {
	list, res := writeList(t, imagen.Options{N: 3})
	sha256 := writePCRs(t, pcr.Values{pcr.SHA256: res.PerBank[pcr.SHA256]}, pcr.FormatJSON)
	text, v := runAllFormats(t, 1, "ima", "replay", list, "--pcrs", sha256, "--bank", "sha1,sha256")
	if !strings.Contains(text, "- sha1    not in the PCR values: asked for with --bank, so this fails") {
		t.Errorf("text:\n%s", text)
	}
	if v.check("pcrs") != "not-run" {
		t.Errorf("verdict %+v", v)
	}
	runAllFormats(t, 0, "ima", "replay", list, "--pcrs", sha256)
	runAllFormats(t, 0, "ima", "replay", list, "--pcrs", sha256, "--bank", "sha256")
}

// Every ✗ exits 1 and every format agrees: a tampered PCR, a tampered
// entry, PCR values that lack the list's PCR, a boot_aggregate of another
// machine.
func TestImaReplayEveryFailureExits1InEveryFormat(t *testing.T) {
	list, res := writeList(t, imagen.Options{N: 4, Tamper: []int{2}})
	good := writePCRs(t, res.PerBank, pcr.FormatJSON)
	text, v := runAllFormats(t, 1, "ima", "replay", list, "--pcrs", good)
	if !strings.Contains(text, "✗ entry 2") || v.check("template-digests") != "failed" {
		t.Errorf("tampered entry:\n%s\n%+v", text, v)
	}

	list, res = writeList(t, imagen.Options{N: 4})
	bad := pcr.Values{}
	for a, b := range res.PerBank {
		for i, d := range b {
			bad.Set(a, i, d)
		}
	}
	bad[pcr.SHA256][10] = make([]byte, 32)
	text, v = runAllFormats(t, 1, "ima", "replay", list, "--pcrs", writePCRs(t, bad, pcr.FormatJSON))
	if !strings.Contains(text, "✗ sha256  10  mismatch") || v.check("pcrs") != "failed" {
		t.Errorf("tampered PCR:\n%s\n%+v", text, v)
	}

	delete(bad[pcr.SHA256], 10)
	delete(bad[pcr.SHA1], 10)
	text, v = runAllFormats(t, 1, "ima", "replay", list, "--pcrs", writePCRs(t, bad, pcr.FormatJSON))
	if !strings.Contains(text, "- sha256  10  missing from the PCR values") || strings.Contains(text, "✗") || v.check("pcrs") != "not-run" {
		t.Errorf("PCR 10 missing:\n%s\n%+v", text, v)
	}

	pcr10 := writePCRs(t, pcr.Values{pcr.SHA256: {10: res.PerBank[pcr.SHA256][10]}}, pcr.FormatJSON)
	text, v = runAllFormats(t, 1, "ima", "replay", list, "--pcrs", pcr10, "--tcg-log", rhel8)
	if !strings.Contains(text, "✗ boot_aggregate") || v.check("boot-aggregate") != "failed" {
		t.Errorf("other machine:\n%s\n%+v", text, v)
	}
}
