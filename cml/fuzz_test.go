package cml

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// seedFrames are framed responses: the real GyroidOS response of
// fixtures/cml, and the request and responses the test device
// (internal/cmltest) sent, recorded in fixtures/cml/cmltest-*.frame.
func seedFrames(f *testing.F) [][]byte {
	frame, _ := fixtureResponse(f)
	seeds := [][]byte{frame}
	paths, _ := filepath.Glob("../fixtures/cml/*.frame")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	if len(seeds) < 2 {
		f.Fatal("no recorded test-device frames in fixtures/cml (go test ./internal/cmltest -run TestRecordFrames -update)")
	}
	return seeds
}

func FuzzReadFrame(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data))
		for {
			p, err := fr.ReadFrame()
			if err != nil {
				if fr.Offset() > int64(len(data)) {
					t.Fatalf("offset %d beyond %d bytes", fr.Offset(), len(data))
				}
				return
			}
			if len(p) == 0 || len(p) >= MaxFrame {
				t.Fatalf("a %d-byte frame", len(p))
			}
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range seedFrames(f) {
		if len(s) > 4 {
			f.Add(s[4:])
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		resp, err := DecodeResponse(payload)
		if err != nil {
			return
		}
		// Whatever decodes must be judged without a panic.
		req := &Request{AType: resp.AType, PCRs: 0xfff, Nonce: make([]byte, 8)}
		Verify(req, resp, &Policy{InsecureNoCA: true})
	})
}
