package verdict

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestVerifiedFailsClosed(t *testing.T) {
	pass := Check{Name: "a", Passed: true}
	skip := Check{Name: "b", Skipped: true}
	notRun := Check{Name: "c", NotRun: true, Reason: "no input"}
	bad := Check{Name: "d", Reason: "wrong", Err: errors.New("wrong")}
	for _, tc := range []struct {
		checks Checks
		want   bool
	}{
		{nil, false},                  // nothing proved
		{Checks{skip}, false},         // nothing proved
		{Checks{pass, skip}, true},    // skipped checks decide nothing
		{Checks{pass, notRun}, false}, // a check that could not run fails
		{Checks{bad, pass}, false},
	} {
		if got := tc.checks.Verified(); got != tc.want {
			t.Errorf("%+v: verified %v, want %v", tc.checks, got, tc.want)
		}
	}
	cs := Checks{pass, notRun, bad}
	if f := cs.Failed(); len(f) != 2 || f[0].Name != "c" || f[1].Name != "d" {
		t.Errorf("Failed = %+v", f)
	}
	if c := cs.Check("d"); c == nil || c.Reason != "wrong" || cs.Check("x") != nil {
		t.Errorf("Check(d) = %+v", c)
	}
	if err := cs.Err(); err == nil || !strings.Contains(err.Error(), "wrong") {
		t.Errorf("Err = %v", err)
	}
	if (Checks{pass}).Err() != nil {
		t.Error("Err of passed checks")
	}
}

// A report embeds Checks under the key "checks" in JSON and YAML alike.
func TestEmbeddedChecksKey(t *testing.T) {
	type report struct {
		Verified bool `json:"verified" yaml:"verified"`
		Checks   `json:"checks" yaml:"checks"`
	}
	r := report{true, Checks{Check{Name: "a", Passed: true, Reason: "ok"}.Note("n").With("k", "v")}}
	j, _ := json.Marshal(r)
	if string(j) != `{"verified":true,"checks":[{"name":"a","passed":true,"reason":"ok","details":{"k":"v"},"notes":["n"]}]}` {
		t.Errorf("JSON %s", j)
	}
	y, _ := yaml.Marshal(r)
	if !strings.HasPrefix(string(y), "verified: true\nchecks:\n    - name: a\n") {
		t.Errorf("YAML %s", y)
	}
}
