package refvals

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// tboot, Intel's TXT pre-kernel, is itself the MLE the SINIT ACM measures:
// GRUB loads tboot.gz's ELF by its program headers, tboot copies its own
// command line into a buffer inside its image (so that it is measured),
// and the ACM hashes the pages its MLE header names. After the launch
// tboot measures its Verified Launch policy and the multiboot modules it
// starts (the kernel, the initrd) at locality 2, as EV_TBOOT (0x501)
// events with no data. This was read in tboot's sources (1.10.x:
// txt/txt.c, common/policy.c, include/tb_policy.h), for facts only, and
// is checked against tboot's own lcp2_mlehash and tb_polgen in the tests.

// maxTbootImage bounds the decompressed tboot ELF (Debian's 1.10.5 is
// 29 MiB with its symbols), so a gzip bomb fails instead of filling memory.
const maxTbootImage = 256 << 20

// Tboot is what the ACM measures of a tboot image.
type Tboot struct {
	// MLEStart and MLEEnd bound the MLE, and CmdlineStart and CmdlineEnd
	// (inclusive) the command-line buffer inside it, as offsets from the
	// image's load address (TBOOT_BASE_ADDR), as its MLE header gives
	// them.
	MLEStart, MLEEnd         uint32
	CmdlineStart, CmdlineEnd uint32
	// image is the loaded segment from the load address on: the file
	// bytes of the PT_LOAD segment that holds the MLE header.
	image []byte
}

// ReadTboot reads a tboot image, gzip-compressed (tboot.gz) or not.
func ReadTboot(path string) (*Tboot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseTboot(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseTboot reads tboot's ELF (after gunzip when data is gzip) and its
// MLE header. Offsets in errors are of the decompressed ELF.
func ParseTboot(data []byte) (*Tboot, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, &LaunchImageError{Kind: "tboot", Offset: 0, Msg: "gzip: " + err.Error()}
		}
		elf, err := io.ReadAll(io.LimitReader(zr, maxTbootImage+1))
		switch {
		case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &LaunchImageError{Kind: "tboot", Offset: int64(len(elf)), Msg: "gzip: " + err.Error()}
		case err != nil:
			return nil, &LaunchImageError{Kind: "tboot", Offset: int64(len(elf)), Msg: "gzip: the compressed stream ends early"}
		case len(elf) > maxTbootImage:
			return nil, &LaunchImageError{Kind: "tboot", Offset: maxTbootImage, Msg: fmt.Sprintf("decompresses to more than %d MiB", maxTbootImage>>20)}
		}
		data = elf
	}
	return parseTbootELF(data)
}

