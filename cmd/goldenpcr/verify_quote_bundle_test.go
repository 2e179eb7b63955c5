package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/celtest"
)

// The committed go-tpm-tools and go-attestation fixtures (made from the
// TPM simulator by TestWriteAttestationFixtures) verify without cgo.
func TestVerifyBundleFixtures(t *testing.T) {
	nonceHex, err := os.ReadFile(qf("gotpmtools-nonce.hex"))
	if err != nil {
		t.Fatal(err)
	}
	nonce := strings.TrimSpace(string(nonceHex))
	rsaName, eccName := bundleAKName(t, qf("gotpmtools-rsa.pb")), bundleAKName(t, qf("gotpmtools-ecc.pb"))
	for _, c := range []struct {
		args   []string
		format string
	}{
		{[]string{"--attestation", qf("gotpmtools-rsa.pb"), "--ak-name", rsaName}, "go-tpm-tools attest.Attestation (protobuf)"},
		{[]string{"--attestation", qf("gotpmtools-ecc.pb"), "--attestation-format", "pb", "--ak-name", eccName}, "go-tpm-tools attest.Attestation (protobuf)"},
		{[]string{"--attestation", qf("gotpmtools-rsa.json"), "--ak-name", rsaName}, "go-tpm-tools attest.Attestation (protojson)"},
		{[]string{"--attestation", qf("gotpmtools-ecc.json"), "--ak-name", eccName}, "go-tpm-tools attest.Attestation (protojson)"},
		{[]string{"--platform-parameters", qf("goattestation-rsa.json"), "--ak-name", rsaName}, "go-attestation PlatformParameters (JSON)"},
		{[]string{"--platform-parameters", qf("goattestation-ecc.json"), "--ak-name", eccName}, "go-attestation PlatformParameters (JSON)"},
	} {
		code, r, failed, reasons := verifyBundle(t, append(c.args, "--nonce", nonce)...)
		if code != 0 || r.Attestation.Format != c.format || r.Attestation.Quotes != 4 || len(r.Quotes) != 4 {
			t.Errorf("%v: exit %d, %+v, failed %v\n%s", c.args, code, r.Attestation, failed, reasons)
		}
		// Without the nonce: every quote's nonce check fails.
		code, _, failed, _ = verifyBundle(t, c.args...)
		if code != exitMismatch || len(failed) != 4 || !strings.HasSuffix(failed[0], ": nonce") {
			t.Errorf("%v without nonce: exit %d, failed %v", c.args, code, failed)
		}
	}
	// An AK pinned by Name: the fixture's AK, then another.
	var att struct {
		AK struct{ Name string }
	}
	_, out, _ := run(t, "verify", "quote", "-o", "json", "--attestation", qf("gotpmtools-rsa.pb"), "--nonce", nonce, "--allow-untrusted-ak")
	if err := json.Unmarshal([]byte(out), &att); err != nil || att.AK.Name == "" {
		t.Fatalf("AK name: %v\n%s", err, out)
	}
	if code, _, failed, _ := verifyBundle(t, "--attestation", qf("gotpmtools-rsa.pb"), "--nonce", nonce, "--ak-name", att.AK.Name); code != 0 {
		t.Errorf("--ak-name of the AK: exit %d %v", code, failed)
	}
	if code, _, failed, _ := verifyBundle(t, "--attestation", qf("gotpmtools-ecc.pb"), "--nonce", nonce, "--ak-name", att.AK.Name); code != exitMismatch ||
		len(failed) != 8 || !strings.HasSuffix(failed[0], ": ak-name") || !strings.HasSuffix(failed[1], ": ak-trust") {
		t.Errorf("--ak-name of another AK: exit %d %v", code, failed)
	}
	// A separate --eventlog next to the attestation's own is refused.
	code, _, errs := run(t, "verify", "quote", "--attestation", qf("gotpmtools-rsa.pb"), "--nonce", nonce, "--eventlog", qf("gotpmtools-rsa.pb"))
	if code != exitUsage || !strings.Contains(errs, "the attestation carries its own event log") {
		t.Errorf("--eventlog: exit %d %q", code, errs)
	}
	// A Canonical Event Log next to it replays after the attestation's
	// log: its PCR 11 records now contradict the quoted PCR 11.
	cel := writeCEL(t, celtest.Phases(celtest.PCRPhases...))
	code, _, failed, reasons := verifyBundle(t, "--attestation", qf("gotpmtools-rsa.pb"), "--nonce", nonce, "--ak-name", att.AK.Name, "--eventlog", cel)
	if code != exitMismatch || len(failed) == 0 || !strings.Contains(reasons, "PCR 11 replays to") || !strings.Contains(reasons, "record #2 of "+cel) {
		t.Errorf("attestation + CEL: exit %d %v\n%s", code, failed, reasons)
	}
	// A truncated protobuf is a parse error naming the offset.
	b, _ := os.ReadFile(qf("gotpmtools-rsa.pb"))
	trunc := filepath.Join(t.TempDir(), "trunc.pb")
	writeFile(t, trunc, b[:len(b)-100])
	code, _, errs = run(t, "verify", "quote", "--attestation", trunc, "--nonce", nonce)
	if code != exitUsage || !strings.Contains(errs, "attest.Attestation at byte") {
		t.Errorf("truncated: exit %d %q", code, errs)
	}
}

