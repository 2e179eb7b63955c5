package main

import (
	"fmt"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// reference is a baseline.Reference read from a file named on the command
// line: a goldenpcr baseline document (each PCR may allow variants), or a
// PCR file of any format the pcr package reads (a CHARRA file matches if
// any document does).
type reference struct {
	path string
	baseline.Reference
}

// readReference reads a baseline or PCR file through baseline.Load;
// format and sel apply to PCR files, and fromFlag/selFlag name those
// options in errors.
func readReference(path, format, sel, fromFlag, selFlag string) (*reference, error) {
	ro, err := pcrReadFlags{From: format, Sel: sel}.options(fromFlag, selFlag)
	if err != nil {
		return nil, err
	}
	ref, err := baseline.Load(path, ro)
	if err != nil {
		return nil, err
	}
	return &reference{path: path, Reference: *ref}, nil
}

// compare checks got against the reference; with banks given, only those
// banks of the reference are compared.
func (r *reference) compare(got pcr.Values, banks []pcr.Alg) (*comparisonReport, error) {
	m, err := r.Compare(got, banks)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	return &comparisonReport{File: r.path, Format: r.Format(), Alternative: m.Alternative, Matched: m.OK, Rows: m.Rows}, nil
}
