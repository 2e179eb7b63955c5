package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Firmware does not always follow the PC Client specification. Every
// deviation goldenpcr tolerates is listed here, with the firmware it was
// seen on, so the parser and replay stay strict and the quirks stay visible.

// digestQuirk is an alternative rule for what an event's digest covers.
type digestQuirk struct {
	name string
	// data returns the bytes the quirky firmware hashes, if the quirk
	// applies to the event.
	data func(ev *Event) ([]byte, bool)
}

var digestQuirks = []digestQuirk{
	{
		// edk2/OVMF and firmware derived from it hash only the variable's
		// contents for Boot#### and BootOrder, not the whole
		// UEFI_VARIABLE_DATA the specification names.
		name: "EV_EFI_VARIABLE_BOOT digest covers the variable contents only (edk2/OVMF)",
		data: func(ev *Event) ([]byte, bool) {
			if ev.Type != EvEFIVariableBoot && ev.Type != EvEFIVariableBoot2 && ev.Type != EvEFIVariableAuthority {
				return nil, false
			}
			return variableContents(ev.Data)
		},
	},
	{
		// shim before 15.3 sized its UEFI_VARIABLE_DATA with sizeof() of a
		// padded struct, so the digest of its authority events (vendor
		// certificate, MokList entries) covers 5 bytes past the variable
		// contents, which it logs too.
		name: "shim authority digest covers 5 padding bytes past the variable (shim < 15.3)",
		data: func(ev *Event) ([]byte, bool) {
			if ev.Type != EvEFIVariableAuthority {
				return nil, false
			}
			end, ok := variableEnd(ev.Data)
			if !ok || end+5 > len(ev.Data) {
				return nil, false
			}
			n := end + 5
			return ev.Data[:n], true
		},
	},
	{
		// systemd-boot before v251 logged its PCR 8 command line one byte
		// short (length 2n+1 for n UTF-16 units), though it hashed all of it.
		name: "systemd-boot logged its command line one byte short of what it hashed",
		data: func(ev *Event) ([]byte, bool) {
			if ev.Type != EvIPL || ev.PCR != 8 || len(ev.Data)%2 != 1 {
				return nil, false
			}
			return append(bytes.Clone(ev.Data), 0), true
		},
	},
	{
		// Some GRUB builds hash the command text with its trailing NUL.
		name: "GRUB command digest includes the trailing NUL",
		data: func(ev *Event) ([]byte, bool) {
			cmd, ok := grubCommand(ev.Data)
			if !ok || !bytes.HasSuffix(ev.Data, []byte{0}) {
				return nil, false
			}
			return append(bytes.Clone(cmd), 0), true
		},
	},
}

// variableEnd reads a UEFI_VARIABLE_DATA header and returns where its
// contents end, without decoding them.
func variableEnd(data []byte) (int, bool) {
	d := decoder{buf: data, off: 16}
	nameLen, dataLen := d.u64(), d.u64()
	if d.err != nil || nameLen > uint64(len(data)) || dataLen > uint64(len(data)) {
		return 0, false
	}
	end := 32 + 2*nameLen + dataLen
	return int(end), end <= uint64(len(data))
}

// variableContents returns a UEFI_VARIABLE_DATA's contents (VariableData).
func variableContents(data []byte) ([]byte, bool) {
	end, ok := variableEnd(data)
	if !ok {
		return nil, false
	}
	dataLen := binary.LittleEndian.Uint64(data[24:])
	return data[end-int(dataLen) : end], true
}

// windowsNoActionPCR accepts the PCR index -1 (0xFFFFFFFF) Windows boot
// logs give their EV_NO_ACTION records; such events are never extended.
func windowsNoActionPCR(ev *Event) bool {
	return ev.PCR == 0xFFFFFFFF && ev.Type == EvNoAction
}

