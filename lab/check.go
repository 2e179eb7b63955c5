package lab

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// IMAPCR is the PCR IMA extends; the firmware event log never touches it.
const IMAPCR = 10

// Banks are the banks the lab's TPM allocates.
var Banks = []pcr.Alg{pcr.SHA1, pcr.SHA256}

// Row is one line of a comparison report.
type Row struct {
	What     string
	Expected string // what goldenpcr computed
	Got      string // what the firmware, kernel or TPM said
	OK       bool
	Note     string
}

// Report compares goldenpcr's computations with a capture.
type Report struct {
	Title string
	Dir   string
	Rows  []Row
	Notes []string
}

// OK reports whether every row agrees and there is at least one.
func (r *Report) OK() bool {
	if len(r.Rows) == 0 {
		return false
	}
	for _, row := range r.Rows {
		if !row.OK {
			return false
		}
	}
	return true
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "== %s\n   %s\n", r.Title, r.Dir)
	for _, row := range r.Rows {
		mark := "ok  "
		if !row.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "   %s %s", mark, row.What)
		if row.Note != "" {
			fmt.Fprintf(w, " (%s)", row.Note)
		}
		fmt.Fprintln(w)
		if !row.OK || row.Expected != row.Got {
			fmt.Fprintf(w, "        goldenpcr: %s\n        real:      %s\n", row.Expected, row.Got)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "   note: %s\n", n)
	}
}

// ReplayEventLog replays a capture's event log over both banks.
func ReplayEventLog(path string) (*eventlog.Replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return eventlog.ReplayLog(f, &eventlog.ReplayOptions{Banks: Banks})
}

// Logs reads a capture's event logs: the firmware log, and for a variant
// whose init runs systemd-pcrextend its tpm2-measure.log, which that
// variant's capture must hold.
func (c *Capture) Logs() ([]*eventlog.Log, error) {
	fw, err := eventlog.ReadLogFile(c.Path("eventlog.bin"))
	if err != nil {
		return nil, err
	}
	logs := []*eventlog.Log{fw}
	if v, ok := VariantByName(c.Variant); ok && v.CELLog {
		cel, err := eventlog.ReadLogFile(c.Path(CELLogName))
		if err != nil {
			return nil, err
		}
		logs = append(logs, cel)
	}
	return logs, nil
}

// ReplayCapture replays what a capture's boot logged over both banks: the
// firmware log, then systemd's log for a variant that has one (its PCRs 11
// and 15 hold both), as Logs reads them.
func ReplayCapture(c *Capture) (*eventlog.Replay, error) {
	if v, ok := VariantByName(c.Variant); !ok || !v.CELLog {
		return ReplayEventLog(c.Path("eventlog.bin"))
	}
	logs, err := c.Logs()
	if err != nil {
		return nil, err
	}
	return eventlog.ReplayLogs(logs, &eventlog.ReplayOptions{Banks: Banks})
}

