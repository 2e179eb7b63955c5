package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/baseline"
)

// versionInfo is what `goldenpcr --version` and `goldenpcr version` print:
// where the binary came from and which baseline format it writes.
type versionInfo struct {
	// Version is the main module's version: a release tag when installed
	// as module@version, a pseudo-version (+dirty when the tree had
	// uncommitted changes) when built with VCS stamping, else "(devel)".
	Version string `json:"version" yaml:"version"`
	Module  string `json:"module,omitempty" yaml:"module,omitempty"`
	// Revision, RevisionTime and Modified come from VCS stamping, which
	// go run, go test and -buildvcs=false leave out.
	Revision       string `json:"revision,omitempty" yaml:"revision,omitempty"`
	RevisionTime   string `json:"revision_time,omitempty" yaml:"revision_time,omitempty"`
	Modified       bool   `json:"modified,omitempty" yaml:"modified,omitempty"`
	Go             string `json:"go" yaml:"go"`
	Platform       string `json:"platform" yaml:"platform"`
	BaselineFormat string `json:"baseline_format" yaml:"baseline_format"`
}

// readVersion reads the build information the Go linker embedded. It is
// called only when a version is asked for.
func readVersion() versionInfo {
	v := versionInfo{
		Version:        "(devel)",
		Go:             runtime.Version(),
		Platform:       runtime.GOOS + "/" + runtime.GOARCH,
		BaselineFormat: baseline.SchemaVersion,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module = bi.Main.Path
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.RevisionTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// short is the version on one line, as --version's first line: the module
// version, and for a "(devel)" build that records a revision, that too.
func (v versionInfo) short() string {
	s := v.Version
	if s == "(devel)" && v.Revision != "" {
		s += " " + shortRevision(v.Revision)
		if v.Modified {
			s += "+dirty"
		}
	}
	return s
}

func shortRevision(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

func versionText(w io.Writer, v versionInfo) error {
	rev := "not recorded in this build (go run, go test and -buildvcs=false leave it out)"
	if v.Revision != "" {
		rev = v.Revision
		if v.RevisionTime != "" {
			rev += ", committed " + v.RevisionTime
		}
		if v.Modified {
			rev += ", with uncommitted changes"
		}
	}
	_, err := fmt.Fprintf(w, "goldenpcr %s\nrevision:        %s\ngo:              %s %s\nbaseline format: %s\n",
		v.short(), rev, v.Go, v.Platform, v.BaselineFormat)
	return err
}

type versionOptions struct {
	Output string
}

func newVersionCmd() *cobra.Command {
	opts := &versionOptions{}
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision, Go version and baseline format (as --version)",
		Long: `Print goldenpcr's module version, the VCS revision it was built from (with
"uncommitted changes" when the tree was modified), the Go version it was built
with and the baseline format it writes (docs/baseline.md). -o json and -o yaml
print the same as data, for the records of a build pipeline.

A binary built by go run, go test or with -buildvcs=false records no revision
and prints version "(devel)"; one installed with go install module@version
prints that version.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runVersion(opts, c.OutOrStdout())
		},
	}
	outputFlag(c, &opts.Output)
	return c
}

func runVersion(opts *versionOptions, out io.Writer) error {
	v := readVersion()
	return render(out, opts.Output, v, func(w io.Writer) error { return versionText(w, v) })
}

// versionFlag gives the root command --version/-v, printing what the
// version command prints. cobra acts on the flag only when Version is
// set; the text comes from the template function below, so the build
// information is read when the version is asked for, not at every start.
func versionFlag(root *cobra.Command) {
	root.Version = "(see goldenpcr version)"
	root.Flags().BoolP("version", "v", false, "print the version, VCS revision, Go version and baseline format, and exit")
	root.SetVersionTemplate(`{{goldenpcrVersion}}`)
}

// The template function is registered once, before any command runs:
// cobra's function map is shared by every command and not locked.
func init() {
	cobra.AddTemplateFunc("goldenpcrVersion", func() (string, error) {
		var b strings.Builder
		err := versionText(&b, readVersion())
		return b.String(), err
	})
}
