package corim

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/internal/swtpmtest"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// TestEnactTrustDigestIsSwtpmQuote takes a real TPM2_Quote from swtpm over
// sha256:0,4,7 (after extending those PCRs), builds the TPM_ENACTTRUST
// CoRIM from the PCR values tpm2_pcrread reports, and checks that its
// reference digest is the quote's pcrDigest, and that its trust anchor is
// the AK that signed it.
func TestEnactTrustDigestIsSwtpmQuote(t *testing.T) {
	tpm := swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}})
	dir := tpm.Dir
	path := func(n string) string { return filepath.Join(dir, n) }
	run := func(tool string, args ...string) []byte {
		out := tpm.Run(t, tool, args...)
		tpm.Run(t, "tpm2_flushcontext", "-t")
		return out
	}
	for i, p := range []int{0, 4, 7, 7} {
		d := pcr.SHA256.Sum([]byte(fmt.Sprintf("goldenpcr corim test event %d", i)))
		run("tpm2_pcrextend", fmt.Sprintf("%d:sha256=%x", p, d))
	}
	const sel = "sha256:0,4,7"
	if err := os.WriteFile(path("pcrs.yaml"), run("tpm2_pcrread", sel), 0o644); err != nil {
		t.Fatal(err)
	}
	run("tpm2_createek", "-c", path("ek.ctx"), "-G", "ecc", "-u", path("ek.pub"))
	run("tpm2_createak", "-C", path("ek.ctx"), "-c", path("ak.ctx"), "-G", "ecc", "-g", "sha256", "-s", "ecdsa", "-u", path("ak.pub"))
	run("tpm2_readpublic", "-c", path("ak.ctx"), "-f", "pem", "-o", path("ak.pem"))
	run("tpm2_quote", "-c", path("ak.ctx"), "-q", "c0ffee", "-l", sel, "-g", "sha256", "-m", path("quote.msg"), "-s", path("quote.sig"))

	ref, err := baseline.Load(path("pcrs.yaml"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	akPEM, err := os.ReadFile(path("ak.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ak, err := tpmstruct.ParsePublic(akPEM)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := pcr.ParseSelection(sel)
	r, err := NewEnactTrust(EnactTrustInput{Reference: ref, Selection: s, NodeID: nodeID, AK: ak.Key}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := os.ReadFile(path("quote.msg"))
	if err != nil {
		t.Fatal(err)
	}
	att, err := tpmstruct.ParseAttest(msg)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Decoded.Comids[0].ReferenceValues[0].Measurements[0].Digests[0].Value
	if got != hex.EncodeToString(att.Quote.PCRDigest) {
		t.Fatalf("CoRIM digest %s, quote's pcrDigest %x", got, att.Quote.PCRDigest)
	}
	if key := r.Decoded.Comids[0].TrustAnchors[0].Keys[0].Value; !bytes.Equal(bytes.TrimSpace([]byte(key)), bytes.TrimSpace(akPEM)) {
		t.Errorf("trust anchor\n%s\nis not the AK that signed the quote\n%s", key, akPEM)
	}
	t.Logf("pcrDigest of the swtpm quote over %s = CoRIM reference digest %s", sel, got)
}
