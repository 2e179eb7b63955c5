package quote

import (
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/testfixtures"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

const (
	quoteDir = testfixtures.QuoteDir
	cmlDir   = testfixtures.CMLDir
)

var (
	genuine      = testfixtures.Genuine
	readFile     = testfixtures.Read
	readHex      = testfixtures.ReadHex
	fixtureNonce = testfixtures.Nonce
)

func readPCRs(t testing.TB, path string) pcr.Values {
	t.Helper()
	doc, err := pcr.ReadFile(path, pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return doc.Sets[0]
}

// cmlPCRs reads fixtures/cml/pcrs-sha256.txt ("N: hex" lines, cmld's
// form of the map format).
func cmlPCRs(t testing.TB) pcr.Values {
	t.Helper()
	doc, err := pcr.ReadFile(filepath.Join(cmlDir, "pcrs-sha256.txt"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return doc.Sets[0]
}

// loadGenuine parses one genuine fixture quote into Evidence.
func loadGenuine(t testing.TB, name, ak string) *Evidence {
	t.Helper()
	a, err := tpmstruct.ParseAttest(readFile(t, quoteDir, name+".msg"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tpmstruct.ParseSignature(readFile(t, quoteDir, name+".sig"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := tpmstruct.ParsePublic(readFile(t, quoteDir, ak))
	if err != nil {
		t.Fatal(err)
	}
	return &Evidence{Attest: a, Signature: s, AK: k, PCRs: readPCRs(t, filepath.Join(quoteDir, name+".pcrs"))}
}

// failedChecks lists the names of the report's failed checks.
func failedChecks(r *Report) []string {
	var out []string
	for _, c := range r.Failed() {
		out = append(out, c.Name)
	}
	return out
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x01
	return c
}

// verifyTrusting verifies as a one-shot verifier does, which trusts the
// AK it was handed: the evidence's AK joins the policy's trusted keys.
func verifyTrusting(ev *Evidence, p *Policy) *Report {
	if p == nil {
		p = &Policy{}
	}
	if ev != nil {
		p.TrustedAKs = append(p.TrustedAKs, ev.AK)
	}
	return Verify(ev, p)
}

func patch(b []byte, off int, with ...byte) []byte {
	c := append([]byte{}, b...)
	copy(c[off:], with)
	return c
}
