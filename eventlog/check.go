package eventlog

import (
	"bytes"
	"strings"
)

// CheckStatus is the outcome of checking an event's digest against its data.
type CheckStatus string

// Digest check outcomes.
const (
	// DigestOK: every bank's digest equals the rule's hash of the data.
	DigestOK CheckStatus = "ok"
	// DigestMismatch: at least one bank's digest does not.
	DigestMismatch CheckStatus = "mismatch"
	// DigestNotCheckable: the digest covers something outside the log (a PE
	// image, a file, memory), so the log alone cannot prove it.
	DigestNotCheckable CheckStatus = "not-checkable"
)

// DigestCheck reports how an event's digests relate to its data.
type DigestCheck struct {
	Status CheckStatus `json:"status" yaml:"status"`
	// Rule names what is hashed, e.g. "H(event data)".
	Rule string `json:"rule,omitempty" yaml:"rule,omitempty"`
	// Quirk names a firmware workaround the digest matched under instead of
	// the specification's rule.
	Quirk string `json:"quirk,omitempty" yaml:"quirk,omitempty"`
	// Mismatched lists the banks whose digest did not match.
	Mismatched []string `json:"mismatched,omitempty" yaml:"mismatched,omitempty"`
}

// digestRule returns what the specification says an event's digest covers,
// or nil data when the digest is of something not in the log.
func digestRule(ev *Event) (rule string, data []byte) {
	switch ev.Type {
	case EvSeparator, EvEFIAction, EvAction, EvEFIGPTEvent, EvEFIGPTEvent2,
		EvEFIVariableDriverCfg, EvEFIVariableBoot, EvEFIVariableBoot2, EvEFIVariableAuthority,
		EvOmitBootDeviceEvents, EvEFIHCRTMEvent:
		return "H(event data)", ev.Data
	case EvCELRecord:
		// systemd measures the string its content carries, without NUL.
		if ev.CEL != nil && ev.CEL.Type == "systemd" {
			return "H(systemd content string)", ev.Data
		}
	case EvIPL:
		if cmd, ok := grubCommand(ev.Data); ok {
			return "H(GRUB command without prefix and NUL)", cmd
		}
		// systemd-boot measures the kernel command line into PCR 8 as
		// UTF-16 with its NUL and logs the same bytes.
		if ev.PCR == 8 && (looksUTF16(ev.Data) || looksUTF16(append(bytes.Clone(ev.Data), 0))) {
			return "H(UTF-16 command line with NUL)", ev.Data
		}
	}
	return "", nil
}

// grubPrefixes are the EV_IPL prefixes GRUB uses for PCR 8 strings, whose
// digest is of the text after the prefix: 2.04 and later, and 2.02 with
// distribution patches.
var grubPrefixes = []string{"grub_cmd: ", "kernel_cmdline: ", "module_cmdline: ", "grub_kernel_cmdline ", "grub_cmd "}

// CutGRUBPrefix splits the text of a GRUB PCR 8 event into its prefix
// (which names the kind: a GRUB command, a kernel or module command line)
// and what follows it, the command GRUB measured.
func CutGRUBPrefix(text string) (prefix, rest string, ok bool) {
	for _, p := range grubPrefixes {
		if rest, ok := strings.CutPrefix(text, p); ok {
			return p, rest, true
		}
	}
	return "", "", false
}

func grubCommand(data []byte) ([]byte, bool) {
	p, _, ok := CutGRUBPrefix(string(data))
	if !ok {
		return nil, false
	}
	return bytes.TrimSuffix(data[len(p):], []byte{0}), true
}

// CheckDigest checks each bank's digest of ev against the hash the event's
// type prescribes, trying known firmware quirks before calling a mismatch.
func CheckDigest(ev *Event) DigestCheck {
	if windowsNoActionPCR(ev) {
		return DigestCheck{Status: DigestNotCheckable}
	}
	if ev.Type == EvNoAction {
		if secureLaunchTag(ev) {
			return DigestCheck{Status: DigestOK, Rule: "EV_NO_ACTION digests are zero", Quirk: secureLaunchTagQuirk}
		}
		for _, d := range ev.Digests {
			if !isZero(d.Value) {
				return DigestCheck{Status: DigestMismatch, Rule: "EV_NO_ACTION digests are zero", Mismatched: []string{d.Alg.String()}}
			}
		}
		return DigestCheck{Status: DigestOK, Rule: "EV_NO_ACTION digests are zero"}
	}
	rule, data := digestRule(ev)
	if rule == "" {
		return DigestCheck{Status: DigestNotCheckable}
	}
	bad := mismatchedBanks(ev, data)
	if len(bad) == 0 {
		return DigestCheck{Status: DigestOK, Rule: rule}
	}
	for _, q := range digestQuirks {
		if alt, ok := q.data(ev); ok && len(mismatchedBanks(ev, alt)) == 0 {
			return DigestCheck{Status: DigestOK, Rule: rule, Quirk: q.name}
		}
	}
	return DigestCheck{Status: DigestMismatch, Rule: rule, Mismatched: bad}
}

func mismatchedBanks(ev *Event, data []byte) []string {
	var bad []string
	for _, d := range ev.Digests {
		if !d.Alg.Valid() {
			continue
		}
		if !bytes.Equal(d.Alg.Sum(data), d.Value) {
			bad = append(bad, d.Alg.String())
		}
	}
	return bad
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
