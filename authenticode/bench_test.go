package authenticode

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
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

// The way not taken (docs/pe.md): debug/pe reads the headers of the same
// 100 MiB image, then either Digest hashes the ranges, reading ahead on
// its own goroutine, or io.Copy hashes them through an io.SectionReader
// each, the way debug/pe hands out section data. (Named so that make
// bench, which runs -bench '100MiB$', leaves them out.)
func BenchmarkDebugPEDigest100MiBPipelined(b *testing.B) {
	benchDebugPEDigest(b, func(r *bytes.Reader, img *Image) ([]byte, error) { return img.Digest(r, pcr.SHA256) })
}

func BenchmarkDebugPEDigest100MiBCopy(b *testing.B) {
	benchDebugPEDigest(b, func(r *bytes.Reader, img *Image) ([]byte, error) { return digestSectionReaders(r, img, sha256.New()) })
}

func benchDebugPEDigest(b *testing.B, digest func(*bytes.Reader, *Image) ([]byte, error)) {
	img := buildPE([][]byte{bytes.Repeat([]byte{0x90}, benchSize)}, nil, nil)
	r := bytes.NewReader(img)
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		parsed, err := imageFromDebugPE(r, int64(len(img)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := digest(r, parsed); err != nil {
			b.Fatal(err)
		}
	}
}

// Reading the headers alone, of Debian's signed shim (10 sections, 3,741
// COFF symbols, two signatures): Parse, and debug/pe with what
// imageFromDebugPE adds.
func BenchmarkParsePE(b *testing.B) {
	benchParse(b, Parse)
}

func BenchmarkParsePEDebugPE(b *testing.B) {
	benchParse(b, func(r io.ReaderAt, size int64) (*Image, error) { return imageFromDebugPE(r, size) })
}

func benchParse(b *testing.B, parse func(io.ReaderAt, int64) (*Image, error)) {
	data, err := os.ReadFile("/usr/lib/shim/shimx64.efi.signed")
	if err != nil {
		b.Skip(err)
	}
	r := bytes.NewReader(data)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(r, int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}
