package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// reference is what replayed or quoted PCRs are compared with: a goldenpcr
// baseline document (each PCR may allow variants), or a PCR file of any
// format the pcr package reads (a CHARRA file matches if any document does).
type reference struct {
	path string
	doc  *pcr.Document
	base *baseline.Baseline
}

// readReference reads a baseline or PCR file; format and sel apply to PCR
// files, and fromFlag/selFlag name those flags in errors.
func readReference(path, format, sel, fromFlag, selFlag string) (*reference, error) {
	if format == "" && sel == "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if baseline.IsDocument(data) {
			b, err := baseline.Parse(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return &reference{path: path, base: b}, nil
		}
	}
	doc, err := readPCRFile(path, format, sel, fromFlag, selFlag)
	if err != nil {
		return nil, err
	}
	return &reference{path: path, doc: doc}, nil
}

// compare checks got against the reference; with banks given, only those
// banks of the reference are compared.
func (r *reference) compare(got pcr.Values, banks []pcr.Alg) (*comparisonReport, error) {
	if r.base == nil {
		if len(banks) > 0 {
			restrictBanks(r.doc, banks)
		}
		idx, rows, ok := r.doc.Match(got)
		return &comparisonReport{File: r.path, Format: string(r.doc.Format), Alternative: idx, Matched: ok, Rows: rows}, nil
	}
	brows, ok, err := r.base.Compare(got)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	c := &comparisonReport{File: r.path, Format: baseline.SchemaVersion, Matched: ok}
	for _, row := range brows {
		if len(banks) > 0 && !slices.Contains(banks, row.Alg) {
			continue
		}
		c.Rows = append(c.Rows, row.Comparison)
	}
	if len(banks) > 0 {
		c.Matched = len(c.Rows) > 0
		for _, row := range c.Rows {
			c.Matched = c.Matched && row.Status == pcr.Match
		}
	}
	return c, nil
}

// restrictBanks keeps only the given banks of every alternative, so that
// --bank sha256 compares the sha256 values of a file that holds more.
func restrictBanks(doc *pcr.Document, banks []pcr.Alg) {
	for i, set := range doc.Sets {
		kept := pcr.Values{}
		for _, a := range banks {
			if b := set[a]; len(b) > 0 {
				kept[a] = b
			}
		}
		doc.Sets[i] = kept
	}
}
