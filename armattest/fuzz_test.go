package armattest

import (
	"bytes"
	"crypto/elliptic"
	"os"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/armtest"
)

// FuzzReadPSA feeds ReadPSA arbitrary bytes, seeded with the OP-TEE seed's
// token and a token signed here: a token or an error, never a panic.
func FuzzReadPSA(f *testing.F) {
	seed, err := os.ReadFile("testdata/optee-psa-token.cbor")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(armtest.SignPSA(f, armtest.Key(f, elliptic.P256()), armtest.PSAClaims(f, bytes.Repeat([]byte{1}, 64), armtest.Component("BL", armtest.BL2Value, armtest.BL2Signer))))
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
	f.Add(armtest.CCAToken(f, armtest.NewCCAKeys(f), islandNonce, nil))
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
	k := armtest.NewCCAKeys(f)
	key := armtest.Key(f, elliptic.P256())
	f.Add(armtest.RATLSCert(f, k, key, key, []byte("nonce")))
	plat, rlm := ccaCorims(f, &k.CPAK.PublicKey)
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
