// Package mangen writes the man pages (section 1) of a cobra command tree,
// one page per command, with cobra's doc package. It is a package of its
// own so that cobra/doc and its Markdown renderer, whose package
// initialisation costs about 0.4 ms, never reach the goldenpcr binary:
// only `make man` (cmd/goldenpcr/man.go, built with -tags mangen) and the
// tests link it.
package mangen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Write writes a page for root and each of its available commands (hidden
// ones and help left out; cobra's completion command included) into dir,
// named by command path: goldenpcr.1, goldenpcr-eventlog-replay.1, …;
// pages of root's name already in dir are removed first.
// source is the .TH footer's source, e.g. "goldenpcr v1.2.0". The date is
// SOURCE_DATE_EPOCH's when set, for reproducible pages, else today's.
//
// The tree is changed on the way (descriptions fenced, autogen tags off),
// so pass one built for this call. It returns the files it wrote.
func Write(root *cobra.Command, dir, source string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Pages of commands that no longer exist go.
	stale, _ := filepath.Glob(filepath.Join(dir, root.Name()+"*.1"))
	for _, f := range stale {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	root.InitDefaultCompletionCmd()
	var pages []string
	walk(root, func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		c.Long = verbatim(c.Long)
		pages = append(pages, filepath.Join(dir, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1"))
	})
	header := &doc.GenManHeader{Section: "1", Source: source, Manual: "goldenpcr manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return nil, fmt.Errorf("man pages: %w", err)
	}
	return pages, nil
}

// walk calls fn for c and every command below it that gets a page.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
			walk(sub, fn)
		}
	}
}

// verbatim fences a description: cobra/doc reads it as Markdown, while
// goldenpcr's descriptions are laid out for a terminal (aligned tables,
// indented lists, names with * and _), which --help shows as written.
func verbatim(long string) string {
	if long == "" || strings.Contains(long, "```") {
		return long
	}
	return "```\n" + strings.TrimRight(long, "\n") + "\n```"
}
