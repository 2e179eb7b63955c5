// Package ima owns Linux IMA measurement lists (the kernel's
// binary_runtime_measurements and ascii_runtime_measurements): streaming
// parsers for both layouts that report every problem with its entry index
// and byte offset (or line), decoding of every template field, the replay
// that predicts PCR values per bank under the kernel's two extend rules,
// boot_aggregate recomputation, IMA signature verification, allowlist and
// keylime runtime-policy checks, and reference values computed from a
// root filesystem.
//
// It builds on package pcr for hash banks and PCR values and knows nothing
// about TPM quotes. Verify decides the verdict of a replay or a check
// (Report, in the shape quote's reports have), so commands only render it.
//
// IMA's reference values live here, not in refvals and not in a baseline:
// a baseline holds, per PCR, the final value a boot must leave, and PCR 10
// has none — IMA extends it in the order files are opened at run time, so
// no build can predict its value. What a build can predict is the digest
// of every file, and that is what this package computes from a root
// filesystem (Policy: keylime runtime policies, allowlists, sha256sum
// lists) and checks entry by entry (Check). The two meet at the TPM: a
// quote's PCR 10 is explained by replaying the IMA list against it (Verify
// with the quoted values), and a quote verifier is told so by naming PCR
// 10 as extended outside the TCG event log (quote.Policy.UnloggedPCRs),
// as PCR 10 has no TCG event log entries.
package ima
