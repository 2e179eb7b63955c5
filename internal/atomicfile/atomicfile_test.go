package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "new" {
		t.Fatalf("content %q, want new", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only out.txt", len(entries))
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
}

func TestWriteRefusesInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("keep"), 0o644)
	link := filepath.Join(dir, "alias.txt")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	err := Write(link, []byte("x"), 0o644, in)
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite input") {
		t.Fatalf("err = %v, want refusal", err)
	}
	if got, _ := os.ReadFile(in); string(got) != "keep" {
		t.Fatalf("input changed to %q", got)
	}
}
