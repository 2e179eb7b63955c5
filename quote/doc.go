// Package quote owns the verdict on TPM 2.0 quote evidence: Verify checks
// a quote (its structures read by package tpmstruct) against a Policy and
// returns a Report listing every check it made and the whole verdict,
// EK and AK certificate checks included; VerifyBundle does the same for
// every quote of a whole attestation (read by package attestation), and
// Verified is the lean verdict without a report for batch verification.
// What vouches for an AK (trust.go) and the wording of the certificate
// checks (certs.go, over the facts package tpmcert reads) are its too.
//
// Verify fails closed: a check whose input is missing fails unless the
// Policy explicitly opts out of it, and the Report lists every check with
// the reason it passed, failed or was skipped, so a mismatch can be
// debugged from the report alone. Failed checks carry typed errors
// (*SignatureError, *NonceError, *SelectionError, *PCRDigestError,
// *ReplayError, *PCRMismatchError, …) for callers that act on them. A
// reason that tells the user what to give or what was given up names the
// Option in the caller's words (Policy.OptionName), the library's own
// otherwise.
//
// What this package does not do: it does not prove that the AK lives in
// the TPM of the EK (that needs credential activation,
// TPM2_ActivateCredential, or an AK certificate from a CA that did it,
// which Policy.AKCert checks).
package quote
