package authenticode

import (
	"fmt"
	"os"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// maxZeroFill bounds how far a section's VirtualSize may exceed its data.
const maxZeroFill = 16 << 20

// File is a PE image opened from disk.
type File struct {
	*Image
	Path string
	f    *os.File
}

// Open opens and parses the PE image at path; errors name the file.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	img, err := Parse(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{Image: img, Path: path, f: f}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// ReadAt reads the file's bytes.
func (f *File) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

// Digest is the image's Authenticode digest.
func (f *File) Digest(alg pcr.Alg) ([]byte, error) { return f.Image.Digest(f.f, alg) }

// Signatures reads the image's attribute certificate table.
func (f *File) Signatures() ([]Signature, error) { return f.Image.Signatures(f.f) }

// SectionData returns the first section called name as a loader maps it:
// VirtualSize bytes, zero-filled past the raw data.
func (f *File) SectionData(name string) ([]byte, error) {
	s, ok := f.Section(name)
	if !ok {
		return nil, fmt.Errorf("%s: no %s section", f.Path, name)
	}
	n := s.VirtualSize
	if n == 0 {
		n = s.Size
	}
	// Zero fill is for small .bss-like tails; a huge one is hostile.
	if n > s.Size+maxZeroFill {
		return nil, fmt.Errorf("%s: section %s: VirtualSize %d exceeds its %d raw bytes by more than %d", f.Path, name, n, s.Size, maxZeroFill)
	}
	buf := make([]byte, n)
	if _, err := f.f.ReadAt(buf[:min(n, s.Size)], s.Offset); err != nil {
		return nil, fmt.Errorf("%s: reading section %s: %w", f.Path, name, err)
	}
	return buf, nil
}
