package eventlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	events, err := ReadFile("../fixtures/tcg/rhel8-uefi.bin")
	if err != nil || len(events) < 40 || events[0].Index != 0 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	bad := filepath.Join(t.TempDir(), "cut.bin")
	data, _ := os.ReadFile("../fixtures/tcg/rhel8-uefi.bin")
	os.WriteFile(bad, data[:len(data)-7], 0o644)
	if _, err := ReadFile(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": ") || !strings.Contains(err.Error(), "offset") {
		t.Errorf("truncated log: %v", err)
	}
}
