//go:build !corim2024

package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/veraison/corim/corim"
)

// verifySigned checks a COSE_Sign1 CoRIM as legacy Veraison (v0.0.2506
// on) does: the x5chain leaf chains to the configured CA and the
// signature verifies with the leaf's key.
func verifySigned(data []byte, caFile string) (*corim.SignedCorim, error) {
	sc := corim.NewSignedCorim()
	if err := sc.FromCOSE(data); err != nil {
		return nil, fmt.Errorf("failed to parse signed CoRIM: %w", err)
	}
	if sc.SigningCert == nil {
		return nil, errors.New("no signing certificate found in the CoRIM")
	}
	roots := x509.NewCertPool()
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("no CA certificates available for verification: %w", err)
	}
	for block, rest := pem.Decode(pemData); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range sc.IntermediateCerts {
		inter.AddCert(c)
	}
	if _, err := sc.SigningCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("certificate chain verification failed: %w", err)
	}
	if err := sc.Verify(sc.SigningCert.PublicKey); err != nil {
		return nil, fmt.Errorf("signature verification failed: %w", err)
	}
	return sc, nil
}
