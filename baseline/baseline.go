// Package baseline owns the golden-values document: for each PCR, the
// value a correct boot must leave in each bank, acceptable variants, and
// the expected event sequence with the provenance of every event (which
// artifact, its hash, which measurement rule). refvals computes it; event
// log replay, quote verification and the CoRIM and rattestation writers
// read it. The schema is versioned and documented in docs/baseline.md.
package baseline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// SchemaVersion identifies this layout; readers refuse other versions.
const SchemaVersion = "goldenpcr.baseline/v1"

// Baseline is the golden-values document.
type Baseline struct {
	Version  string   `json:"version" yaml:"version"`
	Metadata Metadata `json:"metadata" yaml:"metadata"`
	// PCRs are ascending by index.
	PCRs []PCR `json:"pcrs" yaml:"pcrs"`
}

// Metadata says how the baseline was made.
type Metadata struct {
	Tool        string  `json:"tool" yaml:"tool"`
	ToolVersion string  `json:"tool_version,omitempty" yaml:"tool_version,omitempty"`
	Inputs      []Input `json:"inputs,omitempty" yaml:"inputs,omitempty"`
	// Notes record what was not simulated or was assumed.
	Notes []string `json:"notes,omitempty" yaml:"notes,omitempty"`
}

// Input is one artifact a baseline was computed from.
type Input struct {
	Role   string `json:"role" yaml:"role"` // e.g. "uki", "efi-app", "db"
	Path   string `json:"path" yaml:"path"`
	SHA256 string `json:"sha256" yaml:"sha256"`
}

// PCR is the expectation for one PCR index.
type PCR struct {
	Index int `json:"pcr" yaml:"pcr"`
	// Values maps a bank name ("sha256") to the expected final value (hex).
	Values map[string]string `json:"values" yaml:"values"`
	// Variants are other acceptable final values, each a bank → hex map
	// (e.g. secure boot on and off).
	Variants []map[string]string `json:"variants,omitempty" yaml:"variants,omitempty"`
	// Events is the expected sequence extended into this PCR; empty for
	// a baseline made from a plain PCR file.
	Events []Event `json:"events,omitempty" yaml:"events,omitempty"`
}

// Event is one expected measurement.
type Event struct {
	Type string `json:"type" yaml:"type"`
	// Digests maps a bank name to the digest extended (hex).
	Digests map[string]string `json:"digests" yaml:"digests"`
	// Description is the decoded event data, for people.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Data is the event data the log should carry (hex), when known.
	Data string `json:"data,omitempty" yaml:"data,omitempty"`
	// Alternatives are the other digests this event may have, each a bank
	// → hex map like Digests: the allow-list of a value that changes from
	// boot to boot (a DRTM launch's boot parameters, say). The PCR's
	// variants hold the value of every combination.
	Alternatives []map[string]string `json:"alternatives,omitempty" yaml:"alternatives,omitempty"`
	Provenance   Provenance          `json:"provenance" yaml:"provenance"`
}

// Provenance ties an event to what produced it.
type Provenance struct {
	// Rule names the measurement rule, e.g. "systemd-stub: section name".
	Rule string `json:"rule" yaml:"rule"`
	// Artifact is the input file the digest was computed from, if any.
	Artifact       string `json:"artifact,omitempty" yaml:"artifact,omitempty"`
	ArtifactSHA256 string `json:"artifact_sha256,omitempty" yaml:"artifact_sha256,omitempty"`
}

// Values returns the primary expected values.
func (b *Baseline) Values() (pcr.Values, error) {
	v := pcr.Values{}
	for _, p := range b.PCRs {
		if err := setHexMap(v, p.Index, p.Values); err != nil {
			return nil, err
		}
	}
	return v, v.Validate()
}

func setHexMap(v pcr.Values, index int, m map[string]string) error {
	for bank, h := range m {
		alg, err := pcr.ParseAlg(bank)
		if err != nil {
			return fmt.Errorf("PCR %d: %w", index, err)
		}
		d, err := hex.DecodeString(h)
		if err != nil {
			return fmt.Errorf("PCR %d %s: value %q is not hex", index, bank, h)
		}
		v.Set(alg, index, d)
	}
	return nil
}

