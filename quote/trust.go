package quote

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// CheckAKTrust names the check that something the verifier trusts vouches
// for the AK. A valid signature only shows that whoever holds the AK's
// private key signed the quote, and an AK's TPMT_PUBLIC can claim
// fixedtpm|restricted|sign whether or not a TPM made it: a key the sender
// supplies proves nothing by itself.
const CheckAKTrust = "ak-trust"

// AKTrustError: nothing the verifier trusts vouches for the AK.
type AKTrustError struct {
	Reason string
}

func (e *AKTrustError) Error() string  { return "AK trust: " + e.Reason }
func (e *AKTrustError) reason() string { return e.Reason }

// sameAK reports whether ak is the trusted key: for two TPM keys the whole
// TPMT_PUBLIC (attributes, policy and scheme included) must be equal, else
// the public key material.
func sameAK(trusted, ak *tpmstruct.PublicKey) bool {
	if trusted == nil || ak == nil {
		return false
	}
	if trusted.TPM != nil {
		return ak.TPM != nil && bytes.Equal(trusted.TPM.Raw, ak.TPM.Raw)
	}
	return tpmcert.SamePublicKey(trusted.Key, ak.Key)
}

// checkAKTrust passes when the AK is one of the policy's trusted keys,
// its Name is the pinned one (name passed), or a certificate from a
// trusted CA certifies it (cert, nil when no certificate was asked for,
// passed).
func checkAKTrust(ak *tpmstruct.PublicKey, p *Policy, name Check, cert *Check) Check {
	if ak == nil {
		return fail(CheckAKTrust, &AKTrustError{Reason: "no AK given, so nothing can vouch for it"})
	}
	for i, k := range p.TrustedAKs {
		if sameAK(k, ak) {
			if p.terse {
				return pass(CheckAKTrust, "")
			}
			if i < len(p.TrustedAKOrigins) && p.TrustedAKOrigins[i] != "" {
				return pass(CheckAKTrust, fmt.Sprintf("the AK is %s (%s)", p.TrustedAKOrigins[i], k))
			}
			return pass(CheckAKTrust, fmt.Sprintf("the AK is a key the verifier trusts (%s %s)", k.Format, k))
		}
	}
	if name.Passed {
		return pass(CheckAKTrust, "the AK's TPM Name is the pinned one")
	}
	if cert != nil && cert.Passed {
		return pass(CheckAKTrust, "a trusted AK CA certifies the AK")
	}
	var why []string
	if len(p.TrustedAKs) > 0 {
		var origins []string
		for _, o := range p.TrustedAKOrigins {
			if o != "" {
				origins = append(origins, o)
			}
		}
		w := fmt.Sprintf("it is none of the %d keys the verifier trusts", len(p.TrustedAKs))
		if len(origins) > 0 {
			w += " (" + strings.Join(origins, "; ") + ")"
		}
		why = append(why, w)
	}
	if name.Failed() {
		why = append(why, "its Name is not the pinned one")
	}
	if cert != nil && cert.Failed() {
		why = append(why, "its certificate does not verify")
	}
	reason := "nothing vouches for the AK: a key that comes with the evidence proves nothing, whatever attributes its TPMT_PUBLIC claims, because anyone can make such a key and quote in software; pin its Name, give the trusted key, or the roots of a CA that certified it"
	if len(why) > 0 {
		reason = "nothing vouches for the AK: " + joinAnd(why)
	}
	if p.AllowUntrustedAK {
		return skip(CheckAKTrust, "NOT CHECKED, accepted on request: "+reason).With("warning", "this verdict says nothing about which TPM, if any, made the quote")
	}
	return fail(CheckAKTrust, &AKTrustError{Reason: reason})
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	s := parts[0]
	for _, p := range parts[1 : len(parts)-1] {
		s += ", " + p
	}
	return s + " and " + parts[len(parts)-1]
}
