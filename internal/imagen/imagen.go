// Package imagen writes synthetic IMA binary measurement lists of any
// built-in template, with the PCR values a kernel would have extended for
// them under both extend rules, so tests and benchmarks can replay lists of
// any size against known values and against evmctl.
//
// It lays out template data itself, independently of package ima, so the
// parser is checked against a second implementation of the kernel's format.
package imagen

import (
	"bufio"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Options describe the list to write.
type Options struct {
	// Template is a built-in template name; default "ima-ng".
	Template string
	// TemplateOf, when set, returns the template of file entry i ("" for
	// Template), so one list can mix templates as a kernel's does (ima-sig
	// for files, ima-modsig for modules); the boot_aggregate entry keeps
	// Template.
	TemplateOf func(i int) string
	// N is the number of file entries after the boot_aggregate entry.
	N int
	// FileHash is the file digest algorithm (ima_hash); default sha256.
	// The "ima" template always records SHA-1.
	FileHash pcr.Alg
	// TemplateHash is the algorithm of the template digests in entry
	// headers: SHA-1 (the default) as in binary_runtime_measurements, or a
	// bank's as in binary_runtime_measurements_<alg>.
	TemplateHash pcr.Alg
	// ByteOrder of the integers; default little-endian.
	ByteOrder binary.ByteOrder
	// Banks whose PCR values Result reports; default sha1 and sha256.
	Banks []pcr.Alg
	// PCR the entries are extended into; default 10.
	PCR uint32
	// Violations lists entry indices (1..N; 0 is boot_aggregate) recorded
	// as violations: zero digests listed, all ones extended.
	Violations []int
	// Tamper lists entry indices whose template data is altered after the
	// kernel measured it: the listed digest and the PCRs stay those of the
	// original data.
	Tamper []int
	// BootAggregate is the rule for the first entry: "pcr0-9" (Linux 5.8+,
	// hash of PCRs 0-9 of the FileHash bank, the default), "pcr0-7" (SHA-1
	// of the SHA-1 bank's PCRs 0-7, older kernels) or "zero" (no TPM).
	BootAggregate string
	// Signature, when set, returns the sig field of file entry i (ima-sig,
	// ima-sigv2, ima-modsig) for the file digest; nil leaves it empty.
	Signature func(i int, fileHash pcr.Alg, digest []byte) []byte
	// Modsig, when set, returns the d-modsig digest and modsig field of
	// ima-modsig entry i; nil writes a fixed stand-in.
	Modsig func(i int) (digest []byte, sig []byte)
	// Path, when set, returns entry i's file name.
	Path func(i int) string
	// FileDigest, when set, returns entry i's file digest (FileHash size).
	FileDigest func(i int) []byte
	// Buffer, when set, returns the buf field of ima-buf entry i (give
	// FileDigest its hash).
	Buffer func(i int) []byte
	// BootPCRs, when set, gives PCRs 0-9 (e.g. a TCG event log's replay);
	// banks it lacks get random values.
	BootPCRs pcr.Values
	// Seed makes the random content (PCRs 0-9, digests) reproducible.
	Seed uint64
}

// Result holds what the kernel would have reported for the list.
type Result struct {
	Entries    int // boot_aggregate included
	Violations int
	// PerBank holds PCRs 0-9 (the boot values) and the IMA PCR of every
	// bank extended with the bank's own template digest (Linux 5.8+).
	PerBank pcr.Values
	// Padded holds the same PCRs extended with the SHA-1 template digest
	// zero-padded to the bank size (kernels before 5.8). Only meaningful
	// for lists with SHA-1 template digests.
	Padded pcr.Values
	// BootAggregate is the first entry's digest and BootAlg its algorithm.
	BootAggregate []byte
	BootAlg       pcr.Alg
}

// EvmctlPCRs returns bank alg of v as an evmctl --pcrs file: PCR-00 to
// PCR-10 without gaps, since evmctl reads them in order and stops at one.
func EvmctlPCRs(v pcr.Values, alg pcr.Alg) ([]byte, error) {
	one := pcr.Values{}
	for i := 0; i <= 10; i++ {
		d, ok := v.Get(alg, i)
		if !ok {
			d = make([]byte, alg.Size())
		}
		one.Set(alg, i, d)
	}
	return pcr.Marshal(pcr.FormatEvmctl, []pcr.Values{one})
}

type gen struct {
	opts   Options
	order  binary.ByteOrder
	rng    *rand.ChaCha8
	w      *bufio.Writer
	res    *Result
	perB   map[pcr.Alg][]byte // IMA PCR per bank, per-bank rule
	padB   map[pcr.Alg][]byte // padded rule
	viol   map[int]bool
	tamper map[int]bool
	data   []byte
	buf    []byte
}

// Write writes the list to w and returns the values a kernel would have
// produced.
func Write(w io.Writer, opts Options) (*Result, error) {
	if opts.Template == "" {
		opts.Template = "ima-ng"
	}
	if opts.FileHash == 0 {
		opts.FileHash = pcr.SHA256
	}
	if opts.Template == "ima" {
		opts.FileHash = pcr.SHA1
	}
	if opts.TemplateHash == 0 {
		opts.TemplateHash = pcr.SHA1
	}
	if opts.ByteOrder == nil {
		opts.ByteOrder = binary.LittleEndian
	}
	if len(opts.Banks) == 0 {
		opts.Banks = []pcr.Alg{pcr.SHA1, pcr.SHA256}
	}
	if opts.PCR == 0 {
		opts.PCR = 10
	}
	if opts.BootAggregate == "" {
		opts.BootAggregate = "pcr0-9"
	}
	if _, ok := templates[opts.Template]; !ok {
		return nil, fmt.Errorf("imagen: unknown template %q", opts.Template)
	}
	for i := 1; opts.TemplateOf != nil && i <= opts.N; i++ {
		if t := opts.TemplateOf(i); t != "" && (!templates[t] || t == "ima") {
			return nil, fmt.Errorf("imagen: entry %d: template %q cannot be mixed into a list", i, t)
		}
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], opts.Seed)
	g := &gen{opts: opts, order: opts.ByteOrder, rng: rand.NewChaCha8(seed), w: bufio.NewWriterSize(w, 1<<20),
		res:  &Result{PerBank: pcr.Values{}, Padded: pcr.Values{}},
		perB: map[pcr.Alg][]byte{}, padB: map[pcr.Alg][]byte{}, viol: map[int]bool{}, tamper: map[int]bool{}}
	for _, i := range opts.Violations {
		g.viol[i] = true
	}
	for _, i := range opts.Tamper {
		g.tamper[i] = true
	}
	banks := append([]pcr.Alg{}, opts.Banks...)
	if !contains(banks, opts.FileHash) {
		banks = append(banks, opts.FileHash)
	}
	if !contains(banks, pcr.SHA1) {
		banks = append(banks, pcr.SHA1)
	}
	for _, a := range banks {
		for i := 0; i < 10; i++ {
			v, ok := opts.BootPCRs.Get(a, i)
			if !ok {
				v = make([]byte, a.Size())
				g.rng.Read(v)
			}
			g.res.PerBank.Set(a, i, v)
			g.res.Padded.Set(a, i, v)
		}
		g.perB[a] = make([]byte, a.Size())
		g.padB[a] = make([]byte, a.Size())
	}
	if err := g.bootAggregate(); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.N; i++ {
		if err := g.fileEntry(i); err != nil {
			return nil, err
		}
	}
	if err := g.w.Flush(); err != nil {
		return nil, err
	}
	g.res.Entries = opts.N + 1
	for _, a := range opts.Banks {
		g.res.PerBank.Set(a, int(opts.PCR), g.perB[a])
		g.res.Padded.Set(a, int(opts.PCR), g.padB[a])
	}
	// Keep only the requested banks.
	for a := range g.res.PerBank {
		if !contains(opts.Banks, a) {
			delete(g.res.PerBank, a)
			delete(g.res.Padded, a)
		}
	}
	return g.res, nil
}

