package baseline

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Reference is what measured or quoted PCR values are compared with: a
// baseline, whose PCRs may each allow variants, the document of a plain
// PCR file, any one of whose alternatives may match (a CHARRA file), or a
// composite digest over a selection (a TPM_ENACTTRUST CoRIM). Exactly one
// of Baseline, Doc and Composite is set.
type Reference struct {
	Baseline  *Baseline
	Doc       *pcr.Document
	Composite *Composite
	// CoversQuoted: the reference must name every PCR a quote selects, in
	// the quote's bank; CompareQuoted fails a quoted PCR it does not name
	// (Veraison's PARSEC_TPM rule), and compares the reference in the
	// quote's banks only, since the digests a CoRIM gives one PCR are one
	// measurement in several algorithms, of which Veraison takes the
	// quote's. Without it only the PCRs the reference names are compared,
	// in every bank of their primary value.
	CoversQuoted bool
	// Label names the kind of reference for reports when it is neither a
	// PCR file nor a baseline document (e.g. "CoRIM PARSEC_TPM").
	Label string
	// Notes say where the reference came from (e.g. who signed a CoRIM),
	// for reports; they decide nothing.
	Notes []string
}

// Composite is one digest over the values of a PCR selection concatenated
// in selection order: TPM2's pcrDigest for a quote over Selection whose
// signing scheme hashes with Hash.
type Composite struct {
	Selection pcr.Selection
	Hash      pcr.Alg
	Digest    []byte
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
	return LoadData(path, data, ro)
}

