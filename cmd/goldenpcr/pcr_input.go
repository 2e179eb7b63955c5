package main

import (
	"fmt"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// pcrReadFlags are the flags that say how to read a PCR file whose format
// does not say everything itself.
type pcrReadFlags struct {
	From string // format name; "" detects
	Sel  string // selection; required for -F values files
	Bank string // bank of map and evmctl files
}

// options turns the flags into pcr.ReadOptions; fromFlag and selFlag name
// the flags in error messages ("--from", "--from-a", "--against-sel").
func (f pcrReadFlags) options(fromFlag, selFlag string) (pcr.ReadOptions, error) {
	ro := pcr.ReadOptions{OptionName: pcrOptionFlag}
	if f.From != "" {
		format, err := pcr.ParseFormat(f.From)
		if err != nil {
			return ro, fmt.Errorf("%s: %w", fromFlag, err)
		}
		ro.Format = format
	}
	if f.Sel != "" {
		sel, err := pcr.ParseSelection(f.Sel)
		if err != nil {
			return ro, fmt.Errorf("%s: %w", selFlag, err)
		}
		ro.Selection = sel
	}
	if f.Bank != "" {
		alg, err := pcr.ParseAlg(f.Bank)
		if err != nil {
			return ro, fmt.Errorf("--bank: %w", err)
		}
		ro.Bank = alg
	}
	return ro, nil
}

// readPCRFile reads a PCR file of any format the pcr package knows, with the
// format and selection a command's flags gave (either may be empty).
func readPCRFile(path, format, sel, fromFlag, selFlag string) (*pcr.Document, error) {
	ro, err := pcrReadFlags{From: format, Sel: sel}.options(fromFlag, selFlag)
	if err != nil {
		return nil, err
	}
	return pcr.ReadFile(path, ro)
}

// pcrFormatHelp lists every PCR file format, one line each, for --help.
// pcrOptionFlags word pcr's options as the flags of the pcr commands.
var pcrOptionFlags = map[pcr.Option]string{pcr.OptionSelection: "--sel", pcr.OptionBank: "--bank"}

func pcrOptionFlag(o pcr.Option) string { return pcrOptionFlags[o] }

func pcrFormatHelp() string {
	var b strings.Builder
	for _, fi := range pcr.Formats {
		fmt.Fprintf(&b, "  %-11s %s\n", fi.Format, fi.Describe(pcrOptionFlag))
	}
	return strings.TrimRight(b.String(), "\n")
}

// onlyBank keeps bank alg of every set; a set without it is an error, so a
// conversion never writes an empty file.
func onlyBank(doc *pcr.Document, alg pcr.Alg, path string) ([]pcr.Values, error) {
	out := make([]pcr.Values, len(doc.Sets))
	for i, set := range doc.Sets {
		if len(set[alg]) == 0 {
			var have []string
			for _, a := range set.Algs() {
				have = append(have, a.String())
			}
			return nil, fmt.Errorf("%s has no %s values (it holds %s)", path, alg, strings.Join(have, ", "))
		}
		out[i] = pcr.Values{alg: set[alg]}
	}
	return out, nil
}
