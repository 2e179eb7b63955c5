package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
)

// diffLogs100KB writes two logs of about 100 KB, the RHEL 8 fixture with
// its GRUB commands repeated, the second with one command changed and one
// event inserted, and returns their paths.
func diffLogs100KB(b *testing.B) (string, string) {
	b.Helper()
	orig, err := os.ReadFile(rhel8)
	if err != nil {
		b.Fatal(err)
	}
	grow := func(change bool) []byte {
		return tcglogtest.Edit(b, orig, func(ev *eventlog.Event) []*eventlog.Event {
			if ev.PCR != 8 {
				return []*eventlog.Event{ev}
			}
			out := []*eventlog.Event{ev}
			for i := range 7 {
				c := ev.Clone()
				if change && i == 2 && bytes.Contains(ev.Data, []byte("insmod xfs")) {
					c.Data = []byte("grub_cmd insmod ext2\x00")
					tcglogtest.Rehash(c, []byte("insmod ext2\x00"))
					out = append(out, c.Clone())
				}
				out = append(out, c)
			}
			return out
		})
	}
	dir := b.TempDir()
	a, c := filepath.Join(dir, "a.bin"), filepath.Join(dir, "b.bin")
	if err := os.WriteFile(a, grow(false), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(c, grow(true), 0o644); err != nil {
		b.Fatal(err)
	}
	return a, c
}

// BenchmarkDiff100KB is `goldenpcr diff A B` in process: both logs read,
// parsed and replayed, aligned, hinted and rendered as text, and with
// --html also as the page, written atomically.
func BenchmarkDiff100KB(b *testing.B) {
	a, c := diffLogs100KB(b)
	for _, p := range []string{a, c} {
		if fi, _ := os.Stat(p); fi.Size() < 90_000 {
			b.Fatalf("%s is %d bytes, want about 100 KB", p, fi.Size())
		}
	}
	b.Run("text", func(b *testing.B) {
		benchDiff(b, &diffOptions{Expected: a, Actual: []string{c}, Output: "text", Color: "never"})
	})
	b.Run("html", func(b *testing.B) {
		benchDiff(b, &diffOptions{Expected: a, Actual: []string{c}, Output: "text", Color: "never", HTML: filepath.Join(b.TempDir(), "report.html")})
	})
}

func benchDiff(b *testing.B, opts *diffOptions) {
	for b.Loop() {
		if err := runDiff(opts, nil, io.Discard); err == nil {
			b.Fatal("the logs differ; diff said they do not")
		}
	}
}