// Row is one bank of one PCR in a comparison with a baseline.
type Row struct {
	pcr.Comparison `yaml:",inline"`
	// Variant is the candidate the row was compared with, the same for
	// every row of a PCR: 0 for the primary value, i for Variants[i-1]. It
	// is the candidate that matched, or 0 when none did.
	Variant int `json:"variant,omitempty" yaml:"variant,omitempty"`
}

// PCRResult is the verdict on one PCR of a baseline.
type PCRResult struct {
	Index int `json:"pcr" yaml:"pcr"`
	// Matched: a single candidate (the primary value or one variant)
	// matched, and the values compared hold every bank the primary value
	// names.
	Matched bool `json:"matched" yaml:"matched"`
	// Candidate is the candidate that matched every bank compared (0 for
	// the primary value, i for Variants[i-1]), or -1 when none did.
	Candidate int `json:"candidate" yaml:"candidate"`
	// Reason says why the PCR did not match, naming it; "" when it did.
	Reason string `json:"reason,omitempty" yaml:"reason,omitempty"`
}

// Result is the outcome of comparing values with a baseline.
type Result struct {
	// Rows are the banks of every PCR, PCR by PCR, each compared with the
	// PCR's matching candidate (the primary value when none matched).
	Rows []Row
	// PCRs are the baseline's PCRs in its order.
	PCRs []PCRResult
	// OK: the baseline names at least one PCR and every one matched.
	OK bool
}

// Compare checks got against every PCR the baseline names; see Evaluate.
func (b *Baseline) Compare(got pcr.Values) (rows []Row, ok bool, err error) {
	r, err := b.Evaluate(got)
	if err != nil {
		return nil, false, err
	}
	return r.Rows, r.OK, nil
}

// Evaluate checks got against every PCR the baseline names. A PCR matches
// only when one candidate, its primary value or one of its variants,
// matches on its own: it equals got in every bank that both it and got
// hold, it names every bank of the primary value that got holds, and at
// least one bank was compared. Banks are never taken from different
// candidates. It fails closed: a bank the primary value names that got
// lacks is Missing and the PCR does not match, whatever the candidates
// say, and a baseline naming nothing is not a match.
func (b *Baseline) Evaluate(got pcr.Values) (*Result, error) {
	res := &Result{OK: len(b.PCRs) > 0}
	for _, p := range b.PCRs {
		rows, pr, err := evaluatePCR(p, got)
		if err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, rows...)
		res.PCRs = append(res.PCRs, pr)
		res.OK = res.OK && pr.Matched
	}
	return res, nil
}

// candidate is a primary value or a variant, decoded.
type candidate struct {
	name   string
	hex    map[pcr.Alg]string
	values map[pcr.Alg][]byte
}

func decodeCandidate(index int, name string, m map[string]string) (*candidate, error) {
	c := &candidate{name: name, hex: map[pcr.Alg]string{}, values: map[pcr.Alg][]byte{}}
	for bank, h := range m {
		alg, err := pcr.ParseAlg(bank)
		if err != nil {
			return nil, fmt.Errorf("PCR %d: %s: %w", index, name, err)
		}
		d, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("PCR %d %s: %s value %q is not hex", index, bank, name, h)
		}
		c.hex[alg], c.values[alg] = h, d
	}
	return c, nil
}

// matches reports whether c alone explains got for PCR index, and if not,
// why. primary lists the banks of the primary value.
func (c *candidate) matches(index int, got pcr.Values, primary []pcr.Alg) (bool, string) {
	compared := 0
	for _, alg := range sortedAlgs(c.values) {
		g, have := got.Get(alg, index)
		if !have {
			continue // a missing bank of the primary value fails the PCR anyway
		}
		compared++
		if !bytes.Equal(g, c.values[alg]) {
			return false, alg.String() + " differs"
		}
	}
	for _, alg := range primary {
		if _, have := got.Get(alg, index); have {
			if _, named := c.values[alg]; !named {
				return false, "names no " + alg.String() + " value, so nothing proves that bank"
			}
		}
	}
	if compared == 0 {
		return false, "none of its banks is in the values compared"
	}
	return true, ""
}

