package corim

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/veraison/corim/comid"
)

// Legacy Veraison (v0.0.2502–v0.0.2602) reads PSA and CCA CoRIMs with
// corim library versions that had three Arm type choices the pinned
// version dropped: the class id psa.impl-id (CBOR tag 600), the
// measurement keys psa.refval-id (tag 601: label, version and signer id)
// and cca.platform-config-id (tag 602, a label). They are registered with
// the pinned library here, so it writes and reads them; its decoder makes
// pointers of them, so they are built as pointers too. The shapes and
// rules are those of Veraison's PSA_IOT and ARM_CCA endorsement
// extractors in those releases (docs/corim.md, "Legacy Arm profiles").

// Legacy profile URIs of the Arm schemes.
const (
	ProfilePSALegacy         = "http://arm.com/psa/iot/1"
	ProfileCCAPlatformLegacy = "http://arm.com/cca/ssd/1"
	ProfileCCARealmLegacy    = "http://arm.com/cca/realm/1"
)

// Type names of the legacy type choices, as the old library named them.
const (
	legacyImplIDType       = "psa.impl-id"
	legacyRefValIDType     = "psa.refval-id"
	legacyPlatformCfgType  = "cca.platform-config-id"
	legacyPlatformCfgLabel = "platform-config"
)

// legacyImplID is a psa.impl-id class id: the 32-byte implementation id.
type legacyImplID []byte

func (legacyImplID) Type() string     { return legacyImplIDType }
func (o legacyImplID) String() string { return hex.EncodeToString(o) }
func (o legacyImplID) Bytes() []byte  { return o }
func (o legacyImplID) Valid() error {
	if len(o) != ImplIDSize {
		return fmt.Errorf("psa.impl-id: %d bytes, want %d", len(o), ImplIDSize)
	}
	return nil
}

// legacyRefValID is a psa.refval-id measurement key: which software
// component a measurement is of.
type legacyRefValID struct {
	Label    *string `cbor:"1,keyasint,omitempty"`
	Version  *string `cbor:"4,keyasint,omitempty"`
	SignerID []byte  `cbor:"5,keyasint"`
}

func (legacyRefValID) Type() string { return legacyRefValIDType }
func (o legacyRefValID) String() string {
	var parts []string
	if o.Label != nil {
		parts = append(parts, "label="+*o.Label)
	}
	if o.Version != nil {
		parts = append(parts, "version="+*o.Version)
	}
	return strings.Join(append(parts, "signer-id="+hex.EncodeToString(o.SignerID)), " ")
}
func (o legacyRefValID) Valid() error {
	switch len(o.SignerID) {
	case 32, 48, 64:
		return nil
	}
	return fmt.Errorf("psa.refval-id signer-id: %d bytes, want 32, 48 or 64", len(o.SignerID))
}

// legacyPlatformConfigID is a cca.platform-config-id measurement key: the
// label of the platform configuration the measurement's raw value is.
type legacyPlatformConfigID string

func (legacyPlatformConfigID) Type() string     { return legacyPlatformCfgType }
func (o legacyPlatformConfigID) String() string { return string(o) }
func (o legacyPlatformConfigID) Valid() error {
	if o == "" {
		return errors.New("cca.platform-config-id: empty label")
	}
	return nil
}

func init() {
	if err := comid.RegisterClassIDType(600, func(v any) (*comid.ClassID, error) {
		b, _ := v.([]byte)
		return &comid.ClassID{Value: legacyImplID(b)}, nil
	}); err != nil {
		panic(err)
	}
	if err := comid.RegisterMkeyType(601, func(v any) (*comid.Mkey, error) {
		id, _ := v.(*legacyRefValID)
		if id == nil {
			id = &legacyRefValID{}
		}
		return &comid.Mkey{Value: id}, nil
	}); err != nil {
		panic(err)
	}
	if err := comid.RegisterMkeyType(602, func(v any) (*comid.Mkey, error) {
		s, _ := v.(string)
		id := legacyPlatformConfigID(s)
		return &comid.Mkey{Value: &id}, nil
	}); err != nil {
		panic(err)
	}
}

