package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/internal/loadcache"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// reference is a baseline.Reference read from a file named on the command
// line: a goldenpcr baseline document (each PCR may allow variants), a
// PCR file of any format the pcr package reads (a CHARRA file matches if
// any document does), or a PARSEC_TPM or TPM_ENACTTRUST CoRIM.
type reference struct {
	path string
	baseline.Reference
	// corim is the decoded CoRIM when the file is one, for its trust
	// anchors.
	corim *corim.Decoded
}

// readReference reads a baseline, PCR file or CoRIM; format and sel apply
// to PCR files (sel is also the PCR selection of a TPM_ENACTTRUST CoRIM),
// and fromFlag/selFlag name those options in errors.
func readReference(path, format, sel, fromFlag, selFlag string) (*reference, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseReference(path, data, format, sel, fromFlag, selFlag)
}

// maxReferenceFile bounds a reference read for a request: baselines and
// CoRIMs are kilobytes, a CHARRA file of many documents a few megabytes.
const maxReferenceFile = 64 << 20

// loadReference is readReference for the reference a request's field
// names, through the batch's cache.
func loadReference(src requestSource, field, path, format, sel, fromFlag, selFlag string) (*reference, error) {
	ref, err := loadcache.Load(src.files(), src.path(path), "reference\x00"+format+"\x00"+sel, maxReferenceFile, func(data []byte) (*reference, error) {
		return parseReference(src.path(path), data, format, sel, fromFlag, selFlag)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.name(field), err)
	}
	return ref, nil
}

// parseReference reads the contents of a reference file (readReference).
func parseReference(path string, data []byte, format, sel, fromFlag, selFlag string) (*reference, error) {
	if corim.IsCoRIM(data) {
		if format != "" {
			return nil, fmt.Errorf("%s is a CoRIM: %s is for PCR files", path, fromFlag)
		}
		return readCorimReference(path, data, sel, selFlag)
	}
	ro, err := pcrReadFlags{From: format, Sel: sel}.options(fromFlag, selFlag)
	if err != nil {
		return nil, err
	}
	ref, err := baseline.LoadData(path, data, ro)
	if err != nil {
		return nil, err
	}
	return &reference{path: path, Reference: *ref}, nil
}

// readCorimReference decodes and validates a CoRIM and turns it into the
// reference its scheme appraises quotes against; sel is the selection of
// a TPM_ENACTTRUST CoRIM's composite digest, given with selFlag.
func readCorimReference(path string, data []byte, sel, selFlag string) (*reference, error) {
	d, err := corim.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var s pcr.Selection
	if sel != "" {
		if s, err = pcr.ParseSelection(sel); err != nil {
			return nil, fmt.Errorf("%s: %w", selFlag, err)
		}
	}
	ref, err := corim.Reference(d, s)
	switch {
	case errors.Is(err, corim.ErrNoSelection):
		return nil, fmt.Errorf("%s: %w (%s, the --pcrs of corim create, e.g. sha256:0-7)", path, err, selFlag)
	case errors.Is(err, corim.ErrSelectionUnused):
		return nil, fmt.Errorf("%s: %w: drop %s", path, err, selFlag)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &reference{path: path, Reference: *ref, corim: d}, nil
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
