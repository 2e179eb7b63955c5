// Package strictjson reads JSON objects strictly where encoding/json is
// lenient: a key given twice is an error, not "the last one wins". The
// batch lines of goldenpcr's CLI and the attestation documents of package
// attestation are read through it, because a forged value put first and a
// genuine one last (or the reverse) must not depend on which a reader
// keeps.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Members calls fn for every member of the JSON object data, in order.
// A key given twice is an error: encoding/json would silently keep the
// last value (matching struct fields case-insensitively, so fold says
// whether keys differing only in case count as the same), and an attacker
// could put a forged value first and hope a reader takes it.
func Members(data []byte, fold bool, fn func(key string, v json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		k := key
		if fold {
			k = strings.ToLower(k)
		}
		if seen[k] {
			return fmt.Errorf("%s: given more than once", key)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if err := fn(key, v); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// NoDuplicateKeys checks that no object anywhere in data gives a key twice
// (compared case-insensitively, as encoding/json matches struct fields),
// for documents decoded straight into structs.
func NoDuplicateKeys(data []byte) error {
	type frame struct {
		obj, wantKey bool
		keys         map[string]bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			top := stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, _ := tok.(string)
			if top.keys[strings.ToLower(key)] {
				return fmt.Errorf("%s: given more than once", key)
			}
			top.keys[strings.ToLower(key)] = true
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, wantKey: true, keys: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}
