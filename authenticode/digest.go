package authenticode

import (
	"fmt"
	"io"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// HashedRanges returns the file ranges the Authenticode digest covers, in
// order: the headers without CheckSum and the Certificate Table entry, the
// section bodies by file offset, then any data after the sections that is
// not the attribute certificate table. This follows edk2's
// DxeImageVerificationLib and DxeTpm2MeasureBootLib, i.e. what UEFI
// firmware measures into PCR 4.
func (img *Image) HashedRanges() ([]Range, error) {
	span := func(from, to int64) Range { return Range{Offset: from, Size: to - from} }
	var rs []Range
	rs = append(rs, span(0, img.CheckSumOffset))
	if img.CertDirOffset >= 0 {
		rs = append(rs, span(img.CheckSumOffset+sizeCheckSum, img.CertDirOffset), span(img.CertDirOffset+sizeDataDirectory, img.SizeOfHeaders))
	} else {
		rs = append(rs, span(img.CheckSumOffset+sizeCheckSum, img.SizeOfHeaders))
	}
	for _, r := range rs {
		if r.Size < 0 {
			return nil, errAt(r.Offset, "headers end (SizeOfHeaders %d) before the CheckSum or Certificate Table entry", img.SizeOfHeaders)
		}
	}
	hashed := img.SizeOfHeaders
	for _, s := range img.Sections {
		rs = append(rs, s.Range)
		hashed += s.Size
	}
	// Firmware counts bytes, not offsets: whatever lies beyond the headers
	// plus all section bodies, less the certificate table, is hashed too.
	switch trail := img.Size - img.CertTable.Size - hashed; {
	case trail > 0:
		rs = append(rs, Range{Offset: hashed, Size: trail})
	case trail < 0 && img.CertTable.Size > 0:
		return nil, errAt(img.CertTable.Offset, "certificate table of %d bytes overlaps the %d bytes of headers and sections", img.CertTable.Size, hashed)
	}
	return rs, nil
}

// Digest computes the Authenticode digest of the image in r with alg.
// Reading runs one chunk ahead of hashing, on its own goroutine, so a
// large image hashes at nearly the hash function's own speed.
func (img *Image) Digest(r io.ReaderAt, alg pcr.Alg) ([]byte, error) {
	if !alg.Valid() {
		return nil, &pcr.UnsupportedAlgError{ID: uint16(alg)}
	}
	rs, err := img.HashedRanges()
	if err != nil {
		return nil, err
	}
	const chunk = 1 << 20
	type filled struct {
		buf []byte
		err error
	}
	free := make(chan []byte, 2)
	free <- make([]byte, chunk)
	free <- make([]byte, chunk)
	full := make(chan filled, 2)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(full)
		for _, rg := range rs {
			for off := rg.Offset; off < rg.Offset+rg.Size; {
				var buf []byte
				select {
				case buf = <-free:
				case <-done:
					return
				}
				n := min(int64(chunk), rg.Offset+rg.Size-off)
				if _, err := r.ReadAt(buf[:n], off); err != nil {
					full <- filled{err: fmt.Errorf("hashing [%d, +%d): %w", off, n, err)}
					return
				}
				full <- filled{buf: buf[:n]}
				off += n
			}
		}
	}()
	h := alg.New()
	for f := range full {
		if f.err != nil {
			return nil, f.err
		}
		h.Write(f.buf)
		free <- f.buf[:cap(f.buf)]
	}
	return h.Sum(nil), nil
}
