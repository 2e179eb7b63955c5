package ima

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Rule is how a kernel extends a measurement into the PCR banks.
type Rule string

// The kernel's extend rules.
const (
	// RulePerBank: since Linux 5.8 every bank is extended with that bank's
	// own hash of the template data.
	RulePerBank Rule = "per-bank"
	// RuleSHA1Padded: before 5.8 every bank was extended with the SHA-1
	// template digest, zero-padded to the bank's digest size.
	RuleSHA1Padded Rule = "sha1-padded"
)

// DefaultBanks are the banks replayed when none are named: those evmctl
// replays.
var DefaultBanks = []pcr.Alg{pcr.SHA1, pcr.SHA256}

// ReplayOptions tune a replay.
type ReplayOptions struct {
	// Banks to replay; default DefaultBanks.
	Banks []pcr.Alg
	// SkipDigestCheck turns off checking each entry's template digest
	// against its data.
	SkipDigestCheck bool
	// MaxReported bounds the violations and digest issues listed (counts
	// stay exact); 0 means 100.
	MaxReported int
	// Expect holds the PCR values (alternatives) the replay will be
	// compared with. When set, ReplayList computes the sha1-padded chain,
	// about a fifth of the work, only if the per-bank values match none of
	// them; meanwhile the listed digests wait in a temporary file, so
	// memory stays independent of the list's length.
	Expect []pcr.Values
}

// EntryRef names an entry of a list.
type EntryRef struct {
	Index  int    `json:"index" yaml:"index"`
	Offset int64  `json:"offset,omitempty" yaml:"offset,omitempty"`
	Line   int    `json:"line,omitempty" yaml:"line,omitempty"`
	PCR    uint32 `json:"pcr" yaml:"pcr"`
	Path   string `json:"path,omitempty" yaml:"path,omitempty"`
}

func refOf(e *Entry) EntryRef {
	return EntryRef{Index: e.Index, Offset: e.Offset, Line: e.Line, PCR: e.PCR, Path: e.Path()}
}

// String names the entry the way parse errors do.
func (r EntryRef) String() string {
	if r.Line > 0 {
		return fmt.Sprintf("entry %d (line %d)", r.Index, r.Line)
	}
	return fmt.Sprintf("entry %d at byte offset %d", r.Index, r.Offset)
}

// DigestIssue is an entry whose listed template digest is not the hash of
// its template data.
type DigestIssue struct {
	EntryRef `yaml:",inline"`
	Listed   string `json:"listed" yaml:"listed"`
	Computed string `json:"computed" yaml:"computed"`
}

// Replay is the outcome of extending every entry of a list.
type Replay struct {
	Entries int
	// TemplateHash is the algorithm of the listed template digests.
	TemplateHash pcr.Alg
	Banks        []pcr.Alg
	// PCRs are the PCR indices the list extended, ascending.
	PCRs []int
	// PerBank holds the replayed value of each PCR in PCRs, per bank,
	// under RulePerBank.
	PerBank pcr.Values
	// Padded holds them under RuleSHA1Padded; nil when the list's template
	// digests are not SHA-1 (per-bank lists exist only on 5.8+ kernels).
	Padded pcr.Values
	// PaddedSkipped: the sha1-padded values were not computed because the
	// per-bank values matched ReplayOptions.Expect.
	PaddedSkipped bool
	// Violations counts entries with an all-zero template digest; the
	// first MaxReported are listed.
	Violations       int
	ViolationEntries []EntryRef
	// DigestMismatches counts entries whose template digest does not match
	// their data; the first MaxReported are listed.
	DigestMismatches int
	DigestIssues     []DigestIssue
	// DigestsChecked is false when the check was skipped or the template
	// hash cannot be computed.
	DigestsChecked bool
}

// Values returns the replayed PCRs under rule.
func (r *Replay) Values(rule Rule) pcr.Values {
	if rule == RuleSHA1Padded {
		return r.Padded
	}
	return r.PerBank
}

type bankState struct {
	alg  pcr.Alg
	size int
	h    hash.Hash // for algorithms without a fixed-size Sum function
	per  [pcr.NumPCRs][64]byte
	pad  [pcr.NumPCRs][64]byte
	cur  [64]byte // this entry's template digest in the bank
	buf  [128]byte
	// The padded chain has its own buffer and hash state so that it can be
	// extended concurrently with the per-bank chain.
	padBuf [128]byte
	padH   hash.Hash
}

