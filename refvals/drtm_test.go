package refvals

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// bzImageSpec shapes a synthetic bzImage: the setup header's fields a
// dynamic launch reads, and where kernel_info and the MLE header lie.
type bzImageSpec struct {
	protocol    uint16
	setupSects  byte
	cmdlineSize uint32
	pmSize      int
	// kernelInfo is kernel_info's offset in the protected-mode image,
	// kiSize its size field; mle the MLE header's offset (0: none).
	kernelInfo, kiSize, mle uint32
	entry, start, end       uint32
}

func defaultBzImage() bzImageSpec {
	return bzImageSpec{protocol: 0x020f, setupSects: 3, cmdlineSize: 64, pmSize: 4096,
		kernelInfo: 0x100, kiSize: 24, mle: 0x200, entry: 0x300, start: 0, end: 4096}
}

func (s bzImageSpec) bytes() []byte {
	setup := (int(s.setupSects) + 1) * 512
	if s.setupSects == 0 {
		setup = 5 * 512
	}
	b := make([]byte, setup+s.pmSize)
	b[0x1f1] = s.setupSects
	b[0x1fe], b[0x1ff] = 0x55, 0xaa
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], s.protocol)
	b[0x211] = 1 // LOADED_HIGH
	binary.LittleEndian.PutUint32(b[0x238:], s.cmdlineSize)
	binary.LittleEndian.PutUint32(b[0x268:], s.kernelInfo)
	pm := b[setup:]
	for i := range pm {
		pm[i] = byte(i * 7)
	}
	if ki := int(s.kernelInfo); ki+20 <= len(pm) {
		copy(pm[ki:], "LToP")
		binary.LittleEndian.PutUint32(pm[ki+4:], s.kiSize)
		binary.LittleEndian.PutUint32(pm[ki+16:], s.mle)
	}
	if m := int(s.mle); m != 0 && m+0x34 <= len(pm) {
		for i, w := range mleUUID {
			binary.LittleEndian.PutUint32(pm[m+4*i:], w)
		}
		binary.LittleEndian.PutUint32(pm[m+24:], s.entry)
		binary.LittleEndian.PutUint32(pm[m+32:], s.start)
		binary.LittleEndian.PutUint32(pm[m+36:], s.end)
	}
	return b
}

