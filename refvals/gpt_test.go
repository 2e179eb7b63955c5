package refvals

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// A disk partitioned by sfdisk (util-linux): the GPT event decodes as the
// partitions sfdisk reports, with empty entries left out.
func TestGPTEventFromSfdiskImage(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 20<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sfdisk", "-q", disk)
	cmd.Stdin = strings.NewReader("label: gpt\nlabel-id: 5D92547C-26F7-924C-852E-ACE3C4893B51\n,10M,U\n,,L\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk (Debian fdisk; run make deps): %v %s", err, out)
	}
	b := baseline.NewBuilder(pcr.SHA256)
	if err := BootManagerDataPCR5(b, disk); err != nil {
		t.Fatal(err)
	}
	evs := b.Baseline().PCRs[0].Events
	if len(evs) != 4 || evs[0].Type != "EV_SEPARATOR" || evs[2].Description != ActionExitBootServices {
		t.Fatalf("events %+v", evs)
	}
	f, _ := os.Open(disk)
	defer f.Close()
	data, err := GPTEventData(f)
	if err != nil {
		t.Fatal(err)
	}
	p, err := eventlog.Decode(&eventlog.Event{Type: eventlog.EvEFIGPTEvent, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	g := p.(eventlog.GPT)
	if g.DiskGUID.String() != "5d92547c-26f7-924c-852e-ace3c4893b51" || len(g.Partitions) != 2 ||
		g.Partitions[0].TypeGUID.String() != "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" || g.Partitions[0].StartLBA != 2048 {
		t.Errorf("decoded GPT %+v", g)
	}
	if binary.LittleEndian.Uint64(data[92:]) != 2 || len(data) != 92+8+2*128 {
		t.Errorf("UEFI_GPT_DATA is %d bytes", len(data))
	}
	if err := BootManagerDataPCR5(b, "../fixtures/tcg/rhel8-uefi.bin"); err == nil || !strings.Contains(err.Error(), "no GPT") {
		t.Errorf("non-disk: %v", err)
	}
}
