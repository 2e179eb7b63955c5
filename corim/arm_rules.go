package corim

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// armProfileURI is an Arm scheme's profile for a Veraison generation.
func armProfileURI(s Scheme, g Generation) string {
	legacy := g.legacy()
	switch {
	case s == PSAIoT && legacy:
		return ProfilePSALegacy
	case s == PSAIoT:
		return ProfilePSA
	case s == CCAPlatform && legacy:
		return ProfileCCAPlatformLegacy
	case s == CCAPlatform:
		return ProfileCCAPlatform
	case legacy:
		return ProfileCCARealmLegacy
	}
	return ProfileCCARealm
}

// describeArmValues adds the fields of an Arm measurement to its
// description.
func describeArmValues(dm *Measurement, m comid.Measurement) {
	if m.Key != nil {
		switch k := m.Key.Value.(type) {
		case *legacyRefValID:
			dm.Key = legacyRefValIDType
			dm.SignerID = hex.EncodeToString(k.SignerID)
			if k.Label != nil {
				dm.Name = *k.Label
			}
			if k.Version != nil {
				dm.Version = *k.Version
			}
		case *legacyPlatformConfigID:
			dm.Key, dm.Name = legacyPlatformCfgType, string(*k)
		}
	}
	v := &m.Val
	if v.IntegrityRegisters != nil {
		for idx, ds := range v.IntegrityRegisters.IndexMap {
			dm.Registers = append(dm.Registers, Register{Index: fmt.Sprint(idx), Digests: describeDigests(ds)})
		}
		slices.SortFunc(dm.Registers, func(a, b Register) int { return strings.Compare(a.Index, b.Index) })
	}
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
func libraryValidator(s Scheme, g Generation) string {
	switch {
	case s != PSAIoT && s != CCAPlatform && s != CCARealm:
		return ""
	case g.legacy():
		return " (legacy Veraison v0.0.2502–v0.0.2602's)"
	case s == PSAIoT:
		return " (the corim library's profiles/psa, and Veraison's)"
	}
	return " (the corim library's profiles/cca, and Veraison's)"
}
