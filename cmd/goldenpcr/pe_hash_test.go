package main

import (
	"bytes"
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

// Issue #11: a signature whose digest algorithm goldenpcr does not compute
// was listed as "not comparable" and exited 0, though nothing showed it
// covers the image. Now it is a "-" that fails, in every format, unless
// --no-signature-check opts out of comparing signatures.
func TestPEHashSignatureThatCannotBeCompared(t *testing.T) {
	data, err := os.ReadFile(signedShim)
	if err != nil {
		t.Fatal(err)
	}
	// The SHA-256 OID (2.16.840.1.101.3.4.2.1) becomes SHA-224's (…2.4)
	// throughout the signature, which lies outside the hashed image.
	oid := []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}
	n := bytes.Count(data, oid)
	if n == 0 {
		t.Fatal("no SHA-256 OID in the signed shim")
	}
	data = bytes.ReplaceAll(data, oid, append(oid[:len(oid)-1:len(oid)-1], 0x04))
	odd := filepath.Join(t.TempDir(), "shim-sha224.efi")
	os.WriteFile(odd, data, 0o644)
	for _, format := range []string{"text", "json", "yaml"} {
		code, out, errOut := run(t, "pe", "hash", odd, "-o", format)
		if code != 1 || !strings.Contains(errOut, "digest algorithm goldenpcr does not compute") {
			t.Errorf("%s: exit %d, want 1\n%s%s", format, code, out, errOut)
		}
		if format == "text" && (!strings.Contains(out, "- signed digest not comparable: goldenpcr does not compute 2.16.840.1.101.3.4.2.4 digests") || strings.Contains(out, "✓")) {
			t.Errorf("text:\n%s", out)
		}
		if format == "json" && !strings.Contains(out, `"status": "not-comparable"`) {
			t.Errorf("json:\n%s", out)
		}
	}
	code, out, errOut := run(t, "pe", "hash", odd, "--no-signature-check")
	if code != 0 || !strings.Contains(out, "- signed digest not compared (--no-signature-check)") {
		t.Errorf("opted out: exit %d\n%s%s", code, out, errOut)
	}
	// The opt-out is an opt-out of the comparison: the untouched shim's
	// signatures are not compared either.
	if code, out, _ = run(t, "pe", "hash", signedShim, "--no-signature-check", "-o", "json"); code != 0 || !strings.Contains(out, `"status": "not-checked"`) || strings.Contains(out, "matches_calculated") {
		t.Errorf("opted out, signed shim: exit %d\n%s", code, out)
	}
	// The signed shim itself still verifies, with its status in JSON.
	if code, out, _ = run(t, "pe", "hash", signedShim, "-o", "yaml"); code != 0 || !strings.Contains(out, "status: match") {
		t.Errorf("signed shim: exit %d\n%s", code, out)
	}
}
