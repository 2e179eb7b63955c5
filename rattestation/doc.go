// Package rattestation owns GyroidOS CML's rattestation.conf: the protobuf
// text configuration (message RAttestationConfig, proto2) of the host-side
// rattestation tool, which asks a device's tpm2d for a quote and compares
// it with the PCR values, attestation type and kernel-module certificate
// the file names.
//
// The file is read by protobuf-c-text, a parser much narrower than
// protobuf's own text format: ASCII only, LF line endings, no comments or
// separators, enum values as bare names, decimal numbers, `pcr_values {`
// without a colon, each field set once. Write turns a baseline into the
// config bytes following every one of those rules, and refuses a config
// rattestation would reject or misread (a quoted PCR without a value, a
// PCR with several acceptable values, a bank other than SHA-256, atype ALL,
// a PCR 10 or 11 value a device with IMA or containers cannot reach).
// Parse reads a config back with the same rules, each error carrying its
// line, and Config.Baseline turns it into a baseline document, so that a
// hand-made config can be compared with computed golden values.
//
// The rules and the reasons behind them are in docs/cml.md.
package rattestation