// legacyClass is the psa.impl-id class of an implementation.
func legacyClass(impl []byte) func() *comid.Class {
	return func() *comid.Class { return &comid.Class{ClassID: &comid.ClassID{Value: legacyImplID(impl)}} }
}

// legacyComponent is a component as legacy Veraison reads it: a
// psa.refval-id key (type, version, signer id) and exactly one digest.
func legacyComponent(c SwComponent) (*comid.Measurement, error) {
	id, err := componentDigest(c)
	if err != nil {
		return nil, err
	}
	key := &legacyRefValID{SignerID: c.SignerID}
	if c.Type != "" {
		key.Label = &c.Type
	}
	if c.Version != "" {
		key.Version = &c.Version
	}
	if err := key.Valid(); err != nil {
		return nil, err
	}
	return (&comid.Measurement{Key: &comid.Mkey{Value: key}}).AddDigest(id, c.Value), nil
}

// addLegacyPlatformConfig adds the cca.platform-config-id measurement:
// the configuration as a raw value, compared in full (no mask).
func addLegacyPlatformConfig(cm *comid.Comid, cfg []byte) {
	label := legacyPlatformConfigID(legacyPlatformCfgLabel)
	m := &comid.Measurement{Key: &comid.Mkey{Value: &label}}
	m.SetRawValueBytes(cfg, nil)
	cm.Triples.ReferenceValues.Values[0].Measurements.Add(m)
}

// legacyRealmComid is the CoMID legacy Veraison takes for a realm: no
// class, the RIM as a bytes instance, and one measurement holding the RIM
// and the REMs given as integrity registers "rim", "rem0"… and the
// personalization value as its raw value.
func legacyRealmComid(in CCARealmInput, alg uint64) (*comid.Comid, error) {
	regs := comid.NewIntegrityRegisters()
	add := func(name string, d []byte) error {
		return regs.AddDigests(name, comid.Digests{{HashAlgID: alg, HashValue: d}})
	}
	if err := add("rim", in.RIM); err != nil {
		return nil, err
	}
	for i, rem := range in.REMs {
		if rem != nil {
			if err := add(fmt.Sprintf("rem%d", i), rem); err != nil {
				return nil, err
			}
		}
	}
	m := comid.Measurement{}
	m.Val.IntegrityRegisters = regs
	if in.RPV != nil {
		m.SetRawValueBytes(in.RPV, nil)
	}
	inst, err := comid.NewBytesInstance(in.RIM)
	if err != nil {
		return nil, fmt.Errorf("RIM: %w", err)
	}
	var rv comid.ValueTriple
	rv.Environment = comid.Environment{Instance: inst}
	rv.Measurements.Add(&m)
	cm := comid.NewComid()
	cm.AddReferenceValue(&rv)
	return cm, nil
}

// Veraison's legacy rules. Each reference value and trust anchor is held
// to what the PSA_IOT and ARM_CCA extractors of v0.0.2502–v0.0.2602
// require, so a CoRIM that passes them is one those releases store.

func validPSALegacyTriples(t *comid.Triples) error {
	return legacyPlatformTriples(t, legacySwComponent, "software component")
}

func validCCAPlatformLegacyTriples(t *comid.Triples) error {
	return legacyPlatformTriples(t, func(m comid.Measurement) error {
		if m.Key == nil || !m.Key.IsSet() || m.Key.Type() != legacyPlatformCfgType {
			return legacySwComponent(m)
		}
		if m.Val.RawValue == nil {
			return errors.New("cca.platform-config-id: no raw value (the platform configuration)")
		}
		if _, err := m.Val.RawValue.GetBytes(); err != nil {
			return fmt.Errorf("cca.platform-config-id raw value: %w", err)
		}
		return nil
	}, "software component or platform configuration")
}

