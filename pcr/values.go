package pcr

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
)

// Values holds PCR values by bank and index: v[SHA256][7] is PCR 7 of the
// SHA-256 bank. A missing entry means "not stated", not "zero".
type Values map[Alg]map[int][]byte

// Set stores digest as PCR index of bank alg.
func (v Values) Set(alg Alg, index int, digest []byte) {
	b := v[alg]
	if b == nil {
		b = make(map[int][]byte)
		v[alg] = b
	}
	b[index] = digest
}

// Clone returns a copy of v that shares no map with it (digests are
// shared: Values never changes one in place).
func (v Values) Clone() Values {
	out := Values{}
	for alg, m := range v {
		for i, d := range m {
			out.Set(alg, i, d)
		}
	}
	return out
}

// Get returns PCR index of bank alg.
func (v Values) Get(alg Alg, index int) ([]byte, bool) {
	d, ok := v[alg][index]
	return d, ok
}

// Algs returns the banks present, in TPM_ALG_ID order.
func (v Values) Algs() []Alg {
	out := make([]Alg, 0, len(v))
	for a, b := range v {
		if len(b) > 0 {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// Indices returns the PCR indices present in bank alg, ascending.
func (v Values) Indices(alg Alg) []int {
	out := make([]int, 0, len(v[alg]))
	for i := range v[alg] {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// Selection returns the selection naming exactly the PCRs present.
func (v Values) Selection() Selection {
	var s Selection
	for _, a := range v.Algs() {
		s = append(s, BankSelection{Alg: a, PCRs: v.Indices(a)})
	}
	return s
}

// Len counts the PCR values present over all banks.
func (v Values) Len() int {
	n := 0
	for _, b := range v {
		n += len(b)
	}
	return n
}

// Validate checks every index is 0–23 and every digest has its bank's size.
func (v Values) Validate() error {
	for _, a := range v.Algs() {
		if !a.Valid() {
			return &UnsupportedAlgError{ID: uint16(a)}
		}
		for _, i := range v.Indices(a) {
			if i < 0 || i >= NumPCRs {
				return fmt.Errorf("%s: PCR index %d out of range 0-%d", a, i, NumPCRs-1)
			}
			if d := v[a][i]; len(d) != a.Size() {
				return fmt.Errorf("%s PCR %d: value is %d bytes, want %d", a, i, len(d), a.Size())
			}
		}
	}
	return nil
}

// Status is the outcome of comparing one PCR.
type Status string

// Comparison outcomes.
const (
	Match    Status = "match"
	Mismatch Status = "mismatch"
	// Missing: the reference names the PCR but the other side has no value.
	Missing Status = "missing"
	// Unreferenced: the other side has a value (a quoted PCR) that a
	// reference which must name every quoted PCR does not name.
	Unreferenced Status = "unreferenced"
)

// Comparison is one PCR of a Compare result.
type Comparison struct {
	Alg      Alg    `json:"-" yaml:"-"`
	Bank     string `json:"bank" yaml:"bank"`
	Index    int    `json:"pcr" yaml:"pcr"`
	Got      string `json:"got,omitempty" yaml:"got,omitempty"`
	Expected string `json:"expected" yaml:"expected"`
	Status   Status `json:"status" yaml:"status"`
}

// Compare checks got against every PCR that want names, in bank then index
// order. It fails closed: a PCR want names and got lacks is Missing, and a
// want that names no PCR at all proves nothing, so it is not ok.
func Compare(got, want Values) (rows []Comparison, ok bool) {
	ok = want.Len() > 0
	for _, a := range want.Algs() {
		for _, i := range want.Indices(a) {
			w := want[a][i]
			row := Comparison{Alg: a, Bank: a.String(), Index: i, Expected: hex.EncodeToString(w)}
			g, have := got.Get(a, i)
			switch {
			case !have:
				row.Status = Missing
			case bytes.Equal(g, w):
				row.Status = Match
				row.Got = row.Expected
			default:
				row.Status = Mismatch
				row.Got = hex.EncodeToString(g)
			}
			if row.Status != Match {
				ok = false
			}
			rows = append(rows, row)
		}
	}
	return rows, ok
}
