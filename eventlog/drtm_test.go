package eventlog_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

var drtmBanks = []pcr.Alg{pcr.SHA1, pcr.SHA256}

// drtmEvents are a dynamic launch's events: the PCR mapping (never
// extended), the hash start, the MLE, and two Secure Launch measurements.
func drtmEvents() []*eventlog.Event {
	ev := func(index uint32, typ eventlog.EventType, data []byte, measured string) *eventlog.Event {
		e := &eventlog.Event{PCR: index, Type: typ, Data: data}
		for _, b := range drtmBanks {
			e.Digests = append(e.Digests, eventlog.Digest{Alg: b, Value: b.Sum([]byte(measured))})
		}
		return e
	}
	mapping := ev(0xff, eventlog.EvTXTPCRMapping, []byte{1, 0, 0, 0}, "")
	return []*eventlog.Event{mapping,
		ev(17, eventlog.EvTXTHashStart, []byte("sinit hash and edx"), "sinit hash and edx"),
		ev(17, eventlog.EvTXTMLEHash, nil, "kernel"),
		ev(18, eventlog.EvSecureLaunch, []byte("Measured boot parameters"), "cmdline"),
		ev(17, eventlog.EvSecureLaunch, []byte("Linux initrd"), "initrd"),
	}
}

func readLog(t testing.TB, data []byte) (*eventlog.Log, error) {
	t.Helper()
	return eventlog.ReadLog(bytes.NewReader(data))
}

// The Secure Launch buffer: a crypto-agile log, then zeros to its end.
// PCRs 17–22 replay from zero, the mapping event is not extended.
func TestSlaunchBufferReplaysFromZero(t *testing.T) {
	log := tcglogtest.Write(drtmBanks, drtmEvents())
	buf := append(bytes.Clone(log), make([]byte, 64<<10)...)
	l, err := readLog(t, buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Events) != 6 || !l.IsDRTM() {
		t.Fatalf("%d events, DRTM %v", len(l.Events), l.IsDRTM())
	}
	rep, err := eventlog.ReplayLogs([]*eventlog.Log{l}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range drtmBanks {
		want17 := make([]byte, alg.Size())
		for _, m := range []string{"sinit hash and edx", "kernel", "initrd"} {
			want17 = alg.Sum(append(want17, alg.Sum([]byte(m))...))
		}
		want18 := alg.Sum(append(make([]byte, alg.Size()), alg.Sum([]byte("cmdline"))...))
		if got, _ := rep.Values.Get(alg, 17); !bytes.Equal(got, want17) {
			t.Errorf("%s PCR 17 %x, want %x", alg, got, want17)
		}
		if got, _ := rep.Values.Get(alg, 18); !bytes.Equal(got, want18) {
			t.Errorf("%s PCR 18 %x, want %x", alg, got, want18)
		}
		// Untouched DRTM PCRs keep their power-on value.
		if got, _ := rep.Values.Get(alg, 19); !pcr.IsInitial(alg, 19, got) {
			t.Errorf("%s PCR 19 %x", alg, got)
		}
	}
	// A byte after the zeroed tail began is not a tail: the offset says where.
	bad := bytes.Clone(buf)
	bad[len(log)+100] = 1
	_, err = readLog(t, bad)
	var pe *eventlog.ParseError
	if !errors.As(err, &pe) || pe.Offset != int64(len(log)+100) || !strings.Contains(pe.Msg, "zeroed tail") {
		t.Errorf("non-zero tail: %v", err)
	}
	// A buffer the events fill to its end has no tail and reads whole.
	if l, err := readLog(t, log); err != nil || len(l.Events) != 6 {
		t.Errorf("no tail: %v", err)
	}
}

// The TPM 1.2 TXT event container, and what its header may not claim.
func TestTXTContainer(t *testing.T) {
	var events []*eventlog.Event
	for _, e := range drtmEvents()[1:] {
		events = append(events, &eventlog.Event{PCR: e.PCR, Type: e.Type, Data: e.Data, Digests: e.Digests[:1]})
	}
	data := tcglogtest.WriteTXT12(events, 4096)
	l, err := readLog(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if l.Format != eventlog.FormatTXT12 || len(l.Events) != 4 || l.Events[0].Offset != 48 || l.Events[2].Type != eventlog.EvSecureLaunch || !l.IsDRTM() {
		t.Fatalf("format %v, %d events, first at %d", l.Format, len(l.Events), l.Events[0].Offset)
	}
	for _, c := range []struct {
		name   string
		edit   func(b []byte)
		offset int64
		msg    string
	}{
		{"version", func(b []byte) { b[32] = 2 }, 32, "version 2.0"},
		{"size past the data", func(b []byte) { b[37] = 0xff }, 36, "exceeds"},
		{"events before the header ends", func(b []byte) { b[40] = 8 }, 40, "do not lie within"},
		{"events past the container", func(b []byte) { b[45] = 0x40 }, 40, "do not lie within"},
		{"event size past its region", func(b []byte) { b[48+28] = 0xff }, 48 + 32, "event claims 255 bytes"},
	} {
		b := bytes.Clone(data)
		c.edit(b)
		_, err := readLog(t, b)
		var pe *eventlog.ParseError
		if !errors.As(err, &pe) || pe.Offset != c.offset || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (want offset %d, %q)", c.name, err, c.offset, c.msg)
		}
	}
}

// A firmware log, a DRTM log and nothing else replay together; the
// firmware log's PCRs and the DRTM PCRs are each one history.
func TestReplayFirmwareAndDRTM(t *testing.T) {
	fw, err := eventlog.ReadLogFile("../fixtures/tcg/rhel8-uefi.bin")
	if err != nil {
		t.Fatal(err)
	}
	drtm, err := readLog(t, tcglogtest.Write(drtmBanks, drtmEvents()))
	if err != nil {
		t.Fatal(err)
	}
	both, err := eventlog.ReplayLogs([]*eventlog.Log{drtm, fw}, &eventlog.ReplayOptions{Banks: drtmBanks})
	if err != nil {
		t.Fatal(err)
	}
	alone, _ := eventlog.ReplayLogs([]*eventlog.Log{fw}, &eventlog.ReplayOptions{Banks: drtmBanks})
	for _, i := range []int{0, 7, 17, 18} {
		got, _ := both.Values.Get(pcr.SHA256, i)
		want, _ := alone.Values.Get(pcr.SHA256, i)
		if (i < 17) != bytes.Equal(got, want) {
			t.Errorf("PCR %d: combined %x, firmware alone %x", i, got, want)
		}
	}
}

func FuzzReadTXTContainer(f *testing.F) {
	var events []*eventlog.Event
	for _, e := range drtmEvents()[1:] {
		events = append(events, &eventlog.Event{PCR: e.PCR, Type: e.Type, Data: e.Data, Digests: e.Digests[:1]})
	}
	f.Add(tcglogtest.WriteTXT12(events, 0))
	f.Add(tcglogtest.WriteTXT12(events[:1], 512))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := eventlog.ReadTXTContainer(data)
		var pe *eventlog.ParseError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("error %v is not a ParseError", err)
		}
		if err == nil {
			if _, err := eventlog.ReplayLogs([]*eventlog.Log{l}, nil); err != nil && !errors.As(err, &pe) {
				t.Fatalf("replay: %v", err)
			}
		}
	})
}

