package tpmwire

import (
	"bytes"
	"testing"
)

// FuzzReadPCRSelection: whatever is accepted writes back to the bytes it
// was read from, every limit holds, and a failure is a *LimitError or the
// reader's *Error at an offset inside the input.
func FuzzReadPCRSelection(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0, 4, 3, 7, 0, 0, 0, 0x0b, 3, 0x81, 0, 1})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 17})
	f.Add([]byte{0, 0, 0, 1, 0, 0x0b, 5, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(data, 0, "TPML_PCR_SELECTION")
		sel, lim := ReadPCRSelection(r, func(s PCRSelection) PCRSelection { return s })
		switch {
		case lim != nil:
			if lim.Offset < 0 || lim.Offset >= len(data) || lim.Error() == "" {
				t.Fatalf("limit error %+v", lim)
			}
			return
		case r.Err() != nil:
			if e, ok := r.Err().(*Error); !ok || e.Offset < 0 || e.Offset > len(data) {
				t.Fatalf("error %T %v", r.Err(), r.Err())
			}
			return
		}
		if len(sel) > MaxPCRBanks {
			t.Fatalf("%d banks", len(sel))
		}
		var w Writer
		WritePCRSelection(&w, sel)
		for _, s := range sel {
			if len(s.Select) > MaxSizeofSelect || s.Offset < 4 || s.Offset >= len(data) {
				t.Fatalf("entry %+v", s)
			}
		}
		if !bytes.Equal(w.B, data[:len(data)-r.Left()]) {
			t.Fatalf("wrote %x, read %x", w.B, data[:len(data)-r.Left()])
		}
	})
}
