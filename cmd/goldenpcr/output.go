package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/internal/atomicfile"
)

// reportFormats are the -o formats of every command that prints a report;
// a command with formats of its own offers these first (registerOutput).
var reportFormats = []string{"text", "json", "yaml"}

// outputFlag registers -o/--output with the formats every command offers.
func outputFlag(c *cobra.Command, dst *string) {
	registerOutput(c, dst, "text", "output format: text, json or yaml", reportFormats...)
}

// registerOutput registers -o/--output, defaulting to def, that takes one
// of formats. A format outside them is refused while the flags are
// parsed, so the command fails before it reads or computes anything.
func registerOutput(c *cobra.Command, dst *string, def, usage string, formats ...string) {
	*dst = def
	c.Flags().VarP(&outputValue{dst: dst, formats: formats}, "output", "o", usage)
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

// outputValue is the value of -o/--output: a string that only takes the
// command's formats. A blank value is stored, so that it is refused with
// every other option's empty value (refuseEmptyValues).
type outputValue struct {
	dst     *string
	formats []string
}

func (v *outputValue) String() string {
	if v.dst == nil {
		return ""
	}
	return *v.dst
}

// Type is "string", as for the plain string flag -o was: the help
// shows the same "-o, --output string".
func (v *outputValue) Type() string { return "string" }

func (v *outputValue) Set(s string) error {
	if strings.TrimSpace(s) != "" && !slices.Contains(v.formats, s) {
		return fmt.Errorf("unknown output format (want %s)", orList(v.formats))
	}
	*v.dst = s
	return nil
}

// orList words a list for a message: "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// render writes v as JSON or YAML, or calls text for the human format.
func render(w io.Writer, format string, v any, text func(io.Writer) error) error {
	switch format {
	case "text", "":
		return text(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	}
	return fmt.Errorf("unknown output format %q (want text, json or yaml)", format)
}

// writeOutput writes data to stdout, or with -O (outFile) atomically to
// that file, never over one of inputs (internal/atomicfile).
func writeOutput(out io.Writer, data []byte, outFile string, inputs ...string) error {
	if outFile == "" {
		_, err := out.Write(data)
		return err
	}
	if err := atomicfile.Write(outFile, data, 0o644, inputs...); err != nil {
		return fmt.Errorf("-O: %w", err)
	}
	return nil
}
