package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/diff"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
)

// The command's contract: exit 0 when nothing differs, 1 on a difference
// (named in text and JSON), 2 on bad input; colour only when asked.
func TestDiffCommand(t *testing.T) {
	orig, err := os.ReadFile(rhel8)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	changed := filepath.Join(dir, "changed.bin")
	os.WriteFile(changed, tcglogtest.Edit(t, orig, func(ev *eventlog.Event) []*eventlog.Event {
		if ev.Type == eventlog.EvSCRTMVersion {
			ev.Data = []byte("v\x002\x00\x00\x00")
			tcglogtest.Rehash(ev, ev.Data)
		}
		return []*eventlog.Event{ev}
	}), 0o644)

	cut := filepath.Join(dir, "cut.bin")
	os.WriteFile(cut, tcglogtest.Edit(t, orig, func(ev *eventlog.Event) []*eventlog.Event {
		if ev.PCR == 8 && strings.Contains(string(ev.Data), "insmod blscfg") {
			return nil
		}
		return []*eventlog.Event{ev}
	}), 0o644)
	code, out, _ := run(t, "diff", rhel8, cut, "--pcrs", "../../fixtures/tcg/rhel8-uefi.pcrs.yaml", "--pcr", "7,8")
	if code != 1 || !strings.Contains(out, "✓ PCR 7 same") || !strings.Contains(out, "PCR 8 log does not match the PCRs: the device's value is the expected") {
		t.Errorf("a log with an event removed, with the real PCRs: exit %d\n%s", code, out)
	}
	if code, out, errs := run(t, "diff", rhel8, rhel8); code != 0 || !strings.Contains(out, "✓ PCR 7 same") || errs != "" {
		t.Errorf("identical: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = run(t, "diff", rhel8, changed, "--color", "never")
	if code != 1 || !strings.Contains(out, "✗ PCR 0 differs") || !strings.Contains(out, "hint (firmware version)") || strings.Contains(out, "\x1b[") {
		t.Errorf("changed: exit %d\n%s", code, out)
	}
	if _, out, _ := run(t, "diff", rhel8, changed, "--color", "always", "--pcr", "0"); !strings.Contains(out, "\x1b[31m✗\x1b[0m PCR 0") {
		t.Errorf("--color always: %q", out)
	}
	code, out, _ = run(t, "diff", rhel8, changed, "-o", "json", "--pcr", "0,7")
	var r struct {
		Differs bool
		PCRs    []struct {
			First int `json:"first_divergence"`
			Steps []struct{ Kind diff.StepKind }
		}
	}
	if err := json.Unmarshal([]byte(out), &r); code != 1 || err != nil || !r.Differs || len(r.PCRs) != 2 || r.PCRs[0].First < 0 || r.PCRs[0].Steps[r.PCRs[0].First].Kind != diff.Changed {
		t.Errorf("-o json: exit %d, %v\n%s", code, err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", rhel8}, "requires at least 2 arg"},
		{[]string{"diff", rhel8, filepath.Join(dir, "missing.bin")}, "no such file"},
		{[]string{"diff", rhel8, changed, "--pcr", "x"}, "--pcr"},
		{[]string{"diff", rhel8, changed, "--bank", "md5"}, "--bank"},
		{[]string{"diff", rhel8, changed, "--color", "sometimes"}, "--color"},
		{[]string{"diff", rhel8, changed, "--pcrs", filepath.Join(dir, "missing.yaml")}, "no such file"},
	} {
		if code, _, errs := run(t, c.args...); code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %s", c.args, code, errs)
		}
	}
}