// legacyPlatformTriples holds a PSA or CCA platform CoMID to the legacy
// rules: trust anchors, the psa.impl-id class of every reference value,
// and each measurement to measure.
func legacyPlatformTriples(t *comid.Triples, measure func(comid.Measurement) error, what string) error {
	if err := legacyTrustAnchors(t); err != nil {
		return err
	}
	n := 0
	for i, rv := range legacyRefVals(t) {
		if err := legacyImplClass(rv.Environment); err != nil {
			return fmt.Errorf("reference value %d: %w", i, err)
		}
		for j, m := range rv.Measurements.Values {
			if err := measure(m); err != nil {
				return fmt.Errorf("reference value %d, measurement %d: %w", i, j, err)
			}
			n++
		}
	}
	return legacyHasRefVals(t, n, what)
}

func validCCARealmLegacyTriples(t *comid.Triples) error {
	if t.AttestVerifKeys != nil && len(*t.AttestVerifKeys) > 0 {
		return errors.New("attestation verification keys: a realm CoRIM carries none (the platform token vouches for the RAK)")
	}
	n := 0
	for i, rv := range legacyRefVals(t) {
		if err := legacyRealmEnv(rv.Environment); err != nil {
			return fmt.Errorf("reference value %d: %w", i, err)
		}
		for j, m := range rv.Measurements.Values {
			if _, err := legacyRealm(m); err != nil {
				return fmt.Errorf("reference value %d, measurement %d: %w", i, j, err)
			}
			n++
		}
	}
	return legacyHasRefVals(t, n, "realm measurement")
}

func legacyRefVals(t *comid.Triples) []comid.ValueTriple {
	if t.ReferenceValues == nil {
		return nil
	}
	return t.ReferenceValues.Values
}

// legacyHasRefVals refuses reference values with no measurement: legacy
// Veraison refuses a CoMID whose reference values yield none.
func legacyHasRefVals(t *comid.Triples, n int, what string) error {
	if t.ReferenceValues != nil && n == 0 {
		return fmt.Errorf("reference values: no %s (legacy Veraison refuses them)", what)
	}
	return nil
}

func legacyImplClass(env comid.Environment) error {
	if env.Class == nil || env.Class.ClassID == nil || !env.Class.ClassID.IsSet() {
		return errors.New("class: no class id (legacy Veraison wants a psa.impl-id)")
	}
	if typ := env.Class.ClassID.Type(); typ != legacyImplIDType {
		return fmt.Errorf("class id: type %s, want psa.impl-id (CBOR tag 600)", typ)
	}
	return env.Class.ClassID.Valid()
}

func legacyTrustAnchors(t *comid.Triples) error {
	if t.AttestVerifKeys == nil {
		return nil
	}
	for i, kt := range *t.AttestVerifKeys {
		if err := legacyImplClass(kt.Environment); err != nil {
			return fmt.Errorf("attestation verification key %d: %w", i, err)
		}
		if in := kt.Environment.Instance; in == nil || in.Value == nil || in.Type() != comid.UEIDType {
			return fmt.Errorf("attestation verification key %d: instance: want a ueid", i)
		}
		if len(kt.VerifKeys) != 1 || kt.VerifKeys[0] == nil {
			return fmt.Errorf("attestation verification key %d: %d keys, want exactly one", i, len(kt.VerifKeys))
		}
		k := kt.VerifKeys[0]
		if k.Type() != comid.PKIXBase64KeyType {
			return fmt.Errorf("attestation verification key %d: type %s, want %s", i, k.Type(), comid.PKIXBase64KeyType)
		}
		if _, err := k.PublicKey(); err != nil {
			return fmt.Errorf("attestation verification key %d: %w", i, err)
		}
	}
	return nil
}

// legacySwComponent checks a psa.refval-id measurement with exactly one
// digest.
func legacySwComponent(m comid.Measurement) error {
	if m.Key == nil || !m.Key.IsSet() {
		return errors.New("no measurement key (legacy Veraison wants a psa.refval-id)")
	}
	if typ := m.Key.Type(); typ != legacyRefValIDType {
		return fmt.Errorf("measurement key: type %s, want psa.refval-id (CBOR tag 601)", typ)
	}
	if err := m.Key.Valid(); err != nil {
		return err
	}
	return validDigests(m.Val.Digests, 1)
}

