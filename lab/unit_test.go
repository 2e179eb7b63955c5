package lab

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// These tests need no QEMU and always run.

func TestParseStream(t *testing.T) {
	stream := "noise\r\n@@LAB 1@@\r\n@@BEGIN eventlog@@\r\naGVs\r\nbG8=\r\n@@END eventlog@@\r\n" +
		"@@BEGIN ima.bin@@\n@@MISSING@@\n@@END ima.bin@@\n" +
		"@@BEGIN pcrs@@\nsha1 0 " + strings.Repeat("00", 20) + "\nsha256 0 " + strings.Repeat("ab", 32) + "\nsha1 1 \n@@END pcrs@@\n@@DONE@@\n"
	sec, err := parseStream([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	if string(sec["eventlog"]) != "hello" {
		t.Errorf("eventlog = %q", sec["eventlog"])
	}
	if b, ok := sec["ima.bin"]; !ok || b != nil {
		t.Errorf("missing section = %q, %v", b, ok)
	}
	v, err := parseGuestPCRs(sec["pcrs"])
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 2 {
		t.Errorf("PCRs %v: want 2 (an empty value is left out)", v)
	}
	if _, err := parseStream([]byte("@@BEGIN x@@\nAA==\n@@END x@@\n")); err == nil {
		t.Error("a stream without @@DONE@@ was accepted")
	}
	if _, err := parseStream([]byte("@@BEGIN x@@\n!!\n@@END x@@\n@@DONE@@\n")); err == nil {
		t.Error("bad base64 was accepted")
	}
}

// A capture without PCR values proves nothing, so it fails.
func TestCheckFailsWithoutPCRs(t *testing.T) {
	rep, err := Check(&Capture{Variant: "empty", Dir: t.TempDir(), PCRs: pcr.Values{}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Error("a capture without PCRs passed")
	}
	if (&Report{}).OK() {
		t.Error("an empty report passed")
	}
}

func TestCPIO(t *testing.T) {
	a := writeCPIO([]cpioEntry{{Name: "b", Mode: sIFREG | 0o644, Data: []byte("xyz")}, {Name: "a", Mode: sIFDIR | 0o755}})
	b := writeCPIO([]cpioEntry{{Name: "a", Mode: sIFDIR | 0o755}, {Name: "b", Mode: sIFREG | 0o644, Data: []byte("xyz")}})
	if !bytes.Equal(a, b) {
		t.Error("entry order changes the archive")
	}
	if len(a)%4 != 0 || !bytes.HasPrefix(a, []byte("070701")) || !bytes.Contains(a, []byte("TRAILER!!!\x00")) {
		t.Errorf("not a newc archive: %q", a[:16])
	}
	// "a" takes a 110-byte header and "a\0" (already 4-aligned), no data.
	off := 110 + 2
	hdr := a[off:]
	if !bytes.HasPrefix(hdr, []byte("070701")) || string(hdr[6+6*8:6+7*8]) != "00000003" {
		t.Errorf("second header %q: want filesize 3", hdr[:110])
	}
}

// zeroTimestamp clears TimeDateStamp and leaves a checksum that the PE
// checksum algorithm accepts.
func TestZeroTimestamp(t *testing.T) {
	if _, err := os.Stat(systemdStub); err != nil {
		t.Fatalf("%s missing: install systemd-boot-efi (make deps)", systemdStub)
	}
	p := filepath.Join(t.TempDir(), "stub.efi")
	if err := copyFile(systemdStub, p, 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	off := int(binary.LittleEndian.Uint32(b[0x3c:]))
	binary.LittleEndian.PutUint32(b[off+8:], 0x12345678)
	os.WriteFile(p, b, 0o644)
	if err := zeroTimestamp(p); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	if ts := binary.LittleEndian.Uint32(b[off+8:]); ts != 0 {
		t.Errorf("TimeDateStamp %#x", ts)
	}
	f, err := pe.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sum := f.OptionalHeader.(*pe.OptionalHeader64).CheckSum
	if want := peChecksum(b, off+24+64); sum != want || sum == 0 {
		t.Errorf("CheckSum %#x, want %#x", sum, want)
	}
}

func TestPredictPCR4(t *testing.T) {
	// Extending nothing past the action and separator events.
	v := PredictPCR4(pcr.SHA256, nil)
	want := pcr.Extend(pcr.SHA256, pcr.Extend(pcr.SHA256, make([]byte, 32), pcr.SHA256.Sum([]byte("Calling EFI Application from Boot Option"))), pcr.SHA256.Sum([]byte{0, 0, 0, 0}))
	if !bytes.Equal(v, want) {
		t.Errorf("%x != %x", v, want)
	}
}

func TestMissingErrorNamesPackages(t *testing.T) {
	e := &MissingError{Missing: []string{"swtpm (swtpm)"}, Packages: []string{"swtpm"}}
	if !strings.Contains(e.Error(), "swtpm") || !strings.Contains(e.Error(), "scripts/deps.sh") {
		t.Error(e.Error())
	}
}

// The uki-pcrphase init is the lab's with systemd-pcrextend's steps after
// the IMA work and systemd's log sent before the IMA lists; the rest is
// the lab's init unchanged.
func TestPCRPhaseInit(t *testing.T) {
	s, err := pcrphaseInit()
	if err != nil {
		t.Fatal(err)
	}
	hello := strings.Index(s, "/usr/bin/lab-hello > /dev/null")
	steps := strings.Index(s, "for step in enter-initrd --machine-id leave-initrd; do")
	cel := strings.Index(s, "\temit tpm2-measure.log /run/log/systemd/tpm2-measure.log\n")
	imaList := strings.Index(s, "\temit ima.bin ")
	if hello < 0 || steps < hello || cel < steps || imaList < cel {
		t.Fatalf("order: lab-hello %d, steps %d, log %d, IMA list %d\n%s", hello, steps, cel, imaList, s)
	}
	if !strings.HasPrefix(s, initScript[:hello]) || !strings.HasSuffix(s, initScript[strings.Index(initScript, "\temit ima.bin "):]) {
		t.Error("the pcrphase init changed the lab's own lines")
	}
}
