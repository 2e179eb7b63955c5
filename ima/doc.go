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
// about TPM quotes.
package ima
