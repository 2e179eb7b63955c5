package tpmwire

import "fmt"

// PCRSelection is one TPMS_PCR_SELECTION as it was on the wire.
type PCRSelection struct {
	Hash   uint16 // TPM_ALG_ID of the bank, not checked here
	Select []byte // pcrSelect, sizeofSelect bytes, bit n of byte n/8 = PCR n
	// Offset is where the entry starts in the caller's input.
	Offset int
}

// LimitError is a TPML_PCR_SELECTION whose count or sizeofSelect breaks a
// limit. Its message names the TPM fields; callers with a format of their
// own word it from the fields.
type LimitError struct {
	// Field is "count" (more banks than MaxPCRBanks), "count-bytes" (more
	// entries than the bytes left can hold) or "sizeofSelect" (a bitmap
	// above MaxSizeofSelect).
	Field string
	// Index is the entry of a sizeofSelect error.
	Index int
	// Got is the value read and Max the limit it breaks; for count-bytes
	// Max is the bytes the entries need at least and Left the bytes left.
	Got, Max, Left int
	// Offset is where the offending field starts in the caller's input.
	Offset int
}

func (e *LimitError) Error() string {
	switch e.Field {
	case "count":
		return fmt.Sprintf("pcrSelect.count %d exceeds %d banks", e.Got, e.Max)
	case "count-bytes":
		return fmt.Sprintf("pcrSelect.count %d needs at least %d bytes, %d left", e.Got, e.Max, e.Left)
	}
	return fmt.Sprintf("pcrSelections[%d].sizeofSelect %d exceeds %d", e.Index, e.Got, e.Max)
}

// ReadPCRSelection reads a TPML_PCR_SELECTION: a UINT32 count of at most
// MaxPCRBanks, then count entries {hash UINT16, sizeofSelect UINT8 of at
// most MaxSizeofSelect, pcrSelect}. A count or size beyond its limit
// stops the read and is returned as *LimitError (the reader's own error
// stays unset); truncated input fails the reader. Each entry is handed
// to conv, and the results are returned in one slice allocated once,
// never beyond what the input can hold: each entry takes at least 3 bytes.
func ReadPCRSelection[T any](r *Reader, conv func(PCRSelection) T) ([]T, *LimitError) {
	at := r.Pos()
	n := r.U32("pcrSelect.count")
	if r.err != nil {
		return nil, nil
	}
	if n > MaxPCRBanks {
		return nil, &LimitError{Field: "count", Got: int(n), Max: MaxPCRBanks, Offset: at}
	}
	if int(n)*3 > r.Left() {
		return nil, &LimitError{Field: "count-bytes", Got: int(n), Max: int(n) * 3, Left: r.Left(), Offset: at}
	}
	out := make([]T, 0, n)
	for i := 0; i < int(n); i++ {
		s := PCRSelection{Offset: r.Pos()}
		s.Hash = r.U16("pcrSelections.hash")
		sizeAt := r.Pos()
		size := int(r.U8("pcrSelections.sizeofSelect"))
		if r.err != nil {
			return nil, nil
		}
		if size > MaxSizeofSelect {
			return nil, &LimitError{Field: "sizeofSelect", Index: i, Got: size, Max: MaxSizeofSelect, Offset: sizeAt}
		}
		s.Select = r.Bytes(size, "pcrSelections.pcrSelect")
		if r.err != nil {
			return nil, nil
		}
		out = append(out, conv(s))
	}
	return out, nil
}

// WritePCRSelection writes a TPML_PCR_SELECTION.
func WritePCRSelection(w *Writer, sel []PCRSelection) {
	w.U32(uint32(len(sel)))
	for _, s := range sel {
		w.U16(s.Hash)
		w.U8(uint8(len(s.Select)))
		w.Raw(s.Select)
	}
}

// Mask returns the bitmap as an integer, bit n = PCR n.
func (s PCRSelection) Mask() uint32 {
	var m uint32
	for i, b := range s.Select {
		m |= uint32(b) << (8 * i)
	}
	return m
}
