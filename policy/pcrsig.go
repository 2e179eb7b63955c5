package policy

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// systemd's signed PCR policy (systemd-measure sign, a UKI's .pcrsig
// section, systemd-cryptenroll --tpm2-public-key) binds a disk key to
// "PCR 11 holds a value this key signed" instead of to one value: for
// each bank and boot phase, the TPM2_PolicyPCR digest over PCR 11 with
// the value the UKI and the phases leave, signed with the key; the TPM
// checks the signature in TPM2_PolicyAuthorize.

// UKIPCR is the PCR a UKI's signed policy covers.
const UKIPCR = 11

// DefaultPhases are the phase paths systemd-measure signs when given none:
// PCR 11 after each of systemd-pcrphase's steps of a boot.
var DefaultPhases = []string{
	"enter-initrd",
	"enter-initrd:leave-initrd",
	"enter-initrd:leave-initrd:sysinit",
	"enter-initrd:leave-initrd:sysinit:ready",
}

// PCRSig is one signed policy: the JSON object of systemd's format.
type PCRSig struct {
	PCRs []int `json:"pcrs"`
	// PKFP is the fingerprint of the signing key: the SHA-256 of its
	// public key as a DER PKCS #1 RSAPublicKey (hex), as systemd takes it.
	PKFP string `json:"pkfp"`
	// Pol is the TPM2_PolicyPCR digest (hex), Sig the signature over it
	// (base64).
	Pol string `json:"pol"`
	Sig string `json:"sig"`
}

// PCRSigDocument is the .pcrsig JSON: bank name → one signed policy per
// phase, in the phases' order.
type PCRSigDocument map[string][]PCRSig

// Marshal writes the document as systemd-measure does: compact JSON.
func (d PCRSigDocument) Marshal() ([]byte, error) { return json.Marshal(d) }

// PhaseValue is PCR 11 after a phase path: base extended with the hash of
// each colon-separated word, as systemd-pcrphase measures them (the word,
// no NUL).
func PhaseValue(alg pcr.Alg, base []byte, phase string) ([]byte, error) {
	if len(base) != alg.Size() {
		return nil, fmt.Errorf("a %d-byte %s value", len(base), alg)
	}
	v := base
	if phase == "" {
		return v, nil
	}
	for _, word := range strings.Split(phase, ":") {
		if word == "" {
			return nil, fmt.Errorf("phase %q: an empty word", phase)
		}
		v = pcr.Extend(alg, v, alg.Sum([]byte(word)))
	}
	return v, nil
}

// SignPCR11 signs, for each bank of base (PCR 11 as the UKI leaves it)
// and each phase path, the TPM2_PolicyPCR digest of PCR 11 after that
// phase: the .pcrsig document of a UKI. The key must be RSA, as systemd's
// TPM2_PolicyAuthorize check takes it.
func SignPCR11(base map[pcr.Alg][]byte, banks []pcr.Alg, phases []string, key crypto.Signer) (PCRSigDocument, error) {
	priv, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the signing key must be RSA (systemd checks the signature with TPM2_VerifySignature on an RSA key)")
	}
	fp := sha256.Sum256(x509.MarshalPKCS1PublicKey(&priv.PublicKey))
	doc := PCRSigDocument{}
	for _, alg := range banks {
		b, ok := base[alg]
		if !ok {
			return nil, fmt.Errorf("no %s value of PCR %d", alg, UKIPCR)
		}
		for _, ph := range phases {
			v, err := PhaseValue(alg, b, ph)
			if err != nil {
				return nil, err
			}
			vals := pcr.Values{}
			vals.Set(alg, UKIPCR, v)
			_, pol, err := PolicyPCR(pcr.SHA256, pcr.Selection{{Alg: alg, PCRs: []int{UKIPCR}}}, vals)
			if err != nil {
				return nil, err
			}
			// The signature is over H(approvedPolicy ‖ policyRef),
			// policyRef empty, as TPM2_PolicyAuthorize checks it; systemd
			// hashes with the bank's algorithm (systemd-measure 252 signs
			// a sha1 bank's policies with SHA-1).
			ch, ok := alg.CryptoHash()
			if !ok {
				return nil, fmt.Errorf("bank %s has no signature hash", alg)
			}
			sig, err := rsa.SignPKCS1v15(nil, priv, ch, alg.Sum(pol))
			if err != nil {
				return nil, err
			}
			doc[alg.String()] = append(doc[alg.String()], PCRSig{PCRs: []int{UKIPCR}, PKFP: hex.EncodeToString(fp[:]),
				Pol: hex.EncodeToString(pol), Sig: base64.StdEncoding.EncodeToString(sig)})
		}
	}
	return doc, nil
}