func legacyRealmEnv(env comid.Environment) error {
	if c := env.Class; c != nil {
		switch {
		case c.ClassID != nil && c.ClassID.IsSet() && c.ClassID.Type() != comid.UUIDType:
			return fmt.Errorf("class id: type %s, want a uuid", c.ClassID.Type())
		case (c.ClassID == nil || !c.ClassID.IsSet()) && c.Vendor == nil:
			return errors.New("class: neither a class id nor a vendor")
		}
	}
	if in := env.Instance; in == nil || in.Value == nil || in.Type() != comid.BytesType {
		return errors.New("instance: want bytes (legacy Veraison names a realm by a bytes instance)")
	}
	return nil
}

// legacyRealm reads a legacy realm measurement: integrity registers "rim"
// (required) and "rem0"–"rem3", one digest each, all of the RIM's
// algorithm, and the personalization value, 64 bytes, as the raw value.
func legacyRealm(m comid.Measurement) (RealmReference, error) {
	var r RealmReference
	if m.Val.RawValue != nil {
		rpv, err := m.Val.RawValue.GetBytes()
		if err != nil {
			return r, fmt.Errorf("personalization value: %w", err)
		}
		if len(rpv) != 64 {
			return r, fmt.Errorf("personalization value: %d bytes, want 64", len(rpv))
		}
		r.RPV = rpv
	}
	regs := m.Val.IntegrityRegisters
	if regs == nil {
		return r, errors.New("no integrity registers (legacy Veraison reads the RIM and REMs from them)")
	}
	var alg uint64
	for idx, ds := range regs.IndexMap {
		name, ok := idx.(string)
		if !ok {
			return r, fmt.Errorf("integrity register %v: want a text index (rim, rem0…rem3)", idx)
		}
		if len(ds) != 1 {
			return r, fmt.Errorf("integrity register %s: %d digests, want exactly 1", name, len(ds))
		}
		d := ds[0]
		if size, known := digestSizes[d.HashAlgID]; !known || size != len(d.HashValue) {
			return r, fmt.Errorf("integrity register %s: a %d-byte digest of algorithm %d, want a sha-256, sha-384 or sha-512 digest", name, len(d.HashValue), d.HashAlgID)
		}
		if alg != 0 && d.HashAlgID != alg {
			return r, fmt.Errorf("integrity register %s: algorithm %s, the others are %s", name, algName(d.HashAlgID), algName(alg))
		}
		alg = d.HashAlgID
		switch name = strings.ToLower(name); name {
		case "rim":
			r.RIM = d.HashValue
		case "rem0", "rem1", "rem2", "rem3":
			r.REMs[name[3]-'0'] = d.HashValue
		default:
			return r, fmt.Errorf("integrity register %q: want rim or rem0…rem3", name)
		}
	}
	if r.RIM == nil {
		return r, errors.New(`no "rim" integrity register (the realm initial measurement)`)
	}
	r.Alg = algName(alg)
	return r, nil
}

// isLegacyArm reports whether a CoMID uses the legacy Arm type choices,
// which decides the rules of a CoRIM whose profile is overridden.
func isLegacyArm(t *comid.Triples) bool {
	legacyClass := func(env comid.Environment) bool {
		return env.Class != nil && env.Class.ClassID != nil && env.Class.ClassID.IsSet() && env.Class.ClassID.Type() == legacyImplIDType
	}
	if t.AttestVerifKeys != nil {
		for _, kt := range *t.AttestVerifKeys {
			if legacyClass(kt.Environment) {
				return true
			}
		}
	}
	for _, rv := range legacyRefVals(t) {
		if legacyClass(rv.Environment) {
			return true
		}
		for _, m := range rv.Measurements.Values {
			if m.Val.IntegrityRegisters != nil {
				return true
			}
		}
	}
	return false
}
