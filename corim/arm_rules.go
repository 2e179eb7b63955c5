package corim

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/veraison/corim/comid"
	"github.com/veraison/corim/profiles/cca"
	"github.com/veraison/corim/profiles/psa"
)

// The Arm schemes are validated with the corim library's own profile
// validators (profiles/psa, profiles/cca, registered for their profile
// URIs when those packages are linked), plus what Veraison's rules add
// (docs/corim.md): a PSA component has exactly one digest, and every
// verification key parses as a public key.

func validPSATriples(t *comid.Triples) error {
	if err := (psa.TriplesExtensions{}).ValidTriples(t); err != nil {
		return err
	}
	if err := armKeys(t); err != nil {
		return err
	}
	if t.ReferenceValues == nil {
		return nil
	}
	for i, rv := range t.ReferenceValues.Values {
		for j, m := range rv.Measurements.Values {
			if err := validDigests(m.Val.Digests, 1); err != nil {
				return fmt.Errorf("reference value %d, measurement %d: %w", i, j, err)
			}
		}
	}
	return nil
}

func validCCAPlatformTriples(t *comid.Triples) error {
	if err := (cca.PlatformTriplesExtensions{}).ValidTriples(t); err != nil {
		return err
	}
	return armKeys(t)
}

func validCCARealmTriples(t *comid.Triples) error {
	if t.AttestVerifKeys != nil && len(*t.AttestVerifKeys) > 0 {
		return errors.New("attestation verification keys: a realm CoRIM carries none (the platform token vouches for the RAK)")
	}
	return (cca.RealmTriplesExtensions{}).ValidTriples(t)
}

// armKeys checks that every trust anchor's key parses.
func armKeys(t *comid.Triples) error {
	if t.AttestVerifKeys == nil {
		return nil
	}
	for i, kt := range *t.AttestVerifKeys {
		for _, k := range kt.VerifKeys {
			if k == nil || k.Value == nil {
				return fmt.Errorf("attestation verification key %d: empty", i)
			}
			if _, err := k.PublicKey(); err != nil {
				return fmt.Errorf("attestation verification key %d: %w", i, err)
			}
		}
	}
	return nil
}

// armProfileURI is an Arm scheme's profile. The profiles of legacy
// Veraison (http://arm.com/psa/iot/1, http://arm.com/cca/ssd/1,
// http://arm.com/cca/realm/1) have no validator in the pinned corim
// library and their encoding was not checked against those releases, so
// they are refused rather than written unchecked.
func armProfileURI(s Scheme, g Generation) (string, error) {
	if g == Legacy {
		return "", fmt.Errorf("%s: CoRIMs for legacy Veraison (v0.0.2502–v0.0.2602) are not written: the corim library has no validator for their profiles; use the current profile (Veraison v0.0.2605 and later)", s)
	}
	switch s {
	case PSAIoT:
		return ProfilePSA, nil
	case CCAPlatform:
		return ProfileCCAPlatform, nil
	}
	return ProfileCCARealm, nil
}

// describeArmValues adds the fields of an Arm measurement to its
// description.
func describeArmValues(dm *Measurement, v *comid.Mval) {
	if v.Name != nil {
		dm.Name = *v.Name
	}
	if v.Ver != nil {
		dm.Version = v.Ver.Version
	}
	if v.CryptoKeys != nil && len(*v.CryptoKeys) == 1 && (*v.CryptoKeys)[0] != nil {
		if b, ok := signerBytes((*v.CryptoKeys)[0]); ok {
			dm.SignerID = hex.EncodeToString(b)
		}
	}
	if v.RawValue != nil {
		if b, err := v.RawValue.GetBytes(); err == nil {
			dm.RawValue = hex.EncodeToString(b)
		}
	}
	if v.RawValueMask != nil {
		dm.RawValueMask = hex.EncodeToString(*v.RawValueMask)
	}
}

// signerBytes is a signer id: a cryptokey of type bytes.
func signerBytes(k *comid.CryptoKey) ([]byte, bool) {
	switch b := k.Value.(type) {
	case comid.TaggedBytes:
		return b, true
	case *comid.TaggedBytes:
		return *b, true
	}
	return nil, false
}

// libraryValidator names the corim library's validator a scheme's rules
// include, for the reports.
func libraryValidator(s Scheme) string {
	switch s {
	case PSAIoT:
		return " (the corim library's profiles/psa, and Veraison's)"
	case CCAPlatform, CCARealm:
		return " (the corim library's profiles/cca, and Veraison's)"
	}
	return ""
}
