package corim

import (
	"bytes"
	"crypto"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

var update = flag.Bool("update", false, "rewrite the golden CoRIMs in testdata/")

var (
	classID = uuid.MustParse("cd1f0e55-26f9-460d-b9d8-f7fde171787c")
	nodeID  = uuid.MustParse("7d2a9a4c-2f0b-4a3e-9c61-0c1e6f1d3b5a")
)

func testRef(t testing.TB) *baseline.Reference {
	t.Helper()
	ref, err := baseline.Load("testdata/baseline.yaml", pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func testAK(t testing.TB, name string) crypto.PublicKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	k, err := tpmstruct.ParsePublic(data)
	if err != nil {
		t.Fatal(err)
	}
	return k.Key
}

// goldenCases are the deterministic CoRIMs kept in testdata/.
func goldenCases(t testing.TB) map[string]func() (*Result, error) {
	ref := testRef(t)
	ec := testAK(t, "ak-ecdsa.pem")
	sel, err := pcr.ParseSelection("sha256:0,4")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]func() (*Result, error){
		"parsec-tpm.cbor": func() (*Result, error) {
			return NewParsecTPM(ParsecTPMInput{Reference: ref, ClassID: classID, AK: testAK(t, "ak-rsa.pem")}, Options{})
		},
		"enacttrust.cbor": func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel, NodeID: nodeID, AK: ec}, Options{})
		},
		"enacttrust-legacy.cbor": func() (*Result, error) {
			return NewEnactTrust(EnactTrustInput{Reference: ref, Selection: sel, NodeID: nodeID, AK: ec}, Options{Generation: Legacy})
		},
	}
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t)
	maps.Copy(cases, armGoldenCases(t))
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := build()
			if err != nil {
				t.Fatal(err)
			}
			again, err := build()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.CBOR, again.CBOR) {
				t.Fatal("two builds from the same inputs differ")
			}
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, r.CBOR, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./corim -run TestGolden -update writes it)", err)
			}
			if !bytes.Equal(r.CBOR, want) {
				t.Fatalf("%s differs from the CoRIM built now (-update rewrites it)", path)
			}
		})
	}
}