// secureLaunchTagQuirk names the EV_NO_ACTION tags TrenchBoot's Secure
// Launch kernel (v0.5.3, AMD SKINIT) writes before and after its
// measurements: PCR 17, no data, and each bank's hash of nothing as the
// digest, though the TPM extends nothing (the boots' tpm2_pcrread values
// replay with them left out; fixtures/drtm).
const secureLaunchTagQuirk = "Secure Launch start/end tag: EV_NO_ACTION in PCR 17 with the hash of no data as its digest (TrenchBoot kernel)"

func secureLaunchTag(ev *Event) bool {
	if ev.PCR != 17 || len(ev.Data) != 0 || len(ev.Digests) == 0 {
		return false
	}
	for _, d := range ev.Digests {
		if !d.Alg.Valid() || !bytes.Equal(d.Value, d.Alg.Sum(nil)) {
			return false
		}
	}
	return true
}

// tbootOneBankQuirk names tboot's fixed extend policies (extpol=sha256,
// its default, or sha1, sha384…): it hashes and extends its EV_TBOOT
// measurements in that one bank and logs one digest, though the log's
// header names every bank, so the other banks are not extended by them.
const tbootOneBankQuirk = "EV_TBOOT event with a digest for one bank only: tboot's fixed extend policy (extpol=sha256, its default) extends that bank alone"

// ExtendsOnlyLogged reports whether an event missing a bank's digest
// extends nothing in that bank rather than leaving the bank unreplayable.
func ExtendsOnlyLogged(ev *Event) bool {
	return ev.Type == EvTboot && ev.PCR >= 17 && ev.PCR <= 22 && len(ev.Digests) == 1
}

// Quirk is a firmware deviation spotted in a log: the replay still follows
// the log, but a reader comparing against expectations should know.
type Quirk struct {
	Event int    `json:"event" yaml:"event"` // index of the event concerned, -1 for the whole log
	PCR   int    `json:"pcr" yaml:"pcr"`
	What  string `json:"what" yaml:"what"`
}

// quirkScanner notices known structural deviations while events stream by.
type quirkScanner struct {
	quirks       []Quirk
	separators   [24]int
	calledBoot   bool
	sawEBS       bool
	sawSeparator bool
	tbootOneBank bool
}

func (q *quirkScanner) add(ev *Event, format string, args ...any) {
	q.quirks = append(q.quirks, Quirk{Event: ev.Index, PCR: int(int32(ev.PCR)), What: fmt.Sprintf(format, args...)})
}

func (q *quirkScanner) observe(ev *Event) {
	switch ev.Type {
	case EvSeparator:
		q.sawSeparator = true
		q.separators[ev.PCR]++
		if q.separators[ev.PCR] == 2 {
			q.add(ev, "second EV_SEPARATOR in PCR %d (some firmware measures the separator twice)", ev.PCR)
		}
	case EvEFIAction:
		switch string(ev.Data) {
		case "Calling EFI Application from Boot Option":
			q.calledBoot = true
		case "Exit Boot Services Invocation":
			q.sawEBS = true
		}
	case EvNoAction:
		if windowsNoActionPCR(ev) {
			q.add(ev, "EV_NO_ACTION record with PCR index -1 (Windows boot log)")
		}
	case EvTboot:
		if ExtendsOnlyLogged(ev) && !q.tbootOneBank {
			q.tbootOneBank = true
			q.add(ev, "%s (%s)", tbootOneBankQuirk, ev.Digests[0].Alg)
		}
	case EvEFIBootServicesApp:
		if ev.PCR == 4 && !q.calledBoot {
			q.add(ev, "EFI application loaded before the \"Calling EFI Application from Boot Option\" action")
		}
	}
}

func (q *quirkScanner) finish() []Quirk {
	if q.calledBoot && !q.sawEBS {
		q.quirks = append(q.quirks, Quirk{Event: -1, PCR: 5, What: "no \"Exit Boot Services Invocation\" event: the firmware omits it (or the log was taken before ExitBootServices)"})
	}
	return q.quirks
}
