package refvals

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Predicting a new boot application on a real machine: PCR 4 is computed,
// every other PCR keeps the value and events the reference log recorded.
func TestPredictKeepsFirmwarePCRs(t *testing.T) {
	data, err := os.ReadFile("../fixtures/tcg/rhel8-uefi.bin")
	if err != nil {
		t.Fatal(err)
	}
	replay, err := eventlog.ReplayLog(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Predict(bytes.NewReader(data), Inputs{Banks: []pcr.Alg{pcr.SHA256}, EFIApps: []string{"/usr/lib/shim/shimx64.efi.signed"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := doc.Values()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 7, 8, 9, 14} {
		g, ok := got.Get(pcr.SHA256, i)
		w, _ := replay.Values.Get(pcr.SHA256, i)
		if !ok || !bytes.Equal(g, w) {
			t.Errorf("PCR %d = %x, reference log %x", i, g, w)
		}
	}
	g4, _ := got.Get(pcr.SHA256, 4)
	w4, _ := replay.Values.Get(pcr.SHA256, 4)
	if bytes.Equal(g4, w4) {
		t.Error("PCR 4 was not recomputed for the new boot application")
	}
	for _, p := range doc.PCRs {
		if p.Index == 0 && (len(p.Events) != 3 || !strings.Contains(p.Events[0].Provenance.Rule, "reference log")) {
			t.Errorf("PCR 0 events %+v", p.Events)
		}
	}
	if _, err := Predict(bytes.NewReader(data), Inputs{Banks: []pcr.Alg{pcr.SHA512}, EFIApps: []string{"x"}}); err == nil || !strings.Contains(err.Error(), "no sha512 digests") {
		t.Errorf("bank not in log: %v", err)
	}
}
