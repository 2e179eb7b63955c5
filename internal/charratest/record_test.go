package charratest

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/charra"
	"github.com/goldenpcr/goldenpcr/pcr"
)

var update = flag.Bool("update", false, "rewrite fixtures/charra from the attester's real encodings")

// TestRecordSeeds records what the attester sent in each scheme (requests,
// responses, raw signature structs) as the seeds of charra's fuzz
// targets: go test ./internal/charratest -run TestRecordSeeds -update.
func TestRecordSeeds(t *testing.T) {
	dir := repoFile(t, "fixtures/charra")
	if !*update {
		// Without -update: the recorded seeds still read as they did.
		paths, _ := filepath.Glob(filepath.Join(dir, "response-*.cbor"))
		if len(paths) < 6 {
			t.Fatalf("%d recorded responses in %s; record them with -update", len(paths), dir)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := charra.ParseResponse(b); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []Scheme{RSASSA, RSAPSS, ECDSA} {
		a := New(t, s)
		for _, mode := range []Mode{Genuine, Old3mdeb} {
			addr, _ := charra.ParseTarget(a.Serve(t, mode))
			sel, _ := pcr.ParseSelection("sha256:0-7,10+sha1:0")
			var logs []string
			if mode == Genuine && s == RSASSA {
				logs = []string{charra.LogTCGBoot, charra.LogIMA}
			}
			req, err := charra.NewRequest(sel, logs, charra.DefaultNonceSize)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := charra.Attest(context.Background(), addr, req, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			rq, rs, sig := a.Last()
			write("request-"+string(s)+"-"+string(mode)+".cbor", rq)
			write("response-"+string(s)+"-"+string(mode)+".cbor", rs)
			if mode == Genuine {
				write("signature-"+string(s)+".raw", sig)
			}
		}
	}
}
