//go:build !corim2024 && !corim2025

package main

import (
	"fmt"

	"github.com/veraison/corim/corim"
)

// comidsOf returns the CoMIDs of a CoRIM; this library version decodes
// each tag's number and content.
func comidsOf(uc *corim.UnsignedCorim) ([][]byte, error) {
	var out [][]byte
	for i, tag := range uc.Tags {
		if tag.Number != corim.ComidTag {
			return nil, fmt.Errorf("unknown CBOR tag %x detected at index %d", tag.Number, i)
		}
		out = append(out, tag.Content)
	}
	return out, nil
}