func contains(list []pcr.Alg, a pcr.Alg) bool {
	for _, b := range list {
		if a == b {
			return true
		}
	}
	return false
}

func (g *gen) bootAggregate() error {
	var alg pcr.Alg
	var digest []byte
	switch g.opts.BootAggregate {
	case "pcr0-7":
		alg = pcr.SHA1
		digest = aggregate(alg, g.res.PerBank, 8)
	case "pcr0-9":
		alg = g.opts.FileHash
		n := 10
		if alg == pcr.SHA1 {
			n = 8
		}
		digest = aggregate(alg, g.res.PerBank, n)
	case "zero":
		alg = g.opts.FileHash
		digest = make([]byte, alg.Size())
	default:
		return fmt.Errorf("imagen: unknown boot_aggregate rule %q", g.opts.BootAggregate)
	}
	if g.opts.Template == "ima" && alg != pcr.SHA1 {
		alg, digest = pcr.SHA1, aggregate(pcr.SHA1, g.res.PerBank, 8)
	}
	g.res.BootAggregate, g.res.BootAlg = digest, alg
	return g.entry(0, alg, digest, "boot_aggregate", true)
}

func aggregate(alg pcr.Alg, v pcr.Values, n int) []byte {
	h := alg.New()
	for i := 0; i < n; i++ {
		d, _ := v.Get(alg, i)
		h.Write(d)
	}
	return h.Sum(nil)
}

func (g *gen) fileEntry(i int) error {
	var digest []byte
	if g.opts.FileDigest != nil {
		digest = g.opts.FileDigest(i)
	} else {
		digest = make([]byte, g.opts.FileHash.Size())
		g.rng.Read(digest)
	}
	path := fmt.Sprintf("/opt/imagen/bin/tool-%07d", i)
	if g.opts.Path != nil {
		path = g.opts.Path(i)
	}
	return g.entry(i, g.opts.FileHash, digest, path, false)
}

// algName is the kernel's hash_algo_name for the banks imagen writes.
func algName(a pcr.Alg) string {
	if a == pcr.SM3256 {
		return "sm3"
	}
	return a.String()
}