func evaluatePCR(p PCR, got pcr.Values) ([]Row, PCRResult, error) {
	pr := PCRResult{Index: p.Index, Candidate: -1}
	if len(p.Values) == 0 {
		return nil, pr, fmt.Errorf("PCR %d has no values", p.Index)
	}
	cands := make([]*candidate, 0, 1+len(p.Variants))
	for i, m := range append([]map[string]string{p.Values}, p.Variants...) {
		name := "primary value"
		if i > 0 {
			name = fmt.Sprintf("variant %d", i)
		}
		c, err := decodeCandidate(p.Index, name, m)
		if err != nil {
			return nil, pr, err
		}
		cands = append(cands, c)
	}
	primary := sortedAlgs(cands[0].values)
	var why []string
	for i, c := range cands {
		ok, reason := c.matches(p.Index, got, primary)
		if ok {
			pr.Candidate = i
			break
		}
		why = append(why, c.name+": "+reason)
	}
	var missing []string
	for _, alg := range primary {
		if _, have := got.Get(alg, p.Index); !have {
			missing = append(missing, alg.String())
		}
	}
	pr.Matched = pr.Candidate >= 0 && len(missing) == 0
	switch {
	case pr.Matched:
	case len(missing) == len(primary):
		pr.Reason = fmt.Sprintf("PCR %d is not in the values compared", p.Index)
	case pr.Candidate >= 0:
		pr.Reason = fmt.Sprintf("PCR %d: the values compared lack its %s bank", p.Index, strings.Join(missing, ", "))
	default:
		pr.Reason = fmt.Sprintf("PCR %d: no single candidate matches every bank (%s)", p.Index, strings.Join(why, "; "))
	}

	// The rows show the matching candidate, or the primary value.
	shown := max(pr.Candidate, 0)
	c := cands[shown]
	banks := slices.Clone(primary)
	for alg := range c.values {
		if _, have := got.Get(alg, p.Index); have && !slices.Contains(banks, alg) {
			banks = append(banks, alg)
		}
	}
	slices.Sort(banks)
	rows := make([]Row, 0, len(banks))
	for _, alg := range banks {
		want, wantHex := c.values[alg], c.hex[alg]
		if _, named := c.values[alg]; !named {
			want, wantHex = cands[0].values[alg], cands[0].hex[alg] // a primary bank got lacks
		}
		row := Row{Comparison: pcr.Comparison{Alg: alg, Bank: alg.String(), Index: p.Index, Expected: wantHex, Status: pcr.Missing}, Variant: shown}
		if g, have := got.Get(alg, p.Index); have {
			row.Got = hex.EncodeToString(g)
			row.Status = pcr.Mismatch
			if bytes.Equal(g, want) {
				row.Status = pcr.Match
			}
		}
		rows = append(rows, row)
	}
	return rows, pr, nil
}

func sortedAlgs[V any](m map[pcr.Alg]V) []pcr.Alg {
	algs := make([]pcr.Alg, 0, len(m))
	for a := range m {
		algs = append(algs, a)
	}
	slices.Sort(algs)
	return algs
}

