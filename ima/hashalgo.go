package ima

import (
	"crypto"
	"fmt"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// HashAlgo is the kernel's enum hash_algo (include/uapi/linux/hash_info.h):
// the number IMA signature headers carry and the names d-ng fields use.
type HashAlgo uint8

// The kernel hash algorithms IMA can name.
const (
	HashMD4 HashAlgo = iota
	HashMD5
	HashSHA1
	HashRMD160
	HashSHA256
	HashSHA384
	HashSHA512
	HashSHA224
	HashRMD128
	HashRMD256
	HashRMD320
	HashWP256
	HashWP384
	HashWP512
	HashTGR128
	HashTGR160
	HashTGR192
	HashSM3256
	HashStreebog256
	HashStreebog512
	HashSHA3256
	HashSHA3384
	HashSHA3512
	hashAlgoLast
)

type hashAlgoInfo struct {
	name string // hash_algo_name[]
	size int    // hash_digest_size[]
	bank pcr.Alg
	// std is Go's hash of an algorithm that is no PCR bank, for signature
	// verification (0 if Go lacks it); a bank's is bank.CryptoHash().
	std crypto.Hash
}

var hashAlgos = [hashAlgoLast]hashAlgoInfo{
	HashMD4:         {"md4", 16, 0, crypto.MD4},
	HashMD5:         {"md5", 16, 0, crypto.MD5},
	HashSHA1:        {"sha1", 20, pcr.SHA1, 0},
	HashRMD160:      {"rmd160", 20, 0, crypto.RIPEMD160},
	HashSHA256:      {"sha256", 32, pcr.SHA256, 0},
	HashSHA384:      {"sha384", 48, pcr.SHA384, 0},
	HashSHA512:      {"sha512", 64, pcr.SHA512, 0},
	HashSHA224:      {"sha224", 28, 0, crypto.SHA224},
	HashRMD128:      {"rmd128", 16, 0, 0},
	HashRMD256:      {"rmd256", 32, 0, 0},
	HashRMD320:      {"rmd320", 40, 0, 0},
	HashWP256:       {"wp256", 32, 0, 0},
	HashWP384:       {"wp384", 48, 0, 0},
	HashWP512:       {"wp512", 64, 0, 0},
	HashTGR128:      {"tgr128", 16, 0, 0},
	HashTGR160:      {"tgr160", 20, 0, 0},
	HashTGR192:      {"tgr192", 24, 0, 0},
	HashSM3256:      {"sm3", 32, pcr.SM3256, 0},
	HashStreebog256: {"streebog256", 32, 0, 0},
	HashStreebog512: {"streebog512", 64, 0, 0},
	HashSHA3256:     {"sha3-256", 32, 0, crypto.SHA3_256},
	HashSHA3384:     {"sha3-384", 48, 0, crypto.SHA3_384},
	HashSHA3512:     {"sha3-512", 64, 0, crypto.SHA3_512},
}

// Valid reports whether h is a kernel hash algorithm.
func (h HashAlgo) Valid() bool { return h < hashAlgoLast }

// String returns the kernel's name ("sha256", "sm3", …).
func (h HashAlgo) String() string {
	if h.Valid() {
		return hashAlgos[h].name
	}
	return fmt.Sprintf("hash_algo_%d", uint8(h))
}

// Size returns the digest size in bytes, 0 for an invalid id.
func (h HashAlgo) Size() int {
	if h.Valid() {
		return hashAlgos[h].size
	}
	return 0
}

// Bank returns the PCR bank algorithm of the same hash, if goldenpcr can
// compute it (sha1, sha256, sha384, sha512, sm3).
func (h HashAlgo) Bank() (pcr.Alg, bool) {
	if h.Valid() && hashAlgos[h].bank != 0 {
		return hashAlgos[h].bank, true
	}
	return 0, false
}

// Crypto returns the Go crypto.Hash for h, 0 if Go has none.
func (h HashAlgo) Crypto() crypto.Hash {
	if !h.Valid() {
		return 0
	}
	if ch, ok := hashAlgos[h].bank.CryptoHash(); ok {
		return ch
	}
	return hashAlgos[h].std
}

// HashAlgoFromBank maps a PCR bank algorithm to the kernel's id.
func HashAlgoFromBank(a pcr.Alg) (HashAlgo, bool) {
	for i, info := range hashAlgos {
		if info.bank == a && a != 0 {
			return HashAlgo(i), true
		}
	}
	return 0, false
}

// LookupHashAlgo finds a kernel hash algorithm by the name a d-ng field or
// a keylime file uses. "sm3_256" is accepted for the kernel's "sm3", as
// keylime and tpm2-tools write it.
func LookupHashAlgo(name string) (HashAlgo, bool) {
	if name == "sm3_256" || name == "sm3-256" {
		return HashSM3256, true
	}
	for i, info := range hashAlgos {
		if info.name == name {
			return HashAlgo(i), true
		}
	}
	return 0, false
}
