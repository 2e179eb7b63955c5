package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/pcr"
)

type pcrDiffOptions struct {
	A, B         string
	FromA, FromB string
	Sel          string
	Bank         string
	Output       string
}

func newPCRDiffCmd() *cobra.Command {
	opts := &pcrDiffOptions{}
	c := &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two PCR value files of any formats, PCR by PCR",
		Long: `Compare the PCR values of two files, which may be in different formats
(detected unless --from-a/--from-b name them):

` + pcrFormatHelp() + `

Without --sel the PCRs both files name are compared, bank by bank and index
by index; PCRs only one file names are listed as not compared. With --sel
exactly the selected PCRs are compared, and one missing from either file is a
difference. --sel also gives the selection of -F values files, and --bank the
bank of map and evmctl files (and limits the comparison to that bank).

A CHARRA reference file (or a JSON array / YAML stream) holds alternative
acceptable sets: the files are equal if any alternative of A equals any
alternative of B, and the report shows that pair, or the closest pair.

Exit codes: 0 = the compared PCRs are equal, 1 = some differ or are
missing, 2 = bad usage or an unreadable file (also when the files have no
PCR in common).`,
		Example: `  goldenpcr pcr diff measured.yaml golden.json
  goldenpcr pcr diff pcrs.bin reference-pcrs.yml --sel sha256:0-9
  goldenpcr pcr diff a.values b.serialized --from-a values --sel sha1:0,1,7+sha256:0,7
  goldenpcr pcr diff sha256.pcrs golden.map --bank sha256 -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			opts.A, opts.B = args[0], args[1]
			return runPCRDiff(opts, c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&opts.FromA, "from-a", "", "format of A (default: detected)")
	c.Flags().StringVar(&opts.FromB, "from-b", "", "format of B (default: detected)")
	c.Flags().StringVar(&opts.Sel, "sel", "", "PCRs to compare, e.g. sha256:0-7; also reads values files")
	c.Flags().StringVar(&opts.Bank, "bank", "", "bank of map/evmctl files; compare only this bank")
	outputFlag(c, &opts.Output)
	return c
}

// Row statuses of pcr diff.
const (
	diffMatch    = "match"
	diffMismatch = "mismatch"
	diffMissingA = "missing-a"
	diffMissingB = "missing-b"
)

type pcrDiffRow struct {
	Bank   string `json:"bank" yaml:"bank"`
	Index  int    `json:"pcr" yaml:"pcr"`
	A      string `json:"a,omitempty" yaml:"a,omitempty"`
	B      string `json:"b,omitempty" yaml:"b,omitempty"`
	Status string `json:"status" yaml:"status"`
}

type pcrDiffSide struct {
	File   string `json:"file" yaml:"file"`
	Format string `json:"format" yaml:"format"`
	// Alternative is the 1-based set compared, of Alternatives.
	Alternative  int `json:"alternative" yaml:"alternative"`
	Alternatives int `json:"alternatives" yaml:"alternatives"`
	// NotCompared lists PCRs only this file names, as a selection.
	NotCompared string `json:"not_compared,omitempty" yaml:"not_compared,omitempty"`
}

type pcrDiffReport struct {
	A     pcrDiffSide  `json:"a" yaml:"a"`
	B     pcrDiffSide  `json:"b" yaml:"b"`
	Equal bool         `json:"equal" yaml:"equal"`
	Rows  []pcrDiffRow `json:"rows" yaml:"rows"`
}

func runPCRDiff(opts *pcrDiffOptions, out io.Writer) error {
	ra, err := pcrReadFlags{From: opts.FromA, Sel: opts.Sel, Bank: opts.Bank}.options("--from-a", "--sel")
	if err != nil {
		return err
	}
	rb, err := pcrReadFlags{From: opts.FromB, Sel: opts.Sel, Bank: opts.Bank}.options("--from-b", "--sel")
	if err != nil {
		return err
	}
	docA, err := pcr.ReadFile(opts.A, ra)
	if err != nil {
		return err
	}
	docB, err := pcr.ReadFile(opts.B, rb)
	if err != nil {
		return err
	}
	sel, bank := ra.Selection, ra.Bank

	// Try every pair of alternatives; keep the first equal one, else the
	// one with the fewest differences.
	bi, bj, best := -1, -1, -1
	var rows []pcrDiffRow
	for i, a := range docA.Sets {
		for j, b := range docB.Sets {
			r, bad := diffValues(a, b, sel, bank)
			if len(r) == 0 {
				continue
			}
			if best < 0 || bad < best {
				bi, bj, best, rows = i, j, bad, r
			}
			if bad == 0 {
				break
			}
		}
		if best == 0 {
			break
		}
	}
	if best < 0 {
		return fmt.Errorf("%s and %s name no PCR in common (%s: %s; %s: %s); nothing to compare",
			opts.A, opts.B, opts.A, docA.Sets[0].Selection(), opts.B, docB.Sets[0].Selection())
	}
	rep := pcrDiffReport{
		A:     pcrDiffSide{File: opts.A, Format: string(docA.Format), Alternative: bi + 1, Alternatives: len(docA.Sets)},
		B:     pcrDiffSide{File: opts.B, Format: string(docB.Format), Alternative: bj + 1, Alternatives: len(docB.Sets)},
		Equal: best == 0,
		Rows:  rows,
	}
	if sel == nil {
		a, b := docA.Sets[bi], docB.Sets[bj]
		rep.A.NotCompared = onlyIn(a, b, bank).String()
		rep.B.NotCompared = onlyIn(b, a, bank).String()
	}
	if err := render(out, opts.Output, rep, func(w io.Writer) error { return pcrDiffText(w, &rep) }); err != nil {
		return err
	}
	if !rep.Equal {
		return mismatch("%d of %d PCRs differ between %s and %s", best, len(rows), opts.A, opts.B)
	}
	return nil
}

// diffValues compares a and b over sel, or over the PCRs both hold (of
// bank, when set), and counts the rows that are not equal.
func diffValues(a, b pcr.Values, sel pcr.Selection, bank pcr.Alg) (rows []pcrDiffRow, bad int) {
	if sel == nil {
		sel = common(a, b, bank)
	}
	for _, bs := range sel {
		for _, i := range bs.PCRs {
			da, okA := a.Get(bs.Alg, i)
			db, okB := b.Get(bs.Alg, i)
			row := pcrDiffRow{Bank: bs.Alg.String(), Index: i, A: hex.EncodeToString(da), B: hex.EncodeToString(db)}
			switch {
			case !okA:
				row.Status = diffMissingA
			case !okB:
				row.Status = diffMissingB
			case bytes.Equal(da, db):
				row.Status = diffMatch
			default:
				row.Status = diffMismatch
			}
			if row.Status != diffMatch {
				bad++
			}
			rows = append(rows, row)
		}
	}
	return rows, bad
}

// common returns the PCRs both a and b hold, of bank alone when bank is set.
func common(a, b pcr.Values, bank pcr.Alg) pcr.Selection {
	var sel pcr.Selection
	for _, alg := range a.Algs() {
		if bank != 0 && alg != bank {
			continue
		}
		var pcrs []int
		for _, i := range a.Indices(alg) {
			if _, ok := b.Get(alg, i); ok {
				pcrs = append(pcrs, i)
			}
		}
		if len(pcrs) > 0 {
			sel = append(sel, pcr.BankSelection{Alg: alg, PCRs: pcrs})
		}
	}
	return sel
}

// onlyIn returns the PCRs x holds and y does not.
func onlyIn(x, y pcr.Values, bank pcr.Alg) pcr.Selection {
	var sel pcr.Selection
	for _, alg := range x.Algs() {
		var pcrs []int
		for _, i := range x.Indices(alg) {
			if _, ok := y.Get(alg, i); !ok || (bank != 0 && alg != bank) {
				pcrs = append(pcrs, i)
			}
		}
		if len(pcrs) > 0 {
			sel = append(sel, pcr.BankSelection{Alg: alg, PCRs: pcrs})
		}
	}
	return sel
}

func shortHex(s string) string {
	switch {
	case s == "":
		return "-"
	case len(s) > 16:
		return s[:16] + "…"
	}
	return s
}

func pcrDiffText(w io.Writer, rep *pcrDiffReport) error {
	side := func(name string, s pcrDiffSide) {
		fmt.Fprintf(w, "%s: %s (%s", name, s.File, s.Format)
		if s.Alternatives > 1 {
			fmt.Fprintf(w, ", alternative %d of %d", s.Alternative, s.Alternatives)
		}
		fmt.Fprintln(w, ")")
	}
	side("A", rep.A)
	side("B", rep.B)
	fmt.Fprintf(w, "%-7s %3s  %-17s  %-17s  %s\n", "BANK", "PCR", "A", "B", "STATUS")
	bad := 0
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "%-7s %3d  %-17s  %-17s  %s\n", r.Bank, r.Index, shortHex(r.A), shortHex(r.B), r.Status)
		if r.Status != diffMatch {
			bad++
			if r.Status == diffMismatch {
				fmt.Fprintf(w, "%13s %s\n%13s %s\n", "A", r.A, "B", r.B)
			}
		}
	}
	if rep.A.NotCompared != "" {
		fmt.Fprintf(w, "not compared, only in A: %s\n", rep.A.NotCompared)
	}
	if rep.B.NotCompared != "" {
		fmt.Fprintf(w, "not compared, only in B: %s\n", rep.B.NotCompared)
	}
	if bad == 0 {
		fmt.Fprintf(w, "equal: all %d compared PCRs match\n", len(rep.Rows))
	} else {
		fmt.Fprintf(w, "different: %d of %d compared PCRs differ\n", bad, len(rep.Rows))
	}
	return nil
}
