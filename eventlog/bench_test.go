package eventlog

import (
	"bytes"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// BenchmarkParseReplay measures parse plus a SHA-256 replay of the 34 KB
// rhel8-uefi.bin log, in-process (make bench reports logs/s).
func BenchmarkParseReplay(b *testing.B) {
	data := readFixture(b, "tcg/rhel8-uefi.bin")
	opts := &ReplayOptions{Banks: []pcr.Alg{pcr.SHA256}}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReplayLog(bytes.NewReader(data), opts); err != nil {
			b.Fatal(err)
		}
	}
}
