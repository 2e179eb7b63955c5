package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/pcr"
)

const rhel8 = "../../fixtures/tcg/rhel8-uefi.bin"

// runStdin executes a goldenpcr command line in-process with stdin.
func runStdin(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(args, bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// A log piped in as "-" reads as the same log from its file.
func TestEventlogFromStdin(t *testing.T) {
	data, err := os.ReadFile(rhel8)
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"show", "replay"} {
		_, fromFile, _ := run(t, "eventlog", cmd, rhel8, "-o", "json")
		code, fromStdin, errs := runStdin(t, data, "eventlog", cmd, "-", "-o", "json")
		if code != 0 || strings.Replace(fromFile, rhel8, "-", 1) != fromStdin {
			t.Errorf("%s -: exit %d %s\n%s", cmd, code, errs, fromStdin[:min(len(fromStdin), 300)])
		}
	}
	code, _, errs := runStdin(t, data[:100], "eventlog", "replay", "-")
	if code != exitUsage || !strings.Contains(errs, "-: ") {
		t.Errorf("truncated stdin: exit %d %q", code, errs)
	}
}

// run executes a goldenpcr command line in-process.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestEventlogShowText(t *testing.T) {
	code, out, errs := run(t, "eventlog", "show", rhel8, "--pcr", "7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"SecureBoot = enabled",
		"dbx = 4 signature list(s), 186 entries",
		"db = authority CN=Microsoft Corporation UEFI CA 2011",
		"Shim = authority CN=Red Hat Secure Boot CA 5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PCR 4 ") {
		t.Errorf("--pcr 7 printed a PCR 4 event")
	}
}

