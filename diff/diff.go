package diff

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Report is what Compare found.
type Report struct {
	Expected SideInfo `json:"expected" yaml:"expected"`
	Actual   SideInfo `json:"actual" yaml:"actual"`
	// Bank is the bank whose digests and values were compared.
	Bank string    `json:"bank" yaml:"bank"`
	PCRs []PCRDiff `json:"pcrs" yaml:"pcrs"`
	// Inputs lists the artifacts that differ between two baselines.
	Inputs []InputChange `json:"inputs,omitempty" yaml:"inputs,omitempty"`
	// Differs: some PCR differs, or a log does not replay to the device's
	// PCRs.
	Differs bool `json:"differs" yaml:"differs"`
}

// SideInfo names one side.
type SideInfo struct {
	Name string `json:"name" yaml:"name"`
	Kind string `json:"kind" yaml:"kind"`
}

// PCRDiff is one PCR held against its expectation.
type PCRDiff struct {
	Index int `json:"pcr" yaml:"pcr"`
	// Expected and Actual are the PCR's values (hex); Actual is the
	// device's value when it was given, else the log's replay.
	Expected string `json:"expected,omitempty" yaml:"expected,omitempty"`
	Actual   string `json:"actual,omitempty" yaml:"actual,omitempty"`
	// Same: the values agree (or the expected side accepts the actual
	// value as a variant) and every event lines up.
	Same bool `json:"same" yaml:"same"`
	// LogMismatch is set when the actual log does not replay to the
	// device's PCR value: the log is truncated or tampered with, and its
	// events say nothing about what booted.
	LogMismatch *LogMismatch `json:"log_mismatch,omitempty" yaml:"log_mismatch,omitempty"`
	// First is the index in Steps of the first divergent event; -1 when
	// none.
	First int    `json:"first_divergence" yaml:"first_divergence"`
	Steps []Step `json:"steps" yaml:"steps"`
	// Note says what could not be compared.
	Note string `json:"note,omitempty" yaml:"note,omitempty"`
	// Quirks are the firmware deviations the actual log shows in this
	// PCR, named as such: a likely cause when the PCR differs.
	Quirks []string `json:"quirks,omitempty" yaml:"quirks,omitempty"`
}

// LogMismatch is a log whose replay is not the device's PCR value.
type LogMismatch struct {
	Replayed string `json:"replayed" yaml:"replayed"`
	Device   string `json:"device" yaml:"device"`
	// BootMatches: the device's value is the expected one, so only the
	// log is wrong.
	BootMatches bool `json:"boot_matches" yaml:"boot_matches"`
}

// InputChange is an artifact of two baselines by role and path.
type InputChange struct {
	Role   string `json:"role" yaml:"role"`
	Path   string `json:"path" yaml:"path"`
	Before string `json:"before,omitempty" yaml:"before,omitempty"` // sha256, empty if added
	After  string `json:"after,omitempty" yaml:"after,omitempty"`   // sha256, empty if removed
}

// Options narrow a comparison.
type Options struct {
	// PCRs limits the comparison to these indices; nil compares every PCR
	// the expected side has.
	PCRs []int
	// Bank is the bank compared; zero picks sha256 when both sides have
	// it, else the first bank both have.
	Bank pcr.Alg
}

// Compare holds actual against expected.
func Compare(expected, actual *Side, opts Options) (*Report, error) {
	alg, err := pickBank(expected, actual, opts.Bank)
	if err != nil {
		return nil, err
	}
	r := &Report{Expected: SideInfo{expected.Name, expected.Kind}, Actual: SideInfo{actual.Name, actual.Kind}, Bank: alg.String()}
	for _, i := range pcrsOf(expected, opts.PCRs) {
		d := comparePCR(expected, actual, i, alg)
		if !d.Same {
			r.Differs = true
		}
		r.PCRs = append(r.PCRs, d)
	}
	if expected.Kind == "baseline" && actual.Kind == "baseline" {
		r.Inputs = inputChanges(expected.Inputs, actual.Inputs)
	}
	return r, nil
}

