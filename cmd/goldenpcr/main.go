// Command goldenpcr turns what a TPM measured into something people can
// check, and what a build produced into the values a device must measure.
//
// This package only parses flags, calls library packages and renders their
// results; every command lives in a file of its own with an options struct
// and a run function that tests call directly.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes shared by every command.
const (
	exitOK       = 0 // verified / everything matched
	exitMismatch = 1 // evidence or values do not match
	exitUsage    = 2 // bad usage or unreadable input
)

// mismatchError marks an outcome that was computed correctly but does not
// match: the report is already printed, so main only sets exit code 1.
type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

func mismatch(format string, args ...any) error {
	return &mismatchError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	os.Exit(execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// execute runs the command line and maps its outcome to an exit code.
func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Output goes out in large writes instead of one per line: in small VMs
	// every syscall of a one-shot run shows in its time.
	out := bufio.NewWriterSize(stdout, 64<<10)
	root := newRootCmd(args)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(out)
	root.SetErr(stderr)
	err := root.Execute()
	if ferr := out.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("writing output: %w", ferr)
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "goldenpcr:", err)
	var mm *mismatchError
	if errors.As(err, &mm) {
		return exitMismatch
	}
	return exitUsage
}

// commandGroup is a top-level command, built on demand.
type commandGroup struct {
	name  string
	build func() *cobra.Command
}

// commandGroups are the top-level commands, each built on demand.
var commandGroups = []commandGroup{
	{"eventlog", newEventlogCmd},
	{"pcr", newPCRCmd},
	{"pe", newPECmd},
	{"refvals", newRefvalsCmd},
	{"verify", newVerifyCmd},
	{"ima", newIMACmd},
	{"rattestation", newRattestationCmd},
	{"version", newVersionCmd},
	{"corim", newCorimCmd},
	{"diff", newDiffCmd},
	{"policy", newPolicyCmd},
	{"seal", newSealCmd},
}

// hiddenCommands are top-level commands left out of the help, added by
// files built with a tag (man.go: `make man`).
var hiddenCommands []commandGroup

// newRootCmd builds the command tree. When args name a command group, only
// that group is built: registering every flag of every command is a
// measurable part of a one-shot run's start-up (README, Speed). --version
// builds the version command alone; help, completion and its __complete
// requests, and a misspelt command build every group.
func newRootCmd(args []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "goldenpcr",
		Short: "Measured-boot toolkit: parse, replay, predict and verify PCR values",
		Long: `goldenpcr reads what a TPM measured (TCG event logs, PCR files) and what a
build produced, and tells whether they agree.

Exit codes: 0 = ok / verified, 1 = evidence or values do not match,
2 = bad usage or unreadable input.

Every command that prints a report takes -o text|json|yaml (refvals also
baseline and pcrs); any other format is refused, with exit code 2, before
the command reads anything. goldenpcr --version prints the version, VCS
revision, Go version and baseline format; goldenpcr completion bash|zsh|fish
prints a shell completion script (docs/cli.md).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	defer checkOptionsFirst(root, args)
	versionFlag(root)
	if len(args) > 0 {
		name := args[0]
		if name == "--version" || name == "-v" {
			name = "version"
		}
		for _, g := range append(commandGroups, hiddenCommands...) {
			if name == g.name {
				root.AddCommand(g.build())
				return root
			}
		}
	}
	for _, g := range append(commandGroups, hiddenCommands...) {
		root.AddCommand(g.build())
	}
	return root
}

func newEventlogCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "eventlog",
		Short: "Decode and replay TCG PC Client event logs (binary_bios_measurements)",
	}
	c.AddCommand(newEventlogShowCmd(), newEventlogReplayCmd())
	return c
}

func newPCRCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "pcr",
		Short: "Convert and compare PCR value files of any common format",
	}
	c.AddCommand(newPCRConvertCmd(), newPCRDiffCmd())
	return c
}

// checkOptionsFirst makes every command refuse empty and repeated option
// values before anything else, positional arguments included, so the
// message names the real mistake.
func checkOptionsFirst(c *cobra.Command, args []string) {
	for _, sub := range c.Commands() {
		checkOptionsFirst(sub, args)
	}
	if c.HasSubCommands() {
		return // a group runs nothing; cobra's own check suggests a command
	}
	positional := c.Args
	c.Args = func(c *cobra.Command, pos []string) error {
		if err := refuseEmptyValues(c.Flags()); err != nil {
			return err
		}
		if err := refuseRepeated(c.Flags(), args); err != nil {
			return err
		}
		if positional == nil {
			return nil
		}
		return positional(c, pos)
	}
}

// refuseEmptyValues fails when an option was given an empty value: for
// every option of every command, an empty value would switch its check
// or input off as its absence does, and a script whose variable is unset
// must hear about it rather than silently lose the check.
func refuseEmptyValues(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		switch v := f.Value.(type) {
		case pflag.SliceValue:
			if len(v.GetSlice()) == 0 {
				err = fmt.Errorf("--%s: empty value", f.Name)
			}
			for _, s := range v.GetSlice() {
				if strings.TrimSpace(s) == "" {
					err = fmt.Errorf("--%s: empty value", f.Name)
				}
			}
		default:
			if strings.TrimSpace(f.Value.String()) == "" {
				err = fmt.Errorf("--%s: empty value", f.Name)
			}
		}
	})
	return err
}

// refuseRepeated fails when an option that takes one value is given more
// than once: the last would silently win, and "--nonce A --nonce B" is a
// mistake, not a choice. Options that take lists may repeat.
func refuseRepeated(fs *pflag.FlagSet, args []string) error {
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		var f *pflag.Flag
		inline := strings.Contains(a, "=")
		switch {
		case strings.HasPrefix(a, "--"):
			name, _, _ := strings.Cut(a[2:], "=")
			f = fs.Lookup(name)
		case len(a) >= 2 && a[0] == '-' && a[1] != '-':
			f = fs.ShorthandLookup(a[1:2])
			inline = inline || len(a) > 2
		}
		if f == nil {
			continue
		}
		if !inline && f.NoOptDefVal == "" {
			i++ // its value
		}
		if _, list := f.Value.(pflag.SliceValue); list {
			continue
		}
		if seen[f.Name] {
			return fmt.Errorf("--%s given more than once", f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

// readInput reads a file named on the command line, or stdin for "-",
// refusing more than max bytes.
func readInput(path string, stdin io.Reader, max int64) ([]byte, error) {
	r, err := openInput(path, stdin)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readLimited(r, path, max)
}

// openInput opens a file named on the command line, or stdin for "-".
func openInput(path string, stdin io.Reader) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(stdin), nil
	}
	return os.Open(path)
}
