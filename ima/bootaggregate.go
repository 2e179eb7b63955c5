package ima

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// BootAggregateName is the file name of the entry the kernel adds first,
// tying the IMA list to the boot measurements in PCRs 0-9.
const BootAggregateName = "boot_aggregate"

// Boot aggregate rules: which PCRs the kernel hashed.
const (
	// BootAggregatePCR0to7 is H(PCR0 ‖ … ‖ PCR7): always for SHA-1, and
	// for other banks on kernels that picked the bank but did not yet add
	// PCRs 8-9.
	BootAggregatePCR0to7 = "pcr0-7"
	// BootAggregatePCR0to9 is H(PCR0 ‖ … ‖ PCR9), Linux 5.8+ for banks
	// other than SHA-1 (PCR 8 and 9 hold the kernel command line and image
	// in a typical allocation).
	BootAggregatePCR0to9 = "pcr0-9"
)

// BootAggregateStatus is the outcome of a boot_aggregate check.
type BootAggregateStatus string

// Boot aggregate outcomes.
const (
	BootAggregateMatch    BootAggregateStatus = "match"
	BootAggregateMismatch BootAggregateStatus = "mismatch"
	// BootAggregateNoTPM: the entry holds zeros, as a kernel without a TPM
	// (or one it failed to read) records; nothing ties the list to a boot.
	BootAggregateNoTPM BootAggregateStatus = "no-tpm"
	// BootAggregateMissingPCRs: the values lack PCRs a rule needs.
	BootAggregateMissingPCRs BootAggregateStatus = "missing-pcrs"
	// BootAggregateUnsupported: the digest algorithm is not a bank
	// goldenpcr can hash.
	BootAggregateUnsupported BootAggregateStatus = "unsupported"
)

// BootAggregateCandidate is the value one rule predicts.
type BootAggregateCandidate struct {
	Rule    string `json:"rule" yaml:"rule"`
	Value   string `json:"value,omitempty" yaml:"value,omitempty"`
	Missing []int  `json:"missing_pcrs,omitempty" yaml:"missing_pcrs,omitempty"`
	Match   bool   `json:"match" yaml:"match"`
}

// BootAggregateCheck compares the boot_aggregate entry with PCR values.
type BootAggregateCheck struct {
	Entry      EntryRef                 `json:"entry" yaml:"entry"`
	Bank       string                   `json:"bank" yaml:"bank"`
	Listed     string                   `json:"listed" yaml:"listed"`
	Candidates []BootAggregateCandidate `json:"candidates,omitempty" yaml:"candidates,omitempty"`
	// Rule is the rule whose value matched, "" if none did.
	Rule   string              `json:"rule,omitempty" yaml:"rule,omitempty"`
	Status BootAggregateStatus `json:"status" yaml:"status"`
}

// OK reports whether the boot_aggregate matched the PCR values.
func (c *BootAggregateCheck) OK() bool { return c.Status == BootAggregateMatch }

// BootAggregateOf returns the file digest of a boot_aggregate entry, or
// false when e is not one.
func BootAggregateOf(e *Entry) (*FileDigest, bool) {
	if e.Path() != BootAggregateName {
		return nil, false
	}
	ev, err := e.Decode()
	if err != nil || ev.Digest == nil {
		return nil, false
	}
	d := *ev.Digest
	d.Value = bytes.Clone(d.Value)
	return &d, true
}

// ComputeBootAggregate hashes PCRs 0..n-1 of bank alg, returning the PCRs
// the values lack instead when any is missing.
func ComputeBootAggregate(alg pcr.Alg, values pcr.Values, n int) ([]byte, []int) {
	var missing []int
	h := alg.New()
	for i := 0; i < n; i++ {
		v, ok := values.Get(alg, i)
		if !ok {
			missing = append(missing, i)
			continue
		}
		h.Write(v)
	}
	if missing != nil {
		return nil, missing
	}
	return h.Sum(nil), nil
}

// CheckBootAggregate recomputes the boot_aggregate from PCR values (as
// read from a TPM, or replayed from a TCG event log) under every rule the
// entry's algorithm allows and reports which one matched.
func CheckBootAggregate(d *FileDigest, ref EntryRef, values pcr.Values) *BootAggregateCheck {
	c := &BootAggregateCheck{Entry: ref, Bank: d.Algo.String(), Listed: hex.EncodeToString(d.Value)}
	if d.Zero() {
		c.Status = BootAggregateNoTPM
		return c
	}
	bank, ok := d.Algo.Bank()
	if !ok {
		c.Status = BootAggregateUnsupported
		return c
	}
	c.Bank = bank.String()
	rules := []struct {
		name string
		n    int
	}{{BootAggregatePCR0to9, 10}, {BootAggregatePCR0to7, 8}}
	if bank == pcr.SHA1 {
		rules = rules[1:] // SHA-1 aggregates never include PCRs 8-9
	}
	missing := false
	for _, r := range rules {
		cand := BootAggregateCandidate{Rule: r.name}
		v, miss := ComputeBootAggregate(bank, values, r.n)
		if miss != nil {
			cand.Missing = miss
			missing = true
		} else {
			cand.Value = hex.EncodeToString(v)
			cand.Match = bytes.Equal(v, d.Value)
			if cand.Match && c.Rule == "" {
				c.Rule = r.name
			}
		}
		c.Candidates = append(c.Candidates, cand)
	}
	switch {
	case c.Rule != "":
		c.Status = BootAggregateMatch
	case missing:
		c.Status = BootAggregateMissingPCRs
	default:
		c.Status = BootAggregateMismatch
	}
	return c
}

// String summarises the check in one line.
func (c *BootAggregateCheck) String() string {
	switch c.Status {
	case BootAggregateMatch:
		return fmt.Sprintf("boot_aggregate (%s) matches H(%s) of the %s bank", c.Listed, c.Rule, c.Bank)
	case BootAggregateNoTPM:
		return "boot_aggregate is all zeros: the kernel had no TPM to read, nothing ties this list to a boot"
	case BootAggregateUnsupported:
		return fmt.Sprintf("boot_aggregate uses %s, which goldenpcr cannot compute", c.Bank)
	case BootAggregateMissingPCRs:
		for _, cand := range c.Candidates {
			if cand.Missing != nil {
				return fmt.Sprintf("boot_aggregate (%s): the %s PCR values lack PCRs %v needed for %s", c.Bank, c.Bank, cand.Missing, cand.Rule)
			}
		}
	}
	return fmt.Sprintf("boot_aggregate (%s %s) matches no rule over the %s PCR values", c.Bank, c.Listed, c.Bank)
}
