package corim

import (
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/veraison/corim/comid"
	"github.com/veraison/corim/profiles/cca"
	"github.com/veraison/corim/profiles/psa"
	"github.com/veraison/swid"
)

// The Arm schemes: PSA_IOT, and ARM_CCA's two CoRIMs, one for the
// platform (CCA security domain) and one for a realm.
const (
	PSAIoT      Scheme = "PSA_IOT"
	CCAPlatform Scheme = "ARM_CCA platform"
	CCARealm    Scheme = "ARM_CCA realm"
)

// Profile URIs of the Arm schemes for current Veraison; the corim
// library's profiles/psa and profiles/cca validate them.
const (
	ProfilePSA         = psa.ProfileURI
	ProfileCCAPlatform = cca.PlatformProfileURI
	ProfileCCARealm    = cca.RealmProfileURI
)

// Sizes of the Arm identifiers.
const (
	ImplIDSize = 32 // implementation id: the class of PSA and CCA platforms
	InstIDSize = 33 // instance id: a UEID, 0x01 then 32 bytes
)

// SwComponent is a software component's reference value: what the
// token's software-components claim must carry for it.
type SwComponent struct {
	// Type is the measurement type ("PRoT", "BL", "RSE_BL1_2"), the
	// CoMID name; optional.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Alg names the digest algorithm: sha-256, sha-384 or sha-512.
	Alg   string `json:"alg" yaml:"alg"`
	Value []byte `json:"value" yaml:"value"`
	// SignerID is the hash of the key that signed the component.
	SignerID []byte `json:"signer_id" yaml:"signer_id"`
	// Version is optional (PSA only).
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
}

// PSAInput is what a PSA_IOT CoRIM is made of: one device's trust anchor
// and the software components its implementation runs.
type PSAInput struct {
	ImplID     []byte
	InstID     []byte
	IAK        crypto.PublicKey
	Components []SwComponent
}

// CCAPlatformInput is what an ARM_CCA platform CoRIM is made of: the
// platform's CPAK, its software components and its configuration.
type CCAPlatformInput struct {
	ImplID     []byte
	InstID     []byte
	CPAK       crypto.PublicKey
	Components []SwComponent
	// Config is the platform configuration (the token's platform config
	// claim), compared in full: its mask is all ones.
	Config []byte
}

// CCARealmInput is what an ARM_CCA realm CoRIM is made of: the realm
// initial measurement, which also names the realm, the extensible
// measurements the realm must end with (nil: not constrained) and its
// personalization value (nil: not constrained). Every measurement has the
// RIM's size, which names the realm hash algorithm.
type CCARealmInput struct {
	RIM  []byte
	REMs [4][]byte
	RPV  []byte
}

// digestAlg is the named-information id and size of a digest algorithm
// named sha-256, sha-384 or sha-512.
func digestAlg(name string) (id uint64, size int, ok bool) {
	for id, size := range digestSizes {
		if algName(id) == strings.ToLower(name) {
			return id, size, true
		}
	}
	return 0, 0, false
}

// algOfSize is the digest algorithm of a hash of n bytes.
func algOfSize(n int) (uint64, bool) {
	for id, size := range digestSizes {
		if size == n {
			return id, true
		}
	}
	return 0, false
}

// NewPSA builds a PSA_IOT CoRIM: the IAK as trust anchor of (implementation
// id, instance id) and one reference value of the implementation with a
// psa.software-component measurement per component. It is validated with
// the corim library's profiles/psa before it is returned.
func NewPSA(in PSAInput, opts Options) (*Result, error) {
	if err := armIDs(in.ImplID, in.InstID); err != nil {
		return nil, err
	}
	class, measure := legacyClass(in.ImplID), legacyComponent
	if !opts.Generation.legacy() {
		class = func() *comid.Class { return psa.NewClassImplID(in.ImplID) }
		measure = func(c SwComponent) (*comid.Measurement, error) {
			return componentMeasurement(psa.PSASoftwareComponentMkey, c, true)
		}
	}
	cm, err := armComid(in.InstID, in.IAK, "IAK", in.Components, class, measure)
	if err != nil {
		return nil, err
	}
	return finish(PSAIoT, cm, opts, nil)
}