// parseTbootELF finds the PT_LOAD segment holding the MLE header (a
// 32-bit little-endian ELF, as tboot is built) and checks the header's
// ranges against the segment's file bytes. The ACM would hash zeros for a
// range past them (the segment's bss), but tboot's MLE is its text and
// read-only data, so such a header is refused rather than expanded.
func parseTbootELF(data []byte) (*Tboot, error) {
	fail := func(off int64, format string, args ...any) error {
		return &LaunchImageError{Kind: "tboot ELF", Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) < 52 || string(data[:4]) != "\x7fELF" {
		return nil, fail(0, "not an ELF file")
	}
	if data[4] != 1 || data[5] != 1 {
		return nil, fail(4, "class %d, data %d: tboot is a 32-bit little-endian ELF", data[4], data[5])
	}
	le := binary.LittleEndian
	phoff, phentsize, phnum := int64(le.Uint32(data[28:])), int64(le.Uint16(data[42:])), int64(le.Uint16(data[44:]))
	if phnum == 0 {
		return nil, fail(44, "no program headers")
	}
	if phentsize < 32 {
		return nil, fail(42, "program header size %d, want 32 or more", phentsize)
	}
	if phoff > int64(len(data)) || phnum*phentsize > int64(len(data))-phoff {
		return nil, fail(28, "%d program headers at %d lie past the file's %d bytes", phnum, phoff, len(data))
	}
	var base uint32
	var loads int
	for i := int64(0); i < phnum; i++ {
		ph := phoff + i*phentsize
		if le.Uint32(data[ph:]) != 1 { // PT_LOAD
			continue
		}
		off, paddr, filesz := int64(le.Uint32(data[ph+4:])), le.Uint32(data[ph+12:]), int64(le.Uint32(data[ph+16:]))
		if loads == 0 || paddr < base {
			base = paddr
		}
		loads++
		if off > int64(len(data)) || filesz > int64(len(data))-off {
			return nil, fail(ph+4, "segment %d's %d file bytes at %d lie past the file's %d bytes", i, filesz, off, len(data))
		}
		seg := data[off : off+filesz]
		at := findMLEHeader(seg)
		if at < 0 {
			continue
		}
		// The header's offsets are from the image's load address, the
		// lowest segment's; they are taken from this segment's.
		if paddr != base {
			return nil, fail(ph+12, "the MLE header is in segment %d, which is not loaded lowest: its offsets cannot be placed", i)
		}
		return tbootFromHeader(seg, at, off, fail)
	}
	if loads == 0 {
		return nil, fail(phoff, "no PT_LOAD segment")
	}
	return nil, fail(0, "no TXT MLE header (UUID 9082ac5a-74a7476f-a2555c0f-42b651cb) in a loaded segment: not tboot")
}

// findMLEHeader returns where the MLE UUID starts in seg, or -1.
func findMLEHeader(seg []byte) int {
	var uuid [16]byte
	for i, w := range mleUUID {
		binary.LittleEndian.PutUint32(uuid[4*i:], w)
	}
	return bytes.Index(seg, uuid[:])
}

func tbootFromHeader(seg []byte, at int, segOff int64, fail func(int64, string, ...any) error) (*Tboot, error) {
	const hdrLen = 52
	if len(seg)-at < hdrLen {
		return nil, fail(segOff+int64(at), "the MLE header's %d bytes run past the segment", hdrLen)
	}
	h := seg[at : at+hdrLen]
	le := binary.LittleEndian
	t := &Tboot{MLEStart: le.Uint32(h[32:]), MLEEnd: le.Uint32(h[36:]), CmdlineStart: le.Uint32(h[44:]), CmdlineEnd: le.Uint32(h[48:]), image: seg}
	hdr := segOff + int64(at)
	switch {
	case t.MLEStart >= t.MLEEnd || int64(t.MLEEnd) > int64(len(seg)):
		return nil, fail(hdr+32, "MLE [%#x, %#x) does not lie within the segment's %d file bytes", t.MLEStart, t.MLEEnd, len(seg))
	case t.CmdlineStart > t.CmdlineEnd || t.CmdlineStart < t.MLEStart || t.CmdlineEnd >= t.MLEEnd:
		return nil, fail(hdr+44, "command line buffer [%#x, %#x] does not lie within the MLE [%#x, %#x)", t.CmdlineStart, t.CmdlineEnd, t.MLEStart, t.MLEEnd)
	}
	return t, nil
}

// MLE returns the bytes the ACM hashes when tboot was given cmdline: the
// MLE range with the command-line buffer holding cmdline, zero-filled, as
// tboot copies it before the launch (at most the buffer's size less its
// terminating zero). cmdline is tboot's as the loader passes it; GRUB's
// multiboot2 puts the image's path first ("/tboot.gz logging=serial").
func (t *Tboot) MLE(cmdline string) ([]byte, error) {
	size := int(t.CmdlineEnd-t.CmdlineStart) + 1
	if len(cmdline) >= size {
		return nil, fmt.Errorf("tboot: the command line's %d bytes do not fit tboot's %d-byte buffer (with its terminating zero)", len(cmdline), size)
	}
	mle := bytes.Clone(t.image[t.MLEStart:t.MLEEnd])
	buf := mle[t.CmdlineStart-t.MLEStart : t.CmdlineEnd-t.MLEStart+1]
	clear(buf)
	copy(buf, cmdline)
	return mle, nil
}

// TbootPolicy is tboot's Verified Launch policy (tb_policy_t version 2),
// as tb_polgen writes it and tboot reads it from TPM NV.
type TbootPolicy struct {
	Type    uint8 // TB_POLTYPE_*: 0 continue on non-fatal errors, 1 continue on verification failures, 2 halt
	HashAlg pcr.Alg
	// Control is policy_control; bit 0 (EXTEND_PCR17) puts the policy's
	// hash in its PCR 17 measurement.
	Control uint32
	Entries []TbootPolicyEntry
	// Raw is the policy as tboot hashes it: its header and entries, the
	// legacy hash_alg 0 read as SHA-1 (4), as tboot rewrites it.
	Raw []byte
}

// TbootPolicyEntry says where a module's (or an NV index's) measurement
// is extended.
type TbootPolicyEntry struct {
	// Module is 0–127, 129 any module, 130/131 an NV index (hashed, raw).
	Module   uint8
	PCR      uint8 // 0–23, or 255: not extended
	HashType uint8 // 0 any hash, 1 one of Hashes
	NVIndex  uint32
	Hashes   [][]byte
}

// tboot's special module numbers and "no PCR".
const (
	tbModAny   = 129
	tbModNV    = 130
	tbModNVRaw = 131
	tbPCRNone  = 255
)

// tbHashAlgs maps tboot's TB_HALG_* to banks (0 is the legacy SHA-1).
var tbHashAlgs = map[uint8]pcr.Alg{0: pcr.SHA1, 4: pcr.SHA1, 0x0b: pcr.SHA256, 0x0c: pcr.SHA384, 0x0d: pcr.SHA512}

// ParseTbootPolicy reads a tb_policy_t. Bytes past its entries (an NV
// index larger than the policy) are not part of what tboot hashes and are
// ignored.
func ParseTbootPolicy(data []byte) (*TbootPolicy, error) {
	fail := func(off int, format string, args ...any) error {
		return &LaunchImageError{Kind: "tboot policy", Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
	}
	const hdrLen, entryLen = 12, 8
	if len(data) < hdrLen {
		return nil, fail(len(data), "ends before its %d-byte header", hdrLen)
	}
	if data[0] != 2 {
		return nil, fail(0, "version %d: tboot reads version 2", data[0])
	}
	if data[1] > 2 {
		return nil, fail(1, "policy type %d is not one of 0-2", data[1])
	}
	alg, ok := tbHashAlgs[data[2]]
	if !ok {
		return nil, fail(2, "hash algorithm %#02x is not one tboot knows", data[2])
	}
	p := &TbootPolicy{Type: data[1], HashAlg: alg, Control: binary.LittleEndian.Uint32(data[3:])}
	off := hdrLen
	for i := 0; i < int(data[11]); i++ {
		if len(data)-off < entryLen {
			return nil, fail(off, "entry %d: ends before its %d-byte header", i, entryLen)
		}
		e := TbootPolicyEntry{Module: data[off], PCR: data[off+1], HashType: data[off+2], NVIndex: binary.LittleEndian.Uint32(data[off+3:])}
		switch {
		case e.Module > 127 && e.Module != tbModAny && e.Module != tbModNV && e.Module != tbModNVRaw:
			return nil, fail(off, "entry %d: module number %d is not 0-127, 129 (any), 130 or 131 (NV)", i, e.Module)
		case e.PCR > 23 && e.PCR != tbPCRNone:
			return nil, fail(off+1, "entry %d: PCR %d is not 0-23 or 255 (none)", i, e.PCR)
		case e.HashType > 1:
			return nil, fail(off+2, "entry %d: hash type %d is not 0 (any) or 1 (image)", i, e.HashType)
		}
		n := int(data[off+7])
		off += entryLen
		if n*alg.Size() > len(data)-off {
			return nil, fail(off-1, "entry %d: %d %s hashes run past the policy's %d bytes", i, n, alg, len(data))
		}
		for j := 0; j < n; j++ {
			e.Hashes = append(e.Hashes, data[off:off+alg.Size()])
			off += alg.Size()
		}
		p.Entries = append(p.Entries, e)
	}
	p.Raw = bytes.Clone(data[:off])
	if p.Raw[2] == 0 {
		p.Raw[2] = 4
	}
	return p, nil
}

// DefaultTbootPolicy is the policy tboot uses when TPM NV holds none:
// continue on non-fatal errors, the policy's hash in PCR 17, module 0 in
// PCR 18 (17 with the details/authorities PCR mapping), every other module
// in PCR 19 (17), and the geo-tagging NV index 0x40000010 in PCR 22 (TPM
// 1.2 only, with measure_nv).
func DefaultTbootPolicy(da bool) *TbootPolicy {
	others := byte(19)
	if da {
		others = 17
	}
	raw := []byte{2, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 3,
		0, tbPCRNone, 0, 0, 0, 0, 0, 0,
		tbModAny, others, 0, 0, 0, 0, 0, 0,
		tbModNVRaw, 22, 0, 0x10, 0, 0, 0x40, 0}
	p, err := ParseTbootPolicy(raw)
	if err != nil {
		panic(err) // the bytes above are tboot's default
	}
	return p
}

// forModule is the entry tboot applies to module i: the first naming it
// or any module.
func (p *TbootPolicy) forModule(i int) (TbootPolicyEntry, bool) {
	for _, e := range p.Entries {
		if int(e.Module) == i || e.Module == tbModAny {
			return e, true
		}
	}
	return TbootPolicyEntry{}, false
}

// TbootExtPolicies are tboot's extpol= values: a fixed policy hashes and
// extends in one bank (sha256 is tboot's default); "embedded" and "agile"
// hash in every bank, the TPM's banks here being the baseline's.
var TbootExtPolicies = []string{"sha256", "sha1", "sha384", "sha512", "embedded", "agile"}

// tbootModule is a multiboot module tboot verifies and measures.
type tbootModule struct {
	path, cmdline string
}

// tbootMeasure is one of tboot's EV_TBOOT measurements.
type tbootMeasure struct {
	pcr         int
	description string
	prov        baseline.Provenance
	digest      func(pcr.Alg) ([]byte, error)
}

// tbootMeasurements lists tboot's measurements in the order it extends
// them: the policy (PCR 17, and 18 with the details/authorities mapping),
// module 0 (PCR 18, or 17 with that mapping), then each module its policy
// entry puts in a PCR. notes are what the baseline should say.
func tbootMeasurements(pol *TbootPolicy, da bool, extpol string, modules []tbootModule) (ms []tbootMeasure, notes []string, err error) {
	cur, fixed := pcr.SHA256, true
	switch extpol {
	case "embedded", "agile":
		fixed = false
	default:
		if cur, err = pcr.ParseAlg(extpol); err != nil || !slices.Contains(TbootExtPolicies, extpol) {
			return nil, nil, fmt.Errorf("tboot extend policy %q: want one of %v", extpol, TbootExtPolicies)
		}
	}
	// in hashes in bank alg, or not at all outside a fixed policy's bank.
	in := func(f func(pcr.Alg) []byte) func(pcr.Alg) ([]byte, error) {
		return func(alg pcr.Alg) ([]byte, error) {
			if fixed && alg != cur {
				return nil, nil
			}
			return f(alg), nil
		}
	}
	// The policy's measurement: policy_control (u32), then the policy's
	// hash in extpol's bank, or zeros when EXTEND_PCR17 is clear.
	buf := binary.LittleEndian.AppendUint32(nil, pol.Control)
	if pol.Control&1 != 0 {
		buf = append(buf, cur.Sum(pol.Raw)...)
	} else {
		buf = append(buf, make([]byte, cur.Size())...)
	}
	policy := tbootMeasure{pcr: 17, description: fmt.Sprintf("tboot Verified Launch policy (control %#x)", pol.Control),
		prov: baseline.Provenance{Rule: "tboot: H(policy_control ‖ H(policy))"}, digest: in(func(alg pcr.Alg) []byte { return alg.Sum(buf) })}
	ms = append(ms, policy)
	if da {
		policy.pcr = 18
		ms = append(ms, policy)
	}
	if len(modules) == 0 {
		return nil, nil, fmt.Errorf("tboot: no module: module 0 (the kernel) is always measured")
	}
	hashes := make([]func(pcr.Alg) []byte, len(modules))
	provs := make([]baseline.Provenance, len(modules))
	for i, m := range modules {
		data, err := os.ReadFile(m.path)
		if err != nil {
			return nil, nil, err
		}
		hashes[i] = func(alg pcr.Alg) []byte {
			return alg.Sum(append(alg.Sum([]byte(m.cmdline)), alg.Sum(data)...))
		}
		provs[i] = baseline.Provenance{Rule: "tboot: H(H(command line) ‖ H(module))", Artifact: m.path,
			ArtifactSHA256: hex.EncodeToString(pcr.SHA256.Sum(data))}
	}
	module := func(i, index int) tbootMeasure {
		return tbootMeasure{pcr: index, description: fmt.Sprintf("tboot module %d: %s %q", i, modules[i].path, modules[i].cmdline),
			prov: provs[i], digest: in(hashes[i])}
	}
	mod0 := 18
	if da {
		mod0 = 17
	}
	ms = append(ms, module(0, mod0))
	for i := range modules {
		e, ok := pol.forModule(i)
		if !ok {
			return nil, nil, fmt.Errorf("tboot: the policy has no entry for module %d (%s): tboot refuses the launch or skips its measurement by policy type, which is not predicted", i, modules[i].path)
		}
		if e.HashType == 1 && fixed {
			if pol.HashAlg != cur {
				return nil, nil, fmt.Errorf("tboot: the policy lists %s hashes for module %d but extpol=%s hashes in %s: tboot's verification fails", pol.HashAlg, i, extpol, cur)
			}
			h := hashes[i](cur)
			if !slices.ContainsFunc(e.Hashes, func(w []byte) bool { return bytes.Equal(w, h) }) {
				if pol.Type == 2 {
					return nil, nil, fmt.Errorf("tboot: module %d (%s) has a hash its policy does not list, and the policy halts on that", i, modules[i].path)
				}
				notes = append(notes, fmt.Sprintf("tboot: module %d (%s) has a hash its policy does not list: tboot goes on (policy type %d) and measures it", i, modules[i].path, pol.Type))
			}
		}
		if e.PCR != tbPCRNone {
			ms = append(ms, module(i, int(e.PCR)))
		}
	}
	if fixed {
		notes = append(notes, fmt.Sprintf("tboot extpol=%s: its EV_TBOOT measurements extend the %s bank alone; the other banks hold the ACM's events only", extpol, cur))
	}
	return ms, notes, nil
}
