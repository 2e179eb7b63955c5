package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/internal/cmltest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type cmlResult struct {
	Verified bool
	Checks   []struct {
		Name    string
		Passed  bool
		Skipped bool
		Reason  string
		Notes   []string
	}
}

func (r *cmlResult) check(name string) (passed, skipped bool, reason string, ok bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Passed, c.Skipped, c.Reason, true
		}
	}
	return false, false, "", false
}

func (r *cmlResult) failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed && !c.Skipped {
			out = append(out, c.Name)
		}
	}
	return out
}

// verifyCML runs goldenpcr verify cml against addr with the device's
// CA, kmod certificate and golden values, plus extra options.
func verifyCML(t *testing.T, d *cmltest.Device, addr string, extra ...string) (int, *cmlResult, string) {
	t.Helper()
	args := append([]string{"verify", "cml", addr, "--baseline", d.BaselinePath, "--kmod-cert", d.KmodCertPath}, extra...)
	if !strings.Contains(strings.Join(extra, " "), "--insecure-no-ca") {
		args = append(args, "--ca", d.CAPath)
	}
	if !strings.Contains(strings.Join(extra, " "), "--timeout") {
		args = append(args, "--timeout", "5s")
	}
	code, out, errOut := run(t, append(args, "-o", "json")...)
	if code == 2 {
		return code, nil, errOut
	}
	var r cmlResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return code, &r, errOut
}

