package ima

import (
	"bytes"
	"encoding/hex"
	"slices"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// PCRMatch compares one PCR of one bank with the replay under each rule.
type PCRMatch struct {
	Index    int    `json:"pcr" yaml:"pcr"`
	Expected string `json:"expected,omitempty" yaml:"expected,omitempty"`
	PerBank  string `json:"per_bank" yaml:"per_bank"`
	Padded   string `json:"sha1_padded,omitempty" yaml:"sha1_padded,omitempty"`
	// Rules lists the rules whose replay equals Expected.
	Rules []Rule `json:"rules" yaml:"rules"`
}

// BankStatus is the outcome for one bank.
type BankStatus string

// Bank outcomes.
const (
	BankMatched  BankStatus = "match"
	BankMismatch BankStatus = "mismatch"
	// BankMissing: the PCR values name the bank but lack a PCR the list
	// extended.
	BankMissing BankStatus = "missing"
	// BankNotGiven: the PCR values do not name the bank; nothing to check.
	BankNotGiven BankStatus = "not-given"
)

// BankMatch is the comparison of one replayed bank with PCR values.
type BankMatch struct {
	Bank   string     `json:"bank" yaml:"bank"`
	Alg    pcr.Alg    `json:"-" yaml:"-"`
	Status BankStatus `json:"status" yaml:"status"`
	// Rules are the rules under which every PCR of the bank matched.
	Rules []Rule     `json:"rules,omitempty" yaml:"rules,omitempty"`
	PCRs  []PCRMatch `json:"pcrs" yaml:"pcrs"`
}

// Verdict is the comparison of a replay with PCR values.
type Verdict struct {
	Banks []BankMatch `json:"banks" yaml:"banks"`
	// Rule is the rule every checked bank matched under ("" if none; when
	// only SHA-1 was checked both rules agree and RulePerBank is named).
	Rule Rule `json:"rule,omitempty" yaml:"rule,omitempty"`
	// Rules lists every rule that explains all checked banks: both when
	// only SHA-1 was checked, since the rules agree for it.
	Rules []Rule `json:"rules,omitempty" yaml:"rules,omitempty"`
	// OK: at least one bank was checked, each checked bank matched, and a
	// single rule explains them all.
	OK bool `json:"ok" yaml:"ok"`
}

// Match compares the replay with PCR values read from a TPM. Only the PCRs
// the list extended are compared; banks the values do not name are
// reported as not given. Different rules for different banks cannot come
// from one kernel, so they do not match.
func (r *Replay) Match(want pcr.Values) *Verdict {
	v := &Verdict{}
	common := []Rule{RulePerBank, RuleSHA1Padded}
	checked := 0
	for _, a := range r.Banks {
		bm := BankMatch{Bank: a.String(), Alg: a, PCRs: []PCRMatch{}}
		if len(want[a]) == 0 {
			bm.Status = BankNotGiven
			v.Banks = append(v.Banks, bm)
			continue
		}
		checked++
		rules := []Rule{RulePerBank, RuleSHA1Padded}
		if r.Padded == nil {
			rules = []Rule{RulePerBank}
		}
		bm.Status = BankMatched
		for _, i := range r.PCRs {
			pm := PCRMatch{Index: i}
			per, _ := r.PerBank.Get(a, i)
			pm.PerBank = hex.EncodeToString(per)
			var pad []byte
			if r.Padded != nil {
				pad, _ = r.Padded.Get(a, i)
				pm.Padded = hex.EncodeToString(pad)
			}
			w, ok := want.Get(a, i)
			if !ok {
				bm.Status = BankMissing
				rules = nil
				bm.PCRs = append(bm.PCRs, pm)
				continue
			}
			pm.Expected = hex.EncodeToString(w)
			if bytes.Equal(per, w) {
				pm.Rules = append(pm.Rules, RulePerBank)
			}
			if pad != nil && bytes.Equal(pad, w) {
				pm.Rules = append(pm.Rules, RuleSHA1Padded)
			}
			rules = slices.DeleteFunc(rules, func(x Rule) bool { return !slices.Contains(pm.Rules, x) })
			bm.PCRs = append(bm.PCRs, pm)
		}
		if len(rules) == 0 && bm.Status == BankMatched {
			bm.Status = BankMismatch
		}
		bm.Rules = rules
		common = slices.DeleteFunc(common, func(x Rule) bool { return !slices.Contains(rules, x) })
		v.Banks = append(v.Banks, bm)
	}
	v.OK = checked > 0 && len(common) > 0 && len(r.PCRs) > 0
	for _, b := range v.Banks {
		if b.Status == BankMismatch || b.Status == BankMissing {
			v.OK = false
		}
	}
	if v.OK {
		v.Rule, v.Rules = common[0], common
	}
	return v
}
