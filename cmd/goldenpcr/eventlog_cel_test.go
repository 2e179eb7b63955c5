package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/celtest"
)

func writeCEL(t *testing.T, recs []celtest.Record) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tpm2-measure.log")
	if err := os.WriteFile(p, celtest.SystemdLog(recs), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type replayJSON struct {
	File string `json:"file"`
	Logs []struct {
		File   string `json:"file"`
		Format string `json:"format"`
	} `json:"logs"`
	PCRs []struct {
		Bank, Value string
		LastLog     string `json:"last_log"`
		Index       int    `json:"pcr"`
		LastEvent   int    `json:"last_event"`
	} `json:"pcrs"`
}

func (r *replayJSON) value(bank string, i int) string {
	for _, p := range r.PCRs {
		if p.Bank == bank && p.Index == i {
			return p.Value
		}
	}
	return ""
}

func TestEventlogReplayCELAndFirmware(t *testing.T) {
	cel := writeCEL(t, append(celtest.Phases(celtest.PCRPhases...), celtest.Record{PCR: 7, String: "x", EventType: "test"}))
	code, out, errs := run(t, "eventlog", "replay", cel, "--pcr", "11", "-o", "json")
	var alone replayJSON
	if code != 0 || json.Unmarshal([]byte(out), &alone) != nil {
		t.Fatalf("exit %d %s %s", code, errs, out)
	}
	want11 := hex.EncodeToString(celtest.ExtendSHA256(make([]byte, 32), celtest.PCRPhases...))
	if got := alone.value("sha256", 11); got != want11 {
		t.Fatalf("CEL alone: PCR 11 = %s, want %s", got, want11)
	}
	_, out, _ = run(t, "eventlog", "replay", rhel8, "--bank", "sha256", "-o", "json")
	var fw replayJSON
	if err := json.Unmarshal([]byte(out), &fw); err != nil {
		t.Fatal(err)
	}
	fw7, _ := hex.DecodeString(fw.value("sha256", 7))
	// The CEL named first still replays after the firmware log.
	code, out, errs = run(t, "eventlog", "replay", cel, rhel8, "--bank", "sha256", "-o", "json")
	var both replayJSON
	if code != 0 || json.Unmarshal([]byte(out), &both) != nil {
		t.Fatalf("exit %d %s %s", code, errs, out)
	}
	if both.value("sha256", 11) != want11 || both.value("sha256", 7) != hex.EncodeToString(celtest.ExtendSHA256(fw7, "x")) ||
		both.value("sha256", 0) != fw.value("sha256", 0) {
		t.Fatalf("combined replay: %s", out)
	}
	if len(both.Logs) != 2 || both.Logs[0].File != rhel8 || both.Logs[1].Format != "cel-json" || both.File != rhel8+" + "+cel {
		t.Fatalf("logs %+v file %s", both.Logs, both.File)
	}
	code, out, _ = run(t, "eventlog", "replay", rhel8, cel, "--bank", "sha256", "--pcr", "7,11")
	if code != 0 || !strings.Contains(out, "last #3 of "+cel) || !strings.Contains(out, "replayed in this order") || !strings.Contains(out, want11) {
		t.Fatalf("text:\n%s", out)
	}
	// --against with the combined replay.
	ref := filepath.Join(t.TempDir(), "pcrs.yaml")
	os.WriteFile(ref, []byte("sha256:\n  11: 0x"+want11+"\n"), 0o644)
	if code, out, errs := run(t, "eventlog", "replay", rhel8, cel, "--bank", "sha256", "--against", ref); code != 0 {
		t.Fatalf("against: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := run(t, "eventlog", "replay", rhel8, rhel8); code != exitUsage || !strings.Contains(errs, "two firmware") {
		t.Fatalf("two firmware logs: exit %d %s", code, errs)
	}
}

func TestEventlogShowCEL(t *testing.T) {
	cel := writeCEL(t, celtest.Phases(celtest.PCRPhases...))
	code, out, errs := run(t, "eventlog", "show", cel)
	if code != 0 || !strings.Contains(out, "cel-json log, banks sha256, 3 records shown") ||
		!strings.Contains(out, `CEL systemd`) || !strings.Contains(out, `✓ sha256:`) || !strings.Contains(out, `systemd phase "leave-initrd"`) {
		t.Fatalf("exit %d %s\n%s", code, errs, out)
	}
	code, out, _ = run(t, "eventlog", "show", rhel8, cel, "--pcr", "11", "-o", "json")
	var logs []struct {
		File   string `json:"file"`
		Events []struct {
			PCR int `json:"pcr"`
			CEL *struct {
				Description string `json:"description"`
			} `json:"cel"`
		} `json:"events"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &logs) != nil || len(logs) != 2 || len(logs[1].Events) != 3 || logs[1].Events[2].CEL.Description != "ready" {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// A malformed record: the message names the record and byte.
	bad := filepath.Join(t.TempDir(), "bad.log")
	lines := celtest.Lines(celtest.SystemdLog(celtest.Phases(celtest.PCRPhases...)))
	os.WriteFile(bad, []byte(lines[0]+strings.Replace(lines[1], "sha256", "sha999", 1)), 0o644)
	for _, cmd := range []string{"show", "replay"} {
		code, _, errs = run(t, "eventlog", cmd, bad)
		want := bad + ": record 1 at byte offset " + strconv.Itoa(len(lines[0])+1)
		if code != exitUsage || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d %q, want %q", cmd, code, errs, want)
		}
	}
}
