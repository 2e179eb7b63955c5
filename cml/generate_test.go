package cml

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/protogen"
)

// TestGeneratedCodeIsCurrent regenerates the messages from tpm2d.proto
// with Debian's protoc and the protoc-gen-go of go.mod's protobuf module
// into a temporary folder; the checked-in code must be byte for byte what
// `make generate` writes. It fails, never skips, without protoc
// (scripts/deps.sh installs protobuf-compiler).
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc not found: install the protobuf-compiler package (make deps)")
	}
	dir := t.TempDir()
	plugin := filepath.Join(dir, "protoc-gen-go")
	build := exec.Command("go", "build", "-o", plugin, "google.golang.org/protobuf/cmd/protoc-gen-go")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building protoc-gen-go: %v\n%s", err, out)
	}
	if err := protogen.Generate("..", plugin, dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range protogen.Protos {
		fresh, err := os.ReadFile(filepath.Join(dir, p.GoFile))
		if err != nil {
			t.Fatal(err)
		}
		checkedIn, err := os.ReadFile(filepath.Join("..", p.GoFile))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, checkedIn) {
			t.Errorf("%s differs from what %s/%s generates: run make generate and commit the result", p.GoFile, p.Dir, p.Name)
		}
	}
}
