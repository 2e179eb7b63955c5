package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/internal/mangen"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		code, out, errs := run(t, args...)
		if code != exitOK || !strings.HasPrefix(out, "goldenpcr ") || !strings.Contains(out, "baseline format: "+baseline.SchemaVersion+"\n") {
			t.Errorf("%v: exit %d %q %q", args, code, out, errs)
		}
	}
	// --version builds the version command alone, not every group.
	if got := newRootCmd([]string{"--version"}).Commands(); len(got) != 1 || got[0].Name() != "version" {
		t.Errorf("--version built %d groups", len(got))
	}
	code, out, _ := run(t, "version", "-o", "json")
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); code != exitOK || err != nil || v.BaselineFormat != baseline.SchemaVersion || v.Module != "github.com/goldenpcr/goldenpcr" {
		t.Errorf("version -o json: exit %d %v %+v", code, err, v)
	}
}

// A binary built from a git checkout names the commit it was built from:
// --version says what Go recorded in the binary (go version -m), and that
// is HEAD. (Go records nothing in a linked git worktree, whose .git is a
// file; --version then says the revision is not recorded.)
func TestVersionRevisionFromVCS(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v (the tests run in a git checkout)", err)
	}
	bin := filepath.Join(t.TempDir(), "goldenpcr")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	recorded := ""
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision=") {
			recorded = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("--version: %v", err)
	}
	_, statErr := os.Stat("../../.git/HEAD") // a directory .git: not a linked worktree
	switch {
	case recorded != "":
		if rev := strings.TrimSpace(string(head)); recorded != rev || !strings.Contains(string(out), "revision:        "+rev) {
			t.Errorf("recorded %s, HEAD %s; --version:\n%s", recorded, rev, out)
		}
	case statErr == nil:
		t.Errorf("go build recorded no revision in a git checkout:\n%s", info)
	case !strings.Contains(string(out), "revision:        not recorded in this build"):
		t.Errorf("--version of a build without VCS information:\n%s", out)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errs := run(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, "goldenpcr") || len(out) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes, %q", shell, code, len(out), errs)
		}
	}
	// What the scripts ask for: commands, and -o's formats.
	_, out, _ := run(t, cobra.ShellCompRequestCmd, "eventlog", "re")
	if !strings.Contains(out, "replay") {
		t.Errorf("completing 'eventlog re': %q", out)
	}
	_, out, _ = run(t, cobra.ShellCompRequestCmd, "eventlog", "replay", "-o", "")
	if !strings.HasPrefix(out, "text\njson\nyaml\n") {
		t.Errorf("completing -o: %q", out)
	}
	_, out, _ = run(t, cobra.ShellCompRequestCmd, "refvals", "compute", "-o", "")
	if !strings.HasPrefix(out, "text\njson\nyaml\nbaseline\npcrs\n") {
		t.Errorf("completing refvals -o: %q", out)
	}
}

// -o is checked while the flags are parsed: an unknown format is bad
// usage before the command reads its input (here, a file that is not
// there), for every command that has -o.
func TestOutputFormatRefusedFirst(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	n := 0
	for _, c := range leafCommands(newRootCmd(nil)) {
		if c.Flags().Lookup("output") == nil {
			continue
		}
		n++
		path := strings.Fields(c.CommandPath())[1:]
		code, out, errs := run(t, append(path, "-o", "xml", missing, missing)...)
		if code != exitUsage || !strings.Contains(errs, "unknown output format") || strings.Contains(errs, "absent") || out != "" {
			t.Errorf("%s -o xml: exit %d %q %q", c.CommandPath(), code, out, errs)
		}
	}
	if n < 10 {
		t.Errorf("only %d commands have -o", n)
	}
}

// refvals -o text: the values, then each event with its rule and artifact.
func TestRefvalsText(t *testing.T) {
	dir := t.TempDir()
	uki, _ := signedUKI(t, dir)
	code, out, errs := run(t, "refvals", "compute", "--uki", uki, "--bank", "sha256", "-o", "text")
	if code != exitOK || !strings.HasPrefix(out, baseline.SchemaVersion+" baseline: PCRs 4,5,9,11, banks sha256, ") ||
		!strings.Contains(out, "\nsha256:\n   4 : ") || !strings.Contains(out, "\nevents:\n  PCR 4 ") || !strings.Contains(out, uki) {
		t.Errorf("refvals -o text: exit %d %q %q", code, out, errs)
	}
}

// make man's pages: one per command, each a section 1 page that carries
// the command's own description.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	pages, err := mangen.Write(newRootCmd(nil), dir, "goldenpcr test")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 20 {
		t.Fatalf("%d pages", len(pages))
	}
	for _, name := range []string{"goldenpcr.1", "goldenpcr-eventlog-replay.1", "goldenpcr-verify-quote.1", "goldenpcr-completion-bash.1", "goldenpcr-version.1"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		th := `.TH "` + strings.ToUpper(strings.TrimSuffix(name, ".1")) + `" "1"`
		if !strings.HasPrefix(strings.TrimLeft(string(data), " \n"), ".nh\n"+th) && !strings.Contains(string(data), th) {
			t.Errorf("%s has no %s header:\n%.300s", name, th, data)
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, "goldenpcr-eventlog-replay.1"))
	if !strings.Contains(string(data), "--against") {
		t.Errorf("eventlog replay page does not document --against:\n%.2000s", data)
	}
}
