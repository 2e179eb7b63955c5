package pcr

import (
	"encoding/binary"
	"fmt"

	"github.com/goldenpcr/goldenpcr/internal/tpmwire"
)

// Limits of the TPM 2.0 structures tpm2-tools writes (TSS2 headers).
const (
	tpmNumPCRBanks  = tpmwire.MaxPCRBanks     // TPM2_NUM_PCR_BANKS: TPML_PCR_SELECTION capacity
	tpmPCRSelectMax = tpmwire.MaxSizeofSelect // TPM2_PCR_SELECT_MAX: bytes of a pcrSelect bitmap
	tpmDigestsMax   = 8                       // TPML_DIGEST capacity; TPM2_PCR_Read returns at most 8
	tpmHAMax        = tpmwire.MaxDigest       // sizeof(TPMU_HA): largest digest
	tpmMaxLists     = 32                      // tpm2_pcrs.pcr_values: TPML_DIGEST lists in a file
	// pcSelectSize is the sizeofSelect tpm2-tools writes for 24 PCRs.
	pcSelectSize = 3
)

// Layout of the serialized format: the C structs of the TSS2 headers as an
// x86-64 or arm64 compiler lays them out, integers made little-endian, and
// written whole with fwrite, unused slots and padding included.
const (
	serSelEntry   = 8                               // TPMS_PCR_SELECTION: hash u16, sizeofSelect u8, pcrSelect[4], 1 pad byte
	serSelSize    = 4 + tpmNumPCRBanks*serSelEntry  // TPML_PCR_SELECTION: count u32 + 16 entries = 132
	serDigestSize = 2 + tpmHAMax                    // TPM2B_DIGEST: size u16 + buffer[64] = 66
	serListSize   = 4 + tpmDigestsMax*serDigestSize // TPML_DIGEST: count u32 + 8 digests = 532
	serHeaderSize = serSelSize + 4                  // then u32 count of TPML_DIGEST lists
)

// --- values ---

func valuesSize(sel Selection) int {
	n := 0
	for _, b := range sel {
		n += len(b.PCRs) * b.Alg.Size()
	}
	return n
}

func parseValues(data []byte, sel Selection, name func(Option) string) (*Document, error) {
	if len(sel) == 0 {
		return nil, &FormatError{Format: FormatValues, Msg: "a values file holds bare digests; give the selection that produced it (e.g. " + optionName(name, OptionSelection) + " sha1:0-7+sha256:0-7)"}
	}
	for _, b := range sel {
		if !b.Alg.Valid() {
			return nil, &FormatError{Format: FormatValues, Err: &UnsupportedAlgError{ID: uint16(b.Alg)}}
		}
	}
	if want := valuesSize(sel); len(data) != want {
		return nil, &FormatError{Format: FormatValues, Msg: fmt.Sprintf("file is %d bytes, but selection %s needs %d", len(data), sel, want)}
	}
	v := Values{}
	off := 0
	var order []Alg
	for _, b := range sel {
		order = appendUnique(order, b.Alg)
		n := b.Alg.Size()
		for _, i := range b.PCRs {
			if i < 0 || i >= NumPCRs {
				return nil, &FormatError{Format: FormatValues, Msg: fmt.Sprintf("selection names PCR %d, want 0-%d", i, NumPCRs-1)}
			}
			if _, dup := v.Get(b.Alg, i); dup {
				return nil, &FormatError{Format: FormatValues, Msg: fmt.Sprintf("selection names %s PCR %d twice", b.Alg, i)}
			}
			v.Set(b.Alg, i, clone(data[off:off+n]))
			off += n
		}
	}
	return &Document{Sets: []Values{v}, BankOrder: order}, nil
}

func marshalValues(v Values, sel Selection) []byte {
	out := make([]byte, 0, valuesSize(sel))
	for _, b := range sel {
		for _, i := range b.PCRs {
			out = append(out, v[b.Alg][i]...)
		}
	}
	return out
}

// --- shared by serialized and marshaled ---

// selBank is one decoded TPMS_PCR_SELECTION with where it was read.
type selBank struct {
	alg  Alg
	mask uint32
	off  int
}

// digestsFromSelection pairs the flattened digests with the selected PCRs:
// a TPM returns them bank by bank in selection order, each bank's PCRs
// ascending, whatever TPML_DIGEST list they landed in.
func digestsFromSelection(f Format, banks []selBank, digests [][]byte, offs []int) (*Document, error) {
	v := Values{}
	var order []Alg
	k := 0
	for _, b := range banks {
		order = appendUnique(order, b.alg)
		for i := 0; i < 32; i++ {
			if b.mask&(1<<i) == 0 {
				continue
			}
			if i >= NumPCRs {
				return nil, offErr(f, b.off, "%s selection names PCR %d, want 0-%d", b.alg, i, NumPCRs-1)
			}
			if _, dup := v.Get(b.alg, i); dup {
				return nil, offErr(f, b.off, "%s PCR %d is selected twice", b.alg, i)
			}
			if k >= len(digests) {
				return nil, offErr(f, b.off, "selection names more PCRs than the %d digests the file holds (first without a digest: %s PCR %d)", len(digests), b.alg, i)
			}
			if len(digests[k]) != b.alg.Size() {
				return nil, offErr(f, offs[k], "%s PCR %d: digest is %d bytes, want %d", b.alg, i, len(digests[k]), b.alg.Size())
			}
			v.Set(b.alg, i, digests[k])
			k++
		}
	}
	if k != len(digests) {
		return nil, offErr(f, offs[k], "file holds %d digests but its selection names only %d PCRs", len(digests), k)
	}
	return &Document{Sets: []Values{v}, BankOrder: order}, nil
}

