package diff

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/eventlog"
)

// Hint is a likely cause of a difference, read from the decoded events.
type Hint struct {
	// Cause is one of the Cause constants.
	Cause  string `json:"cause" yaml:"cause"`
	Detail string `json:"detail" yaml:"detail"`
}

// Causes a Hint names.
const (
	CauseFirmwareVersion    = "firmware version"
	CauseFirmwareCode       = "firmware code"
	CauseSecureBootVariable = "secure-boot variable"
	CauseDBXUpdate          = "dbx update"
	CauseAuthority          = "authority"
	CauseSBAT               = "SBAT level"
	CauseBootOrder          = "boot order"
	CauseBootEntry          = "boot entry"
	CauseBootApplication    = "boot application"
	CauseKernelCmdline      = "kernel command line"
	CauseInitrd             = "initrd"
	CauseUKISection         = "UKI section"
	CauseGRUBCommand        = "GRUB command"
	CauseGRUBFile           = "file GRUB read"
	CauseExtraEvent         = "extra event"
	CauseMissingEvent       = "missing event"
	CauseFirmwareQuirk      = "firmware quirk"
	CauseArtifact           = "artifact"
	CauseBootPhase          = "boot phase"
	CauseDisk               = "boot disk"
)

// hints explains one step that is not Same.
func hints(s *Step) []Hint {
	var out []Hint
	switch s.Kind {
	case Changed:
		out = changedHints(s.Expected, s.Actual)
	case Missing:
		out = []Hint{{CauseMissingEvent, fmt.Sprintf("%s %s is not in the log", s.Expected.Type, s.Expected.Summary)}}
		switch {
		case s.Expected.typ == eventlog.EvEFIVariableAuthority:
			out = append(out, Hint{CauseAuthority, "an authority that was expected to verify an image did not: " + s.Expected.Summary})
		case s.Expected.typ == eventlog.EvEFIBootServicesApp:
			out = append(out, Hint{CauseBootApplication, "an expected image was not loaded: " + s.Expected.Summary})
		}
		if s.Expected.typ == eventlog.EvEFIAction && strings.HasPrefix(eventText(s.Expected), "Exit Boot Services") {
			out = append(out, Hint{CauseFirmwareQuirk, "firmware that does not measure the ExitBootServices actions into PCR 5 (some firmware omits them, or a direct kernel boot does not call the boot manager)"})
		}
	case Extra:
		out = []Hint{{CauseExtraEvent, fmt.Sprintf("%s %s is not expected", s.Actual.Type, s.Actual.Summary)}}
		switch s.Actual.Type {
		case "EV_EFI_VARIABLE_AUTHORITY":
			out = append(out, Hint{CauseAuthority, "a new authority verified an image: " + s.Actual.Summary})
		case "EV_EFI_BOOT_SERVICES_APPLICATION":
			out = append(out, Hint{CauseBootApplication, "another image was loaded: " + s.Actual.Summary})
		}
	}
	// A quirk one side's firmware follows and the other's does not moves
	// the digest by itself.
	if s.Kind == Changed && s.Expected.Quirk != s.Actual.Quirk {
		for _, e := range []*Entry{s.Expected, s.Actual} {
			if e.Quirk != "" {
				out = append(out, Hint{CauseFirmwareQuirk, e.Quirk})
			}
		}
	}
	return out
}

