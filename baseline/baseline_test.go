package baseline

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/pcr"
)

func TestBuilderReplaysEvents(t *testing.T) {
	b := NewBuilder(pcr.SHA1, pcr.SHA256)
	sep := []byte{0, 0, 0, 0}
	for _, i := range []int{3, 6} {
		if err := b.Extend(i, Measurement{Type: "EV_SEPARATOR", Digest: HashOf(sep), Provenance: Provenance{Rule: "separator"}}); err != nil {
			t.Fatal(err)
		}
	}
	doc := b.Baseline()
	if len(doc.PCRs) != 2 || doc.PCRs[0].Index != 3 {
		t.Fatalf("PCRs %+v", doc.PCRs)
	}
	// The value every firmware leaves in PCRs 2, 3 and 6 after one separator.
	if got := doc.PCRs[1].Values["sha256"]; got != "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969" {
		t.Errorf("sha256 PCR 6 = %s", got)
	}
	if got := doc.PCRs[0].Values["sha1"]; got != "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236" {
		t.Errorf("sha1 PCR 3 = %s", got)
	}
	if doc.PCRs[0].Events[0].Digests["sha256"] != hex.EncodeToString(pcr.SHA256.Sum(sep)) {
		t.Errorf("event digest %v", doc.PCRs[0].Events[0].Digests)
	}
	if err := b.Extend(24, Measurement{Digest: HashOf(nil)}); err == nil {
		t.Error("PCR 24 accepted")
	}
}

func TestRoundTripAndCompare(t *testing.T) {
	b := NewBuilder(pcr.SHA256)
	b.Extend(7, Measurement{Type: "EV_SEPARATOR", Digest: HashOf([]byte{0, 0, 0, 0}), Provenance: Provenance{Rule: "separator"}})
	doc := b.Baseline()
	doc.PCRs[0].Variants = []map[string]string{{"sha256": strings.Repeat("ab", 32)}}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "baseline.yaml")
	os.WriteFile(path, out, 0o644)
	ref, err := Load(path, pcr.ReadOptions{})
	if err != nil || ref.Baseline == nil {
		t.Fatalf("%+v %v", ref, err)
	}
	back := ref.Baseline
	got := pcr.Values{}
	got.Set(pcr.SHA256, 7, pcr.SHA256.Sum(append(make([]byte, 32), pcr.SHA256.Sum([]byte{0, 0, 0, 0})...)))
	if rows, ok, err := back.Compare(got); err != nil || !ok || rows[0].Variant != 0 {
		t.Errorf("primary value: rows %+v ok %v err %v", rows, ok, err)
	}
	v, _ := hex.DecodeString(strings.Repeat("ab", 32))
	got.Set(pcr.SHA256, 7, v)
	if rows, ok, _ := back.Compare(got); !ok || rows[0].Variant != 1 {
		t.Errorf("variant: rows %+v ok %v", rows, ok)
	}
	got.Set(pcr.SHA256, 7, make([]byte, 32))
	if rows, ok, _ := back.Compare(got); ok || rows[0].Status != pcr.Mismatch {
		t.Errorf("wrong value: rows %+v ok %v", rows, ok)
	}
	if _, ok, _ := back.Compare(pcr.Values{}); ok {
		t.Error("missing PCR matched")
	}
	if _, ok, _ := (&Baseline{}).Compare(got); ok {
		t.Error("an empty baseline matched")
	}
}

// A PCR file is a reference of final values; CHARRA alternatives stay
// whole sets, so one document must match every PCR (PCR 0 of one and PCR
// 7 of another never add up to a match).
func TestLoadPCRFile(t *testing.T) {
	ref, err := Load("../fixtures/tcg/rhel8-uefi.pcrs.yaml", pcr.ReadOptions{})
	if err != nil || ref.Doc == nil || ref.Doc.Sets[0].Len() != 22 {
		t.Fatalf("%+v %v", ref, err)
	}
	zero, ones := "0x"+strings.Repeat("00", 32), "0x"+strings.Repeat("11", 32)
	charra := filepath.Join(t.TempDir(), "ref.yml")
	os.WriteFile(charra, []byte("sha256:\n  0: "+zero+"\n  7: "+zero+"\n---\nsha256:\n  0: "+ones+"\n  7: "+ones+"\n"), 0o644)
	if ref, err = Load(charra, pcr.ReadOptions{}); err != nil || ref.Doc == nil || len(ref.Doc.Sets) != 2 {
		t.Fatalf("CHARRA: %+v %v", ref, err)
	}
	got := pcr.Values{}
	got.Set(pcr.SHA256, 0, make([]byte, 32))
	got.Set(pcr.SHA256, 7, bytes.Repeat([]byte{0x11}, 32))
	if m, err := ref.Compare(got, nil); err != nil || m.OK {
		t.Errorf("PCR 0 of one document and PCR 7 of the other matched: %+v %v", m, err)
	}
	got.Set(pcr.SHA256, 0, bytes.Repeat([]byte{0x11}, 32))
	if m, err := ref.Compare(got, nil); err != nil || !m.OK || m.Alternative != 1 {
		t.Errorf("the second document: %+v %v", m, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), pcr.ReadOptions{}); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestParseRejects(t *testing.T) {
	for doc, want := range map[string]string{
		"version: goldenpcr.baseline/v9\n":                                                "want \"goldenpcr.baseline/v1\"",
		"version: goldenpcr.baseline/v1\npcrs:\n- pcr: 30\n  values: {sha256: \"00\"}\n":  "PCR 30 out of range",
		"version: goldenpcr.baseline/v1\npcrs:\n- pcr: 1\n  values: {sha256: \"0011\"}\n": "value is 2 bytes, want 32",
		"version: goldenpcr.baseline/v1\npcrs:\n- pcr: 1\n  values: {md5: \"00\"}\n":      "unsupported hash algorithm",
		"version: goldenpcr.baseline/v1\nbogus: 1\n":                                      "field bogus not found",
		"version: goldenpcr.baseline/v1\npcrs:\n- pcr: 1\n  values: {sha256: \"zz\"}\n":   "not hex",
	} {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", doc, err, want)
		}
	}
}
