package refvals

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Debian's tboot package (make deps) gives a real tboot image and tboot's
// own tools, lcp2_mlehash and tb_polgen, which compute the MLE hash and
// the module hashes goldenpcr must agree with.
const (
	debianTboot = "/boot/tboot.gz"
	lcp2MLEHash = "/usr/sbin/lcp2_mlehash"
	tbPolgen    = "/usr/sbin/tb_polgen"
)

func requireFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%v: run make deps (Debian's tboot package)", err)
	}
}

// toolHex runs a tool that prints a hash as hex bytes, spaced or not.
func toolHex(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	d, err := hex.DecodeString(strings.Join(strings.Fields(string(out)), ""))
	if err != nil {
		t.Fatalf("%s: %q is not hex", name, out)
	}
	return d
}

func TestTbootMLEEqualsLcp2Mlehash(t *testing.T) {
	requireFile(t, debianTboot)
	requireFile(t, lcp2MLEHash)
	tb, err := ReadTboot(debianTboot)
	if err != nil {
		t.Fatal(err)
	}
	if tb.CmdlineEnd-tb.CmdlineStart+1 != 512 || tb.MLEStart >= tb.CmdlineStart {
		t.Errorf("MLE header: MLE [%#x, %#x), command line [%#x, %#x]: want tboot's 512-byte buffer inside the MLE", tb.MLEStart, tb.MLEEnd, tb.CmdlineStart, tb.CmdlineEnd)
	}
	for _, cmdline := range []string{"", "logging=serial,memory", "/boot/tboot.gz logging=vga,serial,memory min_ram=0x2000000 extpol=embedded"} {
		mle, err := tb.MLE(cmdline)
		if err != nil {
			t.Fatal(err)
		}
		for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256, pcr.SHA384} {
			want := toolHex(t, lcp2MLEHash, "--create", "--cmdline", cmdline, "--alg", alg.String(), debianTboot)
			if got := alg.Sum(mle); !bytes.Equal(got, want) {
				t.Errorf("cmdline %q, %s: MLE hash %x, lcp2_mlehash %x", cmdline, alg, got, want)
			}
		}
	}
	// The uncompressed ELF is read the same way.
	elf := filepath.Join(t.TempDir(), "tboot")
	zr, err := gzip.NewReader(bytes.NewReader(mustRead(t, debianTboot)))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(elf, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	plain, err := ReadTboot(elf)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := plain.MLE("x")
	b, _ := tb.MLE("x")
	if !bytes.Equal(a, b) {
		t.Error("the ELF and its gzip give different MLEs")
	}
	if _, err := tb.MLE(strings.Repeat("x", 512)); err == nil || !strings.Contains(err.Error(), "512-byte buffer") {
		t.Errorf("a 512-byte command line: %v", err)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// tbootELF is a minimal tboot-shaped ELF32: one PT_LOAD segment of size
// bytes at file offset 0x100 holding an MLE header at hdr.
func tbootELF(size, hdr int, start, end, cmdStart, cmdEnd uint32) []byte {
	le := binary.LittleEndian
	out := make([]byte, 0x100+size+64) // room for a header cut by the segment's end
	copy(out, "\x7fELF\x01\x01\x01")
	le.PutUint32(out[28:], 52)
	le.PutUint16(out[42:], 32)
	le.PutUint16(out[44:], 1)
	ph := out[52:]
	le.PutUint32(ph, 1)
	le.PutUint32(ph[4:], 0x100)
	le.PutUint32(ph[12:], 0x800000)
	le.PutUint32(ph[16:], uint32(size))
	le.PutUint32(ph[20:], uint32(size))
	if hdr >= 0 {
		h := out[0x100+hdr:]
		for i, w := range mleUUID {
			le.PutUint32(h[4*i:], w)
		}
		le.PutUint32(h[32:], start)
		le.PutUint32(h[36:], end)
		le.PutUint32(h[44:], cmdStart)
		le.PutUint32(h[48:], cmdEnd)
	}
	return out[:0x100+size]
}

func TestParseTbootRefusals(t *testing.T) {
	good := tbootELF(0x400, 0x40, 0x100, 0x400, 0x200, 0x27f)
	tb, err := ParseTboot(good)
	if err != nil {
		t.Fatal(err)
	}
	mle, err := tb.MLE("abc")
	if err != nil || len(mle) != 0x300 || string(mle[0x100:0x104]) != "abc\x00" {
		t.Fatalf("MLE: %d bytes, %v", len(mle), err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good)
	zw.Close()
	for name, c := range map[string]struct {
		data []byte
		off  int64
		msg  string
	}{
		"not ELF":              {[]byte("MZ not an ELF file, padded to fifty-two bytes or more.."), 0, "not an ELF"},
		"64-bit":               {func() []byte { b := bytes.Clone(good); b[4] = 2; return b }(), 4, "32-bit little-endian"},
		"no program headers":   {func() []byte { b := bytes.Clone(good); b[44] = 0; return b }(), 44, "no program headers"},
		"headers past the end": {func() []byte { b := bytes.Clone(good); binary.LittleEndian.PutUint32(b[28:], 0xfffff000); return b }(), 28, "lie past"},
		"segment past the end": {func() []byte { b := bytes.Clone(good); binary.LittleEndian.PutUint32(b[52+16:], 0x10000); return b }(), 56, "lie past"},
		"no MLE header":        {tbootELF(0x400, -1, 0, 0, 0, 0), 0, "no TXT MLE header"},
		"MLE past the segment": {tbootELF(0x400, 0x40, 0x100, 0x401, 0x200, 0x27f), 0x100 + 0x40 + 32, "does not lie within"},
		"MLE reversed":         {tbootELF(0x400, 0x40, 0x300, 0x100, 0x200, 0x27f), 0x100 + 0x40 + 32, "does not lie within"},
		"cmdline outside MLE":  {tbootELF(0x400, 0x40, 0x100, 0x400, 0x80, 0x27f), 0x100 + 0x40 + 44, "command line buffer"},
		"header cut":           {tbootELF(0x60, 0x40, 0, 0, 0, 0), 0x100 + 0x40, "run past"},
		"gzip cut":             {gz.Bytes()[:gz.Len()/2], -1, "gzip"},
	} {
		_, err := ParseTboot(c.data)
		var le *LaunchImageError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), c.msg) || (c.off >= 0 && le.Offset != c.off) {
			t.Errorf("%s: %v, want %q at %d", name, err, c.msg, c.off)
		}
	}
}

// TestTbootPolicyAndModulesEqualTbPolgen builds policies with tboot's own
// tb_polgen: goldenpcr reads them as tb_polgen shows them, and the module
// hash tb_polgen stores for "--hash image" is goldenpcr's.
func TestTbootPolicyAndModulesEqualTbPolgen(t *testing.T) {
	requireFile(t, tbPolgen)
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	if err := os.WriteFile(kernel, []byte("a kernel image, for tb_polgen to hash"), 0o644); err != nil {
		t.Fatal(err)
	}
	const cmdline = "/vmlinuz root=/dev/sda1 ro intel_iommu=on"
	pol := filepath.Join(dir, "policy")
	run := func(args ...string) {
		if out, err := exec.Command(tbPolgen, args...).CombinedOutput(); err != nil {
			t.Fatalf("tb_polgen %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, alg := range []string{"sha1", "sha256"} {
		os.Remove(pol)
		run("--create", "--type", "halt", "--alg", alg, "--ctrl", "0x1", pol)
		run("--add", "--num", "0", "--pcr", "none", "--hash", "image", "--cmdline", cmdline, "--image", kernel, pol)
		run("--add", "--num", "any", "--pcr", "19", "--hash", "any", pol)
		p, err := ParseTbootPolicy(mustRead(t, pol))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := pcr.ParseAlg(alg)
		if p.Type != 2 || p.HashAlg != a || p.Control != 1 || len(p.Entries) != 2 || p.Entries[0].Module != 0 || p.Entries[0].PCR != tbPCRNone ||
			p.Entries[0].HashType != 1 || len(p.Entries[0].Hashes) != 1 || p.Entries[1].Module != tbModAny || p.Entries[1].PCR != 19 {
			t.Fatalf("%s policy read as %+v", alg, p)
		}
		// tboot's extpol=<alg> computes the module hash tb_polgen put in
		// the policy, so a halting policy lets the launch go on.
		ms, _, err := tbootMeasurements(p, false, alg, []tbootModule{{kernel, cmdline}})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 || ms[1].pcr != 18 {
			t.Fatalf("measurements %+v", ms)
		}
		if d, _ := ms[1].digest(a); !bytes.Equal(d, p.Entries[0].Hashes[0]) {
			t.Errorf("%s module 0: %x, tb_polgen %x", alg, d, p.Entries[0].Hashes[0])
		}
		// Another command line: a halting policy refuses the launch.
		if _, _, err := tbootMeasurements(p, false, alg, []tbootModule{{kernel, cmdline + " quiet"}}); err == nil || !strings.Contains(err.Error(), "halts") {
			t.Errorf("%s: a module its halting policy does not list: %v", alg, err)
		}
	}
	// The default policy is the one tb_polgen writes for tboot's entries
	// (tb_polgen takes no NV entries, so its NV entry is compared apart).
	os.Remove(pol)
	run("--create", "--type", "nonfatal", "--alg", "sha1", "--ctrl", "0x1", pol)
	run("--add", "--num", "0", "--pcr", "none", "--hash", "any", pol)
	run("--add", "--num", "any", "--pcr", "19", "--hash", "any", pol)
	made := mustRead(t, pol)
	def := DefaultTbootPolicy(false)
	want := append(bytes.Clone(made[:11]), 3)
	want = append(append(want, made[12:28]...), tbModNVRaw, 22, 0, 0x10, 0, 0, 0x40, 0)
	if !bytes.Equal(def.Raw, want) {
		t.Errorf("default policy\n%x, want\n%x (tb_polgen's %x with the NV entry)", def.Raw, want, made)
	}
	if da := DefaultTbootPolicy(true); da.Entries[1].PCR != 17 {
		t.Errorf("details/authorities default policy: other modules in PCR %d", da.Entries[1].PCR)
	}
}

func TestTbootMeasurements(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "k"), filepath.Join(dir, "i")
	os.WriteFile(kernel, []byte("kernel"), 0o644)
	os.WriteFile(initrd, []byte("initrd"), 0o644)
	mods := []tbootModule{{kernel, "/k ro"}, {initrd, "/i"}}
	def := DefaultTbootPolicy(false)
	sum := func(alg pcr.Alg, parts ...[]byte) []byte { return alg.Sum(bytes.Join(parts, nil)) }
	policy := func(alg, cur pcr.Alg, raw []byte) []byte {
		return sum(alg, []byte{1, 0, 0, 0}, cur.Sum(raw))
	}
	module := func(alg pcr.Alg, cmd, data string) []byte {
		return sum(alg, alg.Sum([]byte(cmd)), alg.Sum([]byte(data)))
	}
	for name, c := range map[string]struct {
		da     bool
		extpol string
		pcrs   []int
		banks  []pcr.Alg // the banks extended
	}{
		"legacy sha256": {false, "sha256", []int{17, 18, 19}, []pcr.Alg{pcr.SHA256}},
		"legacy sha1":   {false, "sha1", []int{17, 18, 19}, []pcr.Alg{pcr.SHA1}},
		"da embedded":   {true, "embedded", []int{17, 18, 17, 17}, []pcr.Alg{pcr.SHA1, pcr.SHA256}},
		"da agile":      {true, "agile", []int{17, 18, 17, 17}, []pcr.Alg{pcr.SHA1, pcr.SHA256}},
	} {
		pol := def
		if c.da {
			pol = DefaultTbootPolicy(true)
		}
		ms, notes, err := tbootMeasurements(pol, c.da, c.extpol, mods)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, m := range ms {
			got = append(got, m.pcr)
		}
		if !slices.Equal(got, c.pcrs) {
			t.Errorf("%s: PCRs %v, want %v", name, got, c.pcrs)
		}
		mod0, mod1 := 1, 2 // indexes in ms
		if c.da {
			mod0, mod1 = 2, 3
		}
		for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
			p, _ := ms[0].digest(alg)
			m0, _ := ms[mod0].digest(alg)
			m1, _ := ms[mod1].digest(alg)
			if !slices.Contains(c.banks, alg) {
				if p != nil || m0 != nil || m1 != nil {
					t.Errorf("%s: the %s bank is extended", name, alg)
				}
				continue
			}
			cur := alg // a fixed policy hashes the policy in its bank, the others in SHA-256
			if len(c.banks) > 1 {
				cur = pcr.SHA256
			}
			if !bytes.Equal(p, policy(alg, cur, pol.Raw)) {
				t.Errorf("%s %s: policy %x", name, alg, p)
			}
			if !bytes.Equal(m0, module(alg, "/k ro", "kernel")) || !bytes.Equal(m1, module(alg, "/i", "initrd")) {
				t.Errorf("%s %s: modules %x %x", name, alg, m0, m1)
			}
		}
		if fixed := len(c.banks) == 1; fixed != (len(notes) == 1) {
			t.Errorf("%s: notes %q", name, notes)
		}
	}
	// EXTEND_PCR17 clear: zeros in place of the policy's hash.
	p := *def
	p.Control = 0
	ms, _, _ := tbootMeasurements(&p, false, "sha256", mods[:1])
	if d, _ := ms[0].digest(pcr.SHA256); !bytes.Equal(d, sum(pcr.SHA256, make([]byte, 36))) {
		t.Errorf("policy control 0: %x", d)
	}
	for name, c := range map[string]struct {
		pol    *TbootPolicy
		extpol string
		mods   []tbootModule
		msg    string
	}{
		"bad extpol":       {def, "md5", mods, "extend policy"},
		"no module":        {def, "sha256", nil, "no module"},
		"no policy entry":  {&TbootPolicy{Raw: def.Raw, Entries: def.Entries[:1]}, "sha256", mods, "no entry for module 1"},
		"unreadable image": {def, "sha256", []tbootModule{{filepath.Join(dir, "none"), ""}}, "no such file"},
	} {
		if _, _, err := tbootMeasurements(c.pol, false, c.extpol, c.mods); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %q", name, err, c.msg)
		}
	}
}

