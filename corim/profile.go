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
// URIs and media types changed after v0.0.2602, the CoRIM encoding after
// v0.0.2511.
type Generation int

// Veraison generations.
const (
	// Current is Veraison v0.0.2605 and later.
	Current Generation = iota
	// Legacy is Veraison v0.0.2512–v0.0.2602: the older profiles.
	Legacy
	// Legacy2502 is Veraison v0.0.2502–v0.0.2511: the older profiles in
	// the older CoRIM encoding (wire.go).
	Legacy2502
)

// String is "current", "legacy" or "legacy-2502".
func (g Generation) String() string {
	switch g {
	case Legacy:
		return "legacy"
	case Legacy2502:
		return "legacy-2502"
	}
	return "current"
}

// legacy reports whether g takes the older profiles.
func (g Generation) legacy() bool { return g == Legacy || g == Legacy2502 }

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
		if g.legacy() {
			return ProfileEnactTrustLegacy, nil
		}
		return ProfileEnactTrust, nil
	case PSAIoT, CCAPlatform, CCARealm:
		return armProfileURI(s, g), nil
	}
	return "", fmt.Errorf("scheme %q: want %s, %s, %s, %s or %s", s, ParsecTPM, EnactTrust, PSAIoT, CCAPlatform, CCARealm)
}

// MediaType is the Content-Type a CoRIM with this profile is provisioned
// with: application/rim+cose when signed (legacy Veraison took those from
// v0.0.2505), else application/rim+cbor for current Veraison and
// application/corim-unsigned+cbor for the legacy generation.
func MediaType(profile string, signed bool, g Generation) string {
	base := "application/rim+cbor"
	switch {
	case signed:
		base = "application/rim+cose"
	case g.legacy():
		base = "application/corim-unsigned+cbor"
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
	case ProfilePSALegacy:
		return PSAIoT, Legacy, true
	case ProfileCCAPlatformLegacy:
		return CCAPlatform, Legacy, true
	case ProfileCCARealmLegacy:
		return CCARealm, Legacy, true
	}
	return "", Current, false
}

// validator is the rule set of a scheme for a Veraison generation; the
// TPM schemes' rules did not change between generations, the Arm
// schemes' CoMIDs did.
func validator(s Scheme, g Generation) func(*comid.Triples) error {
	legacy := g.legacy()
	switch {
	case s == EnactTrust:
		return validEnactTrustTriples
	case s == PSAIoT && legacy:
		return validPSALegacyTriples
	case s == PSAIoT:
		return validPSATriples
	case s == CCAPlatform && legacy:
		return validCCAPlatformLegacyTriples
	case s == CCAPlatform:
		return validCCAPlatformTriples
	case s == CCARealm && legacy:
		return validCCARealmLegacyTriples
	case s == CCARealm:
		return validCCARealmTriples
	}
	return validParsecTriples
}

// triplesRule is a rule set as the corim library runs it for a profile:
// an extension struct, registered by pointer.
type triplesRule struct{ valid func(*comid.Triples) error }

func (r *triplesRule) ValidTriples(t *comid.Triples) error { return r.valid(t) }

func init() {
	// The corim library runs these on every CoMID of a CoRIM that names
	// the profile; the current Arm profiles have the library's own.
	for profile, v := range map[string]func(*comid.Triples) error{
		ProfileParsecTPM:         validParsecTriples,
		ProfileEnactTrust:        validEnactTrustTriples,
		ProfileEnactTrustLegacy:  validEnactTrustTriples,
		ProfilePSALegacy:         validPSALegacyTriples,
		ProfileCCAPlatformLegacy: validCCAPlatformLegacyTriples,
		ProfileCCARealmLegacy:    validCCARealmLegacyTriples,
	} {
		id, err := eat.NewProfile(profile)
		if err != nil {
			panic(err)
		}
		if err := vcorim.RegisterProfile(id, extensions.NewMap().Add(comid.ExtTriples, &triplesRule{v})); err != nil {
			panic(err)
		}
	}
}