// NewCCAPlatform builds an ARM_CCA platform CoRIM: the CPAK as trust anchor
// of (implementation id, instance id), and one reference value with a
// cca.software-component measurement per component and one
// cca.platform-config. profiles/cca validates it.
func NewCCAPlatform(in CCAPlatformInput, opts Options) (*Result, error) {
	if err := armIDs(in.ImplID, in.InstID); err != nil {
		return nil, err
	}
	if len(in.Config) == 0 {
		return nil, errors.New("platform config: missing (a platform CoRIM carries exactly one cca.platform-config)")
	}
	if opts.Generation.legacy() {
		cm, err := armComid(in.InstID, in.CPAK, "CPAK", in.Components, legacyClass(in.ImplID), legacyComponent)
		if err != nil {
			return nil, err
		}
		addLegacyPlatformConfig(cm, in.Config)
		return finish(CCAPlatform, cm, opts, nil)
	}
	cm, err := armComid(in.InstID, in.CPAK, "CPAK", in.Components,
		func() *comid.Class { return psa.NewClassImplID(in.ImplID) },
		func(c SwComponent) (*comid.Measurement, error) {
			return componentMeasurement(cca.CCASoftwareComponentMkey, c, false)
		})
	if err != nil {
		return nil, err
	}
	mask := make([]byte, len(in.Config))
	for i := range mask {
		mask[i] = 0xff
	}
	m, err := comid.NewMkeyString(cca.CCAPlatformConfigMkey)
	if err != nil {
		return nil, err
	}
	cfg := &comid.Measurement{Key: m}
	cfg.SetRawValueBytes(in.Config, mask)
	rv := &cm.Triples.ReferenceValues.Values[0]
	rv.Measurements.Add(cfg)
	return finish(CCAPlatform, cm, opts, nil)
}

// NewCCARealm builds an ARM_CCA realm CoRIM: one reference value whose
// class is the RIM, with cca.rim, the cca.remN given and cca.rpv when set.
// profiles/cca validates it.
func NewCCARealm(in CCARealmInput, opts Options) (*Result, error) {
	alg, ok := algOfSize(len(in.RIM))
	if !ok {
		return nil, fmt.Errorf("RIM: %d bytes, want 32, 48 or 64 (a SHA-256, SHA-384 or SHA-512 digest)", len(in.RIM))
	}
	for i, rem := range in.REMs {
		if rem != nil && len(rem) != len(in.RIM) {
			return nil, fmt.Errorf("REM%d: %d bytes, want %d like the RIM (the realm hash algorithm is %s)", i, len(rem), len(in.RIM), algName(alg))
		}
	}
	if in.RPV != nil && len(in.RPV) != 64 {
		return nil, fmt.Errorf("personalization value: %d bytes, want 64", len(in.RPV))
	}
	if opts.Generation.legacy() {
		cm, err := legacyRealmComid(in, alg)
		if err != nil {
			return nil, err
		}
		return finish(CCARealm, cm, opts, nil)
	}
	class, err := cca.NewClassRealmRIM(in.RIM)
	if err != nil {
		return nil, fmt.Errorf("RIM: %w", err)
	}
	var rv comid.ValueTriple
	rv.Environment = comid.Environment{Class: class}
	add := func(key string, d []byte) error {
		m, err := comid.NewMkeyString(key)
		if err != nil {
			return err
		}
		rv.Measurements.Add((&comid.Measurement{Key: m}).AddDigest(alg, d))
		return nil
	}
	if err := add(cca.CCARealmInitialMeasurementMkey, in.RIM); err != nil {
		return nil, err
	}
	for i, rem := range in.REMs {
		if rem == nil {
			continue
		}
		if err := add(fmt.Sprintf("cca.rem%d", i), rem); err != nil {
			return nil, err
		}
	}
	if in.RPV != nil {
		m, err := comid.NewMkeyString(cca.CCARealmPersonalizationMkey)
		if err != nil {
			return nil, err
		}
		rv.Measurements.Add((&comid.Measurement{Key: m}).SetRawValueBytes(in.RPV, nil))
	}
	cm := comid.NewComid()
	cm.AddReferenceValue(&rv)
	return finish(CCARealm, cm, opts, nil)
}

