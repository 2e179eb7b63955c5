package main

import (
	"strings"
	"testing"
)

// The tree is built for the named group only; help and unknown commands
// still see every group.
func TestRootBuildsNamedGroupOnly(t *testing.T) {
	if got := newRootCmd([]string{"eventlog", "replay"}).Commands(); len(got) != 1 || got[0].Name() != "eventlog" {
		t.Fatalf("eventlog run built %d groups", len(got))
	}
	if got := len(newRootCmd([]string{"--help"}).Commands()); got != len(commandGroups) {
		t.Fatalf("--help built %d groups, want %d", got, len(commandGroups))
	}
	code, out, _ := run(t, "help")
	if code != 0 {
		t.Fatalf("help exited %d", code)
	}
	for _, g := range commandGroups {
		if !strings.Contains(out, "\n  "+g.name+" ") {
			t.Errorf("help does not list %s:\n%s", g.name, out)
		}
	}
	code, _, errs := run(t, "evntlog")
	if code != exitUsage || !strings.Contains(errs, `unknown command "evntlog"`) || !strings.Contains(errs, "eventlog") {
		t.Errorf("misspelt group: exit %d, %q; want exit 2 with a suggestion", code, errs)
	}
}
