package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/internal/atomicfile"
	"github.com/goldenpcr/goldenpcr/internal/progress"
	"github.com/goldenpcr/goldenpcr/pcr"
)

type imaPolicyOptions struct {
	RootFS     string
	Format     string
	Hash       string
	LogHashAlg string
	Excludes   []string
	Workers    int
	OutFile    string
	Progress   string
	Output     string
}

func newIMAPolicyCmd() *cobra.Command {
	opts := &imaPolicyOptions{}
	c := &cobra.Command{
		Use:   "policy ROOTFS",
		Short: "Compute IMA reference values of a root filesystem (directory, tar or ext2/3/4 image) as a keylime policy or sha256sum list",
		Long: `Hash every regular file of a root filesystem, as a build produced it, into the
reference values 'goldenpcr ima check' and keylime compare IMA entries with.
ROOTFS is a directory, a tar archive, plain or compressed with gzip, xz,
zstd or bzip2, or an ext2, ext3 or ext4 file system image (all detected from
their bytes). Paths are recorded as the device will see them: absolute, from
the root of ROOTFS. Symlinks are skipped (the kernel records the path they
resolve to); hard links in an archive get their target's digest.

An ext2/3/4 image (a file or a block device, not a partitioned disk image)
is read in place, read-only, without mounting: extents, the ext2/3 block
map, sparse files, inline data, 32- and 64-bit layouts. Images using
encryption or compression, or whose journal needs recovery, are refused
with an error naming the feature; a damaged image fails with the inode and
byte offset of the damage.

--format keylime writes a keylime runtime policy (JSON, version 1) whose
"excludes" are the --exclude patterns; --format sha256sum writes a list that
'sha256sum -c' (run in ROOTFS) and 'goldenpcr ima check --policy' read.
--hash is the kernel's ima_hash (sha256 by default).

--exclude REGEX (repeatable) leaves out files whose absolute path it
matches from the start, e.g. '/var/.*' or '/etc/machine-id'.

Files are hashed on every core; a progress bar shows on stderr when it is a
terminal. With -O the output is written atomically and a summary printed;
-O refuses the input, any existing file inside a directory ROOTFS, and a symbolic
link, FIFO or device.`,
		Example: `  goldenpcr ima policy build/rootfs --exclude '/var/.*' --exclude '/tmp/.*' -O runtime-policy.json
  goldenpcr ima policy core-image-minimal.rootfs.tar.zst --format sha256sum -O rootfs.sha256sum
  goldenpcr ima policy core-image-minimal.rootfs.ext4 --exclude '/var/.*' -O runtime-policy.json
  goldenpcr ima check binary_runtime_measurements --policy runtime-policy.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.RootFS = args[0]
			return runIMAPolicy(opts, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().StringVar(&opts.Format, "format", "keylime", "output: keylime (runtime policy JSON) or sha256sum")
	c.Flags().StringVar(&opts.Hash, "hash", "sha256", "file digest algorithm (the kernel's ima_hash): sha1, sha256, sha384, sha512, sm3")
	c.Flags().StringVar(&opts.LogHashAlg, "log-hash-alg", "sha1", "keylime policy ima.log_hash_alg: the template hash algorithm of the lists")
	c.Flags().StringArrayVar(&opts.Excludes, "exclude", nil, "leave out paths this regular expression matches from their start (repeatable)")
	c.Flags().IntVar(&opts.Workers, "workers", 0, "files hashed at once (default: one per core)")
	c.Flags().StringVarP(&opts.OutFile, "output-file", "O", "", "write to this file atomically instead of stdout")
	c.Flags().StringVar(&opts.Progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	outputFlag(c, &opts.Output)
	return c
}

type imaPolicySummary struct {
	RootFS   string  `json:"rootfs" yaml:"rootfs"`
	Source   string  `json:"source" yaml:"source"`
	Output   string  `json:"output" yaml:"output"`
	Format   string  `json:"format" yaml:"format"`
	Hash     string  `json:"hash" yaml:"hash"`
	Files    int     `json:"files" yaml:"files"`
	Bytes    int64   `json:"bytes" yaml:"bytes"`
	Excluded int     `json:"excluded" yaml:"excluded"`
	Symlinks int     `json:"symlinks_skipped" yaml:"symlinks_skipped"`
	Other    int     `json:"other_skipped" yaml:"other_skipped"`
	Seconds  float64 `json:"seconds" yaml:"seconds"`
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runIMAPolicy(opts *imaPolicyOptions, stdout, stderr io.Writer) error {
	if opts.Format != "keylime" && opts.Format != "sha256sum" {
		return fmt.Errorf("--format: %q is not keylime or sha256sum", opts.Format)
	}
	alg, err := pcr.ParseAlg(opts.Hash)
	if err != nil {
		return fmt.Errorf("--hash: %w", err)
	}
	if _, err := pcr.ParseAlg(opts.LogHashAlg); err != nil {
		return fmt.Errorf("--log-hash-alg: %w", err)
	}
	ro := &ima.RootFSOptions{Hash: alg, Excludes: opts.Excludes, Workers: opts.Workers}
	show := false
	switch opts.Progress {
	case "always":
		show = true
	case "auto":
		f, ok := stderr.(*os.File)
		show = ok && isTerminal(f)
	case "never":
	default:
		return fmt.Errorf("--progress: %q is not auto, always or never", opts.Progress)
	}
	var bar *progress.Line
	if show {
		bar = progress.New(stderr, "hashing "+opts.RootFS)
		ro.Progress = bar.Set
	}
	start := time.Now()
	rv, err := ima.HashRootFS(opts.RootFS, ro)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	if err := rv.Validate(); err != nil {
		return fmt.Errorf("%s: %w", opts.RootFS, err)
	}
	var data []byte
	if opts.Format == "keylime" {
		if data, err = rv.KeylimePolicy(opts.LogHashAlg, time.Now()); err != nil {
			return err
		}
	} else {
		data = rv.ChecksumList()
	}
	if opts.OutFile == "" {
		_, err = stdout.Write(data)
		return err
	}
	// A directory ROOTFS is an input as a whole: -O refuses any path in it.
	if err := atomicfile.Write(opts.OutFile, data, 0o644, opts.RootFS); err != nil {
		return fmt.Errorf("-O: %w", err)
	}
	sum := imaPolicySummary{RootFS: opts.RootFS, Source: rv.Source, Output: opts.OutFile, Format: opts.Format, Hash: alg.String(),
		Files: len(rv.Files), Bytes: rv.Bytes, Excluded: rv.Excluded, Symlinks: rv.Symlinks, Other: rv.Other,
		Seconds: time.Since(start).Seconds()}
	return render(stdout, opts.Output, sum, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s (%s): %d files, %d bytes hashed with %s in %.2fs; %d excluded, %d symlinks and %d other entries skipped; %s policy written to %s\n",
			sum.RootFS, sum.Source, sum.Files, sum.Bytes, sum.Hash, sum.Seconds, sum.Excluded, sum.Symlinks, sum.Other, sum.Format, sum.OutFile())
		return err
	})
}

// OutFile names the output for the text summary.
func (s imaPolicySummary) OutFile() string { return s.Output }
