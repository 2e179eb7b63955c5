package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// evmctlLab holds one generated list and its evmctl PCR files.
type evmctlLab struct {
	dir, list string
	res       *imagen.Result
}

func newEvmctlLab(t *testing.T, opts imagen.Options) *evmctlLab {
	t.Helper()
	dir := t.TempDir()
	l := &evmctlLab{dir: dir, list: filepath.Join(dir, "binary_runtime_measurements")}
	var buf bytes.Buffer
	res, err := imagen.Write(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.list, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	l.res = res
	return l
}

// pcrFiles writes evmctl PCR files (PCR-00..PCR-10) for sha1 and sha256
// from values, flipping a byte of PCR 10 in the banks listed in tamper.
func (l *evmctlLab) pcrFiles(t *testing.T, name string, values pcr.Values, tamper ...pcr.Alg) (sha1File, sha256File string) {
	t.Helper()
	paths := map[pcr.Alg]string{}
	for _, a := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
		v := pcr.Values{}
		for i := 0; i <= 10; i++ {
			d, _ := values.Get(a, i)
			v.Set(a, i, bytes.Clone(d))
		}
		for _, ta := range tamper {
			if ta == a {
				v[a][10][0] ^= 1
			}
		}
		data, err := imagen.EvmctlPCRs(v, a)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(l.dir, name+"."+a.String())
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths[a] = p
	}
	return paths[pcr.SHA1], paths[pcr.SHA256]
}

// evmctl runs evmctl ima_measurement and reports whether it accepted.
func evmctl(t *testing.T, list, sha1File, sha256File string, ignoreViolations bool) (bool, string) {
	t.Helper()
	args := []string{"ima_measurement"}
	if ignoreViolations {
		args = append(args, "--ignore-violations")
	}
	args = append(args, "--pcrs", "sha1,"+sha1File, "--pcrs", "sha256,"+sha256File, list)
	cmd := exec.Command("evmctl", args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("evmctl: %v", err)
	}
	return err == nil, string(out)
}

func requireEvmctl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("evmctl"); err != nil {
		t.Fatal("evmctl not installed: run `make deps` (Debian package ima-evm-utils)")
	}
}

// TestImaReplayAgreesWithEvmctl runs real evmctl (ima-evm-utils 1.4) and
// goldenpcr on the same generated lists and PCR files: every template,
// PCR values of both kernel rules, lists with and without violations, both
// violation modes, and tampered PCRs and entries. evmctl's
// --ignore-violations corresponds to goldenpcr's default, its default to
// --fail-on-violations. Both must accept and reject the same cases, except
// the one where evmctl is wrong (see below).
func TestImaReplayAgreesWithEvmctl(t *testing.T) {
	requireEvmctl(t)
	templates := []string{"ima", "ima-ng", "ima-sig", "ima-buf", "ima-modsig", "ima-ngv2", "ima-sigv2", "evm-sig"}
	type pcrCase struct {
		name   string
		rule   string // "per-bank" or "padded"
		tamper []pcr.Alg
		accept bool // what a correct verifier says (violations aside)
	}
	pcrCases := []pcrCase{
		{"per-bank", "per-bank", nil, true},
		{"padded", "padded", nil, true},
		{"per-bank-sha256-tampered", "per-bank", []pcr.Alg{pcr.SHA256}, false},
		{"padded-sha256-tampered", "padded", []pcr.Alg{pcr.SHA256}, false},
		{"per-bank-both-tampered", "per-bank", []pcr.Alg{pcr.SHA1, pcr.SHA256}, false},
		{"per-bank-sha1-tampered", "per-bank", []pcr.Alg{pcr.SHA1}, false},
	}
	agreed, cases := 0, 0
	for _, tmpl := range templates {
		for _, viol := range [][]int{nil, {2, 5}} {
			for _, tamperEntry := range []bool{false, true} {
				opts := imagen.Options{Template: tmpl, N: 8, Violations: viol, Seed: uint64(len(tmpl))}
				if tamperEntry {
					opts.Tamper = []int{6}
				}
				l := newEvmctlLab(t, opts)
				for _, pc := range pcrCases {
					values := l.res.PerBank
					if pc.rule == "padded" {
						values = l.res.Padded
					}
					s1, s256 := l.pcrFiles(t, pc.name, values, pc.tamper...)
					for _, ignore := range []bool{true, false} {
						name := fmt.Sprintf("%s/violations=%d/tampered-entry=%v/%s/ignore-violations=%v", tmpl, len(viol), tamperEntry, pc.name, ignore)
						cases++
						evOK, evOut := evmctl(t, l.list, s1, s256, ignore)
						args := []string{"ima", "replay", l.list, "--pcrs", "sha1," + s1, "--pcrs", "sha256," + s256}
						if !ignore {
							args = append(args, "--fail-on-violations")
						}
						code, out, errOut := run(t, args...)
						if code > 1 {
							t.Fatalf("%s: goldenpcr exit %d: %s", name, code, errOut)
						}
						gpOK := code == 0
						want := pc.accept && !tamperEntry && (ignore || len(viol) == 0)
						if gpOK != want {
							t.Errorf("%s: goldenpcr accepted=%v, want %v\n%s%s", name, gpOK, want, out, errOut)
						}
						// evmctl 1.4 keeps only the result of the last bank it
						// compared: with sha256 matching, a tampered sha1 PCR
						// passes (ima_measurement overwrites err per bank).
						evmctlQuirk := len(pc.tamper) == 1 && pc.tamper[0] == pcr.SHA1 && !tamperEntry && (ignore || len(viol) == 0)
						if evmctlQuirk {
							if !evOK {
								t.Errorf("%s: evmctl rejected a tampered sha1 bank; its last-bank-wins quirk is gone, update this test\n%s", name, evOut)
							}
							continue
						}
						if evOK != gpOK {
							t.Errorf("%s: evmctl accepted=%v, goldenpcr accepted=%v\nevmctl: %s\ngoldenpcr: %s%s", name, evOK, gpOK, evOut, out, errOut)
							continue
						}
						agreed++
					}
				}
			}
		}
	}
	t.Logf("goldenpcr and evmctl agree on %d of %d cases; the other %d are evmctl accepting a tampered sha1 PCR", agreed, cases, cases-agreed)
	if agreed == 0 {
		t.Fatal("no case ran")
	}
}

