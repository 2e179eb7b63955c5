package cml

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// IMASummary describes the IMA list of a response.
type IMASummary struct {
	Bytes        int    `json:"bytes" yaml:"bytes"`
	Entries      int    `json:"entries" yaml:"entries"`
	TemplateHash string `json:"template_hash,omitempty" yaml:"template_hash,omitempty"`
	Violations   int    `json:"violations" yaml:"violations"`
	Signed       int    `json:"signed" yaml:"signed"`
	Verified     int    `json:"signatures_verified" yaml:"signatures_verified"`
	Unsigned     int    `json:"unsigned" yaml:"unsigned"`
	// UnsignedPaths are the first unsigned entries' files.
	UnsignedPaths []string `json:"unsigned_paths,omitempty" yaml:"unsigned_paths,omitempty"`
}

// imaNames maps package ima's check names to the report's.
var imaNames = map[string]string{
	ima.CheckTemplateDigests: CheckIMADigests,
	ima.CheckViolations:      CheckIMAViolations,
	ima.CheckPCRs:            CheckIMAPCR,
	ima.CheckBoot:            CheckIMABoot,
}

// maxListed bounds the entries a reason or summary names.
const maxListed = 5

// sigTally checks the signature of every entry as the list replays.
type sigTally struct {
	keys      *ima.Keyring
	sum       *IMASummary
	bad       []string
	badCount  int
	keyFailed bool
}

func (s *sigTally) entry(e *ima.Entry) {
	if e.Violation() {
		return
	}
	ev, err := e.Decode()
	if err != nil {
		s.fail(fmt.Sprintf("entry %d at byte %d: %v", e.Index, e.Offset, err))
		return
	}
	if e.Index == 0 && ev.Path == ima.BootAggregateName {
		return // tied to PCRs 0-9 by the boot_aggregate check
	}
	if len(ev.Signature) == 0 && len(ev.Modsig) == 0 {
		s.sum.Unsigned++
		if len(s.sum.UnsignedPaths) < maxListed {
			s.sum.UnsignedPaths = append(s.sum.UnsignedPaths, ev.Path)
		}
		return
	}
	s.sum.Signed++
	if s.keys == nil {
		return
	}
	res := s.keys.VerifyEntry(ev)
	if res.Status == ima.SigGood {
		s.sum.Verified++
		return
	}
	detail := string(res.Status)
	if res.KeyID != "" {
		detail += " (key id " + res.KeyID + ")"
	}
	if res.Reason != "" {
		detail += ": " + res.Reason
	}
	s.fail(fmt.Sprintf("entry %d at byte %d (%s, %s): %s", e.Index, e.Offset, ev.Path, e.TemplateName, detail))
}

func (s *sigTally) fail(msg string) {
	s.badCount++
	if len(s.bad) < maxListed {
		s.bad = append(s.bad, msg)
	}
}

func (s *sigTally) check(p *Policy) verdict.Check {
	sum := s.sum
	var notes []string
	if sum.Unsigned > 0 {
		notes = append(notes, fmt.Sprintf("%d entries carry no signature (rattestation only warns about them): %s", sum.Unsigned, listed(sum.UnsignedPaths, sum.Unsigned)))
	}
	switch {
	case s.badCount > 0:
		return failf(CheckIMASignatures, "%d of the %d signed entries do not verify with the kernel-module signing certificate: %s",
			s.badCount, sum.Signed, listed(s.bad, s.badCount)).Note(notes...)
	case s.keys == nil:
		return skip(CheckIMASignatures, "no kernel-module signing certificate given (%s): the %d signed entries' signatures are not checked", p.name(OptKmodKeys), sum.Signed).Note(notes...)
	case sum.Signed == 0:
		return pass(CheckIMASignatures, "no entry carries a signature, so none is wrong").Note(notes...)
	}
	return pass(CheckIMASignatures, "all %d signed entries (ima-sig, ima-modsig) verify with the kernel-module signing certificate", sum.Signed).Note(notes...)
}

func listed(items []string, total int) string {
	s := strings.Join(items, "; ")
	if total > len(items) {
		s += fmt.Sprintf("; and %d more", total-len(items))
	}
	return s
}

// checkIMA replays the response's IMA list with package ima and compares
// it with the quoted PCR 10 (SHA-256 bank, either kernel rule), checks the
// template digests, handles violations as the kernel extends them, checks
// the boot_aggregate against the quoted PCRs 0-9 when they are quoted,
// and every signature with the policy's keys.
func checkIMA(resp *Response, quoted pcr.Values, p *Policy) ([]verdict.Check, *IMASummary) {
	sum := &IMASummary{Bytes: len(resp.IMA)}
	want, ok := quotedPCR(quoted, IMAPCR)
	if !ok {
		return []verdict.Check{notQuoted(CheckIMAPCR, IMAPCR, "the IMA list", len(resp.IMA), "bytes of IMA list")}, sum
	}
	if len(resp.IMA) == 0 {
		if bytes.Equal(want, make([]byte, len(want))) {
			return []verdict.Check{pass(CheckIMAPCR, "no IMA list, and the quoted PCR %d is at its reset value: IMA measured nothing", IMAPCR)}, sum
		}
		return []verdict.Check{failf(CheckIMAPCR, "the device sent no IMA list, but the quoted PCR %d is %x: nothing explains it", IMAPCR, want)}, sum
	}
	rd, err := ima.NewBinaryReader(bytes.NewReader(resp.IMA), &ima.ReadOptions{Size: int64(len(resp.IMA))})
	if err != nil {
		return []verdict.Check{failf(CheckIMAList, "ml_ima_entry: %v", err)}, sum
	}
	tally := &sigTally{keys: p.KmodKeys, sum: sum}
	var first *ima.Entry
	expect := []pcr.Values{quoted}
	res, err := ima.ReplayList(rd, &ima.ReplayOptions{Banks: []pcr.Alg{pcr.SHA256}, Expect: expect}, func(e *ima.Entry) error {
		if e.Index == 0 {
			first = e.Clone()
		}
		tally.entry(e)
		return nil
	})
	if err != nil && err != io.EOF {
		return []verdict.Check{failf(CheckIMAList, "ml_ima_entry: %v", err)}, sum
	}
	sum.Entries, sum.Violations, sum.TemplateHash = res.Entries, res.Violations, res.TemplateHash.String()
	checks := []verdict.Check{pass(CheckIMAList, "%d entries (binary list, %s template digests, %d bytes)", res.Entries, res.TemplateHash, len(resp.IMA))}
	boot := true
	for i := 0; i < 10; i++ {
		if _, ok := quotedPCR(quoted, i); !ok {
			boot = false
		}
	}
	vo := &ima.VerifyOptions{Expect: expect, RequireBanks: []pcr.Alg{pcr.SHA256}, SkipBootAggregate: !boot}
	if boot {
		vo.Boot = quoted
	}
	irep := ima.Verify(res, first, vo)
	for _, c := range irep.Checks {
		if name, ok := imaNames[c.Name]; ok {
			c.Name = name
		}
		if c.Name == CheckIMABoot && !boot {
			c.Reason = "not checked: PCRs 0-9, which the boot_aggregate is the hash of, are not all quoted"
		}
		if c.Name == CheckIMAViolations && c.Skipped {
			c.Reason += "; the replay extends them as the kernel does"
		}
		if c.Name == CheckIMAPCR && c.Passed {
			c.Reason = fmt.Sprintf("%s (PCR %d = %x)", c.Reason, IMAPCR, want)
		}
		checks = append(checks, c)
	}
	checks = append(checks, tally.check(p))
	return checks, sum
}