// sum writes alg(data) into dst without allocating.
func (b *bankState) sum(dst *[64]byte, data []byte) { sumWith(b.alg, b.h, dst, data) }

// sumWith hashes with the fixed-size functions where Go has them, else
// with h, a hash.Hash of alg.
func sumWith(alg pcr.Alg, h hash.Hash, dst *[64]byte, data []byte) {
	switch alg {
	case pcr.SHA1:
		s := sha1.Sum(data)
		copy(dst[:], s[:])
	case pcr.SHA256:
		s := sha256.Sum256(data)
		copy(dst[:], s[:])
	case pcr.SHA384:
		s := sha512.Sum384(data)
		copy(dst[:], s[:])
	case pcr.SHA512:
		s := sha512.Sum512(data)
		copy(dst[:], s[:])
	default:
		h.Reset()
		h.Write(data)
		h.Sum(dst[:0])
	}
}

// extend sets *state = alg(*state || d).
func (b *bankState) extend(state *[64]byte, d []byte) {
	n := copy(b.buf[:], state[:b.size])
	n += copy(b.buf[n:], d)
	b.sum(state, b.buf[:n])
}

// extendPad is extend with the padded chain's buffer and hash state.
func (b *bankState) extendPad(state *[64]byte, d []byte) {
	n := copy(b.padBuf[:], state[:b.size])
	n += copy(b.padBuf[n:], d)
	sumWith(b.alg, b.padH, state, b.padBuf[:n])
}

var ones [64]byte

func init() {
	for i := range ones {
		ones[i] = 0xff
	}
}

// Replayer extends entries one at a time into every bank under both rules.
type Replayer struct {
	banks    []*bankState
	listAlg  pcr.Alg
	listBank *bankState // the bank whose digest is the template hash, if replayed
	check    *bankState // computes the template hash when no bank does
	padded   bool
	deferPad bool // the padded chain is not extended (yet)
	touched  uint32
	max      int
	res      Replay
}

// NewReplayer prepares a replay of a list whose template digests use
// listAlg (pcr.SHA1 for the classic files).
func NewReplayer(listAlg pcr.Alg, opts *ReplayOptions) (*Replayer, error) {
	var o ReplayOptions
	if opts != nil {
		o = *opts
	}
	if len(o.Banks) == 0 {
		o.Banks = DefaultBanks
	}
	if o.MaxReported == 0 {
		o.MaxReported = 100
	}
	if listAlg == 0 {
		listAlg = pcr.SHA1
	}
	if !listAlg.Valid() {
		return nil, &pcr.UnsupportedAlgError{ID: uint16(listAlg)}
	}
	rp := &Replayer{listAlg: listAlg, padded: listAlg == pcr.SHA1, max: o.MaxReported}
	for _, a := range o.Banks {
		if !a.Valid() {
			return nil, &pcr.UnsupportedAlgError{ID: uint16(a)}
		}
		if slices.ContainsFunc(rp.banks, func(b *bankState) bool { return b.alg == a }) {
			continue
		}
		b := newBank(a)
		rp.banks = append(rp.banks, b)
		if a == listAlg {
			rp.listBank = b
		}
	}
	if !o.SkipDigestCheck {
		rp.res.DigestsChecked = true
		if rp.listBank == nil {
			rp.check = newBank(listAlg)
		}
	}
	if o.SkipDigestCheck {
		rp.listBank = nil
	}
	rp.res.TemplateHash = listAlg
	return rp, nil
}

func newBank(a pcr.Alg) *bankState {
	b := &bankState{alg: a, size: a.Size()}
	switch a {
	case pcr.SHA1, pcr.SHA256, pcr.SHA384, pcr.SHA512:
	default:
		b.h, b.padH = a.New(), a.New()
	}
	return b
}

// Extend applies one entry. A violation (all-zero template digest) extends
// all ones: the full bank size under RulePerBank, 20 bytes zero-padded
// under RuleSHA1Padded.
func (rp *Replayer) Extend(e *Entry) {
	viol := rp.count(e)
	if !viol {
		for _, b := range rp.banks {
			b.sum(&b.cur, e.Data)
		}
	}
	rp.apply(e.PCR, viol, e.TemplateDigest)
	if !viol && rp.res.DigestsChecked {
		if computed := rp.templateDigest(e.Data); !bytes.Equal(computed, e.TemplateDigest) {
			rp.mismatch(refOf(e), e.TemplateDigest, computed)
		}
	}
}