// changedHints compares an expected and an actual event that should be
// the same measurement.
func changedHints(e, a *Entry) []Hint {
	var out []Hint
	if e.Artifact != "" && a.Artifact != "" && (e.Artifact != a.Artifact || e.ArtifactSHA256 != a.ArtifactSHA256) {
		out = append(out, Hint{CauseArtifact, fmt.Sprintf("%s (sha256 %s) became %s (sha256 %s)", e.Artifact, short(e.ArtifactSHA256), a.Artifact, short(a.ArtifactSHA256))})
	}
	switch a.typ {
	case eventlog.EvSCRTMVersion:
		out = append(out, Hint{CauseFirmwareVersion, fmt.Sprintf("S-CRTM version %s → %s: a firmware update", e.Summary, a.Summary)})
	case eventlog.EvEFIPlatformFirmware, eventlog.EvEFIPlatformFirmware2, eventlog.EvPostCode, eventlog.EvPostCode2:
		out = append(out, Hint{CauseFirmwareCode, fmt.Sprintf("firmware code %s measured differently: a firmware update or another firmware volume", a.Summary)})
	case eventlog.EvEFIVariableDriverCfg, eventlog.EvEFIVariableBoot, eventlog.EvEFIVariableBoot2, eventlog.EvEFIVariableAuthority:
		out = append(out, variableHints(e, a)...)
	case eventlog.EvEFIBootServicesApp, eventlog.EvEFIBootServicesDriver, eventlog.EvEFIRuntimeServicesDrv:
		d := fmt.Sprintf("%s has another Authenticode digest (sha256 %s, expected %s)", a.Summary, short(a.Digests["sha256"]), short(e.Digests["sha256"]))
		if e.Artifact != "" {
			d += "; the baseline expected " + e.Artifact
		} else if e.Summary != a.Summary {
			d += "; expected " + e.Summary
		}
		out = append(out, Hint{CauseBootApplication, d})
	case eventlog.EvEventTag:
		out = append(out, tagHints(e, a)...)
	case eventlog.EvEFIGPTEvent, eventlog.EvEFIGPTEvent2:
		out = append(out, Hint{CauseDisk, fmt.Sprintf("the boot disk's GPT is %s, expected %s: another disk, or the disk was repartitioned", a.Summary, summaryOf(e))})
	case eventlog.EvIPL:
		out = append(out, iplHints(e, a)...)
	case eventlog.EvCELRecord:
		if a.Decoded != nil {
			if c, ok := a.Decoded.(*eventlog.CELContent); ok && c.EventType == "phase" {
				out = append(out, Hint{CauseBootPhase, fmt.Sprintf("boot phase %s, expected %s", a.Summary, e.Summary)})
			}
		}
	}
	return out
}

func variableHints(e, a *Entry) []Hint {
	av, aok := a.Decoded.(eventlog.Variable)
	ev, eok := e.Decoded.(eventlog.Variable)
	if !aok {
		return nil
	}
	name := av.Name
	switch {
	case a.typ == eventlog.EvEFIVariableAuthority:
		if name == "SbatLevel" {
			return []Hint{{CauseSBAT, fmt.Sprintf("shim's SbatLevel %q, expected %q: an SBAT revocation update", av.Text, textOf(ev, eok))}}
		}
		return []Hint{{CauseAuthority, fmt.Sprintf("%s verified by %s, expected %s", name, av.Summary(), summaryOf(e))}}
	case name == "BootOrder":
		return []Hint{{CauseBootOrder, fmt.Sprintf("BootOrder %s, expected %s", strings.Join(av.BootOrder, ","), strings.Join(bootOrderOf(ev, eok), ","))}}
	case av.LoadOption != nil:
		d := fmt.Sprintf("%s is %q %s", name, av.LoadOption.Description, av.LoadOption.DevicePath)
		if eok && ev.LoadOption != nil {
			d += fmt.Sprintf(", expected %q %s", ev.LoadOption.Description, ev.LoadOption.DevicePath)
		}
		return []Hint{{CauseBootEntry, d}}
	case av.Enabled != nil:
		return []Hint{{CauseSecureBootVariable, fmt.Sprintf("%s is %s, expected %s", name, av.Summary(), summaryOf(e))}}
	case av.SignatureLists != nil || (eok && ev.SignatureLists != nil):
		return signatureListHints(name, ev, av)
	}
	return []Hint{{CauseSecureBootVariable, fmt.Sprintf("%s changed (%d bytes, expected %s)", name, av.DataSize, summaryOf(e))}}
}

// signatureListHints names the entries added to and removed from a
// signature database (PK, KEK, db, dbx, MokList).
func signatureListHints(name string, ev, av eventlog.Variable) []Hint {
	before, after := entryNames(ev.SignatureLists), entryNames(av.SignatureLists)
	var added, removed []string
	for _, n := range after {
		if !slices.Contains(before, n) {
			added = append(added, n)
		}
	}
	for _, n := range before {
		if !slices.Contains(after, n) {
			removed = append(removed, n)
		}
	}
	d := fmt.Sprintf("%s: %d entries, expected %d", name, len(after), len(before))
	if len(added) > 0 {
		d += "; added " + listOf(added)
	}
	if len(removed) > 0 {
		d += "; removed " + listOf(removed)
	}
	cause := CauseSecureBootVariable
	if name == "dbx" && len(after) > len(before) {
		cause = CauseDBXUpdate
		d += ": a dbx update"
	}
	return []Hint{{cause, d}}
}

