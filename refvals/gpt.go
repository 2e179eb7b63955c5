package refvals

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/goldenpcr/goldenpcr/baseline"
)

// Limits that keep a hostile disk image from causing large reads.
const (
	gptHeaderSize   = 92 // sizeof(EFI_PARTITION_TABLE_HEADER)
	maxGPTEntries   = 1024
	maxGPTEntrySize = 4096
)

// GPTEventData builds the UEFI_GPT_DATA firmware measures for a disk: the
// primary partition table header, the number of non-empty partitions, and
// those entries in table order (edk2's Tcg2MeasureGptTable). The block
// size is found by looking for the "EFI PART" signature at LBA 1 of 512-
// and 4096-byte sectors.
func GPTEventData(disk io.ReaderAt) ([]byte, error) {
	for _, block := range []int64{512, 4096} {
		hdr := make([]byte, gptHeaderSize)
		if _, err := disk.ReadAt(hdr, block); err != nil || string(hdr[:8]) != "EFI PART" {
			continue
		}
		entriesLBA := int64(binary.LittleEndian.Uint64(hdr[72:]))
		count := binary.LittleEndian.Uint32(hdr[80:])
		size := binary.LittleEndian.Uint32(hdr[84:])
		if count > maxGPTEntries || size < 128 || size > maxGPTEntrySize {
			return nil, fmt.Errorf("GPT header at byte %d: %d entries of %d bytes out of range", block, count, size)
		}
		table := make([]byte, int(count)*int(size))
		if _, err := disk.ReadAt(table, entriesLBA*block); err != nil {
			return nil, fmt.Errorf("GPT partition entries at byte %d: %w", entriesLBA*block, err)
		}
		var used [][]byte
		zero := make([]byte, 16)
		for i := 0; i < int(count); i++ {
			e := table[i*int(size) : (i+1)*int(size)]
			if !bytes.Equal(e[:16], zero) {
				used = append(used, e)
			}
		}
		out := append([]byte{}, hdr...)
		out = binary.LittleEndian.AppendUint64(out, uint64(len(used)))
		for _, e := range used {
			out = append(out, e...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no GPT: no \"EFI PART\" header at LBA 1 of 512- or 4096-byte sectors")
}

// BootManagerDataPCR5 appends PCR 5 of a boot: the separator firmware
// measures into PCRs 0-7, the GPT event of the boot disk (if disk is the
// path of a disk image; an ESP without a GPT has none), then the two
// ExitBootServices actions.
func BootManagerDataPCR5(b *baseline.Builder, disk string) error {
	if err := Separator(b, PCRBootManagerData); err != nil {
		return err
	}
	if disk != "" {
		if err := gptEvent(b, disk); err != nil {
			return err
		}
	}
	return ExitBootServicesPCR5(b)
}

func gptEvent(b *baseline.Builder, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := GPTEventData(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sum, err := baseline.FileSHA256(path)
	if err != nil {
		return err
	}
	b.AddInput(baseline.Input{Role: "disk", Path: path, SHA256: sum})
	n := binary.LittleEndian.Uint64(data[gptHeaderSize:])
	return b.Extend(PCRBootManagerData, baseline.Measurement{Type: "EV_EFI_GPT_EVENT", Description: fmt.Sprintf("GPT with %d partitions", n),
		Data: data, Digest: baseline.HashOf(data),
		Provenance: baseline.Provenance{Rule: "UEFI: H(UEFI_GPT_DATA)", Artifact: path, ArtifactSHA256: sum}})
}
