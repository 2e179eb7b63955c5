package pcr

import (
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Alg is a TPM 2.0 hash algorithm identifier (TPM_ALG_ID).
type Alg uint16

// The hash algorithms a PCR bank can use.
const (
	SHA1   Alg = 0x0004
	SHA256 Alg = 0x000B
	SHA384 Alg = 0x000C
	SHA512 Alg = 0x000D
	SM3256 Alg = 0x0012
)

// KnownAlgs lists every supported bank algorithm in TPM_ALG_ID order.
var KnownAlgs = []Alg{SHA1, SHA256, SHA384, SHA512, SM3256}

// UnsupportedAlgError reports a hash algorithm goldenpcr cannot compute.
type UnsupportedAlgError struct {
	ID   uint16
	Name string
}

func (e *UnsupportedAlgError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("unsupported hash algorithm %q (known: sha1, sha256, sha384, sha512, sm3_256)", e.Name)
	}
	return fmt.Sprintf("unsupported hash algorithm id 0x%04x (known: sha1, sha256, sha384, sha512, sm3_256)", e.ID)
}

// String returns the tpm2-tools name of the algorithm (sha1, sha256, …).
func (a Alg) String() string {
	switch a {
	case SHA1:
		return "sha1"
	case SHA256:
		return "sha256"
	case SHA384:
		return "sha384"
	case SHA512:
		return "sha512"
	case SM3256:
		return "sm3_256"
	}
	return fmt.Sprintf("alg_0x%04x", uint16(a))
}

// CryptoHash returns Go's crypto.Hash for a, for verifying signatures;
// SM3 and unknown algorithms have none.
func (a Alg) CryptoHash() (crypto.Hash, bool) {
	switch a {
	case SHA1:
		return crypto.SHA1, true
	case SHA256:
		return crypto.SHA256, true
	case SHA384:
		return crypto.SHA384, true
	case SHA512:
		return crypto.SHA512, true
	}
	return 0, false
}

// Valid reports whether goldenpcr can hash with a.
func (a Alg) Valid() bool { return a.Size() != 0 }

// Size returns the digest size in bytes, or 0 for an unknown algorithm.
func (a Alg) Size() int {
	switch a {
	case SHA1:
		return sha1.Size
	case SHA256, SM3256:
		return sha256.Size
	case SHA384:
		return sha512.Size384
	case SHA512:
		return sha512.Size
	}
	return 0
}

// New returns a fresh hash for a. It panics on an unknown algorithm, so
// callers validate input algorithms with AlgFromID or ParseAlg first.
func (a Alg) New() hash.Hash {
	switch a {
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case SHA384:
		return sha512.New384()
	case SHA512:
		return sha512.New()
	case SM3256:
		return newSM3()
	}
	panic("pcr: New called on unsupported algorithm " + a.String())
}

// Sum hashes data with a.
func (a Alg) Sum(data []byte) []byte {
	switch a {
	case SHA1:
		s := sha1.Sum(data)
		return s[:]
	case SHA256:
		s := sha256.Sum256(data)
		return s[:]
	case SHA384:
		s := sha512.Sum384(data)
		return s[:]
	case SHA512:
		s := sha512.Sum512(data)
		return s[:]
	}
	h := a.New()
	h.Write(data)
	return h.Sum(nil)
}

// AlgFromID validates a TPM_ALG_ID read from evidence.
func AlgFromID(id uint16) (Alg, error) {
	a := Alg(id)
	if !a.Valid() {
		return 0, &UnsupportedAlgError{ID: id}
	}
	return a, nil
}

// AlgForSize returns the bank algorithm whose digests are n bytes long, for
// formats that do not name the bank. 32 bytes means sha256 (not sm3_256).
func AlgForSize(n int) (Alg, bool) {
	switch n {
	case 20:
		return SHA1, true
	case 32:
		return SHA256, true
	case 48:
		return SHA384, true
	case 64:
		return SHA512, true
	}
	return 0, false
}

// ParseAlg accepts the names tpm2-tools, the kernel and keylime use
// ("sha256", "SHA-256", "sm3", "sm3_256") and hex ids ("0x000b").
func ParseAlg(name string) (Alg, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, "-", "")
	switch n {
	case "sha1":
		return SHA1, nil
	case "sha256":
		return SHA256, nil
	case "sha384":
		return SHA384, nil
	case "sha512":
		return SHA512, nil
	case "sm3", "sm3_256", "sm3256":
		return SM3256, nil
	}
	if strings.HasPrefix(n, "0x") {
		if id, err := strconv.ParseUint(n[2:], 16, 16); err == nil {
			return AlgFromID(uint16(id))
		}
	}
	return 0, &UnsupportedAlgError{Name: name}
}
