package quote

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"slices"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// Verified reports whether Verify(in, p).Verified would be true, without
// building the report: no reasons, summaries or details are formatted.
// Batch verification calls it first and builds the full report only for
// evidence that fails, so the common case costs little more than the
// signature check. An event log, expected values, certificates or a
// requested selection take the full path.
func Verified(in *Evidence, p *Policy) bool {
	if p == nil {
		p = &Policy{}
	}
	if in == nil || in.Attest == nil {
		return false
	}
	if in.EventLog != nil || p.Expected != nil || p.RequireEventLog || p.AKCert != nil || p.EK != nil || in.EKCert != nil || p.Selection != nil {
		return Verify(in, p).Verified
	}
	a := in.Attest
	// attest-header
	if a.Magic != tpmstruct.GeneratedValue || a.Type != tpmstruct.AttestQuote || a.Quote == nil {
		return false
	}
	// ak-attributes
	ak := in.AK
	if ak == nil {
		return false
	}
	if t := ak.TPM; t == nil {
		if !p.AllowUnrestricted {
			return false
		}
	} else if t.Attributes&tpmstruct.AttrSign == 0 || (t.Attributes&tpmstruct.AttrRestricted == 0 && !p.AllowUnrestricted) {
		return false
	}
	// ak-name
	named := false
	if p.AKName != nil {
		if ak.TPM == nil {
			return false
		}
		name, err := ak.TPM.Name()
		if err != nil || !bytes.Equal(name, p.AKName) {
			return false
		}
		named = true
	}
	// ak-trust (no certificate policy on this path)
	if !named && !p.AllowUntrustedAK && !slices.ContainsFunc(p.TrustedAKs, func(k *tpmstruct.PublicKey) bool { return sameAK(k, ak) }) {
		return false
	}
	// nonce
	if len(p.Nonce) == 0 {
		if !p.NoNonce {
			return false
		}
	} else if !bytes.Equal(a.ExtraData, p.Nonce) {
		return false
	}
	// clock
	if !clockWithinLimits(a.ClockInfo, p) {
		return false
	}
	// pcr-selection
	sel, err := a.Quote.Selection()
	if err != nil || in.PCRs == nil || in.PCRs.Len() == 0 || !selectionIsExactly(sel, in.PCRs) {
		return false
	}
	// pcr-digest (a signature is required below, so its hash is the one)
	sig := in.Signature
	if sig == nil || !sig.Hash.Valid() {
		return false
	}
	got, err := sel.CompositeDigest(sig.Hash, in.PCRs)
	if err != nil || !bytes.Equal(got, a.Quote.PCRDigest) {
		return false
	}
	// signature
	return signatureVerifies(in)
}

// selectionIsExactly reports whether vals holds a value for every PCR of
// sel and none other, as checkSelection requires.
func selectionIsExactly(sel pcr.Selection, vals pcr.Values) bool {
	n := 0
	for _, b := range sel {
		bank := vals[b.Alg]
		for _, i := range b.PCRs {
			if _, ok := bank[i]; !ok {
				return false
			}
			n++
		}
	}
	return n == vals.Len()
}

// signatureVerifies is checkSignature's verdict without its report.
func signatureVerifies(in *Evidence) bool {
	sig, ak := in.Signature, in.AK
	h, ok := sig.Hash.CryptoHash()
	if !ok {
		return false
	}
	if t := ak.TPM; t != nil && t.Scheme != tpmstruct.SchemeNull && (t.Scheme != sig.Scheme || t.SchemeHash != sig.Hash) {
		return false
	}
	msg := in.Attest.Raw
	if msg == nil {
		msg = in.Attest.Marshal()
	}
	var digest []byte
	if sig.Hash == pcr.SHA256 {
		d := sha256.Sum256(msg)
		digest = d[:]
	} else {
		hh := h.New()
		hh.Write(msg)
		digest = hh.Sum(nil)
	}
	switch sig.Scheme {
	case tpmstruct.SchemeRSASSA:
		pub, ok := ak.Key.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(pub, h, digest, sig.RSA) == nil
	case tpmstruct.SchemeRSAPSS:
		pub, ok := ak.Key.(*rsa.PublicKey)
		return ok && rsa.VerifyPSS(pub, h, digest, sig.RSA, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: h}) == nil
	case tpmstruct.SchemeECDSA:
		pub, ok := ak.Key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		return ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig.R), new(big.Int).SetBytes(sig.S))
	}
	return false
}