func TestParseBzImage(t *testing.T) {
	s := defaultBzImage()
	k, err := ParseBzImage(s.bytes())
	if err != nil {
		t.Fatal(err)
	}
	if k.Protocol != 0x020f || k.SetupSize != 4*512 || k.CmdlineSize != 64 || len(k.ProtectedMode) != 4096 || k.ProtectedMode[1] != 7 {
		t.Errorf("setup header: %+v", k)
	}
	if k.MLE == nil || *k.MLE != (MLEHeader{Offset: 0x200, Entry: 0x300, Start: 0, End: 4096}) {
		t.Errorf("MLE header %+v", k.MLE)
	}
	// Kernels without Secure Launch: no MLE, and what older protocols say.
	for name, c := range map[string]struct {
		edit    func(*bzImageSpec)
		cmdline uint32
		setup   int
	}{
		"protocol 2.14, no kernel_info": {func(s *bzImageSpec) { s.protocol = 0x020e }, 64, 2048},
		"protocol 2.05, cmdline 255":    {func(s *bzImageSpec) { s.protocol = 0x0205 }, 255, 2048},
		"kernel_info without the field": {func(s *bzImageSpec) { s.kiSize = 16 }, 64, 2048},
		"mle_header_offset 0":           {func(s *bzImageSpec) { s.mle = 0 }, 64, 2048},
		"setup_sects 0 means 4":         {func(s *bzImageSpec) { s.setupSects = 0 }, 64, 2560},
	} {
		s := defaultBzImage()
		c.edit(&s)
		k, err := ParseBzImage(s.bytes())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if (k.MLE != nil) != (name == "setup_sects 0 means 4") || k.CmdlineSize != c.cmdline || k.SetupSize != c.setup {
			t.Errorf("%s: %+v, MLE %+v", name, k, k.MLE)
		}
	}
	const setup = 4 * 512
	for name, c := range map[string]struct {
		data   func() []byte
		offset int64
		msg    string
	}{
		"short":            {func() []byte { return make([]byte, 100) }, 100, "before the setup header"},
		"no HdrS":          {func() []byte { b := s.bytes(); b[0x202] = 'X'; return b }, 0x202, "HdrS"},
		"no 0xAA55":        {func() []byte { b := s.bytes(); b[0x1fe] = 0; return b }, 0x1fe, "0xAA55"},
		"protocol 1.x":     {func() []byte { b := s.bytes(); b[0x207] = 1; return b }, 0x206, "boot protocol"},
		"a zImage":         {func() []byte { b := s.bytes(); b[0x211] = 0; return b }, 0x211, "LOADED_HIGH"},
		"setup past EOF":   {func() []byte { b := s.bytes(); b[0x1f1] = 200; return b }, 0x1f1, "past the file"},
		"kernel_info past": {with(func(s *bzImageSpec) { s.kernelInfo = 5000 }), 0x268, "kernel_info_offset"},
		"no LToP":          {func() []byte { b := s.bytes(); b[setup+0x100] = 'x'; return b }, setup + 0x100, "LToP"},
		"kernel_info size": {with(func(s *bzImageSpec) { s.kiSize = 8 }), setup + 0x104, "kernel_info size"},
		"MLE header past":  {with(func(s *bzImageSpec) { s.mle = 4090 }), setup + 0x110, "mle_header_offset"},
		"no MLE UUID":      {func() []byte { b := s.bytes(); b[setup+0x200] ^= 1; return b }, setup + 0x200, "UUID"},
		"MLE end past":     {with(func(s *bzImageSpec) { s.end = 5000 }), setup + 0x220, "does not lie within"},
		"MLE start > end":  {with(func(s *bzImageSpec) { s.start, s.end = 100, 50 }), setup + 0x220, "does not lie within"},
		"entry point past": {with(func(s *bzImageSpec) { s.entry = 4096 }), setup + 0x218, "entry point"},
	} {
		_, err := ParseBzImage(c.data())
		var le *LaunchImageError
		if !errors.As(err, &le) || le.Kind != "bzImage" || le.Offset != c.offset || !strings.Contains(le.Msg, c.msg) {
			t.Errorf("%s: %v, want offset %d and %q", name, err, c.offset, c.msg)
		}
	}
}

func with(edit func(*bzImageSpec)) func() []byte {
	return func() []byte {
		s := defaultBzImage()
		edit(&s)
		return s.bytes()
	}
}

func slbBytes(entry, length uint16, size int) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint16(b, entry)
	binary.LittleEndian.PutUint16(b[2:], length)
	for i := 4; i < size; i++ {
		b[i] = byte(i)
	}
	return b
}

func TestParseSLB(t *testing.T) {
	s, err := ParseSLB(slbBytes(0x10, 0x400, 0x1000))
	if err != nil || s.Entry != 0x10 || s.Length != 0x400 || len(s.Measured) != 0x400 {
		t.Fatalf("%+v, %v", s, err)
	}
	for name, c := range map[string]struct {
		data   []byte
		offset int64
	}{
		"short":           {[]byte{1, 2}, 2},
		"length under 4":  {slbBytes(0, 3, 64), 2},
		"length past EOF": {slbBytes(0, 65, 64), 2},
		"entry past":      {slbBytes(64, 64, 64), 0},
	} {
		var le *LaunchImageError
		if _, err := ParseSLB(c.data); !errors.As(err, &le) || le.Kind != "SLB" || le.Offset != c.offset {
			t.Errorf("%s: %v, want offset %d", name, err, c.offset)
		}
	}
}

