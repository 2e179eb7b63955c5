package ima

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/goldenpcr/goldenpcr/internal/ext4"
	"github.com/goldenpcr/goldenpcr/internal/pipeline"
	"github.com/goldenpcr/goldenpcr/internal/progress"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// RootFSOptions tune reference value generation.
type RootFSOptions struct {
	// Hash is the file digest algorithm, the kernel's ima_hash; default
	// sha256.
	Hash pcr.Alg
	// Excludes are regular expressions matched from the start of each
	// file's absolute path in the image (as keylime applies them);
	// matching files are not hashed, and a keylime policy lists the
	// patterns so its verifier skips them too.
	Excludes []string
	// Workers hash files in parallel; default runtime.NumCPU().
	Workers int
	// Progress, if set, is called from time to time with the bytes hashed
	// (or, for an archive, read) and the total, 0 when unknown.
	Progress func(done, total int64)
}

// RefFile is one file's reference digest.
type RefFile struct {
	Path   string
	Digest []byte
}

// RefValues are the digests of every regular file of a root filesystem,
// by absolute path inside it.
type RefValues struct {
	Hash  pcr.Alg
	Files []RefFile // sorted by path
	// Excludes are the patterns the files were filtered with.
	Excludes []string
	// Counts of what was left out.
	Excluded, Symlinks, Other int
	Bytes                     int64
	Source                    string // "directory", "tar", "tar+gzip", …
}

// maxBuffered bounds the file contents an archive reader hands to the
// hashing workers in memory; larger files are hashed while read.
const maxBuffered = 8 << 20

// HashRootFS computes reference values for a directory, or a tar archive
// (plain, gzip, xz, zstd or bzip2, detected from its first bytes), or an
// ext2, ext3 or ext4 file system image (the superblock magic), read in
// place by internal/ext4.
func HashRootFS(root string, opts *RootFSOptions) (*RefValues, error) {
	o, err := rootFSDefaults(opts)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return hashDir(root, o)
	}
	f, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var head [ext4.MagicOffset + 2]byte
	n, _ := io.ReadFull(f, head[:])
	if n == len(head) && binary.LittleEndian.Uint16(head[ext4.MagicOffset:]) == ext4.Magic && !archiveMagic(head[:]) {
		// A block device's Stat size is 0: ask the end.
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, err
		}
		rv, err := hashExt4(f, size, o)
		if err != nil {
			return nil, fmt.Errorf("%s: ext2/3/4 file system image: %w", root, err)
		}
		return rv, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	counter := &countingReader{r: f}
	total := st.Size()
	stop := func() {}
	if o.Progress != nil {
		stop = progress.Poll(func() { o.Progress(counter.n.Load(), total) })
	}
	rv, err := hashTar(counter, o)
	stop()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root, err)
	}
	if o.Progress != nil {
		o.Progress(total, total)
	}
	return rv, nil
}

