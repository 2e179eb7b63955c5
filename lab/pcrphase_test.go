package lab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/celtest"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/quote"
)

// pcrphaseCapture is the uki-pcrphase boot.
func pcrphaseCapture(t *testing.T) *Capture {
	t.Helper()
	c := allCaptures(t)["uki-pcrphase"]
	if c == nil {
		t.Fatal("no uki-pcrphase capture")
	}
	return c
}

// systemd's real log holds one record per systemd-pcrextend run, in the
// init's order, and the firmware log followed by it replays to the TPM's
// PCRs 11 and 15 in both banks; the firmware log alone does not (the
// user-space extends are only in systemd's log).
func TestPCRPhaseReplayEqualsTPM(t *testing.T) {
	c := pcrphaseCapture(t)
	logs, err := c.Logs()
	if err != nil {
		t.Fatal(err)
	}
	cel := logs[1]
	if len(cel.Events) != len(PCRPhaseSteps) {
		t.Fatalf("%s: %d records, want one per step %v", cel.Name, len(cel.Events), PCRPhaseSteps)
	}
	for i, step := range PCRPhaseSteps {
		ev := cel.Events[i]
		want, pcrIndex := step, uint32(11)
		if step == "--machine-id" {
			want, pcrIndex = "machine-id:"+PCRPhaseMachineID, 15
		}
		if ev.PCR != pcrIndex || ev.CEL == nil || ev.CEL.Description != want {
			t.Errorf("%s record %d: PCR %d %+v, want PCR %d %q", cel.Name, i, ev.PCR, ev.CEL, pcrIndex, want)
		}
		if ch := eventlog.CheckDigest(ev); ch.Status != eventlog.DigestOK {
			t.Errorf("%s record %d: digest %+v", cel.Name, i, ch)
		}
		t.Logf("record %d: PCR %d %s", i, ev.PCR, ev.CEL.Summary())
	}
	both, err := eventlog.ReplayLogs(logs, &eventlog.ReplayOptions{Banks: Banks})
	if err != nil {
		t.Fatal(err)
	}
	fw, err := eventlog.ReplayLogs(logs[:1], &eventlog.ReplayOptions{Banks: Banks})
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range Banks {
		for _, i := range []int{11, 15} {
			got, _ := both.Values.Get(alg, i)
			if real := c.PCRs[alg][i]; !bytes.Equal(got, real) {
				t.Errorf("%s PCR %d: firmware + systemd log replay %x, TPM %x", alg, i, got, real)
			}
			if alone, _ := fw.Values.Get(alg, i); bytes.Equal(alone, c.PCRs[alg][i]) {
				t.Errorf("%s PCR %d: the firmware log alone gives the TPM's value; systemd measured nothing?", alg, i)
			}
		}
	}
	// The machine ID is PCR 15's only event: its value is one extend.
	if want := celtest.ExtendSHA256(make([]byte, 32), "machine-id:"+PCRPhaseMachineID); !bytes.Equal(c.PCRs[pcr.SHA256][15], want) {
		t.Errorf("sha256 PCR 15 %x, want %x", c.PCRs[pcr.SHA256][15], want)
	}
}

// tamperedCEL writes the capture's systemd log with its records rearranged
// by edit.
func tamperedCEL(t *testing.T, c *Capture, name string, edit func([]string) []string) string {
	t.Helper()
	data, err := os.ReadFile(c.Path(CELLogName))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(edit(celtest.Lines(data)), "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tamperings of systemd's log a verifier must catch: a record removed (the
// machine ID) and two records swapped (the phases).
var tamperings = map[string]func([]string) []string{
	"removed": func(l []string) []string { return append(append([]string(nil), l[:1]...), l[2:]...) },
	"swapped": func(l []string) []string {
		out := append([]string(nil), l...)
		out[0], out[2] = out[2], out[0]
		return out
	},
}

// `goldenpcr verify quote --eventlog eventlog.bin --eventlog
// tpm2-measure.log` verifies the real boot's quote, and fails (exit 1,
// the event-log check) when a record of systemd's log is removed or two
// are swapped.
func TestPCRPhaseVerifyQuoteCLI(t *testing.T) {
	bin := goldenpcrBinary(t)
	c := pcrphaseCapture(t)
	nonce, err := os.ReadFile(c.Path("nonce"))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(cel string) (int, string) {
		cmd := exec.Command(bin, "verify", "quote", "--ak", c.Path("ak.pub"), "--ak-name", c.Path("ak.name"),
			"-m", c.Path("quote.msg"), "-s", c.Path("quote.sig"), "--nonce", strings.TrimSpace(string(nonce)),
			"--pcrs", c.Path("quote.pcrs"), "--unlogged-pcrs", "10",
			"--eventlog", c.Path("eventlog.bin"), "--eventlog", cel)
		out, err := cmd.CombinedOutput()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode(), string(out)
			}
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := verify(c.Path(CELLogName)); code != 0 || !strings.Contains(out, "✓ event-log") {
		t.Fatalf("the real boot's quote: exit %d\n%s", code, out)
	}
	for name, edit := range tamperings {
		code, out := verify(tamperedCEL(t, c, name+"-"+CELLogName, edit))
		if code != 1 || !strings.Contains(out, "✗ event-log") {
			t.Errorf("systemd's log with a record %s: exit %d, want 1 with the event-log check failed\n%s", name, code, out)
		}
	}
}

// The same with the library: quote.Verify passes the real boot with both
// logs and fails the event-log check on either tampering.
func TestPCRPhaseQuoteVerifiesWithCEL(t *testing.T) {
	c := pcrphaseCapture(t)
	ev, pol := labQuoteEvidence(t, c)
	fw, err := eventlog.ReadLogFile(c.Path("eventlog.bin"))
	if err != nil {
		t.Fatal(err)
	}
	replay := func(celPath string) *eventlog.Replay {
		cel, err := eventlog.ReadLogFile(celPath)
		if err != nil {
			t.Fatal(err)
		}
		rp, err := eventlog.ReplayLogs([]*eventlog.Log{fw, cel}, &eventlog.ReplayOptions{Banks: Banks})
		if err != nil {
			t.Fatal(err)
		}
		return rp
	}
	ev.EventLog = replay(c.Path(CELLogName))
	if rep := quote.Verify(ev, pol); !rep.Verified {
		t.Fatalf("the real boot's quote with both logs not verified: %+v", rep.Check(quote.CheckEventLog))
	}
	for name, edit := range tamperings {
		ev.EventLog = replay(tamperedCEL(t, c, name+"-"+CELLogName, edit))
		rep := quote.Verify(ev, pol)
		if ch := rep.Check(quote.CheckEventLog); rep.Verified || ch == nil || !ch.Failed() {
			t.Errorf("systemd's log with a record %s: verified %v, event-log check %+v", name, rep.Verified, ch)
		}
	}
}
