//go:build corim2024

package main

import (
	"errors"

	"github.com/veraison/corim/corim"
)

// verifySigned refuses: v0.0.2502–v0.0.2504 list no signed media type.
func verifySigned([]byte, string) (*corim.SignedCorim, error) {
	return nil, errors.New("no signed CoRIM media type in v0.0.2502–v0.0.2504")
}