// CompareReplay compares the replayed log with the captured PCRs, every
// PCR of both banks but IMA's, and returns one row per PCR.
func CompareReplay(rep *eventlog.Replay, real pcr.Values) []Row {
	var rows []Row
	for _, alg := range Banks {
		for i := 0; i < pcr.NumPCRs; i++ {
			if i == IMAPCR {
				continue
			}
			want, _ := rep.Values.Get(alg, i)
			got, ok := real.Get(alg, i)
			row := Row{What: fmt.Sprintf("%s PCR %2d: event-log replay = TPM", alg, i), Expected: hex.EncodeToString(want), Got: hex.EncodeToString(got)}
			row.OK = ok && bytes.Equal(want, got)
			if !ok {
				row.Got = "(not captured)"
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// BootApps returns the digests of PCR 4's EV_EFI_BOOT_SERVICES_APPLICATION
// events: what the firmware (and shim) measured for each image it started.
func BootApps(logPath string, alg pcr.Alg) ([][]byte, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := eventlog.NewReader(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if ev.PCR == 4 && ev.Type == eventlog.EvEFIBootServicesApp {
			if d, ok := ev.Digest(alg); ok {
				out = append(out, bytes.Clone(d))
			}
		}
	}
}

// Authenticode is goldenpcr's Authenticode digest of a PE file.
func Authenticode(path string, alg pcr.Alg) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	img, err := authenticode.Parse(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img.Digest(f, alg)
}

// peArtifacts are the PE files a capture may hold, in boot order.
var peArtifacts = []string{"shimx64.efi", "grubx64.efi", "systemd-bootx64.efi", "uki.efi", "vmlinuz"}

// CompareBootApps matches every image the firmware measured into PCR 4
// with goldenpcr's Authenticode digest of the capture's PE artifacts.
func CompareBootApps(c *Capture) ([]Row, error) {
	var rows []Row
	for _, alg := range Banks {
		apps, err := BootApps(c.Path("eventlog.bin"), alg)
		if err != nil {
			return nil, err
		}
		names := map[string]string{}
		for _, a := range peArtifacts {
			if _, err := os.Stat(c.Path(a)); err != nil {
				continue
			}
			d, err := Authenticode(c.Path(a), alg)
			if err != nil {
				return nil, err
			}
			names[hex.EncodeToString(d)] = a
		}
		if len(apps) == 0 {
			rows = append(rows, Row{What: fmt.Sprintf("%s PCR 4: the firmware measured a boot application", alg), Got: "(none in the log)"})
		}
		for i, d := range apps {
			h := hex.EncodeToString(d)
			name, ok := names[h]
			row := Row{What: fmt.Sprintf("%s PCR 4 image #%d: Authenticode digest of %s = firmware's", alg, i+1, orUnknown(name)), Got: h, OK: ok}
			if ok {
				row.Expected = h
			} else {
				var have []string
				for dh, n := range names {
					have = append(have, n+"="+dh)
				}
				sort.Strings(have)
				row.Expected = strings.Join(have, " ")
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "no lab artifact"
	}
	return s
}

// Check compares goldenpcr's view of a capture with what the TPM said:
// the event-log replay of every PCR (IMA's PCR 10 aside; with systemd's
// log after the firmware's where the variant has one) and the
// Authenticode digests of the booted images.
func Check(c *Capture) (*Report, error) {
	r := &Report{Title: "lab variant " + c.Variant, Dir: c.Dir}
	if c.PCRs.Len() == 0 {
		r.Rows = append(r.Rows, Row{What: "the guest captured PCR values", Got: "none"})
		return r, nil
	}
	rep, err := ReplayCapture(c)
	if err != nil {
		return nil, err
	}
	rows := CompareReplay(rep, c.PCRs)
	// Fold the 46 replay rows into one per bank when they all agree.
	for _, alg := range Banks {
		all := true
		n := 0
		for _, row := range rows {
			if strings.HasPrefix(row.What, alg.String()+" ") {
				n++
				if !row.OK {
					all = false
					r.Rows = append(r.Rows, row)
				}
			}
		}
		if all {
			r.Rows = append(r.Rows, Row{What: fmt.Sprintf("%s: event-log replay = TPM for all %d PCRs but IMA's PCR %d", alg, n, IMAPCR), OK: true})
		}
	}
	apps, err := CompareBootApps(c)
	if err != nil {
		return nil, err
	}
	r.Rows = append(r.Rows, apps...)
	if m, err := c.Manifest(); err == nil {
		row := Row{What: "quote made from the saved TPM state; tpm2_pcrread there = the guest's PCRs", OK: m.Quote}
		if !m.Quote {
			row.Got = m.QuoteError
		} else if doc, err := pcr.ReadFile(c.Path("tpm-pcrs.yaml"), pcr.ReadOptions{Format: pcr.FormatTPM2YAML}); err != nil {
			row.OK, row.Got = false, err.Error()
		} else if _, ok := pcr.Compare(doc.Sets[0], c.PCRs); !ok {
			row.OK, row.Got = false, "tpm-pcrs.yaml differs from pcrs.yaml"
		}
		r.Rows = append(r.Rows, row)
		r.Notes = append(r.Notes, fmt.Sprintf("booted in %.1fs; IMA's PCR 10 and the quote's signature are checked by GOLDENPCR_LAB=1 go test ./lab", m.BootSeconds))
	}
	return r, nil
}
