package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type imaShowOptions struct {
	List   string
	PCRs   string
	List2  imaListFlags
	Output string
}

func newIMAShowCmd() *cobra.Command {
	opts := &imaShowOptions{}
	c := &cobra.Command{
		Use:   "show LIST",
		Short: "Decode every entry of an IMA measurement list (binary or ASCII)",
		Long: `Decode every entry of an IMA measurement list: the kernel's
binary_runtime_measurements (host byte order or ima_canonical_fmt little-
endian, detected), the per-bank files of newer kernels
(binary_runtime_measurements_sha256, …), or ascii_runtime_measurements.

Text output prints each entry exactly as the kernel's ASCII list does, so
'goldenpcr ima show binary_runtime_measurements' reproduces
ascii_runtime_measurements. JSON and YAML print every decoded field: file
digest and algorithm, path, signature header (type, version, hash
algorithm, key id), buffers, appended-signature digest, EVM fields, and the
raw fields of templates goldenpcr does not know.

A malformed entry stops the listing with its index and byte offset (or
line) and exit code 2.`,
		Example: `  goldenpcr ima show /sys/kernel/security/ima/binary_runtime_measurements
  goldenpcr ima show binary_runtime_measurements_sha256 -o json | jq '.entries[] | select(.path | startswith("/usr/bin"))'`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.List = args[0]
			return runIMAShow(opts, c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&opts.PCRs, "pcr", "", "only entries of these PCRs, e.g. 10 or 10-11")
	opts.List2.register(c)
	outputFlag(c, &opts.Output)
	return c
}

// shownDigest is a file digest field.
type shownDigest struct {
	Algorithm string `json:"algorithm" yaml:"algorithm"`
	Type      string `json:"type,omitempty" yaml:"type,omitempty"`
	Value     string `json:"value" yaml:"value"`
}

func showDigest(d *ima.FileDigest) *shownDigest {
	if d == nil {
		return nil
	}
	return &shownDigest{Algorithm: d.Algo.String(), Type: d.Type, Value: hex.EncodeToString(d.Value)}
}

// shownSignature is a sig field with its header decoded.
type shownSignature struct {
	Type      string `json:"type,omitempty" yaml:"type,omitempty"`
	Version   int    `json:"version,omitempty" yaml:"version,omitempty"`
	HashAlgo  string `json:"hash_algo,omitempty" yaml:"hash_algo,omitempty"`
	KeyID     string `json:"keyid,omitempty" yaml:"keyid,omitempty"`
	Size      int    `json:"size" yaml:"size"`
	Raw       string `json:"raw" yaml:"raw"`
	Malformed string `json:"malformed,omitempty" yaml:"malformed,omitempty"`
}

func showSignature(b []byte) *shownSignature {
	if len(b) == 0 {
		return nil
	}
	s := &shownSignature{Raw: hex.EncodeToString(b), Size: len(b)}
	sig, err := ima.ParseSignature(b)
	if err != nil {
		s.Malformed = err.Error()
		return s
	}
	s.Type = map[byte]string{ima.XattrDigsig: "digsig", ima.XattrPortableDigsig: "evm-portable", ima.XattrVerityDigsig: "verity"}[sig.Type]
	s.Version = int(sig.Version)
	if sig.Version > 1 {
		s.HashAlgo = sig.HashAlgo.String()
		s.KeyID = fmt.Sprintf("%08x", sig.KeyID)
		s.Size = len(sig.Value)
	}
	return s
}

type shownField struct {
	ID   string `json:"id,omitempty" yaml:"id,omitempty"`
	Data string `json:"data" yaml:"data"`
}

// shownIMAEntry is one entry in JSON and YAML.
type shownIMAEntry struct {
	Index          int             `json:"index" yaml:"index"`
	Offset         *int64          `json:"offset,omitempty" yaml:"offset,omitempty"`
	Line           int             `json:"line,omitempty" yaml:"line,omitempty"`
	PCR            uint32          `json:"pcr" yaml:"pcr"`
	TemplateDigest string          `json:"template_digest" yaml:"template_digest"`
	Template       string          `json:"template" yaml:"template"`
	Violation      bool            `json:"violation,omitempty" yaml:"violation,omitempty"`
	Digest         *shownDigest    `json:"digest,omitempty" yaml:"digest,omitempty"`
	Path           string          `json:"path,omitempty" yaml:"path,omitempty"`
	Signature      *shownSignature `json:"signature,omitempty" yaml:"signature,omitempty"`
	Buffer         string          `json:"buffer,omitempty" yaml:"buffer,omitempty"`
	ModsigDigest   *shownDigest    `json:"modsig_digest,omitempty" yaml:"modsig_digest,omitempty"`
	Modsig         string          `json:"modsig,omitempty" yaml:"modsig,omitempty"`
	EVMSig         *shownSignature `json:"evmsig,omitempty" yaml:"evmsig,omitempty"`
	XattrNames     string          `json:"xattr_names,omitempty" yaml:"xattr_names,omitempty"`
	XattrLengths   string          `json:"xattr_lengths,omitempty" yaml:"xattr_lengths,omitempty"`
	XattrValues    string          `json:"xattr_values,omitempty" yaml:"xattr_values,omitempty"`
	UID            *uint32         `json:"uid,omitempty" yaml:"uid,omitempty"`
	GID            *uint32         `json:"gid,omitempty" yaml:"gid,omitempty"`
	Mode           string          `json:"mode,omitempty" yaml:"mode,omitempty"`
	// Fields holds the raw fields of a template goldenpcr does not know.
	Fields []shownField `json:"fields,omitempty" yaml:"fields,omitempty"`
}

func showEntry(e *ima.Entry, format ima.Format) (shownIMAEntry, error) {
	s := shownIMAEntry{Index: e.Index, Line: e.Line, PCR: e.PCR, TemplateDigest: hex.EncodeToString(e.TemplateDigest),
		Template: e.TemplateName, Violation: e.Violation()}
	if format == ima.FormatBinary {
		off := e.Offset
		s.Offset = &off
	}
	ev, err := e.Decode()
	if err != nil {
		return s, err
	}
	s.Digest, s.Path = showDigest(ev.Digest), ev.Path
	s.Signature, s.EVMSig = showSignature(ev.Signature), showSignature(ev.EVMSig)
	s.Buffer, s.Modsig = hex.EncodeToString(ev.Buffer), hex.EncodeToString(ev.Modsig)
	s.ModsigDigest = showDigest(ev.ModsigDigest)
	s.XattrNames, s.XattrLengths, s.XattrValues = ev.XattrNames, hex.EncodeToString(ev.XattrLengths), hex.EncodeToString(ev.XattrValues)
	s.UID, s.GID = ev.UID, ev.GID
	if ev.Mode != nil {
		s.Mode = fmt.Sprintf("%#o", *ev.Mode)
	}
	if e.Template == nil {
		for _, f := range ev.Fields {
			s.Fields = append(s.Fields, shownField{ID: f.ID, Data: hex.EncodeToString(f.Data)})
		}
	}
	return s, nil
}

type shownIMAList struct {
	File         string          `json:"file" yaml:"file"`
	Format       string          `json:"format" yaml:"format"`
	ByteOrder    string          `json:"byte_order,omitempty" yaml:"byte_order,omitempty"`
	TemplateHash string          `json:"template_hash" yaml:"template_hash"`
	Entries      []shownIMAEntry `json:"entries" yaml:"entries"`
}

func runIMAShow(opts *imaShowOptions, out io.Writer) error {
	var filter []int
	if opts.PCRs != "" {
		var err error
		if filter, err = pcr.ParsePCRList(opts.PCRs); err != nil {
			return fmt.Errorf("--pcr: %w", err)
		}
	}
	rd, format, f, err := openIMAList(opts.List, &opts.List2)
	if err != nil {
		return err
	}
	defer f.Close()
	keep := func(e *ima.Entry) bool {
		if filter == nil {
			return true
		}
		for _, p := range filter {
			if uint32(p) == e.PCR {
				return true
			}
		}
		return false
	}
	fail := func(err error) error { return fmt.Errorf("%s: %w", opts.List, err) }
	switch opts.Output {
	case "text", "":
		// Stream: a list can hold millions of entries.
		w := bufio.NewWriterSize(out, 64<<10)
		var line []byte
		for {
			e, err := rd.Next()
			if err == io.EOF {
				return w.Flush()
			}
			if err != nil {
				w.Flush()
				return fail(err)
			}
			if keep(e) {
				line = e.AppendASCII(line[:0])
				w.Write(line)
			}
		}
	case "json":
		return showIMAJSON(opts, rd, format, keep, out)
	}
	doc := shownIMAList{File: opts.List, Format: string(format), TemplateHash: rd.TemplateHash().String(), Entries: []shownIMAEntry{}}
	if format == ima.FormatBinary {
		doc.ByteOrder = rd.ByteOrder().String()
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err == nil && keep(e) {
			var s shownIMAEntry
			if s, err = showEntry(e, format); err == nil {
				doc.Entries = append(doc.Entries, s)
			}
		}
		if err != nil {
			return fail(err)
		}
	}
	doc.TemplateHash = rd.TemplateHash().String()
	return render(out, opts.Output, doc, nil)
}

// showIMAJSON streams the JSON document entry by entry.
func showIMAJSON(opts *imaShowOptions, rd ima.Reader, format ima.Format, keep func(*ima.Entry) bool, out io.Writer) error {
	w := bufio.NewWriterSize(out, 64<<10)
	defer w.Flush()
	started, shown := false, 0
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", opts.List, err)
		}
		if !started {
			// The header waits for the first entry: an ASCII list tells its
			// template hash algorithm only there.
			head := fmt.Sprintf("{\n  \"file\": %s,\n  \"format\": %q,\n", jsonString(opts.List), format)
			if format == ima.FormatBinary {
				head += fmt.Sprintf("  \"byte_order\": %q,\n", rd.ByteOrder().String())
			}
			head += fmt.Sprintf("  \"template_hash\": %q,\n  \"entries\": [", rd.TemplateHash())
			w.WriteString(head)
			started = true
		}
		if !keep(e) {
			continue
		}
		s, err := showEntry(e, format)
		if err != nil {
			return fmt.Errorf("%s: %w", opts.List, err)
		}
		b, err := json.MarshalIndent(s, "    ", "  ")
		if err != nil {
			return err
		}
		if shown > 0 {
			w.WriteByte(',')
		}
		w.WriteString("\n    ")
		w.Write(b)
		shown++
	}
	if !started {
		return render(w, "json", shownIMAList{File: opts.List, Format: string(format), TemplateHash: rd.TemplateHash().String(), Entries: []shownIMAEntry{}}, nil)
	}
	if shown > 0 {
		w.WriteString("\n  ")
	}
	w.WriteString("]\n}\n")
	return nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
