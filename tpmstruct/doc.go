// Package tpmstruct owns the TPM 2.0 structures a verifier is handed and
// reads: TPMS_ATTEST (bare or as TPM2B_ATTEST), TPMT_SIGNATURE or a plain
// RSA/ECDSA signature, the attestation key as TPM2B_PUBLIC, TPMT_PUBLIC,
// PEM, DER or X.509, and a key's TPM Name. It parses and marshals them;
// it decides nothing about whether they can be trusted (package quote
// does).
//
// The parsers follow debug/pe: typed structs, an explicit reader that
// tracks the byte offset (internal/tpmwire), errors that name the
// structure and offset (*ParseError), and sizes bounded by the TPM
// specification and by the input itself, so no input makes them allocate
// more than its own length. Every parsed structure keeps its raw bytes and
// marshals back to them. They are hand-written rather than go-tpm's
// tpm2.Unmarshal for speed and for those errors (docs/verify.md, "The
// TPM structure parsers"); a peer test holds them to go-tpm's reading of
// every fixture.
package tpmstruct
