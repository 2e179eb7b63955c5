package baseline

import (
	"fmt"
	"os"
	"slices"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Reference is what measured or quoted PCR values are compared with: a
// baseline, whose PCRs may each allow variants, or the document of a
// plain PCR file, any one of whose alternatives may match (a CHARRA file).
// Exactly one of Baseline and Doc is set.
type Reference struct {
	Baseline *Baseline
	Doc      *pcr.Document
}

// Load is the one reader of references: every command that takes golden
// values (a replay's reference, a quote's expected values, a baseline to
// emit) reads them here. A goldenpcr baseline document is read as such when
// ro leaves the format and selection to detection; anything else is a PCR
// file read with ro, whose alternatives (CHARRA documents) stay whole sets:
// one of them must match every PCR it names.
func Load(path string, ro pcr.ReadOptions) (*Reference, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if ro.Format == "" && len(ro.Selection) == 0 && IsDocument(data) {
		b, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &Reference{Baseline: b}, nil
	}
	doc, err := pcr.Parse(data, ro)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Reference{Doc: doc}, nil
}

// Match is the outcome of comparing values with a Reference.
type Match struct {
	Rows []pcr.Comparison
	OK   bool
	// Alternative is the index of the document's alternative that matched
	// or came closest, of Alternatives; 0 of 1 for a baseline.
	Alternative, Alternatives int
	// ByVariant counts the PCRs a baseline matched by a variant rather
	// than its primary value.
	ByVariant int
	// Reasons say, PCR by PCR, why a baseline's PCRs did not match (e.g.
	// that no single candidate matches every bank).
	Reasons []string
}

// Format names the reference's kind for reports: the PCR file format or
// the baseline schema.
func (r *Reference) Format() string {
	if r.Baseline != nil {
		return SchemaVersion
	}
	return string(r.Doc.Format)
}

// Compare checks got against every PCR the reference names; with banks
// given, only those banks of the reference are compared.
func (r *Reference) Compare(got pcr.Values, banks []pcr.Alg) (*Match, error) {
	keep := func(a pcr.Alg) bool { return len(banks) == 0 || slices.Contains(banks, a) }
	if r.Baseline == nil {
		doc := r.Doc
		if len(banks) > 0 {
			doc = &pcr.Document{Format: doc.Format, BankOrder: doc.BankOrder}
			for _, set := range r.Doc.Sets {
				kept := pcr.Values{}
				for a, b := range set {
					if keep(a) && len(b) > 0 {
						kept[a] = b
					}
				}
				doc.Sets = append(doc.Sets, kept)
			}
		}
		idx, rows, ok := doc.Match(got)
		return &Match{Rows: rows, OK: ok, Alternative: idx, Alternatives: len(doc.Sets)}, nil
	}
	res, err := r.Baseline.Evaluate(got)
	if err != nil {
		return nil, err
	}
	m := &Match{Alternatives: 1}
	byVariant := map[int]bool{}
	for _, row := range res.Rows {
		if !keep(row.Alg) {
			continue
		}
		m.Rows = append(m.Rows, row.Comparison)
		if row.Status == pcr.Match && row.Variant > 0 {
			byVariant[row.Index] = true
		}
	}
	m.ByVariant = len(byVariant)
	for _, p := range res.PCRs {
		if !p.Matched && p.Reason != "" {
			m.Reasons = append(m.Reasons, p.Reason)
		}
	}
	m.OK = len(m.Rows) > 0
	for _, row := range m.Rows {
		m.OK = m.OK && row.Status == pcr.Match
	}
	return m, nil
}
