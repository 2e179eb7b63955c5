package refvals

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// realCELLog is the tpm2-measure.log of the boot lab's uki-pcrphase boot,
// where systemd-pcrextend --machine-id measured this machine ID.
var realCELLog = filepath.Join("..", "fixtures", "cel", "lab-uki-pcrphase-tpm2-measure.log")

const realMachineID = "b0a7c0ffee1d4e5f8a9b0c1d2e3f4a5b"

// --machine-id's PCR 15 equals what systemd's real log replays to in both
// banks, and its one event aligns with systemd's record.
func TestMachineIDPCR15MatchesSystemd(t *testing.T) {
	log, err := eventlog.ReadLogFile(realCELLog)
	if err != nil {
		t.Fatal(err)
	}
	banks := []pcr.Alg{pcr.SHA1, pcr.SHA256}
	rp, err := eventlog.ReplayLogs([]*eventlog.Log{log}, &eventlog.ReplayOptions{Banks: banks})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Compute(Inputs{Banks: banks, MachineID: realMachineID})
	if err != nil {
		t.Fatal(err)
	}
	got, err := doc.Values()
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range banks {
		w, _ := rp.Values.Get(alg, PCRSystemIdentity)
		if g, ok := got.Get(alg, PCRSystemIdentity); !ok || !bytes.Equal(g, w) {
			t.Errorf("%s PCR 15: computed %x, systemd's log %x", alg, g, w)
		}
	}
	al, err := doc.Align(log.Events)
	if err != nil || !al.OK {
		t.Errorf("the baseline's PCR 15 does not align with systemd's log: %v %+v", err, al)
	}
}

// A machine ID systemd would not write is refused, naming the option in
// the caller's words.
func TestMachineIDInvalid(t *testing.T) {
	for _, id := range []string{"B0A7C0FFEE1D4E5F8A9B0C1D2E3F4A5B", "b0a7c0ff-ee1d-4e5f-8a9b-0c1d2e3f4a5b", realMachineID + "\n", realMachineID[:31], "g" + realMachineID[1:]} {
		_, err := Compute(Inputs{Banks: []pcr.Alg{pcr.SHA256}, MachineID: id})
		if err == nil || !strings.HasPrefix(err.Error(), "MachineID: machine ID ") {
			t.Errorf("%q: %v", id, err)
		}
		_, err = Compute(Inputs{Banks: []pcr.Alg{pcr.SHA256}, MachineID: id, OptionName: func(o YoctoOption) string { return "--" + strings.ToLower(string(o)) }})
		if err == nil || !strings.HasPrefix(err.Error(), "--machineid: ") {
			t.Errorf("%q with OptionName: %v", id, err)
		}
	}
}
