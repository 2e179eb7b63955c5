package pcr

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSM3Vectors(t *testing.T) {
	// GB/T 32905-2016 appendix A.
	for _, tc := range []struct{ in, want string }{
		{"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
		{strings.Repeat("abcd", 16), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"},
	} {
		if got := hex.EncodeToString(SM3256.Sum([]byte(tc.in))); got != tc.want {
			t.Errorf("SM3(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	// Writing in pieces and calling Sum twice gives the same digest.
	h := SM3256.New()
	for _, c := range []byte(strings.Repeat("abcd", 16)) {
		h.Write([]byte{c})
	}
	first := h.Sum(nil)
	if !bytes.Equal(first, h.Sum(nil)) || hex.EncodeToString(first) != "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732" {
		t.Errorf("streamed SM3 = %x", first)
	}
}

func TestAlgNames(t *testing.T) {
	for in, want := range map[string]Alg{"sha1": SHA1, "SHA-256": SHA256, "sha384": SHA384, "sha512": SHA512, "sm3": SM3256, "sm3_256": SM3256, "0x000b": SHA256} {
		if got, err := ParseAlg(in); err != nil || got != want {
			t.Errorf("ParseAlg(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAlg("sha3_256"); err == nil || !strings.Contains(err.Error(), `unsupported hash algorithm "sha3_256"`) {
		t.Errorf("sha3_256: %v", err)
	}
	if _, err := AlgFromID(0x0027); err == nil || !strings.Contains(err.Error(), "0x0027") {
		t.Errorf("id 0x0027: %v", err)
	}
	for a, size := range map[Alg]int{SHA1: 20, SHA256: 32, SHA384: 48, SHA512: 64, SM3256: 32} {
		if a.Size() != size || len(a.Sum(nil)) != size || a.New().Size() != size {
			t.Errorf("%s size %d", a, a.Size())
		}
	}
}

func TestExtendAndInitialValues(t *testing.T) {
	// The separator every firmware extends: H(0^32 || H(00000000)).
	sep := SHA256.Sum([]byte{0, 0, 0, 0})
	got := Extend(SHA256, InitialValue(SHA256, 3, 0), sep)
	if hex.EncodeToString(got) != "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969" {
		t.Errorf("PCR 3 after a separator = %x", got)
	}
	if v := InitialValue(SHA1, 17, 0); !bytes.Equal(v, bytes.Repeat([]byte{0xff}, 20)) {
		t.Errorf("PCR 17 start %x", v)
	}
	if v := InitialValue(SHA256, 0, 3); v[31] != 3 || !IsInitial(SHA256, 5, make([]byte, 32)) {
		t.Errorf("PCR 0 locality-3 start %x", v)
	}
}

func TestSelection(t *testing.T) {
	s, err := ParseSelection("sha256:0,1,7+sha1:0-7")
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || s[0].Alg != SHA256 || len(s[1].PCRs) != 8 || s.String() != "sha256:0-1,7+sha1:0-7" {
		t.Errorf("parsed %v = %s", s, s)
	}
	if !s.Contains(SHA1, 5) || s.Contains(SHA256, 5) {
		t.Error("Contains")
	}
	if all, _ := ParseSelection("sha384:all"); len(all[0].PCRs) != 24 {
		t.Errorf("all = %v", all)
	}
	for in, want := range map[string]string{
		"":                   "empty PCR selection",
		"sha256":             "want BANK:LIST",
		"sha256:24":          "want a number 0-23",
		"sha256:7-3":         "runs backwards",
		"md5:1":              "unsupported hash algorithm",
		"sha1:1+sha1:2":      "selected twice",
		"sha256:1,,2":        "want a number",
		"sha256:-1":          "want a number",
		"sha256:0+sha384:x-": "want a number",
	} {
		if _, err := ParseSelection(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSelection(%q) err %v, want %q", in, err, want)
		}
	}
}

// A real GyroidOS quote signed the SHA-256 of PCRs 0-11 concatenated; the
// composite digest must reproduce its pcrDigest. cmld's "N: hex" lines
// read as the map format, detected.
func TestCompositeDigestOfRealQuote(t *testing.T) {
	doc, err := ReadFile("../fixtures/cml/pcrs-sha256.txt", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := doc.Sets[0]
	if doc.Format != FormatMap || len(doc.Sets) != 1 || len(v.Indices(SHA256)) != 12 {
		t.Fatalf("read as %s, %d sets, sha256 PCRs %v", doc.Format, len(doc.Sets), v.Indices(SHA256))
	}
	sel, _ := ParseSelection("sha256:0-11")
	got, err := sel.CompositeDigest(SHA256, v)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != "e75138ab446eceb94292a7c1c3eaa15a88f68d8b6f443fa8e6d5f758c07e9ff1" {
		t.Errorf("composite digest %x", got)
	}
	missing, _ := ParseSelection("sha256:0-12")
	if _, err := missing.CompositeDigest(SHA256, v); err == nil || !strings.Contains(err.Error(), "sha256:12") {
		t.Errorf("missing PCR: %v", err)
	}
}

func TestCompareFailsClosed(t *testing.T) {
	got := Values{}
	got.Set(SHA256, 0, make([]byte, 32))
	if _, ok := Compare(got, Values{}); ok {
		t.Error("an empty reference matched")
	}
	want := Values{}
	want.Set(SHA256, 0, make([]byte, 32))
	want.Set(SHA256, 1, make([]byte, 32))
	rows, ok := Compare(got, want)
	if ok || rows[1].Status != Missing || rows[0].Status != Match {
		t.Errorf("rows %+v ok %v", rows, ok)
	}
}

// CHARRA files whose first document has no "---" are still alternatives.
func TestDetectCHARRAWithoutLeadingSeparator(t *testing.T) {
	doc := "sha256:\n  0: 0x" + strings.Repeat("00", 32) + "\n---\nsha256:\n  0: 0x" + strings.Repeat("11", 32) + "\n"
	f, err := Detect([]byte(doc), ReadOptions{})
	if err != nil || f != FormatCHARRA {
		t.Fatalf("detected %q, %v", f, err)
	}
	d, err := Parse([]byte(doc), ReadOptions{})
	if err != nil || len(d.Sets) != 2 {
		t.Fatalf("parsed %+v, %v", d, err)
	}
}
