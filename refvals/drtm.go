package refvals

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// DRTMFlow names a dynamic launch whose PCRs 17 and 18 are computed.
type DRTMFlow string

const (
	// DRTMSecureLaunch is Intel TXT: the SINIT ACM measures itself, the
	// platform and the MLE (the kernel), then the Linux Secure Launch
	// kernel measures GRUB's SLRT policy entries.
	DRTMSecureLaunch DRTMFlow = "secure-launch"
	// DRTMSKINIT is AMD SKINIT: the CPU measures TrenchBoot's SKL (the
	// SLB), SKL measures the kernel's entry offset and the kernel (the
	// DLME), then the kernel measures the SLRT policy entries.
	DRTMSKINIT DRTMFlow = "skinit"
	// DRTMTboot is Intel TXT with tboot as the MLE: the SINIT ACM
	// measures itself, the platform and tboot, then tboot measures its
	// Verified Launch policy and the modules it starts.
	DRTMTboot DRTMFlow = "tboot"
)

// DRTMFlows lists the flows computed, for help and errors.
var DRTMFlows = []DRTMFlow{DRTMSecureLaunch, DRTMSKINIT, DRTMTboot}

// DRTMInputs are the artifacts of one dynamic launch and the reference
// logs that supply what no artifact determines.
type DRTMInputs struct {
	Flow DRTMFlow
	// Kernel is the bzImage launched: the MLE (TXT) or DLME (SKINIT);
	// with tboot, its module 0 (any kernel).
	Kernel string
	// Initrd, if the boot has one, is measured into PCR 17 (with tboot,
	// it is module 1, measured where the policy says).
	Initrd string
	// Cmdline is the command line as the kernel receives it (GRUB's is
	// "BOOT_IMAGE=<path> <arguments>"), measured zero-padded to
	// CmdlineSize bytes; CmdlineSize 0 takes the kernel's cmdline_size,
	// which GRUB gives the policy entry. With tboot it is module 0's
	// string as the loader passes it (GRUB's module2: the path first),
	// hashed as it is, and InitrdCmdline module 1's.
	Cmdline       string
	CmdlineSize   int
	InitrdCmdline string
	// Tboot is the tboot image (tboot.gz) the ACM launches as the MLE,
	// and TbootCmdline its command line as the loader passes it
	// (DRTMTboot only).
	Tboot, TbootCmdline string
	// TbootPolicy is the Verified Launch policy file (tb_polgen's) tboot
	// reads from TPM NV; "" is tboot's built-in default policy.
	TbootPolicy string
	// TbootExtPolicy is tboot's extpol= option ("" is its default,
	// sha256).
	TbootExtPolicy string
	// TbootDA is the ACM's details/authorities PCR mapping, with which
	// tboot puts module 0 in PCR 17 and the policy in 17 and 18.
	TbootDA bool
	// SLB is the SKL binary SKINIT launches (DRTMSKINIT only).
	SLB string
	// DLMEEntry is the kernel's Secure Launch entry offset SKL measures;
	// nil takes it from the kernel's MLE header.
	DLMEEntry *uint32
	// ReferenceLogs are DRTM logs of earlier launches on the same
	// platform (the same ACM and firmware): the events no artifact
	// determines are taken from them, and those that change from boot to
	// boot allow every digest the logs show.
	ReferenceLogs []string
}

