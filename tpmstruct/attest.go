package tpmstruct

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/goldenpcr/goldenpcr/internal/tpmwire"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// GeneratedValue is TPM_GENERATED_VALUE, the magic at the start of every
// TPMS_ATTEST a TPM signs. A restricted signing key signs no external data
// starting with it, which is what makes a quote unforgeable.
const GeneratedValue uint32 = 0xff544347

// AttestType is a TPM_ST attestation structure tag.
type AttestType uint16

// The TPM_ST values of TPMS_ATTEST.type.
const (
	AttestNV           AttestType = 0x8014
	AttestCommandAudit AttestType = 0x8015
	AttestSessionAudit AttestType = 0x8016
	AttestCertify      AttestType = 0x8017
	AttestQuote        AttestType = 0x8018
	AttestTime         AttestType = 0x8019
	AttestCreation     AttestType = 0x801A
	AttestNVDigest     AttestType = 0x801C
)

// attestHeaderMinSize is the magic and type of a TPMS_ATTEST.
const attestHeaderMinSize = 4 + 2

func (t AttestType) String() string {
	names := map[AttestType]string{
		AttestNV: "TPM_ST_ATTEST_NV", AttestCommandAudit: "TPM_ST_ATTEST_COMMAND_AUDIT",
		AttestSessionAudit: "TPM_ST_ATTEST_SESSION_AUDIT", AttestCertify: "TPM_ST_ATTEST_CERTIFY",
		AttestQuote: "TPM_ST_ATTEST_QUOTE", AttestTime: "TPM_ST_ATTEST_TIME",
		AttestCreation: "TPM_ST_ATTEST_CREATION", AttestNVDigest: "TPM_ST_ATTEST_NV_DIGEST",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("TPM_ST 0x%04x", uint16(t))
}

// ClockInfo is TPMS_CLOCK_INFO.
type ClockInfo struct {
	// Clock is milliseconds the TPM has been powered since it was
	// manufactured or cleared (it may advance by large steps on some TPMs).
	Clock uint64
	// ResetCount counts TPM resets (reboots) since the last clear.
	ResetCount uint32
	// RestartCount counts TPM2_Shutdown(STATE)/Startup(STATE) cycles
	// (suspend/resume) since the last reset.
	RestartCount uint32
	// Safe says Clock has not been set back since it was last reported.
	Safe bool
}

// PCRSelection is one TPMS_PCR_SELECTION as it was on the wire.
type PCRSelection struct {
	Hash   pcr.Alg
	Select []byte // pcrSelect, sizeofSelect bytes, bit n of byte n/8 = PCR n
}

// QuoteInfo is TPMS_QUOTE_INFO.
type QuoteInfo struct {
	PCRSelect []PCRSelection
	PCRDigest []byte
}

// Attest is a parsed TPMS_ATTEST.
type Attest struct {
	Magic           uint32
	Type            AttestType
	QualifiedSigner []byte
	ExtraData       []byte
	ClockInfo       ClockInfo
	FirmwareVersion uint64
	// Quote is set when Type is AttestQuote.
	Quote *QuoteInfo
	// Attested holds the raw TPMU_ATTEST of other types, which this
	// package does not decode.
	Attested []byte
	// Raw is the TPMS_ATTEST bytes, the data the signature covers.
	Raw []byte
	// Sized is true when the input was a TPM2B_ATTEST (size-prefixed).
	Sized bool
}

// ParseAttest reads a TPMS_ATTEST, bare (as tpm2_quote -m writes it) or
// wrapped in a TPM2B_ATTEST. A wrapped one is recognised by a size equal
// to the rest of the input followed by the TPM_GENERATED_VALUE magic.
// The magic and type are not checked here beyond that: Verify reports
// them, so a tampered header still yields a report.
func ParseAttest(data []byte) (*Attest, error) {
	base := 0
	sized := false
	if len(data) >= 2+attestHeaderMinSize && int(binary.BigEndian.Uint16(data)) == len(data)-2 &&
		binary.BigEndian.Uint32(data[2:]) == GeneratedValue {
		base, sized = 2, true
	}
	a, err := parseTPMSAttest(data[base:], base)
	if err != nil {
		return nil, err
	}
	a.Sized = sized
	return a, nil
}

func parseTPMSAttest(data []byte, base int) (*Attest, error) {
	r, raw := newReader(data, base, "TPMS_ATTEST")
	a := &Attest{Raw: raw}
	a.Magic = r.U32("magic")
	a.Type = AttestType(r.U16("type"))
	a.QualifiedSigner = r.TPM2B(maxName, "qualifiedSigner")
	a.ExtraData = r.TPM2B(maxData, "extraData")
	a.ClockInfo.Clock = r.U64("clockInfo.clock")
	a.ClockInfo.ResetCount = r.U32("clockInfo.resetCount")
	a.ClockInfo.RestartCount = r.U32("clockInfo.restartCount")
	safeAt := r.Pos()
	safe := r.U8("clockInfo.safe")
	if r.Err() == nil && safe > 1 {
		r.Failf(safeAt, "clockInfo.safe is %d, want 0 (NO) or 1 (YES)", safe)
	}
	a.ClockInfo.Safe = safe == 1
	a.FirmwareVersion = r.U64("firmwareVersion")
	if r.Err() != nil {
		return nil, r.Err()
	}
	if a.Type != AttestQuote {
		a.Attested = r.Bytes(r.Left(), "attested")
		return a, r.Err()
	}
	r.Struct = "TPMS_QUOTE_INFO"
	q := &QuoteInfo{}
	q.PCRSelect = readPCRSelection(r)
	q.PCRDigest = r.TPM2B(maxDigest, "pcrDigest")
	r.Struct = "TPMS_ATTEST"
	r.End()
	if r.Err() != nil {
		return nil, r.Err()
	}
	a.Quote = q
	return a, nil
}

// readPCRSelection reads a TPML_PCR_SELECTION.
func readPCRSelection(r *tpmwire.Reader) []PCRSelection {
	out, lim := tpmwire.ReadPCRSelection(r, func(s tpmwire.PCRSelection) PCRSelection {
		return PCRSelection{Hash: pcr.Alg(s.Hash), Select: s.Select}
	})
	if lim != nil {
		r.Failf(lim.Offset, "%s", lim.Error())
	}
	if r.Err() != nil {
		return nil
	}
	return out
}

// PCRs returns the PCR indices the selection's bitmap sets, ascending.
func (s PCRSelection) PCRs() []int {
	n := 0
	for _, b := range s.Select {
		n += bits.OnesCount8(b)
	}
	if n == 0 {
		return nil
	}
	out := make([]int, 0, n)
	for i := 0; i < len(s.Select)*8; i++ {
		if s.Select[i/8]&(1<<(i%8)) != 0 {
			out = append(out, i)
		}
	}
	return out
}

// Selection converts the wire selection to a pcr.Selection in the same
// bank order, leaving out banks with no PCR selected (they add nothing to
// pcrDigest). It fails on a bank goldenpcr cannot hash, a PCR above 23 or
// a bank listed twice.
func (q *QuoteInfo) Selection() (pcr.Selection, error) {
	var sel pcr.Selection
	for _, s := range q.PCRSelect {
		pcrs := s.PCRs()
		if len(pcrs) == 0 {
			continue
		}
		if !s.Hash.Valid() {
			return nil, &pcr.UnsupportedAlgError{ID: uint16(s.Hash)}
		}
		if slices.ContainsFunc(sel, func(b pcr.BankSelection) bool { return b.Alg == s.Hash }) {
			return nil, fmt.Errorf("bank %s is selected twice", s.Hash)
		}
		if last := pcrs[len(pcrs)-1]; last >= pcr.NumPCRs {
			return nil, fmt.Errorf("%s PCR %d selected; goldenpcr handles PCRs 0-%d", s.Hash, last, pcr.NumPCRs-1)
		}
		sel = append(sel, pcr.BankSelection{Alg: s.Hash, PCRs: pcrs})
	}
	return sel, nil
}

// Marshal returns the TPMS_ATTEST wire encoding (bare, as signed).
func (a *Attest) Marshal() []byte {
	var w tpmwire.Writer
	w.U32(a.Magic)
	w.U16(uint16(a.Type))
	w.TPM2B(a.QualifiedSigner)
	w.TPM2B(a.ExtraData)
	w.U64(a.ClockInfo.Clock)
	w.U32(a.ClockInfo.ResetCount)
	w.U32(a.ClockInfo.RestartCount)
	if a.ClockInfo.Safe {
		w.U8(1)
	} else {
		w.U8(0)
	}
	w.U64(a.FirmwareVersion)
	if a.Quote != nil {
		wire := make([]tpmwire.PCRSelection, len(a.Quote.PCRSelect))
		for i, s := range a.Quote.PCRSelect {
			wire[i] = tpmwire.PCRSelection{Hash: uint16(s.Hash), Select: s.Select}
		}
		tpmwire.WritePCRSelection(&w, wire)
		w.TPM2B(a.Quote.PCRDigest)
	} else {
		w.Raw(a.Attested)
	}
	return w.B
}