func selectionMask(f Format, off int, size int, sel []byte) (uint32, error) {
	if size > tpmPCRSelectMax {
		return 0, offErr(f, off, "sizeofSelect is %d, at most %d", size, tpmPCRSelectMax)
	}
	var m uint32
	for i := 0; i < size; i++ {
		m |= uint32(sel[i]) << (8 * i)
	}
	return m, nil
}

func bankAlg(f Format, off int, id uint16) (Alg, error) {
	a, err := AlgFromID(id)
	if err != nil {
		return 0, &FormatError{Format: f, Offset: off, HasOffset: true, Msg: "PCR selection", Err: err}
	}
	return a, nil
}

// pcSelect returns the 3-byte pcrSelect bitmap of PCRs.
func pcSelect(pcrs []int) [pcSelectSize]byte {
	var s [pcSelectSize]byte
	for _, i := range pcrs {
		s[i/8] |= 1 << (i % 8)
	}
	return s
}

// digestCount returns how many digests sel writes and checks the counts
// fit the structures tpm2-tools reads back.
func digestCount(f Format, sel Selection) (int, error) {
	if len(sel) > tpmNumPCRBanks {
		return 0, fmt.Errorf("%s: %d banks, a TPML_PCR_SELECTION holds at most %d", f, len(sel), tpmNumPCRBanks)
	}
	n := 0
	for _, b := range sel {
		n += len(b.PCRs)
	}
	if n > tpmDigestsMax*tpmMaxLists {
		return 0, fmt.Errorf("%s: %d digests, tpm2-tools reads at most %d", f, n, tpmDigestsMax*tpmMaxLists)
	}
	return n, nil
}

// --- serialized ---

func parseSerialized(data []byte) (*Document, error) {
	const f = FormatSerialized
	le := binary.LittleEndian
	if len(data) < serHeaderSize {
		return nil, offErr(f, len(data), "truncated: file is %d bytes, the header alone is %d", len(data), serHeaderSize)
	}
	nsel := le.Uint32(data)
	if nsel > tpmNumPCRBanks {
		return nil, offErr(f, 0, "selection count is %d, at most %d (is this a serialized file?)", nsel, tpmNumPCRBanks)
	}
	nlists := le.Uint32(data[serSelSize:])
	if nlists > tpmMaxLists {
		return nil, offErr(f, serSelSize, "digest list count is %d, at most %d", nlists, tpmMaxLists)
	}
	if want := serHeaderSize + int(nlists)*serListSize; len(data) != want {
		if len(data) < want {
			return nil, offErr(f, len(data), "truncated: %d digest lists need %d bytes, file is %d", nlists, want, len(data))
		}
		return nil, offErr(f, want, "%d trailing bytes after %d digest lists", len(data)-want, nlists)
	}
	banks := make([]selBank, 0, nsel)
	for i := 0; i < int(nsel); i++ {
		off := 4 + i*serSelEntry
		alg, err := bankAlg(f, off, le.Uint16(data[off:]))
		if err != nil {
			return nil, err
		}
		mask, err := selectionMask(f, off+2, int(data[off+2]), data[off+3:off+3+tpmPCRSelectMax])
		if err != nil {
			return nil, err
		}
		banks = append(banks, selBank{alg: alg, mask: mask, off: off})
	}
	var digests [][]byte
	var offs []int
	for l := 0; l < int(nlists); l++ {
		base := serHeaderSize + l*serListSize
		count := le.Uint32(data[base:])
		if count > tpmDigestsMax {
			return nil, offErr(f, base, "digest list %d has count %d, at most %d", l, count, tpmDigestsMax)
		}
		for d := 0; d < int(count); d++ {
			off := base + 4 + d*serDigestSize
			size := int(le.Uint16(data[off:]))
			if size > tpmHAMax {
				return nil, offErr(f, off, "digest size %d, at most %d", size, tpmHAMax)
			}
			digests = append(digests, clone(data[off+2:off+2+size]))
			offs = append(offs, off)
		}
	}
	return digestsFromSelection(f, banks, digests, offs)
}

