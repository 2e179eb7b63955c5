// Package eventlog owns TCG PC Client firmware event logs (the kernel's
// binary_bios_measurements): a streaming parser for SHA-1 and crypto-agile
// logs that reports every problem with its event index and byte offset,
// typed decoding of event payloads, digest-versus-payload checks, and the
// replay that predicts each PCR bank from the log.
//
// Firmware quirks the replay and checks tolerate live in workarounds.go, not
// in the parser.
package eventlog
