// Package armattest owns the verification of Arm attestation tokens
// against the CoRIMs a Veraison verifier is provisioned with: PSA tokens
// (read with github.com/veraison/psatoken) against a PSA_IOT CoRIM, CCA
// tokens (github.com/veraison/ccatoken) against an ARM_CCA platform CoRIM
// and optionally a realm CoRIM, and Islet RA-TLS certificates, which carry
// a CCA token bound to the certificate's key.
//
// Every verification returns a report of named checks (package verdict):
// the token's claims, the trust anchor its implementation and instance ids
// name, its signature, the nonce, and each measurement against its
// reference value, each passed or failed with its reason. A check that
// cannot run fails. The readers return an error, never panic, for input
// that is not a token.
package armattest
