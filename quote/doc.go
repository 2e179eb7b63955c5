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
// Whole attestations are read too: go-tpm-tools' attest.Attestation
// (ParseAttestation for protobuf, with a wire reader of its own, and
// ParseAttestationJSON for protojson) and go-attestation's
// PlatformParameters (ParsePlatformParameters); VerifyBundle verifies each
// of their quotes. An EK certificate is checked by VerifyEK: its chain to
// TPM manufacturer roots, its TCG subjectAltName and EKU, and that it
// certifies a given EK. Batch verification parses JSON Lines requests
// (ParseBatchLine) and verifies them on the lean path Verified, which
// builds no report for evidence that passes.
//
// What this package does not do: it checks no certificate chain for the
// attestation key, and does not prove that the AK lives in the TPM of
// the EK (that needs credential activation, TPM2_ActivateCredential, or
// an AK certificate from a CA that did it).
package quote
