package main

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/celtest"
)

// testQuoteCELPhases extends PCR 11 on the swtpm as systemd-pcrphase does
// (the SHA-256 of each phase string), quotes it, and verifies the quote
// with the CEL-JSON log systemd would have written: alone, together with
// the firmware log, and failing with a record removed or two swapped.
func testQuoteCELPhases(t *testing.T, l *quoteLab) {
	for _, p := range celtest.PCRPhases {
		d := sha256.Sum256([]byte(p))
		l.run(t, "tpm2_pcrextend", fmt.Sprintf("11:sha256=%x", d))
	}
	recs := celtest.Phases(celtest.PCRPhases...)
	lines := celtest.Lines(celtest.SystemdLog(recs))
	logs := map[string]string{
		"cel.log":       strings.Join(lines, ""),
		"cel-short.log": lines[0] + lines[2],
		"cel-swap.log":  lines[1] + lines[0] + lines[2],
	}
	for name, data := range logs {
		writeFile(t, l.path(name), []byte(data))
	}
	l.quote(t, "ecc", "pcr11", "sha256:11", l.nonce)
	l.quote(t, "ecc", "boot11", "sha256:0,7,11", l.nonce)
	verify := func(name string, extra ...string) (int, string) {
		t.Helper()
		code, out, errs := run(t, append([]string{"verify", "quote"}, l.gArgs("ecc", name, extra...)...)...)
		return code, out + errs
	}
	if code, out := verify("pcr11", "--eventlog", l.path("cel.log")); code != 0 || !strings.Contains(out, "✓ event-log") {
		t.Fatalf("CEL log: exit %d\n%s", code, out)
	}
	// The firmware log explains PCRs 0 and 7, the CEL log PCR 11.
	if code, out := verify("boot11", "--eventlog", l.log, "--eventlog", l.path("cel.log")); code != 0 || !strings.Contains(out, "✓ event-log") {
		t.Fatalf("firmware + CEL log: exit %d\n%s", code, out)
	}
	// Without the CEL, PCR 11 is off its reset value and nothing explains it.
	if code, out := verify("boot11", "--eventlog", l.log); code != exitMismatch || !strings.Contains(out, "sha256:11") {
		t.Errorf("firmware log alone: exit %d\n%s", code, out)
	}
	for name, last := range map[string]string{"cel-short.log": "record #1", "cel-swap.log": "record #2"} {
		code, out := verify("boot11", "--eventlog", l.log, "--eventlog", l.path(name))
		if code != exitMismatch || !strings.Contains(out, "✗ event-log      sha256 PCR 11 replays to") ||
			!strings.Contains(out, "(last extended by "+last+" of "+l.path(name)+")") {
			t.Errorf("%s: exit %d\n%s", name, code, out)
		}
	}
}