// Sets returns every whole set of final values the baseline accepts: one
// candidate (the primary value or a variant) of each PCR, in every
// combination, the primary values first. It is what a format without
// per-PCR variants holds instead, as a CHARRA file's documents; more than
// limit sets is an error.
func (b *Baseline) Sets(limit int) ([]pcr.Values, error) {
	sets := []pcr.Values{{}}
	for _, p := range b.PCRs {
		cands := append([]map[string]string{p.Values}, p.Variants...)
		if len(sets)*len(cands) > limit {
			return nil, fmt.Errorf("baseline: its PCRs' variants combine into more than %d sets of values", limit)
		}
		next := make([]pcr.Values, 0, len(sets)*len(cands))
		for _, c := range cands {
			for _, s := range sets {
				v := s.Clone()
				if err := setHexMap(v, p.Index, c); err != nil {
					return nil, fmt.Errorf("baseline: %w", err)
				}
				next = append(next, v)
			}
		}
		sets = next
	}
	return sets, nil
}

// FromValues makes a baseline holding final values only, as read from a
// plain PCR file; each further alternative of the file becomes a variant.
func FromValues(sets []pcr.Values, source string) *Baseline {
	b := &Baseline{Version: SchemaVersion, Metadata: Metadata{Tool: "goldenpcr", Notes: []string{"final values only, read from " + source}}}
	byIndex := map[int]*PCR{}
	for si, set := range sets {
		for _, a := range set.Algs() {
			for _, i := range set.Indices(a) {
				p := byIndex[i]
				if p == nil {
					p = &PCR{Index: i, Values: map[string]string{}}
					byIndex[i] = p
				}
				h := hex.EncodeToString(set[a][i])
				if si == 0 {
					p.Values[a.String()] = h
					continue
				}
				for len(p.Variants) < si {
					p.Variants = append(p.Variants, map[string]string{})
				}
				p.Variants[si-1][a.String()] = h
			}
		}
	}
	for _, p := range byIndex {
		b.PCRs = append(b.PCRs, *p)
	}
	slices.SortFunc(b.PCRs, func(x, y PCR) int { return x.Index - y.Index })
	return b
}

// Parse reads a baseline document (YAML or JSON) and validates it.
func Parse(data []byte) (*Baseline, error) {
	var b Baseline
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if b.Version != SchemaVersion {
		return nil, fmt.Errorf("baseline: version %q, want %q", b.Version, SchemaVersion)
	}
	return &b, b.Validate()
}

// Validate checks indices, banks, hex values and digest sizes.
func (b *Baseline) Validate() error {
	seen := map[int]bool{}
	for _, p := range b.PCRs {
		if p.Index < 0 || p.Index >= pcr.NumPCRs || seen[p.Index] {
			return fmt.Errorf("baseline: PCR %d out of range or listed twice", p.Index)
		}
		seen[p.Index] = true
		if len(p.Values) == 0 {
			return fmt.Errorf("baseline: PCR %d has no values", p.Index)
		}
		for _, m := range append([]map[string]string{p.Values}, p.Variants...) {
			v := pcr.Values{}
			if err := setHexMap(v, p.Index, m); err != nil {
				return fmt.Errorf("baseline: %w", err)
			}
			if err := v.Validate(); err != nil {
				return fmt.Errorf("baseline: %w", err)
			}
		}
		for ei, e := range p.Events {
			for _, m := range append([]map[string]string{e.Digests}, e.Alternatives...) {
				v := pcr.Values{}
				if err := setHexMap(v, p.Index, m); err != nil {
					return fmt.Errorf("baseline: PCR %d event %d: %w", p.Index, ei, err)
				}
				if err := v.Validate(); err != nil {
					return fmt.Errorf("baseline: PCR %d event %d: %w", p.Index, ei, err)
				}
			}
		}
	}
	return nil
}

// IsDocument reports whether data is a goldenpcr baseline document (as
// opposed to a plain PCR file).
func IsDocument(data []byte) bool {
	var probe struct {
		Version string `json:"version" yaml:"version"`
	}
	if json.Unmarshal(data, &probe) != nil {
		if yaml.Unmarshal(data, &probe) != nil {
			return false
		}
	}
	return strings.HasPrefix(probe.Version, "goldenpcr.baseline/")
}

// FileSHA256 is the hex SHA-256 of a file's contents: what a baseline
// records for an input (Input.SHA256) and for an artifact
// (Provenance.ArtifactSHA256).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
