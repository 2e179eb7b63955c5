//go:build corim2024 || corim2025

package main

import (
	"bytes"
	"fmt"

	"github.com/veraison/corim/corim"
)

// comidsOf returns the CoMIDs of a CoRIM; these library versions keep each
// tag as its raw bytes, the 3-byte CBOR tag first.
func comidsOf(uc *corim.UnsignedCorim) ([][]byte, error) {
	var out [][]byte
	for i, tag := range uc.Tags {
		if len(tag) < 3+1 {
			return nil, fmt.Errorf("malformed tag at index %d", i)
		}
		if !bytes.Equal(tag[:3], corim.ComidTag) {
			return nil, fmt.Errorf("unknown CBOR tag %x detected at index %d", tag[:3], i)
		}
		out = append(out, tag[3:])
	}
	return out, nil
}