// pickBank chooses the bank both sides can be compared in.
func pickBank(e, a *Side, want pcr.Alg) (pcr.Alg, error) {
	both := func(alg pcr.Alg) bool {
		return slices.Contains(e.Values.Algs(), alg) && slices.Contains(a.Values.Algs(), alg)
	}
	if want != 0 {
		if !both(want) {
			return 0, fmt.Errorf("bank %s: %s has %v, %s has %v", want, e.Name, e.Values.Algs(), a.Name, a.Values.Algs())
		}
		return want, nil
	}
	if both(pcr.SHA256) {
		return pcr.SHA256, nil
	}
	for _, alg := range e.Values.Algs() {
		if both(alg) {
			return alg, nil
		}
	}
	return 0, fmt.Errorf("%s (%v) and %s (%v) share no bank", e.Name, e.Values.Algs(), a.Name, a.Values.Algs())
}

// pcrsOf is every PCR the expected side has values or events for, or the
// requested ones.
func pcrsOf(s *Side, want []int) []int {
	if want != nil {
		return slices.Sorted(slices.Values(want))
	}
	set := map[int]bool{}
	for _, alg := range s.Values.Algs() {
		for _, i := range s.Values.Indices(alg) {
			set[i] = true
		}
	}
	for i := range s.Entries {
		set[i] = true
	}
	var out []int
	for i := range set {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func comparePCR(exp, act *Side, i int, alg pcr.Alg) PCRDiff {
	d := PCRDiff{Index: i, First: -1}
	ev, eok := exp.Values.Get(alg, i)
	av, aok := act.Values.Get(alg, i)
	if dv, ok := act.Device.Get(alg, i); ok {
		if rv, _ := act.replay.Get(alg, i); act.replay != nil && !bytes.Equal(rv, dv) {
			d.LogMismatch = &LogMismatch{Replayed: hex.EncodeToString(rv), Device: hex.EncodeToString(dv), BootMatches: eok && bytes.Equal(ev, dv)}
		}
		av, aok = dv, true
	}
	if eok {
		d.Expected = hex.EncodeToString(ev)
	}
	if aok {
		d.Actual = hex.EncodeToString(av)
	}
	valuesSame := eok && aok && (bytes.Equal(ev, av) || variantHolds(exp, i, alg, av))
	switch e, a := exp.Entries[i], act.Entries[i]; {
	case len(e) == 0 && len(a) > 0 && eok:
		d.Note = fmt.Sprintf("%s gives PCR %d's value but not its events: only the values are compared", exp.Name, i)
	case len(a) == 0 && len(e) > 0 && aok && act.Kind == "baseline":
		d.Note = fmt.Sprintf("%s gives PCR %d's value but not its events: only the values are compared", act.Name, i)
	default:
		d.Steps = align(e, a, alg)
	}
	d.Same = valuesSame && d.LogMismatch == nil
	d.Quirks = act.Quirks[i]
	for k := range d.Steps {
		s := &d.Steps[k]
		if s.Kind == Same {
			continue
		}
		d.Same = false
		s.Hints = hints(s)
		if d.First < 0 {
			d.First = k
		}
	}
	if !eok || !aok {
		d.Same = false
		if d.Note == "" {
			switch {
			case !aok:
				d.Note = fmt.Sprintf("%s has no %s value for PCR %d", act.Name, alg, i)
			default:
				d.Note = fmt.Sprintf("%s has no %s value for PCR %d", exp.Name, alg, i)
			}
		}
	}
	return d
}

func variantHolds(s *Side, i int, alg pcr.Alg, v []byte) bool {
	for _, vs := range s.Variants[i] {
		if w, ok := vs.Get(alg, i); ok && bytes.Equal(w, v) {
			return true
		}
	}
	return false
}

// inputChanges lists the artifacts, by role and path, whose SHA-256
// differs between two baselines, or that only one has.
func inputChanges(before, after []baseline.Input) []InputChange {
	// Builds put artifacts in other directories: an artifact is known by
	// its role and file name.
	key := func(in baseline.Input) string { return in.Role + "\x00" + filepath.Base(in.Path) }
	old := map[string]baseline.Input{}
	for _, in := range before {
		old[key(in)] = in
	}
	var out []InputChange
	seen := map[string]bool{}
	for _, in := range after {
		k := key(in)
		seen[k] = true
		if o, ok := old[k]; !ok || o.SHA256 != in.SHA256 {
			out = append(out, InputChange{Role: in.Role, Path: in.Path, Before: o.SHA256, After: in.SHA256})
		}
	}
	for _, in := range before {
		if !seen[key(in)] {
			out = append(out, InputChange{Role: in.Role, Path: in.Path, Before: in.SHA256})
		}
	}
	return out
}