// count records the entry and reports whether it is a violation.
func (rp *Replayer) count(e *Entry) bool {
	rp.res.Entries++
	rp.touched |= 1 << (e.PCR % pcr.NumPCRs) // readers guarantee < 24
	if !allZero(e.TemplateDigest) {
		return false
	}
	rp.res.Violations++
	if len(rp.res.ViolationEntries) < rp.max {
		rp.res.ViolationEntries = append(rp.res.ViolationEntries, refOf(e))
	}
	return true
}

// apply extends every bank with its b.cur (or all ones for a violation)
// under both rules.
func (rp *Replayer) apply(pcrIndex uint32, viol bool, listed []byte) {
	rp.applyPerBank(pcrIndex, viol)
	rp.applyPadded(pcrIndex, viol, listed)
}

// applyPerBank extends under RulePerBank.
func (rp *Replayer) applyPerBank(pcrIndex uint32, viol bool) {
	i := pcrIndex % pcr.NumPCRs
	for _, b := range rp.banks {
		ext := ones[:b.size]
		if !viol {
			ext = b.cur[:b.size]
		}
		b.extend(&b.per[i], ext)
	}
}

// hasPaddedBank reports whether any replayed bank needs a padded chain.
func (rp *Replayer) hasPaddedBank() bool {
	for _, b := range rp.banks {
		if b.alg != pcr.SHA1 {
			return true
		}
	}
	return false
}

// applyPadded extends under RuleSHA1Padded (SHA-1 needs no second chain:
// the rules agree for it). It only touches pad and its own buffer, so it
// may run concurrently with applyPerBank.
func (rp *Replayer) applyPadded(pcrIndex uint32, viol bool, listed []byte) {
	if !rp.padded {
		return
	}
	i := pcrIndex % pcr.NumPCRs
	var p [64]byte
	if viol {
		copy(p[:20], ones[:20])
	} else {
		copy(p[:20], listed)
	}
	for _, b := range rp.banks {
		if b.alg != pcr.SHA1 {
			b.extendPad(&b.pad[i], p[:b.size])
		}
	}
}

// templateDigest returns the list algorithm's hash of data, reusing the
// bank digest just computed when that bank is replayed.
func (rp *Replayer) templateDigest(data []byte) []byte {
	if rp.listBank != nil {
		return rp.listBank.cur[:rp.listBank.size]
	}
	rp.check.sum(&rp.check.cur, data)
	return rp.check.cur[:rp.check.size]
}

func (rp *Replayer) mismatch(ref EntryRef, listed, computed []byte) {
	rp.res.DigestMismatches++
	if len(rp.res.DigestIssues) < rp.max {
		rp.res.DigestIssues = append(rp.res.DigestIssues, DigestIssue{EntryRef: ref,
			Listed: hex.EncodeToString(listed), Computed: hex.EncodeToString(computed)})
	}
}

// Result returns the replayed values of the PCRs the list extended.
func (rp *Replayer) Result() *Replay {
	res := rp.res
	res.ViolationEntries = slices.Clone(res.ViolationEntries)
	res.DigestIssues = slices.Clone(res.DigestIssues)
	res.PerBank = pcr.Values{}
	padded := rp.padded && !rp.deferPad
	res.PaddedSkipped = rp.padded && rp.deferPad
	if padded {
		res.Padded = pcr.Values{}
	}
	for i := 0; i < pcr.NumPCRs; i++ {
		if rp.touched&(1<<i) != 0 {
			res.PCRs = append(res.PCRs, i)
		}
	}
	for _, b := range rp.banks {
		res.Banks = append(res.Banks, b.alg)
		for _, i := range res.PCRs {
			res.PerBank.Set(b.alg, i, bytes.Clone(b.per[i][:b.size]))
			if padded {
				src := &b.pad[i]
				if b.alg == pcr.SHA1 {
					src = &b.per[i] // the rules agree for SHA-1
				}
				res.Padded.Set(b.alg, i, bytes.Clone(src[:b.size]))
			}
		}
	}
	return &res
}
