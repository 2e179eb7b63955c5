package main

import (
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// toolDigest hashes a file with coreutils (sha1sum, sha256sum), never with
// goldenpcr's code: the DRTM arithmetic is checked against the TPM alone.
func toolDigest(t *testing.T, alg pcr.Alg, path string) []byte {
	t.Helper()
	out, err := exec.Command(alg.String()+"sum", path).Output()
	if err != nil {
		t.Fatalf("%ssum %s: %v", alg, path, err)
	}
	d, err := hex.DecodeString(strings.Fields(string(out))[0])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testQuoteDRTM performs a dynamic launch on the swtpm as Intel TXT and
// Linux Secure Launch do — swtpm's locality-4 hash start with the SINIT
// data, then the loader's and kernel's extends at locality 2 — writes the
// DRTM log they would (crypto-agile in a zero-padded buffer, as
// /sys/kernel/security/slaunch/eventlog, and a TPM 1.2 TXT event
// container), and verifies a quote of PCRs 17 and 18 with it: alone,
// beside the firmware log, and failing with an event removed, changed or
// two reordered, naming the event.
func testQuoteDRTM(t *testing.T, l *quoteLab) {
	banks := []pcr.Alg{pcr.SHA1, pcr.SHA256}
	files := map[string][]byte{
		// SINIT hash ‖ EDX, as the ACM hashes it at the launch.
		"sinit":   append(make([]byte, 32), 0x01, 0, 0, 0),
		"cmdline": append([]byte("console=ttyS0 slaunch=intel_txt"), make([]byte, 256-31)...),
	}
	for i := range 32 {
		files["sinit"][i] = byte(0xa0 + i)
	}
	for name, data := range files {
		writeFile(t, l.path(name), data)
	}
	mle := "/usr/lib/systemd/boot/efi/linuxx64.efi.stub" // a real PE standing in for the kernel
	initrd := rhel8                                      // and a real file for the initrd
	l.tpm.HashStart(t, files["sinit"])
	ev := func(index uint32, typ eventlog.EventType, data []byte, file string) *eventlog.Event {
		e := &eventlog.Event{PCR: index, Type: typ, Data: data}
		for _, b := range banks {
			e.Digests = append(e.Digests, eventlog.Digest{Alg: b, Value: toolDigest(t, b, file)})
		}
		return e
	}
	events := []*eventlog.Event{
		{PCR: 0xff, Type: eventlog.EvTXTPCRMapping, Data: []byte{1, 0, 0, 0}, Digests: []eventlog.Digest{{Alg: pcr.SHA1, Value: make([]byte, 20)}, {Alg: pcr.SHA256, Value: make([]byte, 32)}}},
		ev(17, eventlog.EvTXTHashStart, files["sinit"], l.path("sinit")),
		ev(17, eventlog.EvTXTMLEHash, nil, mle),
		ev(18, eventlog.EvSecureLaunch, []byte("Measured boot parameters"), l.path("cmdline")),
		ev(17, eventlog.EvSecureLaunch, []byte("Linux initrd"), initrd),
	}
	for _, e := range events[2:] {
		for _, d := range e.Digests {
			l.tpm.ExtendAt(t, 2, e.PCR, uint16(d.Alg), d.Value)
		}
	}
	slaunch := func(evs []*eventlog.Event) []byte {
		return append(tcglogtest.Write(banks, evs), make([]byte, 8192)...) // the buffer's zeroed tail
	}
	writeFile(t, l.path("drtm.log"), slaunch(events))
	var sha1Only []*eventlog.Event
	for _, e := range events[1:] {
		sha1Only = append(sha1Only, &eventlog.Event{PCR: e.PCR, Type: e.Type, Data: e.Data, Digests: e.Digests[:1]})
	}
	writeFile(t, l.path("txt12.log"), tcglogtest.WriteTXT12(sha1Only, 4096))
	writeFile(t, l.path("drtm-short.log"), slaunch(events[:4]))
	changed := slaunch(append(events[:3:3], ev(18, eventlog.EvSecureLaunch, []byte("Measured boot parameters"), l.path("sinit")), events[4]))
	writeFile(t, l.path("drtm-changed.log"), changed)
	writeFile(t, l.path("drtm-swap.log"), slaunch([]*eventlog.Event{events[0], events[1], events[4], events[3], events[2]}))

	l.quote(t, "rsa", "drtm", "sha1:17,18+sha256:17,18", l.nonce)
	l.quote(t, "rsa", "drtm-boot", "sha256:0,7,17,18", l.nonce)
	verify := func(name string, extra ...string) (int, string) {
		t.Helper()
		code, out, errs := run(t, append([]string{"verify", "quote"}, l.gArgs("rsa", name, extra...)...)...)
		return code, out + errs
	}
	if code, out := verify("drtm", "--eventlog", l.path("drtm.log")); code != 0 || !strings.Contains(out, "✓ event-log") {
		t.Fatalf("DRTM log: exit %d\n%s", code, out)
	}
	if code, out := verify("drtm-boot", "--eventlog", l.log, "--eventlog", l.path("drtm.log")); code != 0 || !strings.Contains(out, "✓ event-log") {
		t.Fatalf("firmware + DRTM log: exit %d\n%s", code, out)
	}
	// The TPM 1.2 container carries SHA-1 only: it explains the SHA-1 bank.
	l.quote(t, "rsa", "drtm-sha1", "sha1:17,18", l.nonce)
	if code, out := verify("drtm-sha1", "--eventlog", l.path("txt12.log")); code != 0 || !strings.Contains(out, "✓ event-log") {
		t.Fatalf("TXT 1.2 container: exit %d\n%s", code, out)
	}
	for name, want := range map[string]string{
		"drtm-short.log":   "PCR 17 replays to",
		"drtm-changed.log": "PCR 18 replays to",
		"drtm-swap.log":    "PCR 17 replays to",
	} {
		code, out := verify("drtm", "--eventlog", l.path(name))
		if code != exitMismatch || !strings.Contains(out, "✗ event-log") || !strings.Contains(out, want) || !strings.Contains(out, "(last extended by event #") {
			t.Errorf("%s: exit %d\n%s", name, code, out)
		}
	}
	// eventlog replay reads the buffer to its zeroed tail and starts
	// PCRs 17–22 from zero.
	code, out, errs := run(t, "eventlog", "replay", l.path("drtm.log"), "--pcr", "17,18", "-o", "json")
	if code != 0 || !strings.Contains(out, `"pcr": 17`) {
		t.Fatalf("eventlog replay: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(l.path("drtm.log")); err != nil {
		t.Fatal(err)
	}
}