// DRTMPCRs on the SKINIT flow, with the real TrenchBoot Linux log as the
// reference: PCR 17 is SKINIT's hash of the SLB, SKL's of the entry
// offset and of the protected-mode kernel, each computed here with
// crypto/sha256 over the bytes the rules name; PCR 18 takes the SLR table
// and boot parameters from the references (two logs whose boot
// parameters differ: both digests allowed, as a variant and an
// alternative, with a note) and the zero-padded command line.
func TestDRTMPCRsSKINIT(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kernelBytes := defaultBzImage().bytes()
	kernel, slb := write("bzImage", kernelBytes), write("skl.bin", slbBytes(0x10, 0x400, 0x1000))
	ref, err := os.ReadFile("../fixtures/drtm/skl-linux-v0.5.3-rc1.bin")
	if err != nil {
		t.Fatal(err)
	}
	otherParams := tcglogtest.Edit(t, ref, func(ev *eventlog.Event) []*eventlog.Event {
		if string(ev.Data) == "Measured boot parameters" {
			for i := range ev.Digests {
				ev.Digests[i].Value = ev.Digests[i].Alg.Sum([]byte("another boot's boot_params"))
			}
		}
		return []*eventlog.Event{ev}
	})
	refs := []string{write("ref1.bin", ref), write("ref2.bin", otherParams)}
	refLog, err := eventlog.ReadLog(bytes.NewReader(ref))
	if err != nil {
		t.Fatal(err)
	}
	refDigest := func(name string, alt bool) []byte {
		for _, ev := range refLog.Events {
			if string(ev.Data) == name && ev.Type == eventlog.EvSecureLaunch {
				if alt {
					return pcr.SHA256.Sum([]byte("another boot's boot_params"))
				}
				d, _ := ev.Digest(pcr.SHA256)
				return d
			}
		}
		t.Fatalf("the reference log has no %q", name)
		return nil
	}

	b := baseline.NewBuilder(pcr.SHA1, pcr.SHA256)
	in := DRTMInputs{Flow: DRTMSKINIT, Kernel: kernel, SLB: slb, Cmdline: "console=ttyS0", ReferenceLogs: refs}
	if err := DRTMPCRs(b, []pcr.Alg{pcr.SHA1, pcr.SHA256}, in); err != nil {
		t.Fatal(err)
	}
	got := b.Baseline()

	extend := func(v []byte, data ...[]byte) []byte {
		for _, d := range data {
			h := sha256.Sum256(d)
			x := sha256.Sum256(append(v, h[:]...))
			v = x[:]
		}
		return v
	}
	extendDigest := func(v, d []byte) []byte { x := sha256.Sum256(append(v, d...)); return x[:] }
	pm := kernelBytes[4*512:]
	want17 := extend(make([]byte, 32), slbBytes(0x10, 0x400, 0x1000)[:0x400], binary.LittleEndian.AppendUint32(nil, 0x300), pm)
	cmdline := append([]byte("console=ttyS0"), make([]byte, 64-len("console=ttyS0"))...)
	pcr18 := func(alt bool) []byte {
		v := extendDigest(make([]byte, 32), refDigest("Measured SLR Table", false))
		v = extendDigest(v, refDigest("Measured boot parameters", alt))
		return extend(v, cmdline)
	}
	values := map[int]map[string]string{}
	variants := map[int][]map[string]string{}
	for _, p := range got.PCRs {
		values[p.Index], variants[p.Index] = p.Values, p.Variants
	}
	if values[17]["sha256"] != hex.EncodeToString(want17) {
		t.Errorf("PCR 17 %s, want %x", values[17]["sha256"], want17)
	}
	if values[18]["sha256"] != hex.EncodeToString(pcr18(false)) || len(variants[18]) != 1 || variants[18][0]["sha256"] != hex.EncodeToString(pcr18(true)) {
		t.Errorf("PCR 18 %s variants %v, want %x and the variant %x", values[18]["sha256"], variants[18], pcr18(false), pcr18(true))
	}
	if len(variants[17]) != 0 {
		t.Errorf("PCR 17 has variants %v: nothing in it changes between the references", variants[17])
	}
	notes := strings.Join(got.Metadata.Notes, "\n")
	if !strings.Contains(notes, `"Measured boot parameters"`) || !strings.Contains(notes, "no golden value") || !strings.Contains(notes, "2 digests") {
		t.Errorf("no note that the boot parameters are an allow-list:\n%s", notes)
	}
	for _, p := range got.PCRs {
		if p.Index != 18 {
			continue
		}
		for _, ev := range p.Events {
			if ev.Description == "Measured boot parameters" && len(ev.Alternatives) != 1 {
				t.Errorf("boot parameters with %d alternatives", len(ev.Alternatives))
			}
		}
	}

	// What the inputs and references cannot give is refused with why.
	for name, c := range map[string]struct {
		edit func(*DRTMInputs)
		want string
	}{
		"an initrd the launch does not measure": {func(in *DRTMInputs) { in.Initrd = slb }, "no Measured Kernel initrd event"},
		"no command line":                       {func(in *DRTMInputs) { in.Cmdline = "" }, "measures a command line: give it"},
		"a command line too long":               {func(in *DRTMInputs) { in.Cmdline = strings.Repeat("x", 65) }, "exceed the 64 measured"},
		"no SLB":                                {func(in *DRTMInputs) { in.SLB = "" }, "SLB"},
		"an SLB on TXT":                         {func(in *DRTMInputs) { in.Flow = DRTMSecureLaunch }, "SLB"},
		"another entry offset":                  {func(in *DRTMInputs) { e := uint32(0x10); in.DLMEEntry = &e }, "not the 0x300"},
		"no reference log":                      {func(in *DRTMInputs) { in.ReferenceLogs = nil }, "no reference log"},
		"a firmware log as reference":           {func(in *DRTMInputs) { in.ReferenceLogs = []string{"../fixtures/lab/grub-eventlog.bin"} }, "not a DRTM log"},
		"references of two flows": {func(in *DRTMInputs) {
			in.ReferenceLogs = append(in.ReferenceLogs, "../fixtures/drtm/skl-xen-v0.5.3-rc1.bin")
		}, "same flow"},
		"an unknown flow":         {func(in *DRTMInputs) { in.Flow = "sinit" }, "want one of"},
		"tboot without its image": {func(in *DRTMInputs) { in.Flow, in.SLB = DRTMTboot, "" }, "a tboot image is the tboot flow's"},
		"tboot options on SKINIT": {func(in *DRTMInputs) { in.TbootDA = true }, "are the tboot flow's, and only its"},
	} {
		in := in
		c.edit(&in)
		err := DRTMPCRs(baseline.NewBuilder(pcr.SHA256), []pcr.Alg{pcr.SHA256}, in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// FuzzParseBzImage: any bytes give a bzImage whose parts lie within them,
// or a LaunchImageError whose offset does.
func FuzzParseBzImage(f *testing.F) {
	f.Add(defaultBzImage().bytes())
	s := defaultBzImage()
	s.protocol = 0x020c
	f.Add(s.bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseBzImage(data)
		if err != nil {
			var le *LaunchImageError
			if !errors.As(err, &le) || le.Offset < 0 || le.Offset > int64(len(data)) {
				t.Fatalf("%v: not a LaunchImageError within the %d bytes", err, len(data))
			}
			return
		}
		if k.SetupSize+len(k.ProtectedMode) != len(data) {
			t.Fatalf("setup %d + protected mode %d != %d", k.SetupSize, len(k.ProtectedMode), len(data))
		}
		if m := k.MLE; m != nil && (m.Start > m.End || int(m.End) > len(k.ProtectedMode) || int(m.Entry) >= len(k.ProtectedMode)) {
			t.Fatalf("MLE %+v outside %d bytes", m, len(k.ProtectedMode))
		}
	})
}

// FuzzParseSLB: any bytes give an SLB measured within them, or an error
// with its offset.
func FuzzParseSLB(f *testing.F) {
	f.Add(slbBytes(0x10, 0x400, 0x1000))
	f.Add(slbBytes(0, 4, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSLB(data)
		if err != nil {
			var le *LaunchImageError
			if !errors.As(err, &le) || le.Offset < 0 || le.Offset > int64(len(data)) {
				t.Fatalf("%v: not a LaunchImageError within the %d bytes", err, len(data))
			}
			return
		}
		if len(s.Measured) != int(s.Length) || s.Entry >= s.Length {
			t.Fatalf("%+v", s)
		}
	})
}
