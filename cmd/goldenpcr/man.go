//go:build mangen

// `make man` builds goldenpcr with this file (go run -tags mangen) and runs
// its hidden __man command; the binary `make build` makes has neither the
// command nor cobra/doc (internal/mangen says why).

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/internal/mangen"
)

func init() {
	hiddenCommands = append(hiddenCommands, commandGroup{"__man", newManCmd})
}

func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "__man DIR",
		Short:  "Write a man page for every command into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pages, err := mangen.Write(newRootCmd(nil), args[0], "goldenpcr "+readVersion().short())
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "%d man pages in %s\n", len(pages), args[0])
			return nil
		},
	}
}
