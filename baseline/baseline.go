// Package baseline owns the golden-values document: for each PCR, the
// value a correct boot must leave in each bank, acceptable variants, and
// the expected event sequence with the provenance of every event (which
// artifact, its hash, which measurement rule). refvals computes it; event
// log replay, quote verification and the CoRIM and rattestation writers
// read it. The schema is versioned and documented in docs/baseline.md.
package baseline

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	Data       string     `json:"data,omitempty" yaml:"data,omitempty"`
	Provenance Provenance `json:"provenance" yaml:"provenance"`
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

// Row is one PCR of a comparison with a baseline.
type Row struct {
	pcr.Comparison `yaml:",inline"`
	// Variant is 0 for the primary value, i for Variants[i-1].
	Variant int `json:"variant,omitempty" yaml:"variant,omitempty"`
}

// Compare checks got against every PCR and bank the baseline names: each
// must equal the primary value or one of the PCR's variants. It fails
// closed: a named PCR missing from got, or a baseline naming nothing, is
// not a match.
func (b *Baseline) Compare(got pcr.Values) (rows []Row, ok bool, err error) {
	ok = len(b.PCRs) > 0
	for _, p := range b.PCRs {
		banks := make([]string, 0, len(p.Values))
		for bank := range p.Values {
			banks = append(banks, bank)
		}
		slices.SortFunc(banks, func(x, y string) int { return cmpAlg(x, y) })
		for _, bank := range banks {
			alg, err := pcr.ParseAlg(bank)
			if err != nil {
				return nil, false, fmt.Errorf("PCR %d: %w", p.Index, err)
			}
			row := Row{Comparison: pcr.Comparison{Alg: alg, Bank: alg.String(), Index: p.Index, Expected: p.Values[bank], Status: pcr.Missing}}
			if g, have := got.Get(alg, p.Index); have {
				row.Got = hex.EncodeToString(g)
				row.Status = pcr.Mismatch
				for i, cand := range append([]map[string]string{p.Values}, p.Variants...) {
					if want, named := cand[bank]; named && strings.EqualFold(want, row.Got) {
						row.Status, row.Variant, row.Expected = pcr.Match, i, want
						break
					}
				}
			}
			ok = ok && row.Status == pcr.Match
			rows = append(rows, row)
		}
	}
	return rows, ok, nil
}

func cmpAlg(x, y string) int {
	a, errA := pcr.ParseAlg(x)
	b, errB := pcr.ParseAlg(y)
	if errA != nil || errB != nil {
		return strings.Compare(x, y)
	}
	return int(a) - int(b)
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
			v := pcr.Values{}
			if err := setHexMap(v, p.Index, e.Digests); err != nil {
				return fmt.Errorf("baseline: PCR %d event %d: %w", p.Index, ei, err)
			}
			if err := v.Validate(); err != nil {
				return fmt.Errorf("baseline: PCR %d event %d: %w", p.Index, ei, err)
			}
		}
	}
	return nil
}

// Load reads a baseline document, or any PCR file the pcr package reads
// (final values only), so every --baseline flag takes both.
func Load(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if IsDocument(data) {
		b, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return b, nil
	}
	doc, err := pcr.Parse(data, pcr.ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: neither a goldenpcr baseline nor a PCR file: %w", path, err)
	}
	return FromValues(doc.Sets, path), nil
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
