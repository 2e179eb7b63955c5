// Package verdict owns the shape of every verification result goldenpcr
// returns (a quote, an attestation, an IMA list): named checks, each
// passed, skipped (opted out of, or not asked for) or failed with its
// reason and typed error, and the one rule that turns them into a verdict.
// Nothing verifies unless a check proved something and none failed; a
// check that could not run fails.
package verdict

import "errors"

// Check is one verification step. It passed, was skipped, or failed: it
// ran and found the evidence wrong, or could not run (NotRun) because what
// it needs is missing.
type Check struct {
	Name    string `json:"name" yaml:"name"`
	Passed  bool   `json:"passed" yaml:"passed"`
	Skipped bool   `json:"skipped,omitempty" yaml:"skipped,omitempty"`
	// NotRun: the check was asked for but could not run. It fails.
	NotRun  bool              `json:"not_run,omitempty" yaml:"not_run,omitempty"`
	Reason  string            `json:"reason" yaml:"reason"`
	Details map[string]string `json:"details,omitempty" yaml:"details,omitempty"`
	// Notes are facts that decide nothing but that a reader must see,
	// whatever the outcome (e.g. quoted PCRs no event touched).
	Notes []string `json:"notes,omitempty" yaml:"notes,omitempty"`
	// Err is the typed error of a failed check.
	Err error `json:"-" yaml:"-"`
}

// Failed reports whether the check fails the verdict.
func (c *Check) Failed() bool { return !c.Passed && !c.Skipped }

// Note returns c with notes added.
func (c Check) Note(notes ...string) Check {
	c.Notes = append(c.Notes, notes...)
	return c
}

// With returns c with details added, as key, value pairs.
func (c Check) With(kv ...string) Check {
	if c.Details == nil {
		c.Details = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Details[kv[i]] = kv[i+1]
	}
	return c
}

// Checks are a report's checks, in the order it lists them.
type Checks []Check

// Verified is the verdict: at least one check passed and none failed.
func (cs Checks) Verified() bool {
	passed := false
	for i := range cs {
		if cs[i].Failed() {
			return false
		}
		passed = passed || cs[i].Passed
	}
	return passed
}

// Failed returns the checks that fail the verdict.
func (cs Checks) Failed() []Check {
	var out []Check
	for _, c := range cs {
		if c.Failed() {
			out = append(out, c)
		}
	}
	return out
}

// Check returns the check called name, or nil.
func (cs Checks) Check(name string) *Check {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// Err joins the typed errors of the failed checks (nil when none failed),
// so errors.As finds each.
func (cs Checks) Err() error {
	var errs []error
	for _, c := range cs.Failed() {
		errs = append(errs, c.Err)
	}
	return errors.Join(errs...)
}
