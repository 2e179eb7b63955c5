package authenticode

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

const benchSize = 100 << 20

// BenchmarkDigest100MiB and BenchmarkSHA256100MiB hash the same 100 MiB
// image; make bench prints their ratio (goal: Authenticode ≥ 0.9× plain
// SHA-256 throughput).
func BenchmarkDigest100MiB(b *testing.B) {
	img := buildPE([][]byte{bytes.Repeat([]byte{0x90}, benchSize)}, nil, nil)
	r := bytes.NewReader(img)
	parsed, err := Parse(r, int64(len(img)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, err := parsed.Digest(r, pcr.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSHA256100MiB(b *testing.B) {
	img := buildPE([][]byte{bytes.Repeat([]byte{0x90}, benchSize)}, nil, nil)
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		sha256.Sum256(img)
	}
}