var templates = map[string]bool{"ima": true, "ima-ng": true, "ima-sig": true, "ima-buf": true,
	"ima-modsig": true, "ima-ngv2": true, "ima-sigv2": true, "evm-sig": true}

// entry writes one entry: header, template name, data, and extends the
// banks the way the kernel does.
func (g *gen) entry(i int, alg pcr.Alg, digest []byte, path string, boot bool) error {
	viol := g.viol[i]
	if viol {
		digest = make([]byte, alg.Size())
	}
	tmpl := g.opts.Template
	if !boot && g.opts.TemplateOf != nil {
		if t := g.opts.TemplateOf(i); t != "" {
			tmpl = t
		}
	}
	d := g.data[:0]
	var hashed []byte // what the template digest covers
	var pathEnd int   // index in d just after the file name
	if tmpl == "ima" {
		// d (20 bytes) | u32 name length | name, hashed as d | name padded to 256.
		d = append(d, digest[:20]...)
		d = g.u32(d, uint32(len(path)))
		d = append(d, path...)
		pathEnd = len(d)
		h := make([]byte, 20+256)
		copy(h, digest[:20])
		copy(h[20:], path)
		hashed = h
	} else {
		start := len(d)
		d = g.u32(d, 0) // total length, set below
		dng := algName(alg) + ":\x00"
		if tmpl == "ima-ngv2" || tmpl == "ima-sigv2" {
			dng = "ima:" + dng
		}
		d = g.field(d, append([]byte(dng), digest...))
		d = g.field(d, append([]byte(path), 0))
		pathEnd = len(d) - 1
		var sig []byte
		if !boot && !viol && g.opts.Signature != nil {
			sig = g.opts.Signature(i, alg, digest)
		}
		switch tmpl {
		case "ima-sig", "ima-sigv2":
			d = g.field(d, sig)
		case "ima-buf":
			var buf []byte
			switch {
			case boot:
			case g.opts.Buffer != nil:
				buf = g.opts.Buffer(i)
			default:
				buf = fmt.Appendf(nil, "root=/dev/vda1 console=ttyS0 imagen=%d", i)
			}
			d = g.field(d, buf)
		case "ima-modsig":
			d = g.field(d, sig)
			var md, ms []byte
			if !boot && i%2 == 1 {
				if g.opts.Modsig != nil {
					md, ms = g.opts.Modsig(i)
				} else {
					md = append([]byte("sha256:\x00"), pcr.SHA256.Sum(digest)...)
					ms = []byte{0x30, 0x03, 0x02, 0x01, byte(i)}
				}
			}
			d = g.field(d, md)
			d = g.field(d, ms)
		case "evm-sig":
			d = g.field(d, nil) // evmsig: none
			names := []byte("security.ima|security.selinux")
			lens := g.u32(g.u32(nil, 0), 0)
			d = g.field(d, names)
			d = g.field(d, lens)
			d = g.field(d, nil)
			d = g.field(d, g.u32(nil, uint32(i%1000)))
			d = g.field(d, g.u32(nil, 0))
			d = g.field(d, g.u16(nil, 0o100755))
		}
		g.order.PutUint32(d[start:], uint32(len(d)-start-4))
		hashed = d[start+4:]
	}
	g.data = d

	// Template digests: the header's, and each bank's (5.8+ rule).
	var header []byte
	if !viol {
		header = g.opts.TemplateHash.Sum(hashed)
	} else {
		header = make([]byte, g.opts.TemplateHash.Size())
	}
	sha1Digest := sha1.Sum(hashed)
	for a, cur := range g.perB {
		var ext []byte
		if viol {
			ext = ones(a.Size())
		} else {
			ext = a.Sum(hashed)
		}
		g.perB[a] = pcr.Extend(a, cur, ext)
		padded := make([]byte, a.Size())
		if viol {
			copy(padded, ones(20))
		} else {
			copy(padded, sha1Digest[:])
		}
		g.padB[a] = pcr.Extend(a, g.padB[a], padded)
	}
	if viol {
		g.res.Violations++
	}
	if g.tamper[i] {
		d[pathEnd-1] ^= 0x20 // the file name's last character
	}

	b := g.buf[:0]
	b = g.u32(b, g.opts.PCR)
	b = append(b, header...)
	b = g.u32(b, uint32(len(tmpl)))
	b = append(b, tmpl...)
	g.buf = b
	if _, err := g.w.Write(b); err != nil {
		return err
	}
	_, err := g.w.Write(d)
	return err
}

func (g *gen) u32(b []byte, v uint32) []byte {
	b = append(b, 0, 0, 0, 0)
	g.order.PutUint32(b[len(b)-4:], v)
	return b
}

func (g *gen) u16(b []byte, v uint16) []byte {
	b = append(b, 0, 0)
	g.order.PutUint16(b[len(b)-2:], v)
	return b
}

func (g *gen) field(b, v []byte) []byte {
	return append(g.u32(b, uint32(len(v))), v...)
}

func ones(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0xff
	}
	return b
}
