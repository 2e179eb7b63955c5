package cmltest

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/cml"
	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmcert"
)

var update = flag.Bool("update", false, "rewrite fixtures/cml/cmltest-*.frame, the fuzz seeds of package cml")

// The genuine device verifies through package cml's client and verdict;
// its request and response frames are package cml's fuzz seeds.
func TestRecordFrames(t *testing.T) {
	d := New(t)
	addr := d.Serve(t, Genuine)
	req, err := cml.NewRequest(cml.Basic, 0, cml.DefaultNonceSize)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := cml.Attest(context.Background(), addr, req, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(d.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := tpmcert.ParseCertificates(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	expected, err := baseline.Load(d.BaselinePath, pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keys := &ima.Keyring{}
	if err := keys.LoadKeyFile(d.KmodCertPath); err != nil {
		t.Fatal(err)
	}
	rep := cml.VerifyExchange(ex, &cml.Policy{Roots: roots, Expected: expected, KmodKeys: keys})
	if !rep.Verified {
		for _, c := range rep.Checks {
			t.Logf("%s passed=%v skipped=%v: %s", c.Name, c.Passed, c.Skipped, c.Reason)
		}
		t.Fatal("the genuine device does not verify")
	}
	request, response := d.LastFrames()
	if !*update {
		return
	}
	for name, b := range map[string][]byte{"cmltest-request.frame": request, "cmltest-response.frame": response} {
		if err := os.WriteFile(filepath.Join("..", "..", "fixtures", "cml", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