func TestParseTbootPolicyRefusals(t *testing.T) {
	def := DefaultTbootPolicy(false).Raw
	for name, c := range map[string]struct {
		data []byte
		off  int64
		msg  string
	}{
		"short":          {def[:5], 5, "header"},
		"version":        {append([]byte{3}, def[1:]...), 0, "version 3"},
		"type":           {append([]byte{2, 9}, def[2:]...), 1, "policy type"},
		"hash algorithm": {append([]byte{2, 0, 0x99}, def[3:]...), 2, "hash algorithm"},
		"entry cut":      {def[:16], 12, "entry 0"},
		"module number":  {func() []byte { b := bytes.Clone(def); b[12] = 200; return b }(), 12, "module number 200"},
		"PCR":            {func() []byte { b := bytes.Clone(def); b[13] = 30; return b }(), 13, "PCR 30"},
		"hash type":      {func() []byte { b := bytes.Clone(def); b[14] = 5; return b }(), 14, "hash type 5"},
		"hashes cut":     {func() []byte { b := bytes.Clone(def); b[19] = 200; return b }(), 19, "run past"},
	} {
		_, err := ParseTbootPolicy(c.data)
		var le *LaunchImageError
		if !errors.As(err, &le) || le.Offset != c.off || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %q at %d", name, err, c.msg, c.off)
		}
	}
	// tboot reads the legacy hash_alg 0 as SHA-1 and hashes it so.
	legacy := bytes.Clone(def)
	legacy[2] = 0
	p, err := ParseTbootPolicy(append(legacy, "trailing NV bytes"...))
	if err != nil || p.HashAlg != pcr.SHA1 || !bytes.Equal(p.Raw, def) {
		t.Errorf("legacy SHA-1 policy with trailing bytes: %x, %v", p.Raw, err)
	}
}

func FuzzParseTboot(f *testing.F) {
	f.Add(tbootELF(0x400, 0x40, 0x100, 0x400, 0x200, 0x27f))
	if data, err := os.ReadFile(debianTboot); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := ParseTboot(data)
		if err != nil {
			return
		}
		if _, err := tb.MLE("console=ttyS0"); err != nil && !strings.Contains(err.Error(), "buffer") {
			t.Fatal(err)
		}
	})
}

func FuzzParseTbootPolicy(f *testing.F) {
	f.Add(DefaultTbootPolicy(false).Raw)
	f.Add(DefaultTbootPolicy(true).Raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseTbootPolicy(data)
		if err != nil {
			return
		}
		q, err := ParseTbootPolicy(p.Raw)
		if err != nil || !bytes.Equal(q.Raw, p.Raw) {
			t.Fatalf("the policy's own bytes do not read back: %v", err)
		}
	})
}
