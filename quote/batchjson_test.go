package quote

import (
	"bytes"
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
