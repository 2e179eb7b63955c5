package ima

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

const fixtureDir = "../fixtures/ima"

func readAll(t testing.TB, rd Reader) []*Entry {
	t.Helper()
	var out []*Entry
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Clone())
	}
}

// The keylime logs carry ima-ng entries with file digests in every
// algorithm; each template hash must equal the hash of the rebuilt data
// (SHA-1 for the classic lists, SM3 for the sm3 list's 32-byte hashes).
func TestKeylimeASCIIFixtures(t *testing.T) {
	cases := []struct {
		file     string
		fileAlgo HashAlgo
		tmplHash pcr.Alg
	}{
		{"keylime-ima-log-sha1.ascii", HashSHA1, pcr.SHA1},
		{"keylime-ima-log-sha256.ascii", HashSHA256, pcr.SHA1},
		{"keylime-ima-log-sha384.ascii", HashSHA384, pcr.SHA1},
		{"keylime-ima-log-sha512.ascii", HashSHA512, pcr.SHA1},
		{"keylime-ima-log-sm3_256.ascii", HashSM3256, 0}, // detected: sm3, not sha256
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			rd, format, f, err := OpenFile(filepath.Join(fixtureDir, c.file), &ReadOptions{TemplateHash: c.tmplHash})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if format != FormatASCII {
				t.Fatalf("format %s", format)
			}
			entries := readAll(t, rd)
			want := c.tmplHash
			if want == 0 {
				want = pcr.SM3256
			}
			if rd.TemplateHash() != want {
				t.Fatalf("template hash %s, want %s", rd.TemplateHash(), want)
			}
			if len(entries) != 2 {
				t.Fatalf("%d entries", len(entries))
			}
			for i, e := range entries {
				ev, err := e.Decode()
				if err != nil {
					t.Fatal(err)
				}
				if ev.Digest.Algo != c.fileAlgo || len(ev.Digest.Value) != c.fileAlgo.Size() {
					t.Errorf("entry %d: digest %s/%d bytes, want %s", i, ev.Digest.Algo, len(ev.Digest.Value), c.fileAlgo)
				}
				wantPath := []string{"boot_aggregate", "/data"}[i]
				if ev.Path != wantPath || e.Path() != wantPath {
					t.Errorf("entry %d: path %q", i, ev.Path)
				}
				if e.Violation() {
					continue
				}
				if got := want.Sum(e.Data); !bytes.Equal(got, e.TemplateDigest) {
					t.Errorf("entry %d: template hash %x, data hashes to %x", i, e.TemplateDigest, got)
				}
			}
		})
	}
}

func TestKeylimeUnknownAlgorithm(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtureDir, "keylime-ima-log-unknown.ascii"))
	if err != nil {
		t.Fatal(err)
	}
	rd, _, err := NewReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rd.Next()
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 1 {
		t.Fatalf("got %v, want a ParseError on line 1", err)
	}
	var ue *UnknownAlgorithmError
	if !errors.As(err, &ue) || ue.Name != "unknown" {
		t.Fatalf("error %v does not name the algorithm", err)
	}
	if !strings.Contains(err.Error(), `line 1`) || !strings.Contains(err.Error(), `"unknown"`) {
		t.Errorf("message %q lacks the line or the algorithm name", err)
	}
}

// Detection looks past the PCR number: template digests starting with a
// hex letter, and a one-digit PCR printed as " 9", are ASCII.
func TestDetectASCII(t *testing.T) {
	for _, line := range []string{
		"10 a0b1c2d3e4f5a0b1c2d3e4f5a0b1c2d3e4f5a0b1 ima-ng sha1:0000000000000000000000000000000000000000 /x\n",
		" 9 F0b1c2d3e4f5a0b1c2d3e4f5a0b1c2d3e4f5a0b1 ima-ng sha1:0000000000000000000000000000000000000000 /x\n",
	} {
		_, format, err := NewReader(strings.NewReader(line), nil)
		if err != nil || format != FormatASCII {
			t.Errorf("%q: %s %v", line, format, err)
		}
	}
}