// LoadData is Load for a file already read (path names it in errors), for
// a caller that looked at the data first.
func LoadData(path string, data []byte, ro pcr.ReadOptions) (*Reference, error) {
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

// AsBaseline is the reference as a baseline document: a PCR file's
// alternatives become variants (FromValues). A composite digest has no
// per-PCR values and is refused, as is a reference naming no PCR.
func (r *Reference) AsBaseline() (*Baseline, error) {
	switch {
	case r == nil || r.Baseline == nil && r.Doc == nil:
		return nil, errors.New("reference: it holds no PCR values (a composite digest)")
	case r.Baseline != nil && len(r.Baseline.PCRs) > 0:
		return r.Baseline, nil
	case r.Doc != nil:
		if b := FromValues(r.Doc.Sets, "a PCR file"); len(b.PCRs) > 0 {
			return b, nil
		}
	}
	return nil, errors.New("reference: names no PCR")
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
	// that no single candidate matches every bank), why a composite
	// digest did not, or which quoted PCRs a covering reference lacks.
	Reasons []string
	// Composite is set for a composite reference: what was hashed and
	// what came out.
	Composite *CompositeMatch
}

// CompositeMatch is the outcome of comparing values with a composite
// digest.
type CompositeMatch struct {
	// Selection is the reference's; Hash names the digest's algorithm.
	Selection, Hash string
	// Computed is the hash of the values over Selection (hex), "" when
	// the values do not cover it; Expected is the reference's digest.
	Computed, Expected string
}

// Format names the reference's kind for reports: the PCR file format or
// the baseline schema.
func (r *Reference) Format() string {
	if r.Label != "" {
		return r.Label
	}
	if r.Baseline != nil {
		return SchemaVersion
	}
	return string(r.Doc.Format)
}

// Compare checks got against every PCR the reference names; with banks
// given, only those banks of the reference are compared.
func (r *Reference) Compare(got pcr.Values, banks []pcr.Alg) (*Match, error) {
	keep := func(a pcr.Alg) bool { return len(banks) == 0 || slices.Contains(banks, a) }
	if r.Composite != nil {
		return r.Composite.compare(nil, got), nil
	}
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
	// A PCR's reason counts only where a compared row of it differs: with
	// banks given, a PCR may fail in a bank that is not compared.
	differs := map[int]bool{}
	for _, row := range m.Rows {
		differs[row.Index] = differs[row.Index] || row.Status != pcr.Match
	}
	for _, p := range res.PCRs {
		if !p.Matched && p.Reason != "" && differs[p.Index] {
			m.Reasons = append(m.Reasons, p.Reason)
		}
	}
	m.OK = len(m.Rows) > 0
	for _, row := range m.Rows {
		m.OK = m.OK && row.Status == pcr.Match
	}
	return m, nil
}

// CompareQuoted checks the values of a quote over quoted: as Compare for
// a baseline or PCR file, and then, for a reference that CoversQuoted,
// every quoted PCR must be one it names. A composite digest must be over
// exactly the quoted selection, banks in the same order (the order the
// TPM concatenates them in), and equal the hash of the values over it.
func (r *Reference) CompareQuoted(quoted pcr.Selection, got pcr.Values) (*Match, error) {
	if r.Composite != nil {
		return r.Composite.compare(nonEmpty(quoted), got), nil
	}
	if !r.CoversQuoted {
		return r.Compare(got, nil)
	}
	var banks []pcr.Alg
	for _, b := range nonEmpty(quoted) {
		banks = append(banks, b.Alg)
	}
	m, err := r.Compare(got, banks)
	if err != nil {
		return nil, err
	}
	var lacking []string
	for _, b := range quoted {
		for _, i := range b.PCRs {
			if r.names(b.Alg, i) {
				continue
			}
			row := pcr.Comparison{Alg: b.Alg, Bank: b.Alg.String(), Index: i, Status: pcr.Unreferenced}
			if v, ok := got.Get(b.Alg, i); ok {
				row.Got = hex.EncodeToString(v)
			}
			m.Rows = append(m.Rows, row)
			lacking = append(lacking, fmt.Sprintf("%s:%d", b.Alg, i))
		}
	}
	if len(lacking) > 0 {
		m.OK = false
		m.Reasons = append(m.Reasons, fmt.Sprintf("%s: quoted, but the reference names no value for %s, and it must name every quoted PCR",
			strings.Join(lacking, ", "), pluralIt(len(lacking))))
	}
	return m, nil
}

func pluralIt(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// names reports whether the reference has a value for PCR index of bank
// alg, in any candidate or alternative.
func (r *Reference) names(alg pcr.Alg, index int) bool {
	if r.Baseline != nil {
		for _, p := range r.Baseline.PCRs {
			if p.Index != index {
				continue
			}
			for _, cand := range append([]map[string]string{p.Values}, p.Variants...) {
				if _, ok := cand[alg.String()]; ok {
					return true
				}
			}
		}
		return false
	}
	for _, set := range r.Doc.Sets {
		if _, ok := set.Get(alg, index); ok {
			return true
		}
	}
	return false
}

// nonEmpty is sel without banks that select nothing; never nil, so a
// quote over no PCR is still a quoted selection.
func nonEmpty(sel pcr.Selection) pcr.Selection {
	out := pcr.Selection{}
	for _, b := range sel {
		if len(b.PCRs) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// compare checks got against the composite digest; quoted, when not nil,
// is the quote's selection, which must be the digest's.
func (c *Composite) compare(quoted pcr.Selection, got pcr.Values) *Match {
	want := nonEmpty(c.Selection)
	m := &Match{Alternatives: 1, Composite: &CompositeMatch{Selection: want.String(), Hash: c.Hash.String(), Expected: hex.EncodeToString(c.Digest)}}
	var notQuoted, notReferenced []string
	for _, b := range want {
		for _, i := range b.PCRs {
			row := pcr.Comparison{Alg: b.Alg, Bank: b.Alg.String(), Index: i, Expected: "(in the composite digest)", Status: pcr.Match}
			v, ok := got.Get(b.Alg, i)
			if quoted != nil && !quoted.Contains(b.Alg, i) || !ok {
				row.Status = pcr.Missing
				notQuoted = append(notQuoted, fmt.Sprintf("%s:%d", b.Alg, i))
			} else {
				row.Got = hex.EncodeToString(v)
			}
			m.Rows = append(m.Rows, row)
		}
	}
	for _, b := range quoted {
		for _, i := range b.PCRs {
			if !want.Contains(b.Alg, i) {
				row := pcr.Comparison{Alg: b.Alg, Bank: b.Alg.String(), Index: i, Status: pcr.Unreferenced}
				if v, ok := got.Get(b.Alg, i); ok {
					row.Got = hex.EncodeToString(v)
				}
				m.Rows = append(m.Rows, row)
				notReferenced = append(notReferenced, fmt.Sprintf("%s:%d", b.Alg, i))
			}
		}
	}
	switch {
	case len(notQuoted) > 0 || len(notReferenced) > 0:
		var parts []string
		if len(notReferenced) > 0 {
			parts = append(parts, "quoted but not in the composite: "+strings.Join(notReferenced, ", "))
		}
		if len(notQuoted) > 0 {
			word := "not quoted"
			if quoted == nil {
				word = "no value"
			}
			parts = append(parts, "in the composite but "+word+": "+strings.Join(notQuoted, ", "))
		}
		head := "the values do not cover the composite digest's selection " + want.String()
		if quoted != nil {
			head = fmt.Sprintf("the quote selects %s, the composite digest is over %s", quoted, want)
		}
		m.Reasons = []string{head + " (" + strings.Join(parts, "; ") + ")"}
		return m
	case quoted != nil && quoted.String() != want.String():
		m.Reasons = []string{fmt.Sprintf("the quote selects %s, the composite digest is over %s: the same PCRs, but the TPM concatenates the banks in the quote's order, so its pcrDigest is not the composite", quoted, want)}
		return m
	}
	d, err := want.CompositeDigest(c.Hash, got)
	if err != nil {
		m.Reasons = []string{err.Error()}
		return m
	}
	m.Composite.Computed = hex.EncodeToString(d)
	if bytes.Equal(d, c.Digest) {
		m.OK = true
		return m
	}
	for i := range m.Rows {
		m.Rows[i].Status = pcr.Mismatch
	}
	m.Reasons = []string{fmt.Sprintf("%s of the values of %s in selection order is %s, the composite digest is %s: at least one of those PCRs differs (a composite digest cannot say which)",
		c.Hash, want, m.Composite.Computed, m.Composite.Expected)}
	return m
}
