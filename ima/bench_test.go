package ima

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
)

// BenchmarkReplayList replays a 100,000-entry ima-ng list (about 13 MB)
// from a file into the sha1 and sha256 banks under both rules, checking
// every template digest.
func BenchmarkReplayList(b *testing.B) {
	path := filepath.Join(b.TempDir(), "list")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := imagen.Write(f, imagen.Options{N: 100_000}); err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rd, _, f, err := OpenFile(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ReplayList(rd, nil, nil); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkReadBinary parses a 100,000-entry ima-ng list from memory.
func BenchmarkReadBinary(b *testing.B) {
	var buf bytes.Buffer
	if _, err := imagen.Write(&buf, imagen.Options{N: 100_000}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rd, err := NewBinaryReader(bytes.NewReader(data), nil)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
