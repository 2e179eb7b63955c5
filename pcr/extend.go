package pcr

import "bytes"

// NumPCRs is the number of PCRs in a PC Client TPM bank.
const NumPCRs = 24

// Extend returns H(current || digest), the value a TPM holds after
// TPM2_PCR_Extend. digest is used as given; the TPM itself requires it to
// be alg.Size() bytes, which callers check when reading evidence.
func Extend(alg Alg, current, digest []byte) []byte {
	h := alg.New()
	h.Write(current)
	h.Write(digest)
	return h.Sum(nil)
}

// InitialValue returns the value PCR index holds after TPM2_Startup in a
// PC Client platform: zero, except PCRs 17–22 which start at all ones until a
// dynamic launch resets them, and PCR 0 whose last byte carries the startup
// locality (0 normally, 3 or 4 when an EV_NO_ACTION StartupLocality event or
// an H-CRTM says so).
func InitialValue(alg Alg, index int, locality byte) []byte {
	v := make([]byte, alg.Size())
	switch {
	case index >= 17 && index <= 22:
		for i := range v {
			v[i] = 0xff
		}
	case index == 0:
		v[len(v)-1] = locality
	}
	return v
}

// IsInitial reports whether v equals the power-on value of PCR index with
// locality 0, the value of a PCR nothing has extended.
func IsInitial(alg Alg, index int, v []byte) bool {
	return bytes.Equal(v, InitialValue(alg, index, 0))
}