// TestImaReplayValuesEqualEvmctl compares values, not just verdicts: with
// PCR files that match nothing, `evmctl -vv` prints its replayed PCR 10
// after every entry, per-bank then padded, sha1 then sha256; after the last
// entry they must equal goldenpcr's replay under the same rules.
func TestImaReplayValuesEqualEvmctl(t *testing.T) {
	requireEvmctl(t)
	for _, tmpl := range []string{"ima", "ima-ng", "ima-sig", "ima-buf", "ima-modsig", "ima-ngv2", "ima-sigv2", "evm-sig"} {
		l := newEvmctlLab(t, imagen.Options{Template: tmpl, N: 6, Violations: []int{4}, Seed: 9})
		wrong := pcr.Values{}
		for _, a := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
			for i := 0; i <= 10; i++ {
				wrong.Set(a, i, make([]byte, a.Size()))
			}
		}
		s1, s256 := l.pcrFiles(t, "zero", wrong)
		out, _ := exec.Command("evmctl", "-vv", "ima_measurement", "--ignore-violations", "--pcrs", "sha1,"+s1, "--pcrs", "sha256,"+s256, l.list).CombinedOutput()
		var aggs []string
		for _, line := range strings.Split(string(out), "\n") {
			if bank, v, ok := strings.Cut(line, ": PCRAgg  10: "); ok {
				aggs = append(aggs, bank+"="+strings.TrimSpace(v))
			}
		}
		if len(aggs) < 4 {
			t.Fatalf("%s: evmctl printed %d replayed values:\n%s", tmpl, len(aggs), out)
		}
		evm := aggs[len(aggs)-4:]
		code, js, errOut := run(t, "ima", "replay", l.list, "-o", "json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tmpl, code, errOut)
		}
		var rep struct {
			PCRs []struct {
				Bank    string
				PerBank string `json:"per_bank"`
				Padded  string `json:"sha1_padded"`
			}
		}
		json.Unmarshal([]byte(js), &rep)
		var ours []string
		for _, p := range rep.PCRs {
			ours = append(ours, p.Bank+"="+p.PerBank)
		}
		for _, p := range rep.PCRs {
			v := p.Padded
			if p.Bank == "sha1" {
				v = p.PerBank
			}
			ours = append(ours, p.Bank+"="+v)
		}
		if strings.Join(ours, " ") != strings.Join(evm, " ") {
			t.Errorf("%s:\nevmctl    %v\ngoldenpcr %v", tmpl, evm, ours)
		}
	}
}
