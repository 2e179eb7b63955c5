package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/pcr"
)

func newIMACmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "ima",
		Short: "Parse, replay and check Linux IMA measurement lists; build IMA reference values",
	}
	c.AddCommand(newIMAShowCmd(), newIMAReplayCmd(), newIMACheckCmd(), newIMAPolicyCmd())
	return c
}

// imaListFlags say how to read a list whose layout the file does not tell.
type imaListFlags struct {
	TemplateHash string
	ByteOrder    string
}

func (f *imaListFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.TemplateHash, "template-hash", "", "algorithm of the listed template digests (default: detected; sha1 except in per-bank lists such as binary_runtime_measurements_sha256)")
	c.Flags().StringVar(&f.ByteOrder, "byte-order", "auto", "byte order of a binary list: auto, le (ima_canonical_fmt, x86, arm64) or be (s390x, ppc64)")
}

func (f *imaListFlags) options() (*ima.ReadOptions, error) {
	o := &ima.ReadOptions{}
	if f.TemplateHash != "" {
		a, err := pcr.ParseAlg(f.TemplateHash)
		if err != nil {
			return nil, fmt.Errorf("--template-hash: %w", err)
		}
		o.TemplateHash = a
	}
	switch strings.ToLower(f.ByteOrder) {
	case "", "auto":
	case "le", "little", "little-endian":
		o.ByteOrder = binary.LittleEndian
	case "be", "big", "big-endian":
		o.ByteOrder = binary.BigEndian
	default:
		return nil, fmt.Errorf("--byte-order: %q is not auto, le or be", f.ByteOrder)
	}
	return o, nil
}

// openIMAList opens a list of either format; the caller closes the file.
func openIMAList(path string, f *imaListFlags) (ima.Reader, ima.Format, *os.File, error) {
	o, err := f.options()
	if err != nil {
		return nil, "", nil, err
	}
	rd, format, file, err := ima.OpenFile(path, o)
	if err != nil {
		if file == nil && !os.IsNotExist(err) {
			err = fmt.Errorf("%s: %w", path, err)
		}
		return nil, "", nil, err
	}
	return rd, format, file, nil
}

// imaPCRInput is one --pcrs value: "[BANK,]FILE" as evmctl takes it.
type imaPCRInput struct {
	Bank pcr.Alg
	Path string
}

func parseIMAPCRFlag(v string) (imaPCRInput, error) {
	if bank, path, ok := strings.Cut(v, ","); ok {
		if a, err := pcr.ParseAlg(bank); err == nil {
			return imaPCRInput{Bank: a, Path: path}, nil
		}
	}
	return imaPCRInput{Path: v}, nil
}

// readIMAPCRs reads every --pcrs file and merges their values. A file with
// a bank prefix contributes only that bank (and an evmctl file, which does
// not name its bank, is read as that bank). A file holding alternatives
// (CHARRA, JSON arrays) must come alone; its sets are returned as such.
func readIMAPCRs(flags []string, format string) ([]pcr.Values, []string, error) {
	if len(flags) == 0 {
		return nil, nil, nil
	}
	merged := pcr.Values{}
	var files []string
	var alternatives []pcr.Values
	for _, fl := range flags {
		in, err := parseIMAPCRFlag(fl)
		if err != nil {
			return nil, nil, err
		}
		ro, err := pcrReadFlags{From: format}.options("--pcrs-format", "--pcrs")
		if err != nil {
			return nil, nil, err
		}
		ro.Bank = in.Bank
		doc, err := pcr.ReadFile(in.Path, ro)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, in.Path)
		sets := doc.Sets
		if in.Bank != 0 {
			if sets, err = onlyBank(doc, in.Bank, in.Path); err != nil {
				return nil, nil, err
			}
		}
		if len(sets) > 1 {
			if len(flags) > 1 {
				return nil, nil, fmt.Errorf("%s holds %d alternative PCR sets: give it as the only --pcrs", in.Path, len(sets))
			}
			alternatives = sets
			continue
		}
		for a, b := range sets[0] {
			for i, d := range b {
				merged.Set(a, i, d)
			}
		}
	}
	if alternatives != nil {
		return alternatives, files, nil
	}
	return []pcr.Values{merged}, files, nil
}

// replayBanks picks the banks to replay: --bank if given, else the banks
// of the PCR values (so a sha256-only check hashes nothing else), else
// ima.DefaultBanks.
func replayBanks(bankFlag []string, sets []pcr.Values) ([]pcr.Alg, error) {
	var banks []pcr.Alg
	for _, b := range bankFlag {
		a, err := pcr.ParseAlg(b)
		if err != nil {
			return nil, fmt.Errorf("--bank: %w", err)
		}
		banks = append(banks, a)
	}
	if len(banks) > 0 {
		return banks, nil
	}
	for _, set := range sets {
		for _, a := range set.Algs() {
			if a.Valid() && !containsAlg(banks, a) {
				banks = append(banks, a)
			}
		}
	}
	if len(banks) == 0 {
		return ima.DefaultBanks, nil
	}
	return banks, nil
}

func containsAlg(list []pcr.Alg, a pcr.Alg) bool {
	for _, b := range list {
		if a == b {
			return true
		}
	}
	return false
}

// tcgLogValues returns the replay of --tcg-log, the PCR values the
// boot_aggregate is checked against when given (nil when not).
func tcgLogValues(tcgLog string) (pcr.Values, error) {
	if tcgLog == "" {
		return nil, nil
	}
	f, err := os.Open(tcgLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := eventlog.ReplayLog(f, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tcgLog, err)
	}
	if res.Values == nil {
		return pcr.Values{}, nil // given, so checked: against nothing
	}
	return res.Values, nil
}

// hexOrDash shortens an empty value for text output.
func hexOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
