// Package policy owns the TPM 2.0 authorization policies computed from
// golden values: the TPM2_PolicyPCR digest of a baseline's PCR values, the
// TPM2_PolicyOR joining the values of its variants, and systemd's signed
// PCR policy (the .pcrsig JSON of a UKI). The digests are computed with
// go-tpm's policy calculator; a secret sealed to one (package seal) opens
// only while the PCRs hold those values.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// MaxORBranches is TPM2_PolicyOR's limit: a TPML_DIGEST of at most 8.
const MaxORBranches = 8

// Branch is one TPM2_PolicyPCR: the values of one candidate set.
type Branch struct {
	// Values are the selected PCRs' values.
	Values pcr.Values
	// PCRDigest is the session hash of the values concatenated in
	// selection order: TPM2_PolicyPCR's pcrDigest.
	PCRDigest []byte
	// Digest is the policy digest of TPM2_PolicyPCR from an empty policy.
	Digest []byte
}

// PCRPolicy is the policy that holds only while the selected PCRs have
// the values a baseline predicts.
type PCRPolicy struct {
	Hash      pcr.Alg // the policy session's hash (the sealed object's nameAlg)
	Selection pcr.Selection
	// Branches are the distinct candidate sets, the primary values first.
	Branches []Branch
	// Digest is the policy to seal to: the one branch's, or the
	// TPM2_PolicyOR of all of them (OR set).
	Digest []byte
	OR     bool
}

// SelectionError is a selection the baseline cannot answer for.
type SelectionError struct {
	Alg   pcr.Alg
	Index int
	Why   string
}

func (e *SelectionError) Error() string {
	return fmt.Sprintf("PCR %s:%d: %s", e.Alg, e.Index, e.Why)
}

// PolicyPCR returns TPM2_PolicyPCR's pcrDigest and the policy digest,
// from an empty policy, for the selected values of v.
func PolicyPCR(hash pcr.Alg, sel pcr.Selection, v pcr.Values) (pcrDigest, digest []byte, err error) {
	calc, err := calculator(hash)
	if err != nil {
		return nil, nil, err
	}
	concat, err := sel.Concat(v)
	if err != nil {
		return nil, nil, err
	}
	pcrDigest = hash.Sum(concat)
	cmd := tpm2.PolicyPCR{PcrDigest: tpm2.TPM2BDigest{Buffer: pcrDigest}, Pcrs: tpmSelection(sel)}
	if err := cmd.Update(calc); err != nil {
		return nil, nil, err
	}
	return pcrDigest, calc.Hash().Digest, nil
}

// PolicyOR returns the digest of TPM2_PolicyOR over the branches' policy
// digests, in the order given.
func PolicyOR(hash pcr.Alg, branches [][]byte) ([]byte, error) {
	if len(branches) < 2 || len(branches) > MaxORBranches {
		return nil, fmt.Errorf("TPM2_PolicyOR joins 2 to %d policies, not %d", MaxORBranches, len(branches))
	}
	calc, err := calculator(hash)
	if err != nil {
		return nil, err
	}
	var list tpm2.TPMLDigest
	for _, b := range branches {
		if len(b) != hash.Size() {
			return nil, fmt.Errorf("TPM2_PolicyOR: a %d-byte branch in a %s policy", len(b), hash)
		}
		list.Digests = append(list.Digests, tpm2.TPM2BDigest{Buffer: b})
	}
	if err := (tpm2.PolicyOr{PHashList: list}).Update(calc); err != nil {
		return nil, err
	}
	return calc.Hash().Digest, nil
}

// FromBaseline computes the PCR policy of the values b predicts for sel.
// Every selected PCR must be in b, in the selected bank: a PCR the
// baseline leaves out is one it does not predict. When the selected PCRs
// have variants, each distinct combination is a branch and the policy is
// their TPM2_PolicyOR, which takes at most MaxORBranches.
func FromBaseline(b *baseline.Baseline, sel pcr.Selection, hash pcr.Alg) (*PCRPolicy, error) {
	if len(sel) == 0 {
		return nil, errors.New("no PCR selected")
	}
	sub := &baseline.Baseline{Version: b.Version}
	for _, bs := range sel {
		if len(bs.PCRs) == 0 {
			return nil, fmt.Errorf("bank %s: no PCR selected", bs.Alg)
		}
		for _, i := range bs.PCRs {
			k := slices.IndexFunc(b.PCRs, func(p baseline.PCR) bool { return p.Index == i })
			if k < 0 {
				return nil, &SelectionError{bs.Alg, i, "the baseline does not predict it"}
			}
			p := b.PCRs[k]
			if _, ok := p.Values[bs.Alg.String()]; !ok {
				return nil, &SelectionError{bs.Alg, i, fmt.Sprintf("the baseline predicts no %s value for it", bs.Alg)}
			}
			for vi, v := range p.Variants {
				if _, ok := v[bs.Alg.String()]; !ok {
					return nil, &SelectionError{bs.Alg, i, fmt.Sprintf("the baseline's variant %d names no %s value", vi+1, bs.Alg)}
				}
			}
			if !slices.ContainsFunc(sub.PCRs, func(q baseline.PCR) bool { return q.Index == i }) {
				sub.PCRs = append(sub.PCRs, p)
			}
		}
	}
	sets, err := sub.Sets(64 * MaxORBranches)
	if err != nil {
		return nil, err
	}
	pol := &PCRPolicy{Hash: hash, Selection: sel}
	for _, s := range sets {
		v := sel.Filter(s)
		pd, d, err := PolicyPCR(hash, sel, v)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(pol.Branches, func(br Branch) bool { return bytes.Equal(br.Digest, d) }) {
			continue // variants that differ only outside the selection
		}
		pol.Branches = append(pol.Branches, Branch{Values: v, PCRDigest: pd, Digest: d})
	}
	if len(pol.Branches) == 1 {
		pol.Digest = pol.Branches[0].Digest
		return pol, nil
	}
	if len(pol.Branches) > MaxORBranches {
		return nil, fmt.Errorf("the selected PCRs' variants make %d distinct sets of values; TPM2_PolicyOR joins at most %d", len(pol.Branches), MaxORBranches)
	}
	digests := make([][]byte, len(pol.Branches))
	for i, br := range pol.Branches {
		digests[i] = br.Digest
	}
	if pol.Digest, err = PolicyOR(hash, digests); err != nil {
		return nil, err
	}
	pol.OR = true
	return pol, nil
}

func calculator(hash pcr.Alg) (*tpm2.PolicyCalculator, error) {
	if !hash.Valid() {
		return nil, fmt.Errorf("policy hash %s is not supported", hash)
	}
	return tpm2.NewPolicyCalculator(tpm2.TPMIAlgHash(hash))
}

// tpmSelection is sel as a TPML_PCR_SELECTION with 3-byte bitmaps, as
// tpm2-tools and systemd send it for 24 PCRs.
func tpmSelection(sel pcr.Selection) tpm2.TPMLPCRSelection {
	var out tpm2.TPMLPCRSelection
	for _, bs := range sel {
		bitmap := make([]byte, 3)
		for _, i := range bs.PCRs {
			bitmap[i/8] |= 1 << (i % 8)
		}
		out.PCRSelections = append(out.PCRSelections, tpm2.TPMSPCRSelection{Hash: tpm2.TPMIAlgHash(bs.Alg), PCRSelect: bitmap})
	}
	return out
}
