package quote

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// PCRRef names one PCR of one bank.
type PCRRef struct {
	Bank pcr.Alg `json:"-" yaml:"-"`
	PCR  int     `json:"pcr" yaml:"pcr"`
}

func (r PCRRef) String() string { return fmt.Sprintf("%s:%d", r.Bank, r.PCR) }

func refList(refs []PCRRef) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// AttestHeaderError: the TPMS_ATTEST is not a TPM-generated quote.
type AttestHeaderError struct {
	Magic uint32
	Type  tpmstruct.AttestType
}

func (e *AttestHeaderError) Error() string { return "attest header: " + e.reason() }

func (e *AttestHeaderError) reason() string {
	var parts []string
	if e.Magic != tpmstruct.GeneratedValue {
		parts = append(parts, fmt.Sprintf("magic is 0x%08x, not TPM_GENERATED_VALUE 0x%08x: the TPM did not produce this structure", e.Magic, tpmstruct.GeneratedValue))
	}
	if e.Type != tpmstruct.AttestQuote {
		parts = append(parts, fmt.Sprintf("type is %s (0x%04x), not TPM_ST_ATTEST_QUOTE (0x8018)", e.Type, uint16(e.Type)))
	}
	return strings.Join(parts, "; ")
}

// SignatureError: the signature is missing, of a scheme or hash goldenpcr
// does not verify, inconsistent with the key, or does not verify.
type SignatureError struct {
	Scheme tpmstruct.SigScheme
	Hash   pcr.Alg
	Reason string
}

func (e *SignatureError) Error() string  { return "signature: " + e.Reason }
func (e *SignatureError) reason() string { return e.Reason }

// AKAttributesError: the attestation key is not (known to be) a
// restricted signing key.
type AKAttributesError struct {
	// Known is false when the key came without TPM attributes (PEM, DER,
	// certificate) or no key was given.
	Known      bool
	Attributes tpmstruct.ObjectAttributes
	Missing    []string
	// OptOut is the policy option that would accept the key, when one
	// would.
	OptOut Option
	Reason string
}

func (e *AKAttributesError) Error() string  { return "AK attributes: " + e.Reason }
func (e *AKAttributesError) reason() string { return e.Reason }

// AKNameError: the key's TPM Name differs from the expected one.
type AKNameError struct {
	Expected, Got []byte
	Reason        string
}

func (e *AKNameError) Error() string  { return "AK name: " + e.Reason }
func (e *AKNameError) reason() string { return e.Reason }

// NonceError: extraData does not equal the nonce, or no nonce was given.
type NonceError struct {
	Expected []byte // nil when no nonce was given
	Got      []byte
}

func (e *NonceError) Error() string { return "nonce: " + e.reason() }

func (e *NonceError) reason() string {
	if e.Expected == nil {
		return "no nonce given, so the quote's freshness is unknown"
	}
	return fmt.Sprintf("extraData %s differs from the expected nonce %s", hexOrEmpty(e.Got), hexOrEmpty(e.Expected))
}

// SelectionError: the quote's PCR selection differs from the selection of
// the supplied PCR values.
type SelectionError struct {
	Quoted, Supplied pcr.Selection
	// Missing are quoted PCRs without a supplied value; Extra supplied
	// values the quote does not cover.
	Missing, Extra []PCRRef
	// Requested is Policy.Selection when the quote's selection differs
	// from it; Unquoted are the requested PCRs the quote leaves out,
	// Unrequested the quoted PCRs nobody asked for.
	Requested             pcr.Selection
	Unquoted, Unrequested []PCRRef
	Reason                string
}

func (e *SelectionError) Error() string  { return "PCR selection: " + e.Reason }
func (e *SelectionError) reason() string { return e.Reason }

// PCRDigestError: the digest of the supplied values is not the quote's
// pcrDigest, or cannot be computed.
type PCRDigestError struct {
	Alg      pcr.Alg
	Quoted   []byte
	Computed []byte
	Reason   string
}

func (e *PCRDigestError) Error() string  { return "PCR digest: " + e.Reason }
func (e *PCRDigestError) reason() string { return e.Reason }

// ReplayError names the first quoted PCR whose event-log replay differs
// from the quoted value (PCR is -1 when a whole bank is missing from the
// log, or the log touches no quoted PCR).
type ReplayError struct {
	Bank      pcr.Alg
	PCR       int
	Replayed  []byte
	Quoted    []byte
	LastEvent int // index of the last event extended into PCR, -1 if none
	// Failing lists every PCR that failed, the first one included.
	Failing []PCRRef
	Reason  string
}

func (e *ReplayError) Error() string { return "event log: " + e.reason() }

func (e *ReplayError) reason() string {
	if e.Reason != "" {
		return e.Reason
	}
	return fmt.Sprintf("%s PCR %d replays to %s, the quote says %s", e.Bank, e.PCR, hex.EncodeToString(e.Replayed), hex.EncodeToString(e.Quoted))
}

// PCRMismatchError: no alternative of the expected values matches the
// quoted PCRs. PCRs are the rows of the closest alternative that did not
// match (Missing means the quote does not cover that PCR).
type PCRMismatchError struct {
	Alternative int
	PCRs        []pcr.Comparison
}

func (e *PCRMismatchError) Error() string { return "expected PCRs: " + e.reason() }

func (e *PCRMismatchError) reason() string {
	parts := make([]string, len(e.PCRs))
	for i, r := range e.PCRs {
		parts[i] = fmt.Sprintf("%s:%d %s", r.Bank, r.Index, statusWord(r.Status))
	}
	return strings.Join(parts, ", ")
}

func statusWord(s pcr.Status) string {
	switch s {
	case pcr.Missing:
		return "not quoted"
	case pcr.Unreferenced:
		return "quoted but not in the reference"
	}
	return string(s)
}

// FreshnessError: a clockInfo field violates the freshness policy.
type FreshnessError struct {
	Field string // "resetCount", "clock", …
	Got   uint64
	Limit uint64
	Rule  string // "at least", "at most", "must be"
}

func (e *FreshnessError) Error() string { return "clock: " + e.reason() }

func (e *FreshnessError) reason() string {
	if e.Field == "safe" {
		return "clockInfo.safe is NO (the clock may have been set back), policy requires YES"
	}
	return fmt.Sprintf("%s is %d, policy says %s %d", e.Field, e.Got, e.Rule, e.Limit)
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return "(empty)"
	}
	return hex.EncodeToString(b)
}
