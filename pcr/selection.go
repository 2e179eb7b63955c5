package pcr

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// BankSelection selects PCRs of one bank; PCRs are ascending and unique.
type BankSelection struct {
	Alg  Alg
	PCRs []int
}

// Selection is an ordered list of bank selections, as in a TPML_PCR_SELECTION.
// The order matters: it is the order values are concatenated in a quote.
type Selection []BankSelection

// ParseSelection reads the tpm2-tools selection syntax, extended with ranges
// and "all": "sha256:0,1,7+sha1:0-7", "sha256:all".
func ParseSelection(s string) (Selection, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty PCR selection")
	}
	var sel Selection
	seen := map[Alg]bool{}
	for _, part := range strings.Split(s, "+") {
		name, list, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("PCR selection %q: want BANK:LIST, e.g. sha256:0,1,7", part)
		}
		alg, err := ParseAlg(name)
		if err != nil {
			return nil, fmt.Errorf("PCR selection %q: %w", part, err)
		}
		if seen[alg] {
			return nil, fmt.Errorf("PCR selection %q: bank %s selected twice", s, alg)
		}
		seen[alg] = true
		pcrs, err := ParsePCRList(list)
		if err != nil {
			return nil, fmt.Errorf("PCR selection %q: %w", part, err)
		}
		sel = append(sel, BankSelection{Alg: alg, PCRs: pcrs})
	}
	return sel, nil
}

// ParsePCRList reads "0,1,7", "0-7,14" or "all" into ascending unique indices.
func ParsePCRList(list string) ([]int, error) {
	list = strings.TrimSpace(list)
	if list == "all" {
		out := make([]int, NumPCRs)
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	var mask uint32
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		a, err := parseIndex(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseIndex(hi); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("PCR range %q runs backwards", item)
			}
		}
		for i := a; i <= b; i++ {
			mask |= 1 << i
		}
	}
	return maskToList(mask), nil
}

func parseIndex(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n >= NumPCRs {
		return 0, fmt.Errorf("PCR index %q: want a number 0-%d", s, NumPCRs-1)
	}
	return n, nil
}

func maskToList(mask uint32) []int {
	var out []int
	for i := 0; i < NumPCRs; i++ {
		if mask&(1<<i) != 0 {
			out = append(out, i)
		}
	}
	return out
}

// String renders the selection in the syntax ParseSelection reads, with
// ranges folded ("sha256:0-7,14").
func (s Selection) String() string {
	parts := make([]string, 0, len(s))
	for _, b := range s {
		parts = append(parts, b.Alg.String()+":"+FormatPCRList(b.PCRs))
	}
	return strings.Join(parts, "+")
}

// FormatPCRList renders ascending indices with ranges folded: "0-7,14".
func FormatPCRList(pcrs []int) string {
	var parts []string
	for i := 0; i < len(pcrs); {
		j := i
		for j+1 < len(pcrs) && pcrs[j+1] == pcrs[j]+1 {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, strconv.Itoa(pcrs[i]))
		default:
			parts = append(parts, strconv.Itoa(pcrs[i])+"-"+strconv.Itoa(pcrs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// Contains reports whether the selection includes PCR index of bank alg.
func (s Selection) Contains(alg Alg, index int) bool {
	for _, b := range s {
		if b.Alg == alg && slices.Contains(b.PCRs, index) {
			return true
		}
	}
	return false
}

// Filter returns the values of v that the selection names.
func (s Selection) Filter(v Values) Values {
	out := Values{}
	for _, b := range s {
		for _, i := range b.PCRs {
			if d, ok := v.Get(b.Alg, i); ok {
				out.Set(b.Alg, i, d)
			}
		}
	}
	return out
}

// Concat returns the selected PCR values concatenated in selection order,
// the bytes whose hash is a quote's pcrDigest. Every selected PCR must be
// present in v.
func (s Selection) Concat(v Values) ([]byte, error) {
	// Sized from the values found, not from the selection, which a
	// hostile quote can make far larger than the values given.
	n := 0
	for _, b := range s {
		bank := v[b.Alg]
		for _, i := range b.PCRs {
			d, ok := bank[i]
			if !ok {
				return nil, fmt.Errorf("no value for selected PCR %s:%d", b.Alg, i)
			}
			n += len(d)
		}
	}
	out := make([]byte, 0, n)
	for _, b := range s {
		bank := v[b.Alg]
		for _, i := range b.PCRs {
			out = append(out, bank[i]...)
		}
	}
	return out, nil
}

// CompositeDigest returns hashAlg(Concat(v)), the pcrDigest of a TPM quote
// over this selection. hashAlg is the quote signing scheme's hash.
func (s Selection) CompositeDigest(hashAlg Alg, v Values) ([]byte, error) {
	if !hashAlg.Valid() {
		return nil, &UnsupportedAlgError{ID: uint16(hashAlg)}
	}
	c, err := s.Concat(v)
	if err != nil {
		return nil, err
	}
	return hashAlg.Sum(c), nil
}
