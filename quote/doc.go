// Package quote owns TPM 2.0 quote evidence: it parses the structures a
// TPM2_Quote produces and a verifier is handed (TPMS_ATTEST, bare or as
// TPM2B_ATTEST; TPMT_SIGNATURE or a plain RSA/ECDSA signature; the
// attestation key as TPM2B_PUBLIC, TPMT_PUBLIC, PEM, DER or X.509) and
// verifies a quote against a policy, reporting every check it made.
//
// The parsers follow debug/pe: typed structs, an explicit reader that
// tracks the byte offset, errors that name the structure and offset
// (*ParseError), and sizes bounded by the TPM specification and by the
// input itself, so no input makes them allocate more than its own length.
// Every parsed structure keeps its raw bytes and marshals back to them.
//
// Verify fails closed: a check whose input is missing fails unless the
// Policy explicitly opts out of it, and the Report lists every check with
// the reason it passed, failed or was skipped, so a mismatch can be
// debugged from the report alone. Failed checks carry typed errors
// (*SignatureError, *NonceError, *SelectionError, *PCRDigestError,
// *ReplayError, *PCRMismatchError, …) for callers that act on them.
//
// What this package does not do: it checks no certificate chain for the
// attestation key, does not bind the key to an endorsement key, and
// takes no go-tpm-tools or go-attestation bundles; callers build Evidence
// from the separate files.
package quote
