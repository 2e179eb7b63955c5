package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const signedShim = "/usr/lib/shim/shimx64.efi.signed"

func TestPEHash(t *testing.T) {
	code, out, errs := run(t, "pe", "hash", signedShim, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res []peHashResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Digest) != 64 || len(res[0].Signatures) == 0 || !*res[0].Signatures[0].Matches {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res[0].Signatures[0].Certificates[0].Issuer, "Microsoft Corporation UEFI CA 2011") {
		t.Errorf("signer issuer %s", res[0].Signatures[0].Certificates[0].Issuer)
	}

	// A byte changed after signing: the signature no longer covers the image.
	data, err := os.ReadFile(signedShim)
	if err != nil {
		t.Fatal(err)
	}
	data[0x1000] ^= 0xff
	tampered := filepath.Join(t.TempDir(), "shim-tampered.efi")
	os.WriteFile(tampered, data, 0o644)
	code, out, _ = run(t, "pe", "hash", tampered)
	if code != 1 || !strings.Contains(out, "✗ signed digest differs") {
		t.Errorf("tampered: exit %d\n%s", code, out)
	}

	if code, _, errs = run(t, "pe", "hash", "../../fixtures/tcg/rhel8-uefi.bin"); code != 2 || !strings.Contains(errs, "not a PE image") {
		t.Errorf("non-PE input: exit %d, %s", code, errs)
	}
	if code, _, _ = run(t, "pe", "hash", "--alg", "md5", signedShim); code != 2 {
		t.Errorf("bad --alg: exit %d", code)
	}
}
