package refvals

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// replayUntil replays one PCR of a log over its first n events.
func replayUntil(t *testing.T, data []byte, index uint32, n int, alg pcr.Alg) ([]byte, []*eventlog.Event) {
	t.Helper()
	rd, err := eventlog.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	v := pcr.InitialValue(alg, int(index), 0)
	var evs []*eventlog.Event
	for len(evs) < n {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.PCR != index || ev.Type == eventlog.EvNoAction {
			continue
		}
		d, _ := ev.Digest(alg)
		v = pcr.Extend(alg, v, d)
		evs = append(evs, ev.Clone())
	}
	return v, evs
}

// Every real log begins PCR 4 with the boot-option action and the
// separator; the calculator produces exactly those two events.
func TestPCR4PrefixMatchesRealLogs(t *testing.T) {
	for _, name := range []string{"rhel8-uefi.bin", "ubuntu-2104-no-secure-boot.bin", "cos-93-amd-sev.bin"} {
		data, err := os.ReadFile(filepath.Join("../fixtures/tcg", name))
		if err != nil {
			t.Fatal(err)
		}
		want, evs := replayUntil(t, data, PCRBootManagerCode, 2, pcr.SHA256)
		b := baseline.NewBuilder(pcr.SHA256)
		if err := BootManagerPCR4(b, nil); err != nil {
			t.Fatal(err)
		}
		got, _ := b.Baseline().Values()
		if g, _ := got.Get(pcr.SHA256, PCRBootManagerCode); !bytes.Equal(g, want) {
			t.Errorf("%s: PCR 4 after %v,%v = %x, log %x", name, evs[0].Type, evs[1].Type, g, want)
		}
	}
}

// With applications, each adds its Authenticode digest in order.
func TestPCR4Applications(t *testing.T) {
	apps := []string{"/usr/lib/shim/shimx64.efi.signed", "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"}
	b := baseline.NewBuilder(pcr.SHA256)
	var list []BootApplication
	for _, a := range apps {
		list = append(list, BootApplication{Path: a, Why: filepath.Base(a)})
	}
	if err := BootManagerPCR4(b, list); err != nil {
		t.Fatal(err)
	}
	want := pcr.InitialValue(pcr.SHA256, 4, 0)
	want = pcr.Extend(pcr.SHA256, want, pcr.SHA256.Sum([]byte(ActionCallingBootOption)))
	want = pcr.Extend(pcr.SHA256, want, pcr.SHA256.Sum([]byte{0, 0, 0, 0}))
	for _, a := range apps {
		f, err := os.Open(a)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		img, _ := authenticode.Parse(f, st.Size())
		d, _ := img.Digest(f, pcr.SHA256)
		f.Close()
		want = pcr.Extend(pcr.SHA256, want, d)
	}
	doc := b.Baseline()
	if doc.PCRs[0].Values["sha256"] != hex.EncodeToString(want) || len(doc.PCRs[0].Events) != 4 || len(doc.Metadata.Inputs) != 2 {
		t.Errorf("PCR 4 %+v", doc.PCRs[0])
	}
	if err := BootManagerPCR4(baseline.NewBuilder(pcr.SHA256), []BootApplication{{Path: "../fixtures/tcg/rhel8-uefi.bin"}}); err == nil {
		t.Error("a non-PE application was accepted")
	}
}

// The stub's initrd tag event carries the same data as in a real
// systemd-boot/Fedora log, and its digest is the initrd's hash.
func TestLinuxStubPCR9(t *testing.T) {
	data, err := os.ReadFile("../fixtures/tcg-edge/event-sd-boot-fedora37.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, evs := replayUntil(t, data, PCRKernelConfig, 10, pcr.SHA256)
	var real *eventlog.Event
	for _, ev := range evs {
		if ev.Type == eventlog.EvEventTag {
			real = ev
		}
	}
	if real == nil || !bytes.Equal(real.Data, taggedEvent(tagLinuxInitrd, "Linux initrd")) {
		t.Fatalf("real initrd tag %+v", real)
	}
	b := baseline.NewBuilder(pcr.SHA256)
	initrd := []byte("initrd contents")
	if err := LinuxStubPCR9(b, "root=/dev/vda ro", initrd, ""); err != nil {
		t.Fatal(err)
	}
	evsOut := b.Baseline().PCRs[0].Events
	var u []byte
	for _, c := range utf16.Encode([]rune("root=/dev/vda ro")) {
		u = binary.LittleEndian.AppendUint16(u, c)
	}
	u = append(u, 0, 0)
	if len(evsOut) != 2 || evsOut[0].Digests["sha256"] != hex.EncodeToString(pcr.SHA256.Sum(u)) || evsOut[1].Digests["sha256"] != hex.EncodeToString(pcr.SHA256.Sum(initrd)) {
		t.Errorf("events %+v", evsOut)
	}
}

func TestCMLImagesPCR11(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "root.img", []byte("guest os A"))
	c := writeFile(t, dir, "root2.img", []byte("guest os B"))
	b := baseline.NewBuilder(pcr.SHA256)
	if err := CMLImagesPCR11(b, []string{a, c}); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 32)
	want = pcr.Extend(pcr.SHA256, want, pcr.SHA256.Sum([]byte("guest os A")))
	want = pcr.Extend(pcr.SHA256, want, pcr.SHA256.Sum([]byte("guest os B")))
	if got := b.Baseline().PCRs[0].Values["sha256"]; got != hex.EncodeToString(want) {
		t.Errorf("PCR 11 %s, want %x", got, want)
	}
	if err := CMLImagesPCR11(baseline.NewBuilder(pcr.SHA1), []string{a}); err == nil {
		t.Error("a sha1 CML prediction was accepted")
	}
}
