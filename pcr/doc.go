// Package pcr owns TPM Platform Configuration Register arithmetic and data:
// hash banks, the extend operation, starting values, PCR selections, the
// composite digest a quote signs, and the file formats people keep PCR
// values in (tpm2-tools, evmctl, JSON/YAML maps, go_tpm_remote_attestation
// map strings, CHARRA reference files).
//
// It knows nothing about event logs or quotes; those packages build on it.
package pcr
