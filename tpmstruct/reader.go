package tpmstruct

import (
	"github.com/goldenpcr/goldenpcr/internal/tpmwire"
)

// ParseError reports malformed input: the structure being read, the byte
// offset in the input given to the parser, and what was wrong there.
type ParseError = tpmwire.Error

// Size limits from the TPM 2.0 specification and the TSS headers.
const (
	maxDigest   = tpmwire.MaxDigest
	maxHA       = 2 + maxDigest
	maxName     = maxHA // sizeof(TPMU_NAME)
	maxData     = maxHA // TPM2B_DATA holds a TPMT_HA
	maxRSABytes = 512   // TPM2B_PUBLIC_KEY_RSA: 4096-bit keys
	maxECCBytes = 66    // TPM2B_ECC_PARAMETER: P-521
)

// newReader reads a private copy of data: the byte fields it returns are
// slices of that one copy, so a parse allocates once for all of them and
// nothing aliases the caller's buffer.
func newReader(data []byte, base int, st string) (*tpmwire.Reader, []byte) {
	own := append([]byte(nil), data...)
	return tpmwire.NewReader(own, base, st), own[:len(own):len(own)]
}
