package diff

import (
	"bytes"
	"encoding/binary"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

const rhel8 = "../fixtures/tcg/rhel8-uefi.bin"

func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logSide(t testing.TB, name string, data []byte) *Side {
	t.Helper()
	l, err := eventlog.ReadLog(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	l.Name = name
	s, err := FromLogs(name, []*eventlog.Log{l})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// variable returns the decoded UEFI_VARIABLE_DATA of ev.
func variable(t testing.TB, ev *eventlog.Event) eventlog.Variable {
	t.Helper()
	p, err := eventlog.Decode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return p.(eventlog.Variable)
}

// setVariable gives ev new variable contents, hashed as the original was:
// the whole UEFI_VARIABLE_DATA, or only the contents (edk2's boot
// variables).
func setVariable(t testing.TB, ev *eventlog.Event, contents []byte) {
	t.Helper()
	v := variable(t, ev)
	onlyContents := bytes.Equal(ev.Digests[0].Value, ev.Digests[0].Alg.Sum(v.VariableData))
	ev.Data = eventlog.EncodeVariableData(v.VendorGUID, v.Name, contents)
	if onlyContents {
		tcglogtest.Rehash(ev, contents)
	} else {
		tcglogtest.Rehash(ev, ev.Data)
	}
}

// sha256List is an EFI_SIGNATURE_LIST of one EFI_CERT_SHA256 entry.
func sha256List(hash byte) []byte {
	b := append([]byte{}, eventlog.GUIDCertSHA256[:]...)
	b = binary.LittleEndian.AppendUint32(b, 28+16+32)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 16+32)
	b = append(b, eventlog.GUIDShimLock[:]...)
	return append(b, bytes.Repeat([]byte{hash}, 32)...)
}

func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

// grubText changes a GRUB PCR 8 event's text, hashing it as the original
// was hashed (with or without its trailing NUL).
func grubText(ev *eventlog.Event, text string) {
	old := bytes.TrimSuffix(ev.Data, []byte{0})
	_, cmd, _ := strings.Cut(string(old), " ")
	withNUL := bytes.Equal(ev.Digests[0].Value, ev.Digests[0].Alg.Sum(append([]byte(cmd), 0)))
	ev.Data = append([]byte(text), 0)
	_, cmd, _ = strings.Cut(text, " ")
	if withNUL {
		tcglogtest.Rehash(ev, append([]byte(cmd), 0))
	} else {
		tcglogtest.Rehash(ev, []byte(cmd))
	}
}

// firstDivergence is the report's PCR index and its first divergent step.
func firstDivergence(t *testing.T, r *Report, index int) *Step {
	t.Helper()
	for _, p := range r.PCRs {
		if p.Index == index {
			if p.Same || p.First < 0 {
				t.Fatalf("PCR %d: no divergence: %+v", index, p)
			}
			return &p.Steps[p.First]
		}
	}
	t.Fatalf("PCR %d not in the report", index)
	return nil
}

func hasHint(s *Step, cause, detail string) bool {
	return slices.ContainsFunc(s.Hints, func(h Hint) bool { return h.Cause == cause && strings.Contains(h.Detail, detail) })
}

// Each pair changes one thing in a real log (a GCE VM's RHEL 8 boot: shim,
// GRUB 2.02, secure boot on); diff names it as the first divergence, with
// the right hint, and every other PCR is the same.
func TestOneThingChanged(t *testing.T) {
	orig := readFixture(t, rhel8)
	for _, c := range []struct {
		name   string
		edit   func(ev *eventlog.Event) []*eventlog.Event
		pcr    int
		kind   StepKind
		cause  string
		detail string
	}{
		{"firmware version", func(ev *eventlog.Event) []*eventlog.Event {
			if ev.Type == eventlog.EvSCRTMVersion {
				ev.Data = utf16z("GCE Virtual Firmware v2")
				tcglogtest.Rehash(ev, ev.Data)
			}
			return []*eventlog.Event{ev}
		}, 0, Changed, CauseFirmwareVersion, "v2"},
		{"db entry", func(ev *eventlog.Event) []*eventlog.Event {
			if ev.Type == eventlog.EvEFIVariableDriverCfg && variable(t, ev).Name == "db" {
				setVariable(t, ev, append(variable(t, ev).VariableData, sha256List(0xdb)...))
			}
			return []*eventlog.Event{ev}
		}, 7, Changed, CauseSecureBootVariable, "db: 3 entries, expected 2; added hash dbdbdbdb"},
		{"dbx update", func(ev *eventlog.Event) []*eventlog.Event {
			if ev.Type == eventlog.EvEFIVariableDriverCfg && variable(t, ev).Name == "dbx" {
				setVariable(t, ev, append(variable(t, ev).VariableData, sha256List(0x0d)...))
			}
			return []*eventlog.Event{ev}
		}, 7, Changed, CauseDBXUpdate, "dbx: 187 entries, expected 186; added hash 0d0d0d0d"},
		{"boot order", func(ev *eventlog.Event) []*eventlog.Event {
			if ev.Type == eventlog.EvEFIVariableBoot && variable(t, ev).Name == "BootOrder" {
				setVariable(t, ev, []byte{0, 0, 2, 0, 1, 0})
			}
			return []*eventlog.Event{ev}
		}, 1, Changed, CauseBootOrder, "BootOrder Boot0000,Boot0002,Boot0001, expected Boot0002,Boot0000,Boot0001"},
		{"kernel command line", func(ev *eventlog.Event) []*eventlog.Event {
			if ev.PCR == 8 && bytes.HasPrefix(ev.Data, []byte("grub_kernel_cmdline ")) {
				grubText(ev, strings.Replace(string(bytes.TrimSuffix(ev.Data, []byte{0})), " ro ", " rw quiet ", 1))
			}
			return []*eventlog.Event{ev}
		}, 8, Changed, CauseKernelCmdline, "[-ro-] {+rw+} {+quiet+}"},
		{"inserted boot application", func(ev *eventlog.Event) []*eventlog.Event {
			if ev.Type == eventlog.EvEFIBootServicesApp && bytes.Contains(ev.Data, bytes.TrimSuffix(utf16z(`grubx64.efi`), []byte{0, 0})) {
				extra := ev.Clone()
				tcglogtest.Rehash(extra, []byte("another image"))
				return []*eventlog.Event{extra, ev}
			}
			return []*eventlog.Event{ev}
		}, 4, Extra, CauseBootApplication, "another image was loaded"},
		{"no ExitBootServices", func(ev *eventlog.Event) []*eventlog.Event {
			if ev.Type == eventlog.EvEFIAction && bytes.HasPrefix(ev.Data, []byte("Exit Boot Services")) {
				return nil
			}
			return []*eventlog.Event{ev}
		}, 5, Missing, CauseFirmwareQuirk, "does not measure the ExitBootServices actions"},
	} {
		t.Run(c.name, func(t *testing.T) {
			changed := tcglogtest.Edit(t, orig, c.edit)
			r, err := Compare(logSide(t, "golden", orig), logSide(t, "device", changed), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Differs {
				t.Fatal("no difference reported")
			}
			s := firstDivergence(t, r, c.pcr)
			if s.Kind != c.kind || !hasHint(s, c.cause, c.detail) {
				t.Errorf("first divergence %s with hints %+v; want %s with a %q hint saying %q", s.Kind, s.Hints, c.kind, c.cause, c.detail)
			}
			for _, p := range r.PCRs {
				if p.Index != c.pcr && !p.Same {
					t.Errorf("PCR %d differs too: %+v", p.Index, p)
				}
				if p.Index == c.pcr && c.kind == Extra {
					// One inserted event: everything after it still lines up.
					n := 0
					for _, s := range p.Steps {
						if s.Kind != Same {
							n++
						}
					}
					if n != 1 {
						t.Errorf("PCR %d: %d differences, want only the inserted event", p.Index, n)
					}
				}
			}
		})
	}
}

func TestIdentical(t *testing.T) {
	orig := readFixture(t, rhel8)
	r, err := Compare(logSide(t, "a", orig), logSide(t, "b", orig), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Differs || len(r.PCRs) < 9 {
		t.Errorf("identical logs: differs=%v, %d PCRs", r.Differs, len(r.PCRs))
	}
}

// A log with one event removed, given with the machine's real PCRs, is a
// log that does not match the PCRs, not a changed boot: the boot matches
// the golden log.
func TestTruncatedLogAgainstRealPCRs(t *testing.T) {
	orig := readFixture(t, rhel8)
	cut := tcglogtest.Edit(t, orig, func(ev *eventlog.Event) []*eventlog.Event {
		if ev.PCR == 8 && bytes.Contains(ev.Data, []byte("insmod blscfg")) {
			return nil
		}
		return []*eventlog.Event{ev}
	})
	device := logSide(t, "device", cut)
	doc, err := pcr.ReadFile("../fixtures/tcg/rhel8-uefi.pcrs.yaml", pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	device.Device = doc.Sets[0]
	r, err := Compare(logSide(t, "golden", orig), device, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.PCRs {
		switch {
		case p.Index == 8 && (p.LogMismatch == nil || !p.LogMismatch.BootMatches || p.Same):
			t.Errorf("PCR 8: %+v; want a log that does not match the PCRs, the boot matching", p)
		case p.Index != 8 && p.LogMismatch != nil:
			t.Errorf("PCR %d: log mismatch %+v", p.Index, p.LogMismatch)
		}
	}
	if !r.Differs {
		t.Error("a log that does not match the PCRs must make the report differ")
	}
}

// No pair of logs makes the alignment's time or memory grow faster than
// the events: past maxAlignCells pairs, the greedy alignment runs.
func TestAlignLarge(t *testing.T) {
	n := 3000
	exp, act := make([]Entry, n), make([]Entry, n)
	for i := range exp {
		exp[i] = Entry{Key: "EV_IPL x", Type: "EV_IPL", Digests: map[string]string{"sha256": "00"}}
		act[i] = Entry{Key: "EV_IPL x", Type: "EV_IPL", Digests: map[string]string{"sha256": "00"}}
	}
	act[n/2].Digests = map[string]string{"sha256": "11"}
	steps := align(exp, act, pcr.SHA256)
	diffs := 0
	for _, s := range steps {
		if s.Kind != Same {
			diffs++
		}
	}
	if len(steps) != n || diffs != 1 {
		t.Errorf("%d steps, %d differences; want %d and 1", len(steps), diffs, n)
	}
}

func TestWordDiff(t *testing.T) {
	if got := wordDiff("console=ttyS0 ro quiet", "console=ttyS0 rw quiet splash"); got != "console=ttyS0 [-ro-] {+rw+} quiet {+splash+}" {
		t.Errorf("wordDiff = %q", got)
	}
}
