// Package cml owns GyroidOS CML's tpm2d attestation protocol: the framing
// of its messages on TCP port 9505 (a 4-byte big-endian length, then the
// protobuf), the request a verifier sends and the response the device
// returns (messages generated from tpm2d.proto into package tpm2dpb), a
// client that asks a device with timeouts on connect and on every read,
// and the verdict on a response.
//
// The verdict is made here, check by check (verdict.Checks), and is at
// least as strict as GyroidOS's own verifier, rattestation: the quote goes
// through quote.Verify (signature with the device certificate's key, the
// whole extraData against the nonce, the selection against the one
// requested, the PCR values against pcrDigest, expected values from a
// baseline), the device certificate must chain to an operator's CA, the
// IMA list is replayed by package ima against PCR 10 and its signatures
// checked with the kernel-module signing certificate, and the container
// list is folded against PCR 11. Nothing a device reports is trusted on
// its own; a check that cannot run fails unless the policy opts out of it.
package cml
