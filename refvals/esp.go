package refvals

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/fat"
)

// GUIDEFISystemPartition is the GPT partition type of an EFI System
// Partition.
var GUIDEFISystemPartition = func() eventlog.GUID {
	g, err := eventlog.ParseGUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	if err != nil {
		panic(err)
	}
	return g
}()

// OpenESP opens the EFI System Partition of a disk image: the first GPT
// partition of type C12A7328-F81F-11D2-BA4B-00A0C93EC93B, or, without a
// GPT, a FAT file system spanning the whole image. It returns where the
// file system starts and a description of where it was found.
func OpenESP(r io.ReaderAt, size int64) (*fat.FS, int64, string, error) {
	for _, block := range []int64{512, 4096} {
		hdr := make([]byte, gptHeaderSize)
		if _, err := r.ReadAt(hdr, block); err != nil || string(hdr[:8]) != "EFI PART" {
			continue
		}
		entriesLBA := int64(binary.LittleEndian.Uint64(hdr[72:]))
		count := binary.LittleEndian.Uint32(hdr[80:])
		esize := binary.LittleEndian.Uint32(hdr[84:])
		if count > maxGPTEntries || esize < 128 || esize > maxGPTEntrySize {
			return nil, 0, "", fmt.Errorf("GPT header at byte %d: %d entries of %d bytes out of range", block, count, esize)
		}
		table := make([]byte, int(count)*int(esize))
		if _, err := r.ReadAt(table, entriesLBA*block); err != nil {
			return nil, 0, "", fmt.Errorf("GPT partition entries at byte %d: %w", entriesLBA*block, err)
		}
		for i := 0; i < int(count); i++ {
			e := table[i*int(esize) : (i+1)*int(esize)]
			if !bytes.Equal(e[:16], GUIDEFISystemPartition[:]) {
				continue
			}
			first, last := int64(binary.LittleEndian.Uint64(e[32:])), int64(binary.LittleEndian.Uint64(e[40:]))
			if last < first || first <= 0 || first > (1<<62)/block || last > (1<<62)/block {
				return nil, 0, "", fmt.Errorf("GPT entry %d: LBAs %d..%d out of range", i+1, first, last)
			}
			off, n := first*block, (last-first+1)*block
			if size > 0 && off+n > size {
				return nil, 0, "", fmt.Errorf("GPT entry %d: partition at byte %d, %d bytes, past the image's end (%d)", i+1, off, n, size)
			}
			fs, err := fat.Open(r, off, n)
			if err != nil {
				return nil, 0, "", fmt.Errorf("EFI System Partition (GPT entry %d): %w", i+1, err)
			}
			return fs, off, fmt.Sprintf("GPT partition %d (EFI System Partition, byte %d)", i+1, off), nil
		}
		return nil, 0, "", fmt.Errorf("GPT at byte %d has no EFI System Partition (type %s)", block, GUIDEFISystemPartition)
	}
	fs, err := fat.Open(r, 0, size)
	if err != nil {
		return nil, 0, "", fmt.Errorf("neither a GPT nor a FAT file system: %w", err)
	}
	return fs, 0, "FAT file system over the whole image", nil
}