func armIDs(impl, inst []byte) error {
	if len(impl) != ImplIDSize {
		return fmt.Errorf("implementation id: %d bytes, want %d", len(impl), ImplIDSize)
	}
	if len(inst) != InstIDSize || inst[0] != 0x01 {
		return fmt.Errorf("instance id: %d bytes%s, want %d: 0x01 (a random UEID) then 32 bytes", len(inst), firstByte(inst), InstIDSize)
	}
	return nil
}

// armComid is the CoMID of a PSA or CCA platform: the key as trust anchor
// of (class, inst), and one reference value of the class with a
// measurement per component. class and measure give the generation's
// type choices: psa/cca string keys now, psa.refval-id for legacy Veraison.
func armComid(inst []byte, key crypto.PublicKey, keyName string, comps []SwComponent,
	class func() *comid.Class, measure func(SwComponent) (*comid.Measurement, error)) (*comid.Comid, error) {
	if key == nil {
		return nil, fmt.Errorf("%s: missing", keyName)
	}
	if _, err := coseAlg(key); err != nil {
		return nil, fmt.Errorf("%s: %w", keyName, err)
	}
	if len(comps) == 0 {
		return nil, errors.New("software components: none (a reference value needs at least one)")
	}
	instance, err := comid.NewUEIDInstance(inst)
	if err != nil {
		return nil, fmt.Errorf("instance id: %w", err)
	}
	k, err := pkixPEM(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyName, err)
	}
	cm := comid.NewComid()
	cm.AddAttestVerifKey(&comid.KeyTriple{
		Environment: comid.Environment{Class: class(), Instance: instance},
		VerifKeys:   comid.CryptoKeys{k},
	})
	var rv comid.ValueTriple
	rv.Environment = comid.Environment{Class: class()}
	for i, c := range comps {
		m, err := measure(c)
		if err != nil {
			return nil, fmt.Errorf("software component %d%s: %w", i, typeSuffix(c.Type), err)
		}
		rv.Measurements.Add(m)
	}
	cm.AddReferenceValue(&rv)
	return cm, nil
}

// componentDigest checks a component's digest algorithm and size.
func componentDigest(c SwComponent) (uint64, error) {
	id, size, ok := digestAlg(c.Alg)
	if !ok {
		return 0, fmt.Errorf("measurement algorithm %q: want sha-256, sha-384 or sha-512", c.Alg)
	}
	if len(c.Value) != size {
		return 0, fmt.Errorf("measurement value: %d bytes, want %d for %s", len(c.Value), size, c.Alg)
	}
	return id, nil
}

// componentMeasurement is a component keyed by the string mkey, its signer
// id as a cryptokey and its type as the measurement's name.
func componentMeasurement(mkey string, c SwComponent, versions bool) (*comid.Measurement, error) {
	id, err := componentDigest(c)
	if err != nil {
		return nil, err
	}
	switch len(c.SignerID) {
	case 32, 48, 64:
	default:
		return nil, fmt.Errorf("signer id: %d bytes, want 32, 48 or 64 (a hash of the signing key)", len(c.SignerID))
	}
	if c.Version != "" && !versions {
		return nil, errors.New("version: a CCA software component carries no version in its CoRIM")
	}
	k, err := comid.NewMkeyString(mkey)
	if err != nil {
		return nil, err
	}
	m := &comid.Measurement{Key: k}
	m.AddDigest(id, c.Value)
	signer, err := comid.NewCryptoKeyTaggedBytes(c.SignerID)
	if err != nil {
		return nil, fmt.Errorf("signer id: %w", err)
	}
	m.AddCryptoKey(signer)
	if c.Type != "" {
		m.SetName(c.Type)
	}
	if c.Version != "" {
		m.SetVersion(c.Version, swid.VersionSchemeSemVer)
	}
	return m, nil
}

func typeSuffix(t string) string {
	if t == "" {
		return ""
	}
	return " (" + t + ")"
}
