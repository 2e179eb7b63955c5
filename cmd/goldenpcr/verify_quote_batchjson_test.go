package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// plainString's word-at-a-time test agrees with a byte loop on every
// byte value at every position of strings of every length up to 24.
func TestPlainString(t *testing.T) {
	slow := func(s []byte) (bool, bool) {
		ascii := true
		for _, c := range s {
			if c == '\\' || c < 0x20 {
				return false, false
			}
			if c >= 0x80 {
				ascii = false
			}
		}
		return true, ascii
	}
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				s := bytes.Repeat([]byte{'a'}, n)
				s[pos] = byte(c)
				gp, ga := plainString(s)
				if wp, wa := slow(s); gp != wp || gp && ga != wa {
					t.Fatalf("%q: plain %v ascii %v, want %v %v", s, gp, ga, wp, wa)
				}
			}
		}
	}
}

func FuzzParseBatchLine(f *testing.F) {
	f.Add([]byte(`{"id":"a","ak":"ak.pub","message":"q.msg","signature":"q.sig","pcrs":"q.pcrs","nonce":"00ff"}`))
	f.Add([]byte(`{"message_hex":"ff544347","signature_hex":"0014","pcr_values":{"sha256":{"0":"` + strings.Repeat("00", 32) + `"}},"no_nonce":true}`))
	f.Add([]byte(`{"attestation":"a.pb","attestation_format":"pb","nonce":"0x01","min_clock":5}`))
	f.Add([]byte(`{"id": "x", "ak": `))
	f.Add([]byte(`{"id":"é","min_reset_count":4294967295,"max_clock":18446744073709551615,"require_safe":false,"pcr_values":{}}`))
	f.Add([]byte(`{"ID":"x","message":"m","signature":"s"}`))
	z := strings.Repeat("00", 32)
	f.Add([]byte(`{"message":"m","signature":"s","pcr_values":{"sha256":{"0":"` + z + `"},"sha256":{"1":"` + z + `"}}}`))
	f.Add([]byte(`{"message":"m","signature":"s","pcr_values":{"sha256":{"0":"` + z + `"},"SHA256":{"7":"` + z + `"},"sha1":{"07":"` + z[:40] + `"}}}`))
	f.Add([]byte(`{"id":"a\u0041","message":"m","signature":"s","no_nonce":true} `))
	// An empty bank object adds no bank (found by this target).
	f.Add([]byte(`{"pcr_values":{"shA256":{"0":"` + z + `"},"SHA256":{"1":"` + z + `"},"shA1":{}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		// The fast decoder accepts only what encoding/json decodes the
		// same way.
		var fast, std Request
		if _, _, ok := fastDecodeBatchLine(bytes.TrimSpace(line), &fast); ok {
			if err := decodeBatchLineJSON(bytes.TrimSpace(line), &std); err != nil {
				t.Fatalf("fast decoder accepted what encoding/json rejects (%v): %q", err, line)
			}
			if !reflect.DeepEqual(fast, std) {
				t.Fatalf("fast and encoding/json differ on %q:\n%+v\n%+v", line, fast, std)
			}
		}
		req, err := ParseBatchLine(line)
		if err != nil {
			if _, ok := err.(*BatchLineError); !ok {
				t.Fatalf("error %T is not *BatchLineError: %v", err, err)
			}
			return
		}
		// An accepted request survives a JSON round trip unchanged.
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseBatchLine(b)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", req, again)
		}
	})
}
