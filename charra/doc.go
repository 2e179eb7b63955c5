// Package charra owns the attestation protocol of Fraunhofer SIT's CHARRA
// (the attester TrenchBoot is attested with): the TAP request and response
// as CBOR exactly as CHARRA's C code encodes them (tap-spec-version
// 0x020200, PCR lists as arrays of uints, NUL-terminated log identifiers,
// shortest-form integers), the raw little-endian tpm2-tss C struct in
// which the attester sends the TPMT_SIGNATURE, the response of the old
// 3mdeb fork that carried the AK's public key, a CoAP client (FETCH
// /attest over UDP, block-wise, with a timeout), and the verdict on a
// response.
//
// The verdict is made here, check by check (verdict.Checks), and is
// stricter than CHARRA's own verifier, which checks only the signature,
// the nonce and one composite of reference values: the quote goes through
// quote.Verify with the pinned AK (signature, AK attributes and pin,
// nonce, quote type, the selection equal to the one requested, the
// composite digest), and the PCR values the composite is computed from
// are the ones the returned logs replay to (the TCG boot log by package
// eventlog, the IMA list by package ima), so a log that does not explain
// the quote fails, and the expected values are compared PCR by PCR. A
// response's public key (3mdeb) is never trusted on its own: it must be
// the pinned AK.
package charra
