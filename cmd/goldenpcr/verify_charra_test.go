package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/charra"
	"github.com/goldenpcr/goldenpcr/internal/charratest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// verifyCharra runs goldenpcr verify charra against addr with the
// attester's AK and reference values, plus extra options.
func verifyCharra(t *testing.T, a *charratest.Attester, addr string, extra ...string) (int, *cmlResult, string) {
	t.Helper()
	args := append([]string{"verify", "charra", addr, "--ak", a.AKPath, "--timeout", "10s"}, extra...)
	if !strings.Contains(strings.Join(extra, " "), "--expected") {
		args = append(args, "--expected", a.ReferencePath)
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

// TestVerifyCharraSchemes: the genuine attester verifies with an AK of
// each scheme, its logs replayed to the quote.
func TestVerifyCharraSchemes(t *testing.T) {
	for _, s := range []charratest.Scheme{charratest.RSASSA, charratest.RSAPSS, charratest.ECDSA} {
		t.Run(string(s), func(t *testing.T) {
			a := charratest.New(t, s)
			addr := a.Serve(t, charratest.Genuine)
			code, r, errOut := verifyCharra(t, a, addr)
			if code != 0 {
				if r == nil {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				t.Fatalf("exit %d %s: failed %v", code, errOut, r.failed())
			}
			for name, want := range map[string]string{
				"signature":     map[charratest.Scheme]string{charratest.RSASSA: "RSASSA-PKCS1-v1_5", charratest.RSAPSS: "RSASSA-PSS", charratest.ECDSA: "ECDSA"}[s],
				"pcr-selection": "exactly the requested",
				"pcr-digest":    "from the tcg-boot log, sha256:10 from the IMA list",
				"event-log":     "replay to the quoted value",
				"expected-pcrs": "all 9 expected PCRs",
				"ima-pcr":       "matches",
			} {
				if passed, _, reason, _ := r.check(name); !passed || !strings.Contains(reason, want) {
					t.Errorf("%s: passed=%v %q, want %q", name, passed, reason, want)
				}
			}
		})
	}
}

// TestVerifyCharraMisbehaving: each way the attester misbehaves fails its
// own check with its reason; a silent attester fails within the timeout.
func TestVerifyCharraMisbehaving(t *testing.T) {
	a := charratest.New(t, charratest.RSASSA)
	// The text report of a genuine answer.
	code, out, errOut := run(t, "verify", "charra", a.Serve(t, charratest.Genuine), "--ak", a.AKPath, "--expected", a.ReferencePath)
	if code != 0 || !strings.Contains(out, "log tcg-boot: 4396 bytes, 40 entries") || !strings.Contains(out, "✓") {
		t.Errorf("text: exit %d %s\n%s", code, errOut, out)
	}
	for _, tc := range []struct {
		mode   charratest.Mode
		extra  []string
		check  string
		reason string
	}{
		{charratest.WrongNonce, nil, "nonce", "extradata"},
		{charratest.NarrowSelection, nil, "pcr-selection", "requested but not quoted: sha256:10"},
		{charratest.WrongLog, nil, "pcr-digest", "a log does not match the PCRs"},
		{charratest.BadSignatureSize, nil, "response", "tpm2-signature at byte"},
		{charratest.Old3mdebWrongKey, []string{"--logs", "none"}, "response-public-key", "is not the pinned AK"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			code, r, errOut := verifyCharra(t, a, a.Serve(t, tc.mode), tc.extra...)
			if code != 1 || r == nil {
				t.Fatalf("exit %d, want 1: %s", code, errOut)
			}
			passed, _, reason, ok := r.check(tc.check)
			if !ok || passed || !strings.Contains(strings.ToLower(reason), strings.ToLower(tc.reason)) {
				t.Errorf("%s: passed=%v %q, want a failure with %q (failed: %v)", tc.check, passed, reason, tc.reason, r.failed())
			}
		})
	}
	t.Run("3mdeb", func(t *testing.T) {
		code, r, errOut := verifyCharra(t, a, a.Serve(t, charratest.Old3mdeb), "--logs", "none")
		if passed, _, reason, _ := r.check("response-public-key"); code != 0 || !passed {
			t.Errorf("exit %d %s: response-public-key %v %q (failed %v)", code, errOut, passed, reason, r.failed())
		}
		if _, _, reason, _ := r.check("pcr-digest"); !strings.Contains(reason, "from the expected values") {
			t.Errorf("pcr-digest: %q", reason)
		}
	})
	t.Run("3mdeb-logs", func(t *testing.T) {
		code, r, _ := verifyCharra(t, a, a.Serve(t, charratest.Old3mdeb))
		if passed, _, reason, _ := r.check("response"); code != 1 || passed || !strings.Contains(reason, "carries no logs") {
			t.Errorf("exit %d: response %v %q", code, passed, reason)
		}
	})
	t.Run("expected-mismatch", func(t *testing.T) {
		v := pcr.Values{}
		for alg, m := range a.PCRs {
			for i, d := range m {
				v.Set(alg, i, d)
			}
		}
		bad := append([]byte{}, a.PCRs[pcr.SHA256][4]...)
		bad[0] ^= 1
		v.Set(pcr.SHA256, 4, bad)
		b, err := pcr.Marshal(pcr.FormatCHARRA, []pcr.Values{v})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "reference-pcrs.yml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		code, r, errOut := verifyCharra(t, a, a.Serve(t, charratest.Genuine), "--expected", path)
		if r == nil {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		passed, _, reason, _ := r.check("expected-pcrs")
		if code != 1 || passed || !strings.Contains(reason, "sha256:4") {
			t.Errorf("exit %d %s: expected-pcrs %v %q", code, errOut, passed, reason)
		}
		if p, _, _, _ := r.check("pcr-digest"); !p {
			t.Error("pcr-digest failed: the logs do match the quote")
		}
	})
	t.Run("dropped-bank", func(t *testing.T) {
		code, r, errOut := verifyCharra(t, a, a.Serve(t, charratest.Genuine), "--pcrs", "sha256:0-7,10+sha384:0")
		if code != 1 {
			t.Fatalf("exit %d, want 1: %s", code, errOut)
		}
		if passed, _, reason, _ := r.check("pcr-selection"); passed || !strings.Contains(reason, "requested but not quoted: sha384:0") {
			t.Errorf("pcr-selection: %v %q", passed, reason)
		}
	})
	t.Run("silent", func(t *testing.T) {
		start := time.Now()
		code, _, errOut := run(t, "verify", "charra", a.Serve(t, charratest.Silent), "--ak", a.AKPath, "--expected", a.ReferencePath, "--timeout", "1500ms")
		if code != 2 || !strings.Contains(errOut, "no answer within 1.5s") {
			t.Errorf("exit %d, want 2 with a timeout: %s", code, errOut)
		}
		if el := time.Since(start); el > 8*time.Second {
			t.Errorf("gave up after %s, --timeout was 1.5s", el)
		}
	})
	// DTLS with a pre-shared key, as CHARRA's use-dtls-psk: the right key
	// verifies, a wrong one fails the handshake by name, a silent DTLS
	// attester times out, and a key without coaps:// (or coaps:// without
	// a key) is bad usage.
	t.Run("dtls-psk", func(t *testing.T) {
		psk := &charra.PSK{Identity: []byte(charra.DefaultPSKIdentity), Key: []byte("CHARRA DTLS Key")}
		target := a.ServeDTLS(t, charratest.Genuine, psk)
		code, r, errOut := verifyCharra(t, a, target, "--dtls-psk-key", "CHARRA DTLS Key")
		if code != 0 || !r.Verified {
			t.Fatalf("coaps with the right key: exit %d: %s", code, errOut)
		}
		code, _, errOut = run(t, "verify", "charra", target, "--ak", a.AKPath, "--expected", a.ReferencePath, "--dtls-psk-key", "Charra DTLS Key", "--timeout", "5s")
		if code != 2 || !strings.Contains(errOut, "DTLS handshake") {
			t.Errorf("coaps with another key: exit %d, want 2 naming the handshake: %s", code, errOut)
		}
		start := time.Now()
		code, _, errOut = run(t, "verify", "charra", a.ServeDTLS(t, charratest.Silent, psk), "--ak", a.AKPath, "--expected", a.ReferencePath, "--dtls-psk-key", "CHARRA DTLS Key", "--timeout", "1500ms")
		if code != 2 || !strings.Contains(errOut, "no answer within 1.5s") || time.Since(start) > 8*time.Second {
			t.Errorf("silent coaps attester: exit %d after %s: %s", code, time.Since(start), errOut)
		}
		for _, args := range [][]string{
			{strings.Replace(target, "coaps://", "coap://", 1), "--dtls-psk-key", "CHARRA DTLS Key"},
			{target},
			{"coap://127.0.0.1:1", "--dtls-psk-identity", "someone"},
		} {
			code, _, errOut := run(t, append(append([]string{"verify", "charra"}, args...), "--ak", a.AKPath, "--expected", a.ReferencePath)...)
			if code != 2 || !strings.Contains(errOut, "dtls-psk") {
				t.Errorf("%v: exit %d %q, want 2 naming the DTLS option", args, code, errOut)
			}
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"--pcrs", "sha256:0-7,24"},
			{"--logs", "boot"},
			{"--nonce-size", "65"},
			{"--ak", filepath.Join(t.TempDir(), "missing")},
		} {
			code, _, errOut := run(t, append([]string{"verify", "charra", "coap://127.0.0.1:1", "--ak", a.AKPath, "--expected", a.ReferencePath}, args...)...)
			if code != 2 || errOut == "" {
				t.Errorf("%v: exit %d %q, want 2", args, code, errOut)
			}
		}
	})
}
