package lab

import (
	"bytes"
	"crypto/sha256"
	"os"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// replayIMA replays a captured IMA list with goldenpcr's ima package and
// checks its boot_aggregate against vals.
func replayIMA(t *testing.T, path string, vals pcr.Values) (*ima.Replay, map[string][]byte, *ima.BootAggregateCheck) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Format detection is part of what real lists test.
	rd, format, err := ima.NewReader(f, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if wantASCII := strings.HasSuffix(path, ".ascii"); wantASCII != (format == ima.FormatASCII) {
		t.Fatalf("%s detected as %v", path, format)
	}
	files := map[string][]byte{}
	var agg *ima.BootAggregateCheck
	rep, err := ima.ReplayList(rd, &ima.ReplayOptions{Banks: Banks}, func(e *ima.Entry) error {
		if d, ok := ima.BootAggregateOf(e); ok {
			agg = ima.CheckBootAggregate(d, ima.EntryRef{Index: e.Index, Offset: e.Offset, Line: e.Line, PCR: e.PCR, Path: e.Path()}, vals)
			return nil
		}
		ev, err := e.Decode()
		if err != nil {
			return err
		}
		if ev.Digest != nil {
			files[ev.Path] = bytes.Clone(ev.Digest.Value)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rep, files, agg
}

// The IMA lists the kernel kept replay, with goldenpcr's ima package, to
// the PCR 10 the TPM holds in both banks; the boot_aggregate is the hash of
// the real PCRs 0-9 (SHA-256, Linux 5.8+ rule) and of what the firmware
// event log replays to; and the files the init read are listed with the
// SHA-256 of their known contents.
func TestIMAReplayEqualsTPM(t *testing.T) {
	forEachVariant(t, func(t *testing.T, c *Capture) {
		for _, list := range []string{"ima.bin", "ima.ascii"} {
			rep, files, agg := replayIMA(t, c.Path(list), c.PCRs)
			if rep.Entries < 4 {
				t.Fatalf("%s/%s: %d entries; the init's policy measured nothing", c.Dir, list, rep.Entries)
			}
			if v := rep.Match(c.PCRs); !v.OK || v.Rule != ima.RulePerBank {
				t.Errorf("%s/%s: IMA replay does not give the TPM's PCR 10 under the per-bank rule: %+v", c.Dir, list, v)
			}
			for _, alg := range Banks {
				got, _ := rep.PerBank.Get(alg, IMAPCR)
				if want := c.PCRs[alg][IMAPCR]; !bytes.Equal(got, want) {
					t.Errorf("%s/%s: %s PCR 10 replayed %x, TPM %x", c.Dir, list, alg, got, want)
				}
			}
			if agg == nil {
				t.Fatalf("%s/%s: no boot_aggregate entry", c.Dir, list)
			}
			if !agg.OK() || agg.Rule != ima.BootAggregatePCR0to9 {
				t.Errorf("%s/%s: boot_aggregate %s (rule %q) against the TPM's PCRs: %+v", c.Dir, list, agg.Status, agg.Rule, agg.Candidates)
			}
			// The event log's replay predicts the same aggregate.
			lr, err := ReplayEventLog(c.Path("eventlog.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, fromLog := replayIMA(t, c.Path(list), lr.Values); !fromLog.OK() {
				t.Errorf("%s/%s: boot_aggregate does not match the event-log replay: %+v", c.Dir, list, fromLog.Candidates)
			}
			want := map[string][]byte{"/etc/lab/data.bin": imaDataBin()}
			for name, body := range imaFiles {
				want["/"+name] = []byte(body)
			}
			for name, body := range want {
				sum := sha256.Sum256(body)
				if got, ok := files[name]; !ok || !bytes.Equal(got, sum[:]) {
					t.Errorf("%s/%s: %s listed with digest %x, want %x", c.Dir, list, name, got, sum)
				}
			}
		}
	})
}