func marshalSerialized(v Values, sel Selection) ([]byte, error) {
	n, err := digestCount(FormatSerialized, sel)
	if err != nil {
		return nil, err
	}
	nlists := (n + tpmDigestsMax - 1) / tpmDigestsMax
	out := make([]byte, serHeaderSize+nlists*serListSize)
	le := binary.LittleEndian
	le.PutUint32(out, uint32(len(sel)))
	for i, b := range sel {
		off := 4 + i*serSelEntry
		le.PutUint16(out[off:], uint16(b.Alg))
		out[off+2] = pcSelectSize
		s := pcSelect(b.PCRs)
		copy(out[off+3:], s[:])
	}
	le.PutUint32(out[serSelSize:], uint32(nlists))
	k := 0
	for _, b := range sel {
		for _, i := range b.PCRs {
			base := serHeaderSize + (k/tpmDigestsMax)*serListSize
			le.PutUint32(out[base:], uint32(min(n-k/tpmDigestsMax*tpmDigestsMax, tpmDigestsMax)))
			off := base + 4 + (k%tpmDigestsMax)*serDigestSize
			d := v[b.Alg][i]
			le.PutUint16(out[off:], uint16(len(d)))
			copy(out[off+2:], d)
			k++
		}
	}
	return out, nil
}

// --- marshaled ---

// wireErr words a failure of the shared TPM wire reader as a marshaled
// file's error: every one is a field the file ends before.
func wireErr(err error) error {
	if e, ok := err.(*tpmwire.Error); ok {
		return offErr(FormatMarshaled, e.Offset, "truncated %s", e.Msg)
	}
	return err
}

func parseMarshaled(data []byte) (*Document, error) {
	const f = FormatMarshaled
	r := tpmwire.NewReader(data, 0, "TPML_PCR_SELECTION")
	wire, lim := tpmwire.ReadPCRSelection(r, func(s tpmwire.PCRSelection) tpmwire.PCRSelection { return s })
	switch {
	case lim != nil && lim.Field == "sizeofSelect":
		return nil, offErr(f, lim.Offset, "sizeofSelect is %d, at most %d", lim.Got, lim.Max)
	case lim != nil && lim.Field == "count":
		return nil, offErr(f, lim.Offset, "selection count is %d, at most %d", lim.Got, lim.Max)
	case lim != nil:
		return nil, offErr(f, lim.Offset, "selection count is %d, but the %d bytes left hold at most %d selections", lim.Got, lim.Left, lim.Left/3)
	case r.Err() != nil:
		return nil, wireErr(r.Err())
	}
	banks := make([]selBank, 0, len(wire))
	for _, s := range wire {
		alg, err := bankAlg(f, s.Offset, s.Hash)
		if err != nil {
			return nil, err
		}
		banks = append(banks, selBank{alg: alg, mask: s.Mask(), off: s.Offset})
	}
	listsOff := r.Pos()
	nlists := r.U32("digest list count")
	if r.Err() != nil {
		return nil, wireErr(r.Err())
	}
	if nlists > tpmMaxLists {
		return nil, offErr(f, listsOff, "digest list count is %d, at most %d", nlists, tpmMaxLists)
	}
	var digests [][]byte
	var offs []int
	for l := 0; l < int(nlists); l++ {
		base := r.Pos()
		count := r.U32("TPML_DIGEST count")
		if r.Err() != nil {
			return nil, wireErr(r.Err())
		}
		if count > tpmDigestsMax {
			return nil, offErr(f, base, "digest list %d has count %d, at most %d", l, count, tpmDigestsMax)
		}
		for d := 0; d < int(count); d++ {
			off := r.Pos()
			size := int(r.U16("TPM2B_DIGEST size"))
			if r.Err() == nil && size > tpmHAMax {
				return nil, offErr(f, off, "digest size %d, at most %d", size, tpmHAMax)
			}
			b := r.Bytes(size, "digest")
			if r.Err() != nil {
				return nil, wireErr(r.Err())
			}
			digests = append(digests, clone(b))
			offs = append(offs, off)
		}
	}
	if r.Left() != 0 {
		return nil, offErr(f, r.Pos(), "%d trailing bytes after %d digest lists", r.Left(), nlists)
	}
	return digestsFromSelection(f, banks, digests, offs)
}

func marshalMarshaled(v Values, sel Selection) ([]byte, error) {
	n, err := digestCount(FormatMarshaled, sel)
	if err != nil {
		return nil, err
	}
	be := binary.BigEndian
	out := be.AppendUint32(nil, uint32(len(sel)))
	for _, b := range sel {
		out = be.AppendUint16(out, uint16(b.Alg))
		s := pcSelect(b.PCRs)
		out = append(out, pcSelectSize)
		out = append(out, s[:]...)
	}
	nlists := (n + tpmDigestsMax - 1) / tpmDigestsMax
	out = be.AppendUint32(out, uint32(nlists))
	k := 0
	for _, b := range sel {
		for _, i := range b.PCRs {
			if k%tpmDigestsMax == 0 {
				out = be.AppendUint32(out, uint32(min(n-k, tpmDigestsMax)))
			}
			d := v[b.Alg][i]
			out = be.AppendUint16(out, uint16(len(d)))
			out = append(out, d...)
			k++
		}
	}
	return out, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func appendUnique(order []Alg, a Alg) []Alg {
	for _, x := range order {
		if x == a {
			return order
		}
	}
	return append(order, a)
}
