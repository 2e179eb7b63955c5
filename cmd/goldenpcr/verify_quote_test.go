package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const quoteFixtures = "../../fixtures/quote"

func qf(name string) string { return filepath.Join(quoteFixtures, name) }

func fixtureNonceHex(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(qf("nonce.hex"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// rsaArgs verifies the genuine RSA fixture quote.
func rsaArgs(t *testing.T, extra ...string) []string {
	return append([]string{"verify", "quote", "--ak", qf("rsa-ak.pub"), "-m", qf("rsa-quote.msg"), "-s", qf("rsa-quote.sig"),
		"--pcrs", qf("rsa-quote.pcrs"), "--nonce", fixtureNonceHex(t)}, extra...)
}

func TestVerifyQuoteTextReport(t *testing.T) {
	code, out, errs := run(t, rsaArgs(t, "--ak-name", qf("rsa-ak.name"))...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	for _, want := range []string{
		"quote ../../fixtures/quote/rsa-quote.msg: TPM_ST_ATTEST_QUOTE (0x8018), sha1:0-2+sha256:0,7,16, signature rsassa/sha256",
		"AK ../../fixtures/quote/rsa-ak.pub: TPM2B_PUBLIC, RSA 2048, fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign, scheme rsassa/sha256",
		"✓ attest-header  magic 0xff544347",
		"✓ signature      RSASSA-PKCS1-v1_5 with sha256 over the 135-byte TPMS_ATTEST verifies under the AK (RSA 2048)",
		"✓ ak-attributes  restricted signing key",
		"✓ ak-name        the AK's Name 000b",
		"✓ ak-trust       the AK is a key the verifier trusts",
		"✓ nonce          extraData equals the 16-byte nonce",
		"✓ pcr-selection  the quote selects sha1:0-2+sha256:0,7,16, exactly the supplied PCRs",
		"✓ pcr-digest     sha256 of the 6 supplied values in quote order equals pcrDigest",
		"- event-log      no event log given",
		"- clock          no limits set; clock 437 ms, resetCount 2",
		"verified: every check passed (3 skipped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// A failure prints ✗, its details, and exits 1.
	code, out, errs = run(t, rsaArgs(t, "--min-reset-count", "3", "--require-safe")...)
	if code != exitMismatch || !strings.Contains(errs, "quote NOT verified: 1 of 11 checks failed (clock)") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	for _, want := range []string{"✗ clock          resetCount is 2, policy says at least 3 (clock 437 ms", "NOT VERIFIED: 1 of 11 checks failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestVerifyQuoteJSONAndYAML(t *testing.T) {
	args := rsaArgs(t)
	code, out, errs := run(t, append(args[:len(args)-2], "--nonce", "0011", "-o", "json")...)
	if code != exitMismatch {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Verified bool
		Inputs   struct{ Message, AK string }
		Quote    struct {
			ExtraData  string `json:"extra_data"`
			ResetCount uint32 `json:"reset_count"`
			Selection  string `json:"pcr_selection"`
		}
		AK     struct{ Format, Name string }
		Checks []struct {
			Name    string
			Passed  bool
			Skipped bool
			Reason  string
			Details map[string]string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verified || rep.Inputs.AK != qf("rsa-ak.pub") || rep.Quote.ExtraData != fixtureNonceHex(t) ||
		rep.Quote.Selection != "sha1:0-2+sha256:0,7,16" || rep.AK.Format != "TPM2B_PUBLIC" || len(rep.Checks) != 11 {
		t.Fatalf("%+v", rep)
	}
	nonce := rep.Checks[5]
	if nonce.Name != "nonce" || nonce.Passed || nonce.Details["nonce"] != "0011" || !strings.Contains(nonce.Reason, "differs from the expected nonce 0011") {
		t.Errorf("nonce check %+v", nonce)
	}

	code, out, _ = run(t, rsaArgs(t, "-o", "yaml")...)
	var y map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || y["verified"] != true {
		t.Fatalf("yaml: exit %d\n%s", code, out)
	}
	checks, _ := y["checks"].([]any)
	if len(checks) != 11 {
		t.Errorf("yaml checks: %v", y["checks"])
	}
}

func TestVerifyQuotePlainAndPEM(t *testing.T) {
	nonce := fixtureNonceHex(t)
	code, out, errs := run(t, "verify", "quote", "--ak", qf("ecc-ak.pem"), "--allow-unrestricted", "-m", qf("ecc-plain.msg"),
		"-s", qf("ecc-plain.sig"), "--sig-format", "plain", "--sig-alg", "ecdsa-sha256", "--pcrs", qf("ecc-plain.pcrs"), "--nonce", nonce)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	if !strings.Contains(out, "- ak-attributes  not checked: a PEM PUBLIC KEY key carries no TPM object attributes; accepted by --allow-unrestricted") {
		t.Errorf("PEM key with --allow-unrestricted:\n%s", out)
	}
	// Without --allow-unrestricted the PEM key's attributes are unknown: fail.
	code, out, _ = run(t, "verify", "quote", "--ak", qf("ecc-ak.pem"), "-m", qf("ecc-quote.msg"), "-s", qf("ecc-quote.sig"),
		"--pcrs", qf("ecc-quote.pcrs"), "--nonce", nonce)
	if code != exitMismatch || !strings.Contains(out, "✗ ak-attributes  a PEM PUBLIC KEY key carries no TPM object attributes") {
		t.Errorf("PEM key: exit %d\n%s", code, out)
	}
	// --no-nonce skips, never passes, the freshness check.
	code, out, _ = run(t, "verify", "quote", "--ak", qf("rsapss-ak.pub"), "-m", qf("rsapss-quote.msg"), "-s", qf("rsapss-quote.sig"),
		"--pcrs", qf("rsapss-quote.pcrs"), "--no-nonce")
	if code != 0 || !strings.Contains(out, "- nonce          not checked (--no-nonce)") || !strings.Contains(out, "RSASSA-PSS with sha256 over the 135-byte TPMS_ATTEST (salt 32 bytes)") {
		t.Errorf("--no-nonce: exit %d\n%s", code, out)
	}
}

func TestVerifyQuoteUsageErrors(t *testing.T) {
	nonce := fixtureNonceHex(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.msg")
	if err := os.WriteFile(garbage, []byte{0xff, 0x54, 0x43, 0x47, 0x80, 0x18, 0x00, 0x40}, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"verify", "quote", "--ak", qf("rsa-ak.pub"), "-s", qf("rsa-quote.sig"), "--pcrs", qf("rsa-quote.pcrs")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "quote", "-s", qf("rsa-quote.sig")}, "--message and --signature are required"},
		{append(base, "-m", qf("rsa-quote.msg"), "--nonce", "xyz"), `--nonce "xyz": want hex bytes`},
		{append(base, "-m", qf("rsa-quote.msg"), "--nonce", nonce, "--no-nonce"), "--no-nonce contradicts"},
		{append(base, "-m", qf("rsa-quote.msg"), "--nonce", nonce, "--nonce-file", qf("nonce.hex")), "not both"},
		{append(base, "-m", qf("rsa-quote.msg"), "--sig-format", "plain"), "--sig-format plain needs --sig-alg"},
		{append(base, "-m", qf("rsa-quote.msg"), "--sig-alg", "rsassa-sha256"), "--sig-alg is for --sig-format plain"},
		{append(base, "-m", qf("rsa-quote.msg"), "--sig-format", "der"), `--sig-format "der": want tss or plain`},
		{append(base, "-m", garbage), "TPMS_ATTEST at byte 8: qualifiedSigner: need 64 bytes, 0 left"},
		{append(base, "-m", filepath.Join(dir, "missing.msg")), "no such file"},
		{append(base, "-m", qf("rsa-quote.msg"), "--ak-name", "zz"), "--ak-name"},
		{[]string{"verify", "quote", "--ak", qf("rsa-quote.sig"), "-m", qf("rsa-quote.msg"), "-s", qf("rsa-quote.sig")}, "--ak ../../fixtures/quote/rsa-quote.sig"},
		{[]string{"verify", "quote", "--ak", qf("rsa-ak.pub"), "-m", qf("rsa-quote.msg"), "-s", qf("rsa-quote.msg")}, "TPMT_SIGNATURE at byte 0: sigAlg 0xff54"},
		{append(base, "-m", qf("rsa-quote.msg"), "--eventlog", qf("rsa-quote.sig")), "--eventlog"},
		{append(base, "-m", qf("rsa-quote.msg"), "--expected", qf("rsa-quote.sig")), "--expected"},
	} {
		code, _, errs := run(t, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args[2:], code, errs, c.want)
		}
	}
}

// TestVerifyQuoteCML runs the GyroidOS tpm2d response from the CML docs
// through the command: quote and signature as hex text, no device
// certificate. Everything but the signature checks out, and the
// signature is FAILED (exit 1), never skipped.
func TestVerifyQuoteCML(t *testing.T) {
	const cml = "../../fixtures/cml/"
	// pcrs-sha256.txt holds "N: hex" lines; hand them over as a JSON map.
	raw, err := os.ReadFile(cml + "pcrs-sha256.txt")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		i, v, _ := strings.Cut(line, ":")
		m[strings.TrimSpace(i)] = strings.TrimSpace(v)
	}
	js, _ := json.Marshal(map[string]any{"sha256": m})
	pcrs := filepath.Join(t.TempDir(), "cml-pcrs.json")
	if err := os.WriteFile(pcrs, js, 0o644); err != nil {
		t.Fatal(err)
	}
	nonce, _ := os.ReadFile(cml + "nonce.hex")
	code, out, errs := run(t, "verify", "quote", "-m", cml+"quote.hex", "-s", cml+"signature.hex", "--pcrs", pcrs,
		"--nonce", strings.TrimSpace(string(nonce)), "--allow-unrestricted")
	if code != exitMismatch {
		t.Fatalf("exit %d, want 1 (signature unchecked): %s\n%s", code, errs, out)
	}
	for _, want := range []string{
		"TPM_ST_ATTEST_QUOTE (0x8018), sha256:0-11, signature rsassa/sha256, 256-byte signature",
		"✓ attest-header",
		"✗ signature      no AK public key given",
		"✓ nonce          extraData equals the 8-byte nonce ef271a344db1da91",
		"✓ pcr-selection  the quote selects sha256:0-11, exactly the supplied PCRs",
		"✓ pcr-digest     sha256 of the 12 supplied values in quote order equals pcrDigest e75138ab",
		"NOT VERIFIED: 3 of 11 checks failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "(signature, ak-attributes, ak-trust)") {
		t.Errorf("stderr %q", errs)
	}
}

func TestVerifyQuoteHelp(t *testing.T) {
	code, out, _ := run(t, "verify", "quote", "--help")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"tpm2_quote -c ak.ctx -q", "tpm2_createak", "attest-header", "signature", "ak-attributes", "ak-name",
		"nonce", "pcr-selection", "pcr-digest", "event-log", "expected-pcrs", "clock", "Exit codes: 0 = every check passed", "serialized"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