// TestVerifyCML: goldenpcr accepts the genuine test device (BASIC and
// ADVANCED requests) and rejects each misbehaving mode with its own
// check and reason; a silent device fails within the timeout.
func TestVerifyCML(t *testing.T) {
	d := cmltest.New(t)
	genuine := d.Serve(t, cmltest.Genuine)
	// ADVANCED: the golden values name PCRs 0-9, so they are asked for.
	code, r, errOut := verifyCML(t, d, genuine, "--atype", "ADVANCED", "--pcrs", "0-10")
	if _, _, reason, _ := r.check("pcr-selection"); code != 0 || !strings.Contains(reason, "selects sha256:0-10, exactly the requested") {
		t.Errorf("ADVANCED 0-10: exit %d %s: %s (failed %v)", code, errOut, reason, r.failed())
	}
	if _, skipped, _, _ := r.check("containers"); !skipped {
		t.Error("ADVANCED 0-10: the container list was checked without PCR 11")
	}
	for _, extra := range [][]string{nil, {"--nonce-size", "8"}} {
		code, r, errOut := verifyCML(t, d, genuine, extra...)
		if code != 0 || r == nil || !r.Verified {
			t.Fatalf("genuine device %v: exit %d %s %+v", extra, code, errOut, r)
		}
		for _, name := range []string{"signature", "ak-cert", "ak-trust", "nonce", "pcr-selection", "pcr-digest", "expected-pcrs",
			"ima-list", "ima-template-digests", "ima-pcr", "ima-boot-aggregate", "ima-signatures", "containers", "pcr-coverage"} {
			if passed, _, reason, ok := r.check(name); !passed {
				t.Errorf("genuine %v: %s (present %v): %s", extra, name, ok, reason)
			}
		}
		if _, _, reason, _ := r.check("ima-signatures"); !strings.Contains(reason, "all 4 signed entries") {
			t.Errorf("ima-signatures: %s", reason)
		}
	}
	// The text report of the genuine device names the unsigned entry and
	// the violation.
	code, out, errOut := run(t, "verify", "cml", genuine, "--baseline", d.BaselinePath, "--ca", d.CAPath, "--kmod-cert", d.KmodCertPath)
	for _, want := range []string{"✓ ak-cert", "1 entries carry no signature", "/usr/bin/cmltest-tool3", "- ima-violations", "verified: every check passed"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("text report (exit %d) lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
	// Without the device CA, on request only, loudly.
	code, r, _ = verifyCML(t, d, genuine, "--insecure-no-ca")
	if passed, skipped, reason, _ := r.check("ak-trust"); code != 0 || passed || !skipped || !strings.Contains(reason, "NOT CHECKED") {
		t.Errorf("--insecure-no-ca: exit %d, ak-trust %v %v %s", code, passed, skipped, reason)
	}
	code, out, _ = run(t, "verify", "cml", genuine, "--baseline", d.BaselinePath, "--insecure-no-ca")
	if code != 0 || !strings.Contains(out, "- ak-cert") || !strings.Contains(out, "WARNING: without a device CA") {
		t.Errorf("--insecure-no-ca text (exit %d):\n%s", code, out)
	}

	// Each mode fails its own check with its reason; the other checks its
	// lie touches fail too, and nothing else does.
	for _, tc := range []struct {
		mode        cmltest.Mode
		check, want string
		failed      string
	}{
		{cmltest.WrongPCR, "pcr-digest", "a supplied value differs from what the TPM quoted", "pcr-digest expected-pcrs ima-boot-aggregate"},
		{cmltest.WrongNonce, "nonce", "differs from the expected nonce", "nonce"},
		{cmltest.OtherCA, "ak-cert", "certificate signed by unknown authority", "ak-trust ak-cert"},
		{cmltest.SelfSigned, "ak-cert", "the device certificate is self-signed", "ak-trust ak-cert"},
		{cmltest.TamperedIMA, "ima-template-digests", "1 entries' template digests do not match their data (first: entry 2 at byte", "ima-template-digests ima-pcr"},
		{cmltest.TamperedContainer, "containers", "the 2 container entries fold to", "containers"},
		{cmltest.OtherSelection, "pcr-selection", "the verifier asked for sha256:0-11 (quoted but not requested: sha256:15)", "pcr-selection pcr-coverage"},
		{cmltest.TruncatedFrame, "response", "but the stream ended after", "response"},
		{cmltest.HugeFrame, "response", "frame at byte 0: length 4294967295 (4.0 GiB) is not below the limit", "response"},
	} {
		code, r, errOut := verifyCML(t, d, d.Serve(t, tc.mode))
		if code != 1 || r == nil {
			t.Errorf("%s: exit %d, %s", tc.mode, code, errOut)
			continue
		}
		passed, _, reason, ok := r.check(tc.check)
		if r.Verified || !ok || passed || !strings.Contains(reason, tc.want) {
			t.Errorf("%s: %s passed=%v: %q, want %q (failed: %v)", tc.mode, tc.check, passed, reason, tc.want, r.failed())
		}
		if f := strings.Join(r.failed(), " "); f != tc.failed {
			t.Errorf("%s: failed checks %s, want %s", tc.mode, f, tc.failed)
		}
	}

	start := time.Now()
	code, _, errOut = verifyCML(t, d, d.Serve(t, cmltest.Silent), "--timeout", "1s")
	if took := time.Since(start); code != 2 || !strings.Contains(errOut, "no answer within 1s") || took > 4*time.Second {
		t.Errorf("silent device: exit %d after %s: %s", code, took, errOut)
	}
}

func TestVerifyCMLUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "cml", "h", "--baseline", "x"}, "--ca is required"},
		{[]string{"verify", "cml", "h", "--insecure-no-ca"}, "--baseline or --config is required"},
		{[]string{"verify", "cml", "h", "--insecure-no-ca", "--baseline", "x", "--atype", "ADVANCED"}, "needs --pcrs"},
		{[]string{"verify", "cml", "h", "--insecure-no-ca", "--baseline", "x", "--pcrs", "0-7"}, "only for --atype ADVANCED"},
		{[]string{"verify", "cml", "h", "--insecure-no-ca", "--baseline", "x", "--nonce-size", "4"}, "--nonce-size: nonce size 4"},
		{[]string{"verify", "cml", "h", "--insecure-no-ca", "--baseline", "x", "--atype", "FULL"}, "--atype: attestation type \"FULL\""},
		{[]string{"verify", "cml", "h", "--insecure-no-ca", "--baseline", "/nonexistent"}, "--baseline: open /nonexistent"},
		{[]string{"verify", "cml", "h", "--insecure-no-ca", "--ca", "x", "--baseline", "x"}, "contradict"},
	} {
		code, _, errOut := run(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d: %s, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// --config: a rattestation.conf written by rattestation config from the
// device's golden values verifies the device as --baseline does, its
// kmod_sign_cert checks the IMA signatures, and a config whose values
// differ fails expected-pcrs.
func TestVerifyCMLConfig(t *testing.T) {
	d := cmltest.New(t)
	addr := d.Serve(t, cmltest.Genuine)
	dir := t.TempDir()
	writeConf := func(name string, vals pcr.Values) string {
		y, err := pcr.Marshal(pcr.FormatYAML, []pcr.Values{vals})
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join(dir, name+".yaml")
		os.WriteFile(golden, y, 0o644)
		conf := filepath.Join(dir, name+".conf")
		if code, _, errs := run(t, "rattestation", "config", "--baseline", golden, "--kmod-cert", d.KmodCertPath, "-O", conf); code != 0 {
			t.Fatalf("rattestation config: exit %d %s", code, errs)
		}
		return conf
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	good := writeConf("good", d.ReadPCRs(t, all...))
	code, out, errs := run(t, "verify", "cml", addr, "--config", good, "--ca", d.CAPath, "--timeout", "5s", "-o", "json")
	var r cmlResult
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || !r.Verified {
		t.Fatalf("--config: exit %d %s\n%s", code, errs, out)
	}
	if _, _, reason, _ := r.check("ima-signatures"); !strings.Contains(reason, "all 4 signed entries") {
		t.Errorf("kmod_sign_cert did not check the IMA signatures: %s", reason)
	}
	wrong := d.ReadPCRs(t, all...)
	wrong.Set(pcr.SHA256, 4, bytes.Repeat([]byte{0xab}, 32))
	bad := writeConf("bad", wrong)
	if code, out, _ := run(t, "verify", "cml", addr, "--config", bad, "--ca", d.CAPath, "--timeout", "5s"); code != 1 || !strings.Contains(out, "✗ expected-pcrs") {
		t.Errorf("a config with another PCR 4: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"--config", good, "--baseline", d.BaselinePath},
		{"--config", good, "--atype", "ADVANCED", "--pcrs", "0-7"},
		{"--config", filepath.Join(dir, "missing.conf")},
		{"--config", d.BaselinePath},
	} {
		if code, _, errs := run(t, append([]string{"verify", "cml", addr, "--ca", d.CAPath, "--timeout", "5s"}, args...)...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}
}