// The Secure Launch buffer: any bytes after a crypto-agile header read to
// a clean end, a zeroed tail or a ParseError with its offset.
func FuzzReadSlaunchBuffer(f *testing.F) {
	log := tcglogtest.Write(drtmBanks, drtmEvents())
	f.Add(append(bytes.Clone(log), make([]byte, 256)...))
	f.Add(log)
	for _, name := range []string{"linux", "xen"} {
		data, err := os.ReadFile("../fixtures/drtm/skl-" + name + "-v0.5.3-rc1.bin")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append(data, make([]byte, 128)...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := readLog(t, data)
		if err != nil {
			var pe *eventlog.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if pe.Offset < 0 || pe.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside the %d bytes", pe.Offset, len(data))
			}
			return
		}
		eventlog.ReplayLogs([]*eventlog.Log{l}, nil)
	})
}

// The real TrenchBoot v0.5.3-rc1 logs (fixtures/drtm: AMD SKINIT, SKL then
// Linux's Secure Launch kernel, and SKL then Xen) replay to the PCR 17
// and 18 values tpm2_pcrread read in the same boots (drtm-tests'
// tests/test_eventlog.py). The Linux kernel's EV_NO_ACTION start and end
// tags carry the hash of nothing as their digest; they are never
// extended, and the digest check names the quirk instead of a mismatch.
func TestTrenchBootLogsReplayToTheirPCRs(t *testing.T) {
	for name, c := range map[string]struct {
		pcrs map[pcr.Alg][2]string
		tags int
	}{
		"linux": {tags: 2, pcrs: map[pcr.Alg][2]string{
			pcr.SHA1:   {"a8c09473c7a5f90a84098e779f276333cdbf661a", "153de987125e37f9cd9e7a61791222f65ee7036b"},
			pcr.SHA256: {"67be67686d82da37b760991194fff2cca163a4bad507b37927ae1742545aafe1", "8790e9bccaebfe038e13173cfb2d3b8f41434643669055978ec2e210da724a38"},
		}},
		"xen": {pcrs: map[pcr.Alg][2]string{
			pcr.SHA1:   {"0318a2c7cc558c5d9dd6f4d5acf751c2a2dcec01", "1d770ad1285cb8f85dcb4dd03e4cdfb4c301a30e"},
			pcr.SHA256: {"e17d42476df9d13cd73119cbd30d14795bdf8304c6a1f85e7c1eca554e07c055", "3e282d7905a8caff55b6537b255e16dc3b3cede1048481ea67d267bea7b3608e"},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile("../fixtures/drtm/skl-" + name + "-v0.5.3-rc1.bin")
			if err != nil {
				t.Fatal(err)
			}
			// As the securityfs file gives it: the log, then a zeroed tail.
			l, err := readLog(t, append(data, make([]byte, 4096)...))
			if err != nil {
				t.Fatal(err)
			}
			if !l.IsDRTM() {
				t.Error("not read as a DRTM log")
			}
			rep, err := eventlog.ReplayLogs([]*eventlog.Log{l}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for alg, want := range c.pcrs {
				for i, index := range []int{17, 18} {
					if got, _ := rep.Values.Get(alg, index); hex.EncodeToString(got) != want[i] {
						t.Errorf("%s PCR %d: replay %x, the boot's TPM %s", alg, index, got, want[i])
					}
				}
			}
			tags := 0
			for i, ev := range l.Events {
				dc := eventlog.CheckDigest(ev)
				if dc.Status == eventlog.DigestMismatch {
					t.Errorf("event %d: digest mismatch %v", i, dc.Mismatched)
				}
				if ev.Type == eventlog.EvNoAction && ev.PCR == 17 {
					if !strings.Contains(dc.Quirk, "Secure Launch start/end tag") {
						t.Errorf("event %d: tag without the quirk named: %+v", i, dc)
					}
					tags++
				}
			}
			if tags != c.tags {
				t.Errorf("%d Secure Launch tags, want %d", tags, c.tags)
			}
		})
	}
	// The quirk is that exact shape: a PCR 17 EV_NO_ACTION with another
	// digest is a mismatch, as any other non-zero EV_NO_ACTION digest.
	ev := &eventlog.Event{PCR: 17, Type: eventlog.EvNoAction, Digests: []eventlog.Digest{{Alg: pcr.SHA256, Value: pcr.SHA256.Sum([]byte("x"))}}}
	if dc := eventlog.CheckDigest(ev); dc.Status != eventlog.DigestMismatch {
		t.Errorf("a PCR 17 EV_NO_ACTION with a real digest: %+v", dc)
	}
	ev.PCR, ev.Digests[0].Value = 0, pcr.SHA256.Sum(nil)
	if dc := eventlog.CheckDigest(ev); dc.Status != eventlog.DigestMismatch {
		t.Errorf("a PCR 0 EV_NO_ACTION with the hash of nothing: %+v", dc)
	}
}

// tboot's fixed extend policy (extpol=sha256) logs and extends its
// EV_TBOOT measurements in one bank: the other bank is not extended by
// them, and stays replayable; the quirk is named. Elsewhere an event
// missing a bank still drops the bank.
func TestTbootOneBankEvents(t *testing.T) {
	evs := drtmEvents()[:3]
	tboot := &eventlog.Event{PCR: 18, Type: eventlog.EvTboot, Digests: []eventlog.Digest{{Alg: pcr.SHA256, Value: pcr.SHA256.Sum([]byte("module 0"))}}}
	l, err := readLog(t, tcglogtest.Write(drtmBanks, append(evs, tboot)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eventlog.ReplayLogs([]*eventlog.Log{l}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Dropped) != 0 {
		t.Fatalf("dropped %+v", rep.Dropped)
	}
	if v, _ := rep.Values.Get(pcr.SHA1, 18); !bytes.Equal(v, bytes.Repeat([]byte{0xff}, 20)) {
		t.Errorf("sha1 PCR 18 %x, want its untouched value: the event is sha256-only", v)
	}
	if v, _ := rep.Values.Get(pcr.SHA256, 18); !bytes.Equal(v, pcr.Extend(pcr.SHA256, make([]byte, 32), pcr.SHA256.Sum([]byte("module 0")))) {
		t.Errorf("sha256 PCR 18 %x", v)
	}
	if len(rep.Quirks) != 1 || !strings.Contains(rep.Quirks[0].What, "tboot's fixed extend policy") {
		t.Errorf("quirks %+v", rep.Quirks)
	}
	other := &eventlog.Event{PCR: 18, Type: eventlog.EvSecureLaunch, Data: []byte("x"), Digests: tboot.Digests}
	l, err = readLog(t, tcglogtest.Write(drtmBanks, append(evs, other)))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err = eventlog.ReplayLogs([]*eventlog.Log{l}, nil); err != nil || len(rep.Dropped) != 1 || rep.Dropped[0].Alg != pcr.SHA1 {
		t.Errorf("a one-bank Secure Launch event: %v, dropped %+v", err, rep)
	}
}