func TestEventlogShowJSONAndYAML(t *testing.T) {
	code, out, errs := run(t, "eventlog", "show", rhel8, "-o", "json", "--type", "EV_EFI_BOOT_SERVICES_APPLICATION")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var log struct {
		Format string
		Events []struct {
			Index   int
			PCR     int
			Type    string
			Digests map[string]string
			Decoded struct {
				DevicePath string `json:"device_path"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if log.Format != "crypto-agile" || len(log.Events) != 3 {
		t.Fatalf("format %s, %d events, want crypto-agile and 3 applications", log.Format, len(log.Events))
	}
	shim := log.Events[0]
	if !strings.HasSuffix(shim.Decoded.DevicePath, `/\EFI\redhat\shimx64.efi`) || shim.PCR != 4 || len(shim.Digests["sha384"]) != 96 {
		t.Errorf("first application: %+v", shim)
	}

	code, out, _ = run(t, "eventlog", "show", rhel8, "-o", "yaml", "--pcr", "0")
	if code != 0 {
		t.Fatal("yaml show failed")
	}
	var y map[string]any
	if err := yaml.Unmarshal([]byte(out), &y); err != nil {
		t.Fatal(err)
	}
	if evs := y["events"].([]any); len(evs) != 4 {
		t.Errorf("PCR 0 has %d events, want 4 (header, S-CRTM version, NonHostInfo, separator)", len(evs))
	}
}

func TestEventlogBadInput(t *testing.T) {
	code, _, errs := run(t, "eventlog", "show", "../../fixtures/tcg-edge/keylime-bogus.bin")
	if code != 2 || !strings.Contains(errs, "keylime-bogus.bin: event 0 at byte offset 0") || !strings.Contains(errs, "not a TCG event log") {
		t.Errorf("bogus log: exit %d, stderr %q", code, errs)
	}
	data, _ := os.ReadFile(rhel8)
	cut := filepath.Join(t.TempDir(), "cut.bin")
	os.WriteFile(cut, data[:20000], 0o644)
	code, out, errs := run(t, "eventlog", "show", cut)
	if code != 2 || !strings.Contains(errs, "truncated") || !strings.Contains(errs, "event 14 at byte offset 19989") {
		t.Errorf("truncated log: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "SecureBoot = enabled") {
		t.Errorf("events before the truncation were not shown")
	}
	code, _, errs = run(t, "eventlog", "replay", cut)
	if code != 2 || !strings.Contains(errs, "truncated") {
		t.Errorf("replay of truncated log: exit %d, %q", code, errs)
	}
	if code, _, _ = run(t, "eventlog", "replay", "/nonexistent"); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
	if code, _, _ = run(t, "eventlog", "replay", rhel8, "--bank", "sha3"); code != 2 {
		t.Errorf("bad bank: exit %d, want 2", code)
	}
	if code, _, errs = run(t, "eventlog", "replay", rhel8, "--bank", "sha512"); code != 2 || !strings.Contains(errs, "no sha512 digests") {
		t.Errorf("bank not in log: exit %d, %q", code, errs)
	}
}

// rhel8Expected returns the PCRs the rhel8 machine's TPM reported.
func rhel8Expected(t *testing.T) pcr.Values {
	t.Helper()
	raw, err := os.ReadFile("../../fixtures/tcg/expected-pcrs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Logs map[string]map[string]map[int]string
	}
	if err := yaml.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	v := pcr.Values{}
	for bank, pcrs := range e.Logs["rhel8-uefi.bin"] {
		a, _ := pcr.ParseAlg(bank)
		for i, h := range pcrs {
			d, _ := hex.DecodeString(h)
			v.Set(a, i, d)
		}
	}
	return v
}

// The replay must be accepted against the real PCRs in every PCR file
// format, and rejected with exit 1 once one value is wrong.
func TestEventlogReplayAgainstEveryFormat(t *testing.T) {
	exp := rhel8Expected(t)
	sha256Only := pcr.Values{pcr.SHA256: exp[pcr.SHA256]}
	// evmctl files list PCR-00 upwards without gaps.
	sha256Contiguous := pcr.Values{}
	for i := 0; i <= 9; i++ {
		sha256Contiguous.Set(pcr.SHA256, i, exp[pcr.SHA256][i])
	}
	tamper := func(v pcr.Values) pcr.Values {
		c := pcr.Values{}
		for _, a := range v.Algs() {
			for _, i := range v.Indices(a) {
				c.Set(a, i, bytes.Clone(v[a][i]))
			}
		}
		c[pcr.SHA256][7][0] ^= 1
		return c
	}
	dir := t.TempDir()
	for _, f := range []pcr.Format{pcr.FormatValues, pcr.FormatSerialized, pcr.FormatMarshaled, pcr.FormatTPM2YAML,
		pcr.FormatEvmctl, pcr.FormatJSON, pcr.FormatYAML, pcr.FormatMap, pcr.FormatCHARRA} {
		t.Run(string(f), func(t *testing.T) {
			set := exp
			switch f {
			case pcr.FormatMap:
				set = sha256Only
			case pcr.FormatEvmctl:
				set = sha256Contiguous
			}
			for _, tc := range []struct {
				name string
				sets []pcr.Values
				want int
			}{
				{"genuine", []pcr.Values{set}, 0},
				{"tampered", []pcr.Values{tamper(set)}, 1},
			} {
				data, err := pcr.Marshal(f, tc.sets)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, string(f)+"-"+tc.name)
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				args := []string{"eventlog", "replay", rhel8, "--against", p}
				if f == pcr.FormatValues {
					args = append(args, "--against-format", "values", "--against-sel", set.Selection().String())
				}
				code, out, errs := run(t, args...)
				if code != tc.want {
					t.Errorf("%s: exit %d, want %d\n%s%s", tc.name, code, tc.want, out, errs)
				}
				if tc.want == 1 && !strings.Contains(out, "✗ sha256   7  mismatch") {
					t.Errorf("%s: mismatch row missing:\n%s", tc.name, out)
				}
			}
		})
	}
	// A CHARRA file passes when any document matches.
	data, err := pcr.Marshal(pcr.FormatCHARRA, []pcr.Values{tamper(exp), exp})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "charra-two.yml")
	os.WriteFile(p, data, 0o644)
	if code, out, _ := run(t, "eventlog", "replay", rhel8, "--against", p); code != 0 || !strings.Contains(out, "document 2") {
		t.Errorf("CHARRA second document: exit %d\n%s", code, out)
	}
	// A PCR the log never replays (a bank it lacks) fails closed.
	missing := pcr.Values{}
	missing.Set(pcr.SHA512, 0, make([]byte, 64))
	data, _ = pcr.Marshal(pcr.FormatJSON, []pcr.Values{missing})
	p = filepath.Join(dir, "sha512.json")
	os.WriteFile(p, data, 0o644)
	if code, out, _ := run(t, "eventlog", "replay", rhel8, "--against", p); code != 1 || !strings.Contains(out, "missing") {
		t.Errorf("unreplayed bank: exit %d\n%s", code, out)
	}
}

func TestEventlogReplayJSON(t *testing.T) {
	code, out, _ := run(t, "eventlog", "replay", "../../fixtures/tcg/glinux-alex.bin", "-o", "json", "--bank", "sha256", "--pcr", "0")
	if code != 0 {
		t.Fatal(code)
	}
	var rep struct {
		Locality int `json:"startup_locality"`
		PCRs     []struct {
			Value     string
			LastEvent int `json:"last_event"`
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Locality != 3 || len(rep.PCRs) != 1 || rep.PCRs[0].Value != "0e5ea849d7647a1ac1becc096fee4df98f00f8015f934afadaab0b8aa20b38a5" {
		t.Errorf("glinux PCR 0 replay: %+v", rep)
	}
}

func TestEventlogReplayBankRestrictsReference(t *testing.T) {
	ref := "../../fixtures/tcg/rhel8-uefi.pcrs.yaml" // sha1 and sha256
	if code, out, errs := run(t, "eventlog", "replay", rhel8, "--bank", "sha256", "--against", ref); code != 0 || !strings.Contains(out, "all 11 PCRs match") {
		t.Errorf("--bank sha256: exit %d\n%s%s", code, out, errs)
	}
	// A reference with none of the replayed banks proves nothing: fail.
	if code, out, _ := run(t, "eventlog", "replay", rhel8, "--bank", "sha384", "--against", ref); code != 1 {
		t.Errorf("--bank sha384 against sha1/sha256 file: exit %d, want 1\n%s", code, out)
	}
}

// A baseline from refvals compute is a reference like any PCR file: the
// replay of a log predicted for the same boot application matches in PCR 4.
func TestEventlogReplayAgainstBaseline(t *testing.T) {
	dir := t.TempDir()
	next := filepath.Join(dir, "next.yaml")
	if code, _, errs := run(t, "refvals", "predict", "--eventlog", rhel8, "--efi-app", signedShim, "-O", next); code != 0 {
		t.Fatalf("predict: %s", errs)
	}
	// rhel8 booted another shim: PCR 4 must mismatch, the rest match.
	code, out, _ := run(t, "eventlog", "replay", rhel8, "--against", next)
	if code != 1 || !strings.Contains(out, "goldenpcr.baseline/v1") || strings.Count(out, "✗") != 3 {
		t.Errorf("exit %d\n%s", code, out)
	}
	if code, out, _ = run(t, "eventlog", "replay", rhel8, "--against", next, "--bank", "sha256", "--pcr", "0"); code != 1 || strings.Count(out, "✗") != 1 {
		t.Errorf("--bank sha256: exit %d\n%s", code, out)
	}
}

// Issue #11: an event whose digest contradicts its data is marked ✗ by
// eventlog show, and now exits 1, in every format (it exited 0). Digests
// that match under a known firmware quirk are marked ~ and named, and do
// not fail; the real fixture logs keep exiting 0.
func TestEventlogShowDigestMismatchExits1(t *testing.T) {
	data, err := os.ReadFile(rhel8)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("Exit Boot Services Invocation"))
	if i < 0 {
		t.Fatal("no ExitBootServices event in the fixture")
	}
	data[i] = 'e' // the data no longer hashes to the digest
	bad := filepath.Join(t.TempDir(), "edited.bin")
	os.WriteFile(bad, data, 0o644)
	for _, format := range []string{"text", "json", "yaml"} {
		code, out, errOut := run(t, "eventlog", "show", bad, "-o", format)
		if code != 1 || !strings.Contains(errOut, "1 shown events' digests contradict their data (first: event 81)") {
			t.Errorf("%s: exit %d, want 1: %s", format, code, errOut)
		}
		if format == "text" && (!strings.Contains(out, "✗ sha256:") || !strings.Contains(out, "✗ 1 events' digests contradict their data")) {
			t.Errorf("text:\n%s", out)
		}
		if format == "json" && !strings.Contains(out, `"digest_mismatches": 1`) {
			t.Errorf("json lacks the count")
		}
	}
	// Not shown, not judged: the filter leaves the event out.
	if code, out, errOut := run(t, "eventlog", "show", bad, "--pcr", "7"); code != 0 || strings.Contains(out, "✗") {
		t.Errorf("--pcr 7: exit %d: %s%s", code, out, errOut)
	}
	code, out, _ := run(t, "eventlog", "show", rhel8)
	if code != 0 || strings.Contains(out, "✗") || !strings.Contains(out, "~ 4 events: the digest matches under a known firmware quirk: EV_EFI_VARIABLE_BOOT digest covers the variable contents only (edk2/OVMF)") {
		t.Errorf("rhel8: exit %d\n%s", code, out)
	}
	logs, _ := filepath.Glob("../../fixtures/tcg/*.bin")
	edge, _ := filepath.Glob("../../fixtures/tcg-edge/*.bin")
	lab, _ := filepath.Glob("../../fixtures/lab/*.bin")
	for _, l := range append(append(logs, edge...), lab...) {
		if strings.HasSuffix(l, "keylime-bogus.bin") {
			continue // not a log
		}
		for _, format := range []string{"text", "json"} {
			if code, _, errOut := run(t, "eventlog", "show", l, "-o", format); code != 0 {
				t.Errorf("%s -o %s: exit %d: %s", l, format, code, errOut)
			}
		}
	}
}

// Issue #11, finding 8, through the command line: a baseline PCR whose
// primary value is right in sha1 only and whose variant is right in sha256
// only does not match the replay (it did), and a variant right in both
// does.
func TestEventlogReplayAgainstBaselineDoesNotMixVariants(t *testing.T) {
	code, out, errOut := run(t, "eventlog", "replay", rhel8, "--pcr", "7", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep replayReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	real := map[string]string{}
	for _, p := range rep.PCRs {
		if p.Index == 7 && (p.Bank == "sha1" || p.Bank == "sha256") {
			real[p.Bank] = p.Value
		}
	}
	wrong := map[string]string{"sha1": strings.Repeat("ee", 20), "sha256": strings.Repeat("dd", 32)}
	doc := func(primary, variant [2]string) string {
		path := filepath.Join(t.TempDir(), "baseline.yaml")
		os.WriteFile(path, []byte("version: goldenpcr.baseline/v1\nmetadata: {tool: test}\npcrs:\n- pcr: 7\n"+
			"  values: {sha1: "+primary[0]+", sha256: "+primary[1]+"}\n"+
			"  variants:\n  - {sha1: "+variant[0]+", sha256: "+variant[1]+"}\n"), 0o644)
		return path
	}
	mixed := doc([2]string{real["sha1"], wrong["sha256"]}, [2]string{wrong["sha1"], real["sha256"]})
	for _, format := range []string{"text", "json"} {
		code, out, errOut = run(t, "eventlog", "replay", rhel8, "--bank", "sha1,sha256", "--against", mixed, "-o", format)
		if code != 1 || (format == "text" && !strings.Contains(out, "✗ sha256   7  mismatch")) {
			t.Errorf("mixed candidates, %s: exit %d\n%s%s", format, code, out, errOut)
		}
	}
	whole := doc([2]string{wrong["sha1"], wrong["sha256"]}, [2]string{real["sha1"], real["sha256"]})
	if code, out, errOut = run(t, "eventlog", "replay", rhel8, "--bank", "sha1,sha256", "--against", whole); code != 0 {
		t.Errorf("whole variant: exit %d\n%s%s", code, out, errOut)
	}
	// Replaying one bank compares the candidates in that bank alone.
	if code, out, errOut = run(t, "eventlog", "replay", rhel8, "--bank", "sha256", "--against", mixed); code != 0 {
		t.Errorf("sha256 only: exit %d\n%s%s", code, out, errOut)
	}
}
