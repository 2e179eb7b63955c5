//go:build !cgo

package main

import "testing"

// The attestation tests run go-tpm-tools' TPM simulator, which is C code:
// without cgo they cannot run, and say so instead of vanishing.
func TestAttestationSimulator(t *testing.T) {
	t.Fatal("needs cgo (gcc and libssl-dev) for the go-tpm-tools TPM simulator; run the tests with CGO_ENABLED=1")
}
