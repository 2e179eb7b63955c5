package rattestation

import (
	"fmt"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// FieldError is a config field whose value rattestation would refuse or
// misread; Field is the RAttestationConfig field name ("pcrs",
// "kmod_sign_cert", "pcr_values.value", …).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// AllError refuses atype ALL: rattestation asserts fewer than 24 PCRs and
// aborts on it.
type AllError struct{}

func (*AllError) Error() string {
	return "atype ALL: rattestation aborts on it (it asserts fewer than 24 PCRs); use BASIC (PCRs 0-11) or ADVANCED with a pcrs bitmap"
}

// MissingPCRError names the PCRs the attestation type quotes that the
// golden values do not give: rattestation needs exactly one value for
// each quoted PCR.
type MissingPCRError struct {
	PCRs  []int
	AType AType
}

func (e *MissingPCRError) Error() string {
	msg := fmt.Sprintf("no SHA-256 value for PCR %s, which atype %s quotes (rattestation needs exactly one value per quoted PCR)",
		pcr.FormatPCRList(e.PCRs), e.AType)
	for _, p := range e.PCRs {
		switch p {
		case IMAPCR:
			msg += "; PCR 10 holds IMA's measurements: give its IMA golden value, or for a device without IMA turn verify_ima off (PCR 10 then stays zero)"
		case ContainerPCR:
			msg += "; PCR 11 holds cmld's container and guest-OS images: give its container golden value, or for a device without containers turn verify_containers off (PCR 11 then stays zero)"
		}
	}
	return msg
}

// VariantsError refuses a PCR that has more than one acceptable value:
// rattestation.conf holds one value per PCR.
type VariantsError struct {
	PCR        int
	Candidates int
}

func (e *VariantsError) Error() string {
	return fmt.Sprintf("PCR %d has %d acceptable SHA-256 values (variants); rattestation.conf holds exactly one value per PCR: choose one, or write one config per variant",
		e.PCR, e.Candidates)
}

// BankError refuses golden values without a SHA-256 value for a PCR (or
// a halg other than SHA256): the CML device quotes its SHA-256 bank only.
type BankError struct {
	PCR   int      // -1 for a halg other than SHA256
	Banks []string // the banks there are
}

func (e *BankError) Error() string {
	if e.PCR < 0 {
		return fmt.Sprintf("halg %s: the CML device quotes its SHA-256 bank only (halg SHA256)", strings.Join(e.Banks, ","))
	}
	return fmt.Sprintf("PCR %d has no SHA-256 value (only %s); the CML device quotes its SHA-256 bank only", e.PCR, strings.Join(e.Banks, ","))
}

// UnreachableError refuses a PCR 10 or 11 value that a device whose IMA
// or containers rattestation verifies cannot reach: the reset value
// (zero), which the first IMA measurement (boot_aggregate) or the first
// image cmld measures leaves for good.
type UnreachableError struct {
	PCR int
	// Field is the switch that says the device has what extends the PCR:
	// "verify_ima" or "verify_containers".
	Field string
}

func (e *UnreachableError) Error() string {
	if e.Field == "verify_ima" {
		return fmt.Sprintf("PCR %d is zero, which a device running IMA cannot reach (the kernel extends boot_aggregate into it first, and rattestation aborts on an empty IMA list): give PCR %d's IMA golden value, or for a device without IMA set verify_ima false", e.PCR, e.PCR)
	}
	return fmt.Sprintf("PCR %d is zero, which a device with containers cannot reach (cmld extends it with every guest-OS and container image it starts): give PCR %d's container golden value, or for a device without containers set verify_containers false", e.PCR, e.PCR)
}

// NotQuotedError refuses IMA or container verification of a PCR the
// attestation type does not quote: rattestation looks the PCR up among
// the quoted ones and fails without it.
type NotQuotedError struct {
	PCR   int
	Field string // "verify_ima" or "verify_containers"
	AType AType
}

func (e *NotQuotedError) Error() string {
	return fmt.Sprintf("%s checks PCR %d, which atype %s with these pcrs does not quote: quote PCR %d, or set %s false", e.Field, e.PCR, e.AType, e.PCR, e.Field)
}

// ParseError is an error at a line of a config.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }
