package armattest

import (
	"bytes"
	"crypto/elliptic"
	"os"
	"testing"
)

// FuzzReadPSA feeds ReadPSA arbitrary bytes, seeded with the OP-TEE seed's
// token and a token signed here: a token or an error, never a panic.
func FuzzReadPSA(f *testing.F) {
	seed, err := os.ReadFile("testdata/optee-psa-token.cbor")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(signPSA(f, newKey(f, elliptic.P256()), psaClaims(f, bytes.Repeat([]byte{1}, 64), swc("BL", bl2Value, bl2Signer))))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ReadPSA(data)
		if (tok == nil) == (err == nil) {
			t.Fatalf("token %v and error %v", tok, err)
		}
	})
}

// FuzzReadCCA feeds ReadCCA arbitrary bytes, seeded with a token ccatoken
// signed here.
func FuzzReadCCA(f *testing.F) {
	f.Add(ccaToken(f, newCCAKeys(f), islandNonce, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ReadCCA(data)
		if (tok == nil) == (err == nil) {
			t.Fatalf("token %v and error %v", tok, err)
		}
	})
}

// FuzzReadRATLS feeds ReadRATLS arbitrary bytes, seeded with an RA-TLS
// certificate made here, and verifies what reads.
func FuzzReadRATLS(f *testing.F) {
	k := newCCAKeys(f)
	key := newKey(f, elliptic.P256())
	f.Add(ratlsCert(f, k, key, key, []byte("nonce")))
	plat, rlm := ccaCorims(f, &k.cpak.PublicKey)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ReadRATLS(data)
		if err != nil {
			return
		}
		if rep, err := VerifyRATLS(c, []byte("nonce"), CCAPolicy{Platform: plat, Realm: rlm}); (rep == nil) == (err == nil) {
			t.Fatalf("report %v and error %v", rep, err)
		}
	})
}
