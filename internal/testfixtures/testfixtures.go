// Package testfixtures reads the committed fixture files for the tests of
// the TPM evidence packages (tpmstruct, tpmcert, attestation, quote), so
// each names a fixture the same way and none keeps a copy of the helpers.
package testfixtures

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixture folders, relative to a package folder one level below the
// repository root.
const (
	QuoteDir = "../fixtures/quote"
	CMLDir   = "../fixtures/cml"
)

// Genuine are the genuine tpm2-tools quotes of fixtures/quote: name → AK
// file.
var Genuine = []struct{ Name, AK string }{
	{"rsa-quote", "rsa-ak.pub"},
	{"ecc-quote", "ecc-ak.pub"},
	{"rsapss-quote", "rsapss-ak.pub"},
}

// Read returns the contents of dir/name, failing t if it cannot.
func Read(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ReadHex returns the bytes of the hex text in dir/name.
func ReadHex(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimSpace(string(Read(t, dir, name))))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// Nonce is the nonce of the genuine quotes.
func Nonce(t testing.TB) []byte { return ReadHex(t, QuoteDir, "nonce.hex") }
