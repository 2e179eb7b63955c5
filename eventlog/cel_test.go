package eventlog

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocel "github.com/google/go-eventlog/cel"

	"github.com/goldenpcr/goldenpcr/internal/celtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

func mustReadLog(t *testing.T, data []byte) *Log {
	t.Helper()
	log, err := ReadLog(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func replayedPCR(t *testing.T, rp *Replay, alg pcr.Alg, i int) []byte {
	t.Helper()
	v, ok := rp.Values.Get(alg, i)
	if !ok {
		t.Fatalf("replay has no %s PCR %d", alg, i)
	}
	return v
}

func TestCELJSONSystemdPhases(t *testing.T) {
	data := celtest.SystemdLog(celtest.Phases(celtest.PCRPhases...))
	log := mustReadLog(t, data)
	if log.Format != FormatCELJSON || len(log.Events) != 3 {
		t.Fatalf("format %s, %d records", log.Format, len(log.Events))
	}
	ev := log.Events[1]
	if ev.Index != 1 || ev.PCR != 11 || ev.CEL.Description != "leave-initrd" || ev.Offset != int64(len(celtest.Lines(data)[0])+1) {
		t.Fatalf("record 1: %+v %+v", ev, ev.CEL)
	}
	if c := CheckDigest(ev); c.Status != DigestOK {
		t.Fatalf("digest check %+v", c)
	}
	if p, _ := Decode(ev); p.Summary() != `systemd phase "leave-initrd"` {
		t.Fatalf("summary %q", p.Summary())
	}
	rp, err := ReplayLogs([]*Log{log}, &ReplayOptions{CheckDigests: true})
	if err != nil {
		t.Fatal(err)
	}
	want := celtest.ExtendSHA256(make([]byte, 32), celtest.PCRPhases...)
	if got := replayedPCR(t, rp, pcr.SHA256, 11); !bytes.Equal(got, want) {
		t.Fatalf("PCR 11 = %x, want %x", got, want)
	}
	if rp.Extends[11] != 3 || rp.LastEvent[11] != 2 || len(rp.DigestIssues) != 0 {
		t.Fatalf("extends %d last %d issues %v", rp.Extends[11], rp.LastEvent[11], rp.DigestIssues)
	}
}

// The variants found in practice: a JSON array with recnums (the spec's
// CEL-JSON) and JSON lines without RS.
func TestCELJSONVariants(t *testing.T) {
	want := celtest.ExtendSHA256(make([]byte, 32), celtest.PCRPhases...)
	lines := celtest.Lines(celtest.SystemdLog(celtest.Phases(celtest.PCRPhases...)))
	var objs []string
	for i, l := range lines {
		o := strings.TrimSpace(strings.TrimPrefix(l, "\x1e"))
		objs = append(objs, strings.Replace(o, "{", `{"recnum":`+string(rune('0'+i))+",", 1))
	}
	for name, data := range map[string]string{
		"array":      "[\n  " + strings.Join(objs, ",\n  ") + "\n]\n",
		"json-lines": strings.Join(objs, "\n") + "\n",
	} {
		rp, err := ReplayLogs([]*Log{mustReadLog(t, []byte(data))}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := replayedPCR(t, rp, pcr.SHA256, 11); !bytes.Equal(got, want) {
			t.Fatalf("%s: PCR 11 = %x, want %x", name, got, want)
		}
	}
}

// A firmware log and a CEL log make one history: the firmware's events
// first, then the CEL's, also in a PCR both extend.
func TestReplayFirmwareAndCEL(t *testing.T) {
	fw, err := ReadLogFile(filepath.Join(fixtureDir, "tcg", "rhel8-uefi.bin"))
	if err != nil {
		t.Fatal(err)
	}
	alone, err := ReplayLogs([]*Log{fw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fw7 := replayedPCR(t, alone, pcr.SHA256, 7)
	recs := append(celtest.Phases(celtest.PCRPhases...), celtest.Record{PCR: 7, String: "extra", EventType: "test"})
	cel := mustReadLog(t, celtest.SystemdLog(recs))
	cel.Name = "tpm2-measure.log"
	// The CEL given first still replays after the firmware log.
	rp, err := ReplayLogs([]*Log{cel, fw}, &ReplayOptions{Banks: []pcr.Alg{pcr.SHA256}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := replayedPCR(t, rp, pcr.SHA256, 11), celtest.ExtendSHA256(make([]byte, 32), celtest.PCRPhases...); !bytes.Equal(got, want) {
		t.Fatalf("PCR 11 = %x, want %x", got, want)
	}
	if got, want := replayedPCR(t, rp, pcr.SHA256, 7), celtest.ExtendSHA256(fw7, "extra"); !bytes.Equal(got, want) {
		t.Fatalf("PCR 7 = %x, want %x", got, want)
	}
	if got := replayedPCR(t, rp, pcr.SHA256, 0); !bytes.Equal(got, replayedPCR(t, alone, pcr.SHA256, 0)) {
		t.Fatal("PCR 0 changed by the CEL")
	}
	if len(rp.Logs) != 2 || rp.Logs[1].Name != "tpm2-measure.log" || rp.LastLog[7] != 1 || rp.LastEvent[7] != 3 || rp.LastLog[0] != 0 {
		t.Fatalf("logs %+v, PCR 7 last %d/%d", rp.Logs, rp.LastLog[7], rp.LastEvent[7])
	}
	// Without a bank request sha1 is dropped: the CEL has no sha1 digests.
	rp, err = ReplayLogs([]*Log{fw, cel}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.Banks) != 1 || rp.Banks[0] != pcr.SHA256 || len(rp.Dropped) != 2 || rp.Dropped[0].Reason != "record 0 at byte offset 1 has no sha1 digest" {
		t.Fatalf("banks %v dropped %+v", rp.Banks, rp.Dropped)
	}
	if _, err := ReplayLogs([]*Log{fw, cel}, &ReplayOptions{Banks: []pcr.Alg{pcr.SHA1}}); err == nil || !strings.Contains(err.Error(), "tpm2-measure.log") {
		t.Fatalf("sha1 requested: %v", err)
	}
	if _, err := ReplayLogs([]*Log{fw, fw}, nil); err == nil {
		t.Fatal("two firmware logs accepted")
	}
}

// phaseContent is a CEL-TLV content go-eventlog's cel package can write:
// a pcclient_std EV_EFI_ACTION whose data is the phase string.
type phaseContent string

func (p phaseContent) GenerateDigest(h crypto.Hash) ([]byte, error) {
	w := h.New()
	w.Write([]byte(p))
	return w.Sum(nil), nil
}

func (p phaseContent) TLV() (gocel.TLV, error) {
	var v []byte
	v = append(v, 0, 0, 0, 0, 4)
	v = binary.BigEndian.AppendUint32(v, uint32(EvEFIAction))
	v = append(v, 1)
	v = binary.BigEndian.AppendUint32(v, uint32(len(p)))
	v = append(v, p...)
	return gocel.TLV{Type: celPCClient, Value: v}, nil
}

// celTLVLog has go-eventlog write a CEL-TLV log of the celtest.PCRPhases in PCR 11.
func celTLVLog(t testing.TB, strs ...string) []byte {
	c := gocel.NewPCR()
	for _, s := range strs {
		if err := c.AppendEvent(phaseContent(s), []crypto.Hash{crypto.SHA256}, 11, func(crypto.Hash, int, []byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := c.EncodeCEL(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCELTLVFromGoEventlog(t *testing.T) {
	data := celTLVLog(t, celtest.PCRPhases...)
	log := mustReadLog(t, data)
	if log.Format != FormatCELTLV || len(log.Events) != 3 {
		t.Fatalf("format %s, %d records", log.Format, len(log.Events))
	}
	ev := log.Events[2]
	if ev.Index != 2 || ev.Type != EvEFIAction || string(ev.Data) != "ready" || ev.CEL.Type != "pcclient_std" {
		t.Fatalf("record 2: %+v", ev)
	}
	if c := CheckDigest(ev); c.Status != DigestOK {
		t.Fatalf("digest check %+v", c)
	}
	rp, err := ReplayLogs([]*Log{log}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := replayedPCR(t, rp, pcr.SHA256, 11), celtest.ExtendSHA256(make([]byte, 32), celtest.PCRPhases...); !bytes.Equal(got, want) {
		t.Fatalf("PCR 11 = %x, want %x", got, want)
	}
}

func TestCELErrors(t *testing.T) {
	lines := celtest.Lines(celtest.SystemdLog(celtest.Phases(celtest.PCRPhases...)))
	tlv := celTLVLog(t, celtest.PCRPhases...)
	// go-eventlog's record: recnum (5+8), PCR (5+1), digests (5+5+32),
	// content (5 + event type 5+4 + event data 5+len).
	recLen := 13 + 6 + 42 + 5 + 14 + len(celtest.PCRPhases[0])
	for _, tc := range []struct {
		name, data string
		record     int
		offset     int64
		msg        string
	}{
		{"bad json", lines[0] + "\x1e{\"pcr\":11,", 1, int64(len(lines[0]) + 1), "malformed JSON"},
		{"no pcr", lines[0] + "\x1e{\"digests\":[],\"content_type\":\"systemd\",\"content\":{}}\n", 1, int64(len(lines[0]) + 1), `no "pcr"`},
		{"nv index", "\x1e{\"nv_index\":4194305,\"digests\":[],\"content_type\":\"systemd\",\"content\":{}}\n", 0, 1, "NV index"},
		{"pcr range", strings.Replace(lines[0], `"pcr":11`, `"pcr":24`, 1), 0, 1, "out of range"},
		{"short digest", strings.Replace(lines[0], `"digest":"`, `"digest":"00`, 1), 0, 1, "33 bytes, want 32"},
		{"unknown alg", strings.Replace(lines[0], `"sha256"`, `"md5"`, 1), 0, 1, "md5"},
		{"duplicate key", strings.Replace(lines[0], `"pcr":11`, `"pcr":11,"pcr":7`, 1), 0, 1, "pcr"},
		{"recnum gap", `{"recnum":0,` + lines[0][2:] + `{"recnum":2,` + lines[1][2:], 1, int64(len(lines[0]) + 10), "recnum 2 follows recnum 0"},
		{"array unclosed", "[" + strings.TrimPrefix(lines[0], "\x1e"), 1, int64(len(lines[0])), "not closed"},
		{"tlv truncated", string(tlv[:len(tlv)-3]), 2, int64(2*recLen + 61), "content field claims"},
		{"tlv huge length", string(tlv[:recLen]) + "\x00\xff\xff\xff\xff", 1, int64(recLen), "claims 4294967295 bytes"},
		{"tlv bad pcr field", string(tlv[:recLen]) + "\x00\x00\x00\x00\x01\x01\x09\x00\x00\x00\x01\x0b", 1, int64(recLen + 6), "want a PCR field"},
	} {
		_, err := ReadLog(strings.NewReader(tc.data))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: error %v is not a ParseError", tc.name, err)
		}
		if !pe.Record || pe.Index != tc.record || pe.Offset != tc.offset || !strings.Contains(pe.Msg, tc.msg) {
			t.Errorf("%s: %v; want record %d at byte %d, %q", tc.name, err, tc.record, tc.offset, tc.msg)
		}
	}
}

// fuzzCEL checks a CEL reader on arbitrary bytes: no panic, every failure a
// ParseError inside the input, and a log that reads replays.
func fuzzCEL(t *testing.T, read func([]byte) (*Log, error), data []byte) {
	log, err := read(data)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not a ParseError", err)
		}
		if pe.Offset < 0 || pe.Offset > int64(len(data)) || !pe.Record {
			t.Fatalf("error %v: offset outside the %d-byte input, or not a record", err, len(data))
		}
		return
	}
	for _, ev := range log.Events {
		p, _ := Decode(ev)
		_ = p.Summary()
		CheckDigest(ev)
	}
	if _, err := ReplayLogs([]*Log{log}, &ReplayOptions{CheckDigests: true}); err != nil {
		t.Fatalf("log read but replay failed: %v", err)
	}
}

// realCELLog is systemd's own tpm2-measure.log from the boot lab's
// uki-pcrphase boot (systemd-pcrextend 257: enter-initrd, --machine-id,
// leave-initrd).
var realCELLog = filepath.Join(fixtureDir, "cel", "lab-uki-pcrphase-tpm2-measure.log")

// The log systemd really wrote reads as the records it measured, with
// both banks' digests of each string, and replays PCRs 11 and 15 as the
// strings fold (computed here with crypto/sha256 alone).
func TestCELJSONRealSystemdLog(t *testing.T) {
	log, err := ReadLogFile(realCELLog)
	if err != nil {
		t.Fatal(err)
	}
	const machineID = "machine-id:b0a7c0ffee1d4e5f8a9b0c1d2e3f4a5b"
	want := []struct {
		pcr         uint32
		str, evType string
	}{{11, "enter-initrd", "phase"}, {15, machineID, "machine-id"}, {11, "leave-initrd", "phase"}}
	if log.Format != FormatCELJSON || len(log.Events) != len(want) || fmt.Sprint(log.Banks) != "[sha1 sha256]" {
		t.Fatalf("format %s, banks %v, %d records", log.Format, log.Banks, len(log.Events))
	}
	for i, w := range want {
		ev := log.Events[i]
		if ev.Index != i || ev.PCR != w.pcr || ev.CEL.Type != "systemd" || ev.CEL.Description != w.str || ev.CEL.EventType != w.evType {
			t.Errorf("record %d: PCR %d %+v, want PCR %d %q (%s)", i, ev.PCR, ev.CEL, w.pcr, w.str, w.evType)
		}
		sum := sha256.Sum256([]byte(w.str))
		if d, ok := ev.Digest(pcr.SHA256); !ok || !bytes.Equal(d, sum[:]) {
			t.Errorf("record %d: sha256 digest %x, want SHA-256(%q)", i, d, w.str)
		}
		if c := CheckDigest(ev); c.Status != DigestOK {
			t.Errorf("record %d: digest check %+v", i, c)
		}
	}
	rp, err := ReplayLogs([]*Log{log}, &ReplayOptions{Banks: []pcr.Alg{pcr.SHA1, pcr.SHA256}, CheckDigests: true})
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 32)
	if got, want := replayedPCR(t, rp, pcr.SHA256, 11), celtest.ExtendSHA256(zero, "enter-initrd", "leave-initrd"); !bytes.Equal(got, want) {
		t.Errorf("PCR 11 = %x, want %x", got, want)
	}
	if got, want := replayedPCR(t, rp, pcr.SHA256, 15), celtest.ExtendSHA256(zero, machineID); !bytes.Equal(got, want) {
		t.Errorf("PCR 15 = %x, want %x", got, want)
	}
	if len(rp.DigestIssues) != 0 || len(rp.Dropped) != 0 {
		t.Errorf("issues %v, dropped %v", rp.DigestIssues, rp.Dropped)
	}
}

func FuzzReadCELJSON(f *testing.F) {
	real, err := os.ReadFile(realCELLog)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add(celtest.SystemdLog(celtest.Phases(celtest.PCRPhases...)))
	f.Add(celtest.SystemdLog([]celtest.Record{{PCR: 15, String: "machine-id:0123456789abcdef0123456789abcdef", EventType: "machine-id"}}))
	f.Add([]byte(`[{"recnum":0,"pcr":0,"digests":[{"hashAlg":"sha1","digest":"0000000000000000000000000000000000000000"}],"content_type":"pcclient_std","content":{"event_type":4,"event_data":"AAAAAA=="}}]`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCEL(t, ReadCELJSON, data) })
}

func FuzzReadCELTLV(f *testing.F) {
	f.Add(celTLVLog(f, celtest.PCRPhases...))
	f.Add(celTLVLog(f, "x"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCEL(t, ReadCELTLV, data) })
}
