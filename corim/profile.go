package corim

import (
	"fmt"

	"github.com/veraison/corim/comid"
	vcorim "github.com/veraison/corim/corim"
	"github.com/veraison/corim/extensions"
	"github.com/veraison/eat"
)

// Scheme is a Veraison attestation scheme goldenpcr writes CoRIMs for.
type Scheme string

// The schemes of this package.
const (
	ParsecTPM  Scheme = "PARSEC_TPM"
	EnactTrust Scheme = "TPM_ENACTTRUST"
)

// Generation is the Veraison release line a CoRIM is made for: the profile
// URIs and media types changed after v0.0.2602.
type Generation int

// Veraison generations.
const (
	// Current is Veraison v0.0.2605 and later.
	Current Generation = iota
	// Legacy is Veraison v0.0.2502–v0.0.2602.
	Legacy
)

// String is "current" or "legacy".
func (g Generation) String() string {
	if g == Legacy {
		return "legacy"
	}
	return "current"
}

// Profile URIs by scheme and generation (docs/corim.md, "Profiles").
const (
	ProfileParsecTPM        = "tag:github.com/parallaxsecond,2023-03-03:tpm"
	ProfileEnactTrust       = "https://enacttrust.com/veraison/1.0.0"
	ProfileEnactTrustLegacy = "http://enacttrust.com/veraison/1.0.0"
)

// ProfileURI is the profile a scheme's CoRIM carries for a Veraison
// generation. PARSEC_TPM kept its profile across generations.
func ProfileURI(s Scheme, g Generation) (string, error) {
	switch s {
	case ParsecTPM:
		return ProfileParsecTPM, nil
	case EnactTrust:
		if g == Legacy {
			return ProfileEnactTrustLegacy, nil
		}
		return ProfileEnactTrust, nil
	case PSAIoT, CCAPlatform, CCARealm:
		return armProfileURI(s, g)
	}
	return "", fmt.Errorf("scheme %q: want %s, %s, %s, %s or %s", s, ParsecTPM, EnactTrust, PSAIoT, CCAPlatform, CCARealm)
}

// MediaType is the Content-Type a CoRIM with this profile is provisioned
// with: application/rim+cbor or application/rim+cose (signed) for current
// Veraison, application/corim-unsigned+cbor for the legacy generation.
func MediaType(profile string, signed bool, g Generation) string {
	base := "application/rim+cbor"
	switch {
	case g == Legacy && signed:
		base = "application/corim-signed+cose"
	case g == Legacy:
		base = "application/corim-unsigned+cbor"
	case signed:
		base = "application/rim+cose"
	}
	return fmt.Sprintf("%s; profile=%q", base, profile)
}

// schemeOfProfile names the scheme a known profile URI belongs to.
func schemeOfProfile(profile string) (Scheme, Generation, bool) {
	switch profile {
	case ProfileParsecTPM:
		return ParsecTPM, Current, true
	case ProfileEnactTrust:
		return EnactTrust, Current, true
	case ProfileEnactTrustLegacy:
		return EnactTrust, Legacy, true
	case ProfilePSA:
		return PSAIoT, Current, true
	case ProfileCCAPlatform:
		return CCAPlatform, Current, true
	case ProfileCCARealm:
		return CCARealm, Current, true
	}
	return "", Current, false
}

// parsecTriples and enactTrustTriples are the validators the corim library
// runs on every CoMID of a CoRIM that names their profile.
type parsecTriples struct{}

func (parsecTriples) ValidTriples(t *comid.Triples) error { return validParsecTriples(t) }

type enactTrustTriples struct{}

func (enactTrustTriples) ValidTriples(t *comid.Triples) error { return validEnactTrustTriples(t) }

// validator is the rule set of a scheme.
func validator(s Scheme) func(*comid.Triples) error {
	switch s {
	case EnactTrust:
		return validEnactTrustTriples
	case PSAIoT:
		return validPSATriples
	case CCAPlatform:
		return validCCAPlatformTriples
	case CCARealm:
		return validCCARealmTriples
	}
	return validParsecTriples
}

func init() {
	for profile, v := range map[string]comid.ITriplesConstrainer{
		ProfileParsecTPM:        &parsecTriples{},
		ProfileEnactTrust:       &enactTrustTriples{},
		ProfileEnactTrustLegacy: &enactTrustTriples{},
	} {
		id, err := eat.NewProfile(profile)
		if err != nil {
			panic(err)
		}
		if err := vcorim.RegisterProfile(id, extensions.NewMap().Add(comid.ExtTriples, v)); err != nil {
			panic(err)
		}
	}
}