// bundleAKName returns the TPM Name of an attestation file's AK as hex,
// for tests that pin it.
func bundleAKName(t testing.TB, path string) string {
	t.Helper()
	kind := "attestation"
	if strings.Contains(filepath.Base(path), "goattestation") || strings.HasSuffix(path, "pp.json") {
		kind = "platform_parameters"
	}
	b, err := readQuoteBundle(path, kind, "", commandLine)
	if err != nil {
		t.Fatal(err)
	}
	name, err := b.AK.TPM.Name()
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(name)
}

// verifyBundle runs goldenpcr verify quote -o json with args and returns
// the exit code, the report, the failed checks ("check" for an
// attestation check, "quote N: check" for a quote's) and their reasons. It
// fails the test if the exit code, the verdict and the failed checks
// disagree.
func verifyBundle(t *testing.T, args ...string) (int, bundleJSON, []string, string) {
	t.Helper()
	code, out, errs := run(t, append([]string{"verify", "quote", "-o", "json"}, args...)...)
	var r bundleJSON
	if code == exitUsage {
		return code, r, nil, errs
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %v\n%s\n%s", args, err, out, errs)
	}
	var failed, reasons []string
	for _, c := range r.Checks {
		if !c.Passed && !c.Skipped {
			failed = append(failed, c.Name)
			reasons = append(reasons, c.Name+": "+c.Reason)
		}
	}
	for _, q := range r.Quotes {
		for _, c := range q.Checks {
			if !c.Passed && !c.Skipped {
				n := "quote " + strconv.Itoa(q.Index) + ": " + c.Name
				failed = append(failed, n)
				reasons = append(reasons, n+": "+c.Reason)
			}
		}
	}
	if r.Verified != (code == 0) || r.Verified != (len(failed) == 0) {
		t.Errorf("%v: exit %d, verified %v, failed %v", args, code, r.Verified, failed)
	}
	return code, r, failed, strings.Join(reasons, "\n")
}

// bundleJSON is what the tests read from -o json of an attestation.
type bundleJSON struct {
	Verified    bool
	Attestation struct {
		Format string
		Quotes int
		AKCert bool `json:"ak_cert"`
	}
	Checks []checkJSON
	Quotes []struct {
		Index    int
		Bank     string
		Verified bool
		Checks   []checkJSON
	}
}

// TestEKCertificateFixtures: the committed swtpm EK certificates chain to
// their committed local CA and certify the committed EK public keys.
func TestEKCertificateFixtures(t *testing.T) {
	ek := []string{"--ek-roots", qf("swtpm-localca-root.pem"), "--ek-intermediates", qf("swtpm-localca-intermediate.pem")}
	for _, kind := range []string{"rsa", "ecc"} {
		args := append(rsaArgs(t, "--ek-cert", qf("swtpm-ek-"+kind+".crt"), "--ek-pub", qf("swtpm-ek-"+kind+".pub")), ek...)
		code, out, errs := run(t, args...)
		if code != 0 || !strings.Contains(out, "✓ ek-cert") || !strings.Contains(out, "✓ ek-pub         the EK certificate certifies the given EK (TPM2B_PUBLIC") {
			t.Errorf("%s: exit %d %s\n%s", kind, code, errs, out)
		}
	}
	args := append(rsaArgs(t, "--ek-cert", qf("swtpm-ek-rsa.crt"), "--ek-pub", qf("swtpm-ek-ecc.pub")), ek...)
	if code, out, _ := run(t, args...); code != exitMismatch || !strings.Contains(out, "✗ ek-pub         the EK certificate certifies RSA 2048, not the given EK (TPM2B_PUBLIC ECC P-384)") {
		t.Errorf("wrong EK: exit %d\n%s", code, out)
	}
}