// listOf shows at most five names.
func listOf(names []string) string {
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

func entryNames(lists []eventlog.SignatureList) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l.Signatures {
			switch {
			case s.Certificate != nil && s.Certificate.Subject != "":
				out = append(out, "certificate "+s.Certificate.Subject)
			case s.Certificate != nil:
				out = append(out, "certificate sha256:"+short(s.Certificate.SHA256))
			case s.Hash != "":
				out = append(out, "hash "+short(s.Hash))
			default:
				out = append(out, "entry "+short(s.Data))
			}
		}
	}
	return out
}

func tagHints(e, a *Entry) []Hint {
	t, ok := a.Decoded.(eventlog.Tagged)
	if !ok {
		return nil
	}
	switch t.ID {
	case eventlog.TagLinuxLoadOptions:
		return []Hint{{CauseKernelCmdline, "the kernel's LoadOptions (its command line, hashed as UTF-16) differ from the expected " + cmdlineOf(e)}}
	case eventlog.TagLinuxInitrd:
		d := "the initrd the kernel loaded has another digest"
		if e.Artifact != "" {
			d += "; the baseline expected " + e.Artifact
		}
		return []Hint{{CauseInitrd, d}}
	}
	return nil
}

func iplHints(e, a *Entry) []Hint {
	at, et := eventText(a), eventText(e)
	if et == "" {
		et = e.Summary
	}
	if prefix, rest, ok := eventlog.CutGRUBPrefix(at); ok {
		cause := CauseGRUBCommand
		if strings.Contains(prefix, "cmdline") {
			cause = CauseKernelCmdline
		}
		return []Hint{{cause, wordDiff(strings.TrimPrefix(et, prefix), rest)}}
	}
	switch {
	case a.PCR == 11:
		name, _, _ := strings.Cut(at, " ")
		d := "UKI section " + name + " changed"
		if e.Artifact != "" {
			d += " (the baseline's " + e.Artifact + ")"
		}
		return []Hint{{CauseUKISection, d}}
	case a.PCR == 9:
		d := "GRUB read " + at + " with other contents"
		if e.Artifact != "" {
			d += "; the baseline expected " + e.Artifact
		}
		return []Hint{{CauseGRUBFile, d}}
	}
	return nil
}

// eventText is an event's data as text: decoded (UTF-16 too) when it is
// text, else as the bytes say.
func eventText(e *Entry) string {
	if t, ok := e.Decoded.(eventlog.Text); ok {
		return t.Text
	}
	return strings.TrimRight(string(e.data), "\x00")
}

// wordContext is how many unchanged words wordDiff shows around a change.
const wordContext = 3

// wordDiff shows the words removed ([-w-]) and added ({+w+}) between two
// command lines, in order, with wordContext unchanged words around each
// change and "…" for the rest.
func wordDiff(before, after string) string {
	a, b := strings.Fields(before), strings.Fields(after)
	if len(a)*len(b) > maxAlignCells {
		return fmt.Sprintf("%q, expected %q", after, before)
	}
	w := len(b) + 1
	lcs := make([]int32, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	var out []string
	var same []string // a run of unchanged words, shortened when flushed
	flush := func(last bool) {
		if len(same) > 2*wordContext+1 {
			head := same[:wordContext]
			if len(out) == 0 {
				head = nil
			}
			tail := same[len(same)-wordContext:]
			if last {
				tail = nil
			}
			same = append(append(append([]string{}, head...), "…"), tail...)
		}
		out = append(out, same...)
		same = same[:0]
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if i < len(a) && j < len(b) && a[i] == b[j] {
			same = append(same, a[i])
			i, j = i+1, j+1
			continue
		}
		flush(false)
		switch {
		case i < len(a) && (j == len(b) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
			out = append(out, "[-"+a[i]+"-]")
			i++
		default:
			out = append(out, "{+"+b[j]+"+}")
			j++
		}
	}
	flush(true)
	return strings.Join(out, " ")
}

func cmdlineOf(e *Entry) string {
	if e.Artifact != "" {
		return "(from " + e.Artifact + ")"
	}
	return "one"
}

func summaryOf(e *Entry) string {
	if e.Decoded != nil {
		return e.Decoded.Summary()
	}
	return e.Summary
}

func textOf(v eventlog.Variable, ok bool) string {
	if ok {
		return v.Text
	}
	return ""
}

func bootOrderOf(v eventlog.Variable, ok bool) []string {
	if ok {
		return v.BootOrder
	}
	return nil
}

// short abbreviates a hex digest for a hint.
func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
