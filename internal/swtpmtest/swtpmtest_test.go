package swtpmtest

import (
	"strings"
	"testing"
)

func TestStartDefault(t *testing.T) {
	tpm := Start(t, Options{})
	if !strings.HasPrefix(tpm.TCTI, "swtpm:host=127.0.0.1,port=") {
		t.Errorf("TCTI %q", tpm.TCTI)
	}
	out := string(tpm.Run(t, "tpm2_getcap", "pcrs"))
	for _, bank := range []string{"sha1:", "sha256:", "sha384:", "sha512:"} {
		if !strings.Contains(out, bank) {
			t.Errorf("default swtpm lacks bank %s:\n%s", bank, out)
		}
	}
}

func TestStartBanksAndIsolation(t *testing.T) {
	a := Start(t, Options{Banks: []string{"sha256"}})
	b := Start(t, Options{})
	if a.Port == b.Port {
		t.Fatal("two TPMs share a port")
	}
	caps := string(a.Run(t, "tpm2_getcap", "pcrs"))
	if !strings.Contains(caps, "sha256: [ 0, 1") || strings.Contains(caps, "sha1: [ 0") {
		t.Errorf("--pcr-banks sha256 not applied:\n%s", caps)
	}
	// Extending one TPM leaves the other alone.
	a.Run(t, "tpm2_pcrextend", "16:sha256="+strings.Repeat("11", 32))
	if out := string(b.Run(t, "tpm2_pcrread", "sha256:16")); !strings.Contains(out, "0x"+strings.Repeat("00", 32)) {
		t.Errorf("second TPM changed:\n%s", out)
	}
	if out := string(a.Run(t, "tpm2_pcrread", "sha256:16")); strings.Contains(out, "0x"+strings.Repeat("00", 32)) {
		t.Errorf("extend had no effect:\n%s", out)
	}
}
