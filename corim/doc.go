// Package corim owns CoRIM/CoMID for goldenpcr's reference values: it turns
// a baseline (or any PCR file baseline.Load reads) into the CoRIM a
// Veraison verifier is provisioned with, for the PARSEC_TPM and
// TPM_ENACTTRUST schemes, unsigned or COSE_Sign1-signed, and decodes CoRIMs
// again for people. Every CoRIM it builds is decoded again and validated
// against the scheme's profile rules before it is returned; the rules are
// written here from Veraison's documented behaviour (docs/corim.md) and
// registered with the corim library for each profile URI, so the library's
// own decoder applies them too.
//
// Errors name CoRIM fields and inputs (class-id, node-id, PCR 7, bank
// sha256), never a command-line option: the CLI maps them to its flags.
package corim