// archiveMagic reports a compressed stream or a ustar header at the start,
// so an archive whose bytes 1080-1081 happen to be 0xEF53 is not taken for
// an ext2/3/4 image.
func archiveMagic(head []byte) bool {
	for _, m := range [][]byte{{0x1f, 0x8b}, {0xfd, '7', 'z', 'X', 'Z', 0}, {0x28, 0xb5, 0x2f, 0xfd}, []byte("BZh")} {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return len(head) > 262 && string(head[257:262]) == "ustar"
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func rootFSDefaults(opts *RootFSOptions) (*rootFSRun, error) {
	o := &rootFSRun{}
	if opts != nil {
		o.RootFSOptions = *opts
	}
	if o.Hash == 0 {
		o.Hash = pcr.SHA256
	}
	if !o.Hash.Valid() {
		return nil, &pcr.UnsupportedAlgError{ID: uint16(o.Hash)}
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if len(o.Excludes) > 0 {
		for _, e := range o.Excludes {
			if _, err := regexp.Compile(e); err != nil {
				return nil, fmt.Errorf("exclude %q: %w", e, err)
			}
		}
		o.exclude = regexp.MustCompile("^(?:" + strings.Join(o.Excludes, "|") + ")")
	}
	return o, nil
}

type rootFSRun struct {
	RootFSOptions
	exclude *regexp.Regexp
}

func (o *rootFSRun) excluded(p string) bool { return o.exclude != nil && o.exclude.MatchString(p) }

// hashJob is a file to hash: from disk (path) or from an ext4 image (ext).
type hashJob struct {
	name string // absolute path in the image
	disk string
	ext  *ext4.File
	size int64
	idx  int
}

// hashDir walks the tree first (metadata only), so progress has a total,
// then hashes the regular files on all workers.
func hashDir(root string, o *rootFSRun) (*RefValues, error) {
	rv := &RefValues{Hash: o.Hash, Excludes: o.Excludes, Source: "directory"}
	var jobs []hashJob
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := "/" + filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t&fs.ModeSymlink != 0:
			// The kernel records the path a symlink resolves to.
			rv.Symlinks++
			return nil
		case !t.IsRegular():
			rv.Other++
			return nil
		}
		if o.excluded(name) {
			rv.Excluded++
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		jobs = append(jobs, hashJob{name: name, disk: p, size: info.Size(), idx: len(jobs)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hashJobs(rv, jobs, total, o)
}

// hashExt4 walks an ext2/3/4 image's directories from the root (metadata
// only), then hashes the regular files on all workers, reading each one's
// blocks from the image. Symlinks, devices and other inodes are counted
// and skipped as in a directory.
func hashExt4(r io.ReaderAt, size int64, o *rootFSRun) (*RefValues, error) {
	fsys, err := ext4.Open(r, size)
	if err != nil {
		return nil, err
	}
	rv := &RefValues{Hash: o.Hash, Excludes: o.Excludes, Source: fsys.Kind() + " image"}
	var jobs []hashJob
	var total int64
	err = fsys.Walk(func(f *ext4.File) error {
		switch f.Type {
		case ext4.Symlink:
			rv.Symlinks++
			return nil
		case ext4.Other:
			rv.Other++
			return nil
		}
		if o.excluded(f.Path) {
			rv.Excluded++
			return nil
		}
		total += f.Size
		jobs = append(jobs, hashJob{name: f.Path, ext: f, size: f.Size, idx: len(jobs)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return hashJobs(rv, jobs, total, o)
}

// hashJobs hashes files from disk or from an ext4 image on all workers,
// in chunks of a few files, so that many small files cost few hand-offs.
func hashJobs(rv *RefValues, jobs []hashJob, total int64, o *rootFSRun) (*RefValues, error) {
	rv.Files = make([]RefFile, len(jobs))
	var done atomic.Int64
	stop := func() {}
	if o.Progress != nil {
		stop = progress.Poll(func() { o.Progress(done.Load(), total) })
	}
	defer stop()
	type chunk struct {
		jobs []hashJob
		err  error
	}
	p := pipeline.Start(pipeline.Config[chunk]{
		Workers: o.Workers,
		Worker: func() func(*chunk) {
			h := o.Hash.New()
			buf := make([]byte, 256<<10)
			return func(c *chunk) {
				for _, j := range c.jobs {
					n, err := j.hash(h, buf)
					done.Add(n)
					if err != nil {
						c.err = err
						return
					}
					rv.Files[j.idx] = RefFile{Path: j.name, Digest: h.Sum(nil)}
				}
			}
		},
		// Errors are reported in input order: the first file that failed.
		Drains: []func(*chunk) error{func(c *chunk) error { return c.err }},
	})
	for i := 0; i < len(jobs) && p.Err() == nil; {
		c := p.Next()
		c.jobs, c.err = jobs[i:i], nil
		var size int64
		for ; i < len(jobs) && len(c.jobs) < 64 && size < 1<<20; i++ {
			c.jobs = c.jobs[:len(c.jobs)+1]
			size += jobs[i].size
		}
		p.Send(c)
	}
	if err := p.Close(); err != nil {
		return nil, err
	}
	if o.Progress != nil {
		stop()
		o.Progress(total, total)
	}
	rv.Bytes = total
	sortRefFiles(rv.Files)
	return rv, nil
}

// hash writes the file's contents to h, reset first, and returns their
// length.
func (j *hashJob) hash(h hash.Hash, buf []byte) (int64, error) {
	h.Reset()
	if j.ext != nil {
		return j.ext.WriteTo(h)
	}
	f, err := os.Open(j.disk)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.CopyBuffer(h, f, buf)
}

func sortRefFiles(files []RefFile) {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
}

// decompress detects the archive's compression from its magic bytes.
func decompress(r io.Reader) (io.Reader, string, func(), error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, _ := br.Peek(6)
	noop := func() {}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, "tar+gzip", func() { zr.Close() }, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, "", nil, fmt.Errorf("xz: %w", err)
		}
		return xr, "tar+xz", noop, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, "", nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, "tar+zstd", zr.Close, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), "tar+bzip2", noop, nil
	}
	return br, "tar", noop, nil
}

// hashTar reads an archive in order; workers hash file contents the reader
// hands over in memory, so hashing runs alongside decompression.
func hashTar(r io.Reader, o *rootFSRun) (*RefValues, error) {
	dr, source, closeFn, err := decompress(r)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	rv := &RefValues{Hash: o.Hash, Excludes: o.Excludes, Source: source}
	tr := tar.NewReader(dr)
	var names []string
	var digests [][]byte         // names[i]'s, in archive order
	links := map[string]string{} // hard link name → target
	// A file's contents travel to a worker in a chunk's buffer, which the
	// chunk keeps for its next file: memory stays bounded by the chunks.
	type chunk struct {
		data   []byte
		digest []byte // set by the reader for a file too large to buffer
	}
	p := pipeline.Start(pipeline.Config[chunk]{
		Workers: o.Workers,
		Chunks:  2 * o.Workers,
		Worker: func() func(*chunk) {
			h := o.Hash.New()
			return func(c *chunk) {
				if c.digest == nil {
					h.Reset()
					h.Write(c.data)
					c.digest = h.Sum(nil)
				}
			}
		},
		Drains: []func(*chunk) error{func(c *chunk) error {
			digests = append(digests, c.digest)
			return nil
		}},
	})
	fail := func(err error) (*RefValues, error) {
		p.Close()
		return nil, err
	}
	inline := o.Hash.New()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(names) == 0 && rv.Symlinks == 0 && rv.Other == 0 {
				return fail(fmt.Errorf("not a tar archive (%s): %w", source, err))
			}
			return fail(fmt.Errorf("%s, after %d files: %w", source, len(names), err))
		}
		name := path.Clean("/" + strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		case tar.TypeLink:
			if !o.excluded(name) {
				links[name] = path.Clean("/" + strings.TrimPrefix(hdr.Linkname, "./"))
			} else {
				rv.Excluded++
			}
			continue
		case tar.TypeSymlink:
			rv.Symlinks++
			continue
		case tar.TypeDir:
			continue
		default:
			rv.Other++
			continue
		}
		if o.excluded(name) {
			rv.Excluded++
			continue
		}
		names = append(names, name)
		rv.Bytes += hdr.Size
		c := p.Next()
		c.digest = nil
		if hdr.Size > maxBuffered {
			inline.Reset()
			if _, err := io.Copy(inline, tr); err != nil {
				return fail(fmt.Errorf("%s: %w", name, err))
			}
			c.digest = inline.Sum(nil)
		} else {
			b := bytes.NewBuffer(c.data[:0])
			_, err := b.ReadFrom(tr)
			c.data = b.Bytes()
			if err != nil {
				return fail(fmt.Errorf("%s: %w", name, err))
			}
		}
		p.Send(c)
	}
	p.Close() // no drain fails
	// A path archived twice keeps its last content, as extraction would.
	byName := map[string][]byte{}
	for i, n := range names {
		byName[n] = digests[i]
	}
	for name, target := range links {
		d, ok := byName[target]
		if !ok {
			rv.Other++ // a link to a file the archive does not hold (or excluded)
			continue
		}
		byName[name] = d
	}
	for n, d := range byName {
		rv.Files = append(rv.Files, RefFile{Path: n, Digest: d})
	}
	sortRefFiles(rv.Files)
	return rv, nil
}

// ChecksumList writes the values as sha256sum does ("HEX  /path"), with
// its escaping for names holding a backslash or newline.
func (rv *RefValues) ChecksumList() []byte {
	var b bytes.Buffer
	for _, f := range rv.Files {
		name := f.Path
		if strings.ContainsAny(name, "\\\n\r") {
			b.WriteByte('\\')
			name = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(name)
		}
		b.WriteString(hex.EncodeToString(f.Digest))
		b.WriteString("  ")
		b.WriteString(name)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// KeylimeGenerator is the meta.generator goldenpcr writes: 3
// (LegacyAllowList), what keylime's own create_runtime_policy writes. The
// verifier treats a generator of 1 (EmptyAllowList) or less as "no runtime
// policy", so 0 ("Unknown") would switch the checks off.
const KeylimeGenerator = 3

// KeylimePolicy writes the values as a keylime runtime policy (version 1).
// logHashAlg is the template hash algorithm ("sha1" for the classic
// lists).
func (rv *RefValues) KeylimePolicy(logHashAlg string, timestamp time.Time) ([]byte, error) {
	digests := make(map[string][]string, len(rv.Files))
	for _, f := range rv.Files {
		d := hex.EncodeToString(f.Digest)
		if !slices.Contains(digests[f.Path], d) {
			digests[f.Path] = append(digests[f.Path], d)
		}
	}
	excludes := rv.Excludes
	if excludes == nil {
		excludes = []string{}
	}
	type meta struct {
		Version   int    `json:"version"`
		Generator int    `json:"generator"`
		Timestamp string `json:"timestamp"`
	}
	type imaSection struct {
		IgnoredKeyrings []string `json:"ignored_keyrings"`
		LogHashAlg      string   `json:"log_hash_alg"`
		DMPolicy        any      `json:"dm_policy"`
	}
	// The field order of keylime's own policies.
	doc := struct {
		Meta             meta                `json:"meta"`
		Release          int                 `json:"release"`
		Digests          map[string][]string `json:"digests"`
		Excludes         []string            `json:"excludes"`
		Keyrings         map[string][]string `json:"keyrings"`
		IMA              imaSection          `json:"ima"`
		IMABuf           map[string][]string `json:"ima-buf"`
		VerificationKeys string              `json:"verification-keys"`
	}{
		Meta:     meta{Version: KeylimePolicyVersion, Generator: KeylimeGenerator, Timestamp: timestamp.UTC().Format(time.RFC3339)},
		Digests:  digests,
		Excludes: excludes,
		Keyrings: map[string][]string{},
		IMA:      imaSection{IgnoredKeyrings: []string{}, LogHashAlg: logHashAlg},
		IMABuf:   map[string][]string{},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

var errNoFiles = errors.New("no regular files found")

// Validate reports an empty result, which is almost always a wrong path.
func (rv *RefValues) Validate() error {
	if len(rv.Files) == 0 {
		return errNoFiles
	}
	return nil
}