// Files lists the local files the inputs name.
func (in *DRTMInputs) Files() []string {
	var out []string
	for _, f := range append([]string{in.Kernel, in.Initrd, in.SLB, in.Tboot, in.TbootPolicy}, in.ReferenceLogs...) {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// The evt_info strings GRUB's Secure Launch policy gives the kernel, which
// the kernel logs as the data of its EV_SECURE_LAUNCH events, and SKL's.
const (
	slCmdline = "Measured Kernel command line"
	slInitrd  = "Measured Kernel initrd"
	sklSKINIT = "SKINIT"
	sklEntry  = "DLME entry offset"
	sklDLME   = "DLME"
)

// perBootEvents are the policy entries whose bytes change from boot to
// boot or platform to platform: addresses, the firmware's memory map, the
// setup header GRUB fills in. They are allow-lists, never golden values.
var perBootEvents = map[string]string{
	"Measured SLR Table":             "the SLR table's platform entry: addresses and saved MSRs",
	"":                               "the SLR table (logged without a name, AMD)",
	"Measured boot parameters":       "boot_params: the setup header, the e820 map, load addresses",
	"Measured Kernel setup_data":     "setup_data nodes the loader and firmware add",
	"Measured Kernel setup_indirect": "setup_data nodes the loader and firmware add",
	"Measured EFI memory map":        "the firmware's memory map",
}

// drtmEvent is one event extended in a reference log.
type drtmEvent struct {
	pcr  int
	typ  eventlog.EventType
	data []byte
	// digests are the banks' digests, one map per reference log.
	digests []map[pcr.Alg][]byte
}

func (e *drtmEvent) name() string {
	if e.typ == eventlog.EvSecureLaunch || e.typ == eventlog.EvTboot {
		return fmt.Sprintf("%s %q", e.typ, e.data)
	}
	return e.typ.String()
}

// DRTMPCRs computes the PCRs a dynamic launch extends (17 and 18, and any
// other of 17–22 the reference logs show): the reference logs give the
// sequence of events and the platform's; the events the kernel, initrd,
// command line and SLB determine are computed from those files.
func DRTMPCRs(b *baseline.Builder, banks []pcr.Alg, in DRTMInputs) error {
	if !slices.Contains(DRTMFlows, in.Flow) {
		return fmt.Errorf("DRTM flow %q: want one of %v", in.Flow, DRTMFlows)
	}
	if in.Kernel == "" {
		return fmt.Errorf("DRTM: no kernel: the bzImage launched is the MLE")
	}
	if len(in.ReferenceLogs) == 0 {
		return fmt.Errorf("DRTM: no reference log: the ACM's or SKL's platform events and the per-boot policy entries come from a DRTM log of the same platform")
	}
	if (in.SLB != "") != (in.Flow == DRTMSKINIT) {
		return fmt.Errorf("DRTM: an SLB is the %s flow's, and only its", DRTMSKINIT)
	}
	if (in.Tboot != "") != (in.Flow == DRTMTboot) {
		return fmt.Errorf("DRTM: a tboot image is the %s flow's, and only its", DRTMTboot)
	}
	if in.Flow != DRTMTboot && (in.TbootCmdline != "" || in.TbootPolicy != "" || in.TbootExtPolicy != "" || in.TbootDA || in.InitrdCmdline != "") {
		return fmt.Errorf("DRTM: tboot's command line, policy, extend policy, PCR mapping and module command lines are the %s flow's, and only its", DRTMTboot)
	}
	events, err := readReferenceLogs(in.ReferenceLogs, banks)
	if err != nil {
		return err
	}
	c, err := newDRTMCalc(in)
	if err != nil {
		return err
	}
	b.AddInput(baseline.Input{Role: "drtm-kernel", Path: in.Kernel, SHA256: c.kernelSHA256})
	for _, f := range []struct{ role, path string }{{"drtm-initrd", in.Initrd}, {"drtm-slb", in.SLB}, {"drtm-tboot", in.Tboot}, {"drtm-tboot-policy", in.TbootPolicy}} {
		if f.path != "" {
			sum, err := baseline.FileSHA256(f.path)
			if err != nil {
				return err
			}
			b.AddInput(baseline.Input{Role: f.role, Path: f.path, SHA256: sum})
		}
	}
	for _, p := range in.ReferenceLogs {
		sum, err := baseline.FileSHA256(p)
		if err != nil {
			return err
		}
		b.AddInput(baseline.Input{Role: "drtm-reference-log", Path: p, SHA256: sum})
	}
	b.HashStart()
	used := map[string]bool{}
	for i, ev := range events {
		m, computed, err := c.measurement(ev)
		if err != nil {
			return fmt.Errorf("DRTM reference event %d (PCR %d, %s): %w", i, ev.pcr, ev.name(), err)
		}
		if computed != "" {
			used[computed] = true
		} else {
			m = fromReference(ev, banks)
			why, perBoot := perBootEvents[string(ev.data)]
			switch {
			case ev.typ == eventlog.EvSecureLaunch && perBoot:
				n := len(m.Alternatives) + 1
				b.Note("PCR %d %s: %s change from boot to boot, so it has no golden value: it may have the %s the %s show; a launch with another fails here (its log can be given as one more reference log)", ev.pcr, ev.name(), why, plural(n, "digest"), plural(len(in.ReferenceLogs), "reference log"))
			case len(m.Alternatives) > 0:
				b.Note("PCR %d %s: taken from the reference logs, which differ: each of their %d digests is allowed", ev.pcr, ev.name(), len(m.Alternatives)+1)
			default:
				b.Note("PCR %d %s: taken from the reference log: no artifact given determines it (the platform's ACM, firmware or loader)", ev.pcr, ev.name())
			}
		}
		if err := b.Extend(ev.pcr, m); err != nil {
			return err
		}
	}
	for _, want := range c.wanted() {
		if !used[want] {
			return fmt.Errorf("DRTM: the reference logs have no %s event for the %s given to be measured in", want, c.artifactOf(want))
		}
	}
	if c.tbootNext < len(c.tboot) {
		m := c.tboot[c.tbootNext]
		return fmt.Errorf("DRTM: the reference logs have %d EV_TBOOT events, tboot makes %d: none for %s (PCR %d)", c.tbootNext, len(c.tboot), m.description, m.pcr)
	}
	for _, n := range c.notes {
		b.Note("%s", n)
	}
	if c.kernel != nil && c.kernel.MLE == nil {
		b.Note("DRTM: %s has no Secure Launch MLE header (a kernel without CONFIG_SECURE_LAUNCH): GRUB refuses to launch it; its MLE is computed as GRUB would measure a Secure Launch kernel's, the whole protected-mode image", in.Kernel)
	}
	return nil
}

// plural is "1 digest", "2 digests".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// readReferenceLogs reads the DRTM logs and lines them up event by event:
// every log must extend the same events (PCR, type, and for the loader's
// and kernel's events the name) in the same order, in every bank asked.
func readReferenceLogs(paths []string, banks []pcr.Alg) ([]*drtmEvent, error) {
	var events []*drtmEvent
	for li, path := range paths {
		log, err := eventlog.ReadLogFile(path)
		if err != nil {
			return nil, err
		}
		if !log.IsDRTM() {
			return nil, fmt.Errorf("%s: not a DRTM log: it extends PCRs outside 17-22, or none", path)
		}
		var k int
		for _, ev := range log.Events {
			if ev.Type == eventlog.EvNoAction || ev.Type == eventlog.EvTXTPCRMapping {
				continue
			}
			d := map[pcr.Alg][]byte{}
			for _, alg := range banks {
				v, ok := ev.Digest(alg)
				if !ok && eventlog.ExtendsOnlyLogged(ev) {
					continue // tboot's fixed extend policy: this bank is not extended
				}
				if !ok {
					return nil, fmt.Errorf("%s: event %d (PCR %d, %s) has no %s digest", path, ev.Index, ev.PCR, ev.Type, alg)
				}
				d[alg] = v
			}
			data := ev.Data
			if ev.Type != eventlog.EvSecureLaunch && ev.Type != eventlog.EvTboot {
				data = nil // the ACM's event data is the platform's, compared by digest
			}
			if li == 0 {
				events = append(events, &drtmEvent{pcr: int(ev.PCR), typ: ev.Type, data: data, digests: []map[pcr.Alg][]byte{d}})
				k++
				continue
			}
			if k >= len(events) {
				return nil, fmt.Errorf("%s: event %d (PCR %d, %s) goes past the %d events of %s", path, ev.Index, ev.PCR, ev.Type, len(events), paths[0])
			}
			want := events[k]
			if want.pcr != int(ev.PCR) || want.typ != ev.Type || !bytes.Equal(want.data, data) {
				return nil, fmt.Errorf("%s: event %d (PCR %d, %s) is not %s's measured event %d (PCR %d, %s): reference logs must come from launches of the same flow", path, ev.Index, ev.PCR, (&drtmEvent{typ: ev.Type, data: data}).name(), paths[0], k, want.pcr, want.name())
			}
			want.digests = append(want.digests, d)
			k++
		}
		if li > 0 && k != len(events) {
			return nil, fmt.Errorf("%s: %d measured events, %s has %d: reference logs must come from launches of the same flow", path, k, paths[0], len(events))
		}
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%s: no measured event", paths[0])
	}
	return events, nil
}

// fromReference is an event taken from the reference logs: the first
// log's digests, and every other distinct set as an alternative.
func fromReference(ev *drtmEvent, banks []pcr.Alg) baseline.Measurement {
	m := baseline.Measurement{Type: ev.typ.String(), Data: ev.data, Description: string(ev.data),
		Provenance: baseline.Provenance{Rule: "DRTM: from the reference log"}}
	if len(ev.data) == 0 {
		m.Data = nil
	}
	seen := map[string]bool{}
	for i, d := range ev.digests {
		k := ""
		for _, alg := range banks {
			k += string(d[alg])
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		f := func(alg pcr.Alg) ([]byte, error) { return d[alg], nil }
		if i == 0 {
			m.Digest = f
		} else {
			m.Alternatives = append(m.Alternatives, f)
		}
	}
	return m
}

// drtmCalc computes the events the artifacts determine.
type drtmCalc struct {
	in           DRTMInputs
	kernel       *BzImage
	kernelSHA256 string
	cmdline      []byte // zero-padded, as measured
	slb          *SLB
	entry        uint32
	tbootMLE     []byte
	tboot        []tbootMeasure
	tbootNext    int // the next of tboot to match a reference log's EV_TBOOT event
	notes        []string
}

func newDRTMCalc(in DRTMInputs) (*drtmCalc, error) {
	sum, err := baseline.FileSHA256(in.Kernel)
	if err != nil {
		return nil, err
	}
	if in.Flow == DRTMTboot {
		return newTbootCalc(in, sum)
	}
	k, err := ReadBzImage(in.Kernel)
	if err != nil {
		return nil, err
	}
	c := &drtmCalc{in: in, kernel: k, kernelSHA256: sum}
	if in.Cmdline != "" {
		size := in.CmdlineSize
		if size == 0 {
			size = int(k.CmdlineSize)
		}
		if len(in.Cmdline) > size {
			return nil, fmt.Errorf("DRTM: the command line's %d bytes exceed the %d measured", len(in.Cmdline), size)
		}
		c.cmdline = append([]byte(in.Cmdline), make([]byte, size-len(in.Cmdline))...)
	}
	if in.Flow == DRTMSKINIT {
		data, err := os.ReadFile(in.SLB)
		if err != nil {
			return nil, err
		}
		if c.slb, err = ParseSLB(data); err != nil {
			return nil, fmt.Errorf("%s: %w", in.SLB, err)
		}
		switch {
		case in.DLMEEntry != nil && k.MLE != nil && *in.DLMEEntry != k.MLE.Entry:
			return nil, fmt.Errorf("DRTM: the DLME entry offset given, %#x, is not the %#x of %s's MLE header", *in.DLMEEntry, k.MLE.Entry, in.Kernel)
		case in.DLMEEntry != nil:
			c.entry = *in.DLMEEntry
		case k.MLE != nil:
			c.entry = k.MLE.Entry
		default:
			return nil, fmt.Errorf("DRTM: %s has no Secure Launch MLE header to take the DLME entry offset from: give it", in.Kernel)
		}
	}
	return c, nil
}

// newTbootCalc reads tboot, its policy and the modules, and lists what
// tboot measures.
func newTbootCalc(in DRTMInputs, kernelSHA256 string) (*drtmCalc, error) {
	t, err := ReadTboot(in.Tboot)
	if err != nil {
		return nil, err
	}
	c := &drtmCalc{in: in, kernelSHA256: kernelSHA256}
	if c.tbootMLE, err = t.MLE(in.TbootCmdline); err != nil {
		return nil, err
	}
	pol := DefaultTbootPolicy(in.TbootDA)
	if in.TbootPolicy != "" {
		data, err := os.ReadFile(in.TbootPolicy)
		if err != nil {
			return nil, err
		}
		if pol, err = ParseTbootPolicy(data); err != nil {
			return nil, fmt.Errorf("%s: %w", in.TbootPolicy, err)
		}
	} else {
		c.notes = append(c.notes, "tboot: no policy given: tboot's built-in default policy, which it uses when TPM NV holds none")
	}
	extpol := in.TbootExtPolicy
	if extpol == "" {
		extpol = "sha256"
	}
	modules := []tbootModule{{in.Kernel, in.Cmdline}}
	if in.Initrd != "" {
		modules = append(modules, tbootModule{in.Initrd, in.InitrdCmdline})
	}
	ms, notes, err := tbootMeasurements(pol, in.TbootDA, extpol, modules)
	if err != nil {
		return nil, err
	}
	c.tboot, c.notes = ms, append(c.notes, notes...)
	return c, nil
}

// wanted lists the computed events the inputs call for.
func (c *drtmCalc) wanted() []string {
	w := []string{"MLE"}
	if c.in.Flow == DRTMTboot {
		return w // tboot's own events are counted by tbootNext
	}
	if c.in.Flow == DRTMSKINIT {
		w = []string{sklSKINIT, sklEntry, sklDLME}
	}
	if c.cmdline != nil {
		w = append(w, slCmdline)
	}
	if c.in.Initrd != "" {
		w = append(w, slInitrd)
	}
	return w
}

func (c *drtmCalc) artifactOf(event string) string {
	switch event {
	case slCmdline:
		return "command line"
	case slInitrd:
		return "initrd " + c.in.Initrd
	case sklSKINIT:
		return "SLB " + c.in.SLB
	}
	if c.in.Flow == DRTMTboot {
		return "tboot image " + c.in.Tboot
	}
	return "kernel " + c.in.Kernel
}

// measurement computes ev from the artifacts when they determine it,
// naming what it computed ("" for an event left to the reference logs).
func (c *drtmCalc) measurement(ev *drtmEvent) (baseline.Measurement, string, error) {
	m := baseline.Measurement{Type: ev.typ.String(), Data: ev.data, Description: string(ev.data)}
	if len(ev.data) == 0 {
		m.Data = nil
	}
	file := func(rule, path string, data []byte) (baseline.Measurement, error) {
		m.Provenance = baseline.Provenance{Rule: rule, Artifact: path}
		m.Digest = baseline.HashOf(data)
		if path != "" {
			sum, err := baseline.FileSHA256(path)
			if err != nil {
				return m, err
			}
			m.Provenance.ArtifactSHA256 = sum
		}
		return m, nil
	}
	var err error
	switch {
	case ev.typ == eventlog.EvTXTMLEHash && c.in.Flow == DRTMTboot:
		m.Description = "MLE: " + c.in.Tboot + " with command line " + strconv.Quote(c.in.TbootCmdline)
		m, err = file("TXT SINIT: MLE hash (tboot's MLE pages, its command line copied in)", c.in.Tboot, c.tbootMLE)
		return m, "MLE", err
	case ev.typ == eventlog.EvTboot && c.in.Flow == DRTMTboot:
		if c.tbootNext >= len(c.tboot) {
			return m, "", fmt.Errorf("tboot makes %d measurements, the reference log has more", len(c.tboot))
		}
		t := c.tboot[c.tbootNext]
		c.tbootNext++
		if t.pcr != ev.pcr {
			return m, "", fmt.Errorf("tboot's measurement %d, %s, goes to PCR %d (check the policy, the PCR mapping and the modules)", c.tbootNext-1, t.description, t.pcr)
		}
		m.Description, m.Digest, m.Provenance = t.description, t.digest, t.prov
		return m, "tboot", nil
	case ev.typ == eventlog.EvTXTMLEHash && c.in.Flow == DRTMSecureLaunch:
		m.Description = "MLE: " + c.in.Kernel + " protected-mode image"
		m, err = file("TXT SINIT: MLE hash (the bzImage's protected-mode kernel)", c.in.Kernel, c.kernel.ProtectedMode)
		return m, "MLE", err
	case ev.typ == eventlog.EvSecureLaunchStart || ev.typ == eventlog.EvSecureLaunchEnd:
		m.Provenance = baseline.Provenance{Rule: "Linux Secure Launch: start/end tag (hash of no data)"}
		m.Digest = baseline.HashOf(nil)
		return m, "tag", nil
	case ev.typ != eventlog.EvSecureLaunch:
		return m, "", nil
	}
	switch string(ev.data) {
	case slCmdline:
		if c.cmdline == nil {
			return m, "", fmt.Errorf("the launch measures a command line: give it")
		}
		m, err = file(fmt.Sprintf("Linux Secure Launch: command line zero-padded to %d bytes", len(c.cmdline)), "", c.cmdline)
		m.Description = slCmdline + ": " + strings.TrimRight(string(c.cmdline), "\x00")
		return m, slCmdline, err
	case slInitrd:
		if c.in.Initrd == "" {
			return m, "", fmt.Errorf("the launch measures an initrd: give it")
		}
		data, err := os.ReadFile(c.in.Initrd)
		if err != nil {
			return m, "", err
		}
		m, err = file("Linux Secure Launch: initrd", c.in.Initrd, data)
		return m, slInitrd, err
	}
	if c.in.Flow != DRTMSKINIT {
		return m, "", nil
	}
	switch string(ev.data) {
	case sklSKINIT:
		m, err = file(fmt.Sprintf("SKINIT: the SLB's first %d bytes", len(c.slb.Measured)), c.in.SLB, c.slb.Measured)
		return m, sklSKINIT, err
	case sklEntry:
		m, err = file("SKL: DLME entry offset (u32)", "", binary.LittleEndian.AppendUint32(nil, c.entry))
		m.Description = fmt.Sprintf("%s %#x", sklEntry, c.entry)
		return m, sklEntry, err
	case sklDLME:
		m, err = file("SKL: DLME (the bzImage's protected-mode kernel)", c.in.Kernel, c.kernel.ProtectedMode)
		return m, sklDLME, err
	}
	return m, "", nil
}
