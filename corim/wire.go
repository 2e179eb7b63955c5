package corim

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Veraison v0.0.2502–v0.0.2511 linked corim library versions with an
// older CoRIM encoding: the corim-map is not wrapped in tag 501, and each
// entry of its tags array is a byte string holding a tagged CoMID
// (d9 01 fa, then the CoMID map). Later versions, the pinned one among
// them, write #6.501(corim-map) with entries #6.506(bstr CoMID). Neither
// reads the other's, so a CoRIM for those releases is converted after it
// is built, and converted back before it is read.

const (
	tagUnsignedCorim = 501
	tagComid         = 506
)

var comidTagPrefix = []byte{0xd9, 0x01, 0xfa}

// wireMode encodes the converted corim-map with its integer keys in
// ascending order, as the corim library writes them.
var wireMode = func() cbor.EncMode {
	m, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// toOldWire converts an unsigned CoRIM from the current encoding to the
// one of v0.0.2502–v0.0.2511.
func toOldWire(data []byte) ([]byte, error) {
	var top cbor.RawTag
	if err := cbor.Unmarshal(data, &top); err != nil || top.Number != tagUnsignedCorim {
		return nil, errors.New("not an unsigned CoRIM (tag 501)")
	}
	return convertTags(top.Content, func(entry cbor.RawMessage) ([]byte, error) {
		var t cbor.RawTag
		var comid []byte
		if err := cbor.Unmarshal(entry, &t); err != nil || t.Number != tagComid || cbor.Unmarshal(t.Content, &comid) != nil {
			return nil, errors.New("an entry is not a CoMID (tag 506 over a byte string)")
		}
		return wireMode.Marshal(append(bytes.Clone(comidTagPrefix), comid...))
	})
}

// fromOldWire converts an unsigned CoRIM in the encoding of
// v0.0.2502–v0.0.2511 to the current one.
func fromOldWire(data []byte) ([]byte, error) {
	conv, err := convertTags(data, func(entry cbor.RawMessage) ([]byte, error) {
		var b []byte
		if err := cbor.Unmarshal(entry, &b); err != nil || !bytes.HasPrefix(b, comidTagPrefix) {
			return nil, errors.New("an entry of its tags is not a byte string holding a CoMID (d9 01 fa)")
		}
		return wireMode.Marshal(cbor.Tag{Number: tagComid, Content: b[len(comidTagPrefix):]})
	})
	if err != nil {
		return nil, err
	}
	return wireMode.Marshal(cbor.RawTag{Number: tagUnsignedCorim, Content: conv})
}

// convertTags rewrites each entry of a corim-map's tags array (key 1).
func convertTags(corimMap []byte, conv func(cbor.RawMessage) ([]byte, error)) ([]byte, error) {
	var m map[int]cbor.RawMessage
	if err := cbor.Unmarshal(corimMap, &m); err != nil {
		return nil, fmt.Errorf("corim-map: %w", err)
	}
	var entries []cbor.RawMessage
	if err := cbor.Unmarshal(m[1], &entries); err != nil {
		return nil, fmt.Errorf("corim-map tags: %w", err)
	}
	out := make([]cbor.RawMessage, len(entries))
	for i, e := range entries {
		b, err := conv(e)
		if err != nil {
			return nil, fmt.Errorf("tag %d: %w", i, err)
		}
		out[i] = b
	}
	enc, err := wireMode.Marshal(out)
	if err != nil {
		return nil, err
	}
	m[1] = enc
	return wireMode.Marshal(m)
}
