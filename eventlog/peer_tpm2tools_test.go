package eventlog

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Where tpm2_eventlog (tpm2-tools 5.4, Debian) does not follow the rules,
// and why. Every other fixture must replay identically in both tools.
var tpm2EventlogDisagreements = map[string]string{
	"glinux-alex.bin": "tpm2_eventlog ignores the StartupLocality 3 event and starts PCR 0 at zero; " +
		"the machine's real PCR 0 (expected-pcrs.yaml) proves the locality-3 start value is right",
	"keylime-binary_bios_measurements.bin": "StartupLocality 3 again: tpm2_eventlog starts PCR 0 at zero",
	"option_rom_eventlog.bin":              "tpm2_eventlog crashes (SIGSEGV) on the Windows EV_NO_ACTION record with PCR index -1",
	"keylime-bogus.bin":                    "not an event log: tpm2_eventlog crashes (SIGSEGV), goldenpcr reports it at byte 0",
	"short_no_action_eventlog.bin": "tpm2_eventlog rejects a SHA-1 log whose only event is StartupLocality " +
		"(\"invalid eventDataSize in specid event\"); goldenpcr reads it and starts PCR 0 at locality 3",
}

// tpm2EventlogPCRs runs tpm2_eventlog and reads the "pcrs:" section.
func tpm2EventlogPCRs(t *testing.T, path string) (pcr.Values, string, error) {
	t.Helper()
	cmd := exec.Command("tpm2_eventlog", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, stderr.String(), fmt.Errorf("tpm2_eventlog: %v: %s", err, stderr.String())
	}
	vals := pcr.Values{}
	var bank pcr.Alg
	inPCRs := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "pcrs:":
			inPCRs = true
		case !inPCRs:
		case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "    ") && strings.HasSuffix(line, ":"):
			if bank, err = pcr.ParseAlg(strings.TrimSuffix(strings.TrimSpace(line), ":")); err != nil {
				t.Fatalf("tpm2_eventlog bank line %q: %v", line, err)
			}
		case strings.HasPrefix(line, "    "):
			idx, val, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("tpm2_eventlog PCR line %q", line)
			}
			i, err1 := strconv.Atoi(strings.TrimSpace(idx))
			v, err2 := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(val), "0x"))
			if err1 != nil || err2 != nil {
				t.Fatalf("tpm2_eventlog PCR line %q", line)
			}
			vals.Set(bank, i, v)
		}
	}
	return vals, stderr.String(), nil
}

func TestAgreesWithTpm2Eventlog(t *testing.T) {
	if _, err := exec.LookPath("tpm2_eventlog"); err != nil {
		t.Fatal("tpm2_eventlog not installed: run `make deps` (Debian package tpm2-tools)")
	}
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "tcg*", "*.bin"))
	sort.Strings(files)
	agreed, differed := 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			theirs, _, theirErr := tpm2EventlogPCRs(t, f)
			ours, ourErr := ReplayLog(bytes.NewReader(readFixture(t, filepath.Join(filepath.Base(filepath.Dir(f)), name))), nil)
			var diffs []string
			switch {
			case theirErr != nil || ourErr != nil:
				diffs = append(diffs, fmt.Sprintf("tpm2_eventlog error: %v; goldenpcr error: %v", theirErr, ourErr))
				if (theirErr == nil) != (ourErr == nil) || name != "keylime-bogus.bin" {
					diffs = append(diffs, "only one tool failed")
				}
			default:
				for _, a := range theirs.Algs() {
					for _, i := range theirs.Indices(a) {
						got, _ := ours.Values.Get(a, i)
						if want := theirs[a][i]; !bytes.Equal(got, want) {
							diffs = append(diffs, fmt.Sprintf("%s PCR %d: goldenpcr %x, tpm2_eventlog %x", a, i, got, want))
						}
					}
				}
				if theirs.Len() == 0 {
					diffs = append(diffs, "tpm2_eventlog printed no PCRs")
				}
			}
			why, known := tpm2EventlogDisagreements[name]
			switch {
			case len(diffs) == 0 && known:
				t.Errorf("tools now agree; drop the listed disagreement %q", why)
			case len(diffs) > 0 && !known:
				t.Errorf("unexplained disagreement with tpm2_eventlog:\n  %s", strings.Join(diffs, "\n  "))
			case len(diffs) > 0:
				differed++
				t.Logf("known disagreement: %s\n  %s", why, strings.Join(diffs, "\n  "))
			default:
				agreed++
			}
		})
	}
	if agreed < 19 {
		t.Errorf("only %d logs agree with tpm2_eventlog", agreed)
	}
	t.Logf("%d logs agree with tpm2_eventlog, %d differ for the listed reasons", agreed, differed)
}
