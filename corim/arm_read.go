package corim

import (
	"bytes"
	"crypto"
	"fmt"

	"github.com/veraison/corim/comid"
)

// ArmReference is what a PSA_IOT or ARM_CCA CoRIM tells a verifier: the
// trust anchors, the software components and platform configurations
// by implementation id, and the realms by RIM.
type ArmReference struct {
	Scheme  Scheme
	Decoded *Decoded
	// TrustAnchors are the IAKs (PSA) or CPAKs (CCA platform).
	TrustAnchors []ArmTrustAnchor
	// Components are the software components' reference values.
	Components []ArmComponent
	// Configs are the CCA platform configurations (raw value and mask).
	Configs []ArmConfig
	// Realms are the CCA realms' reference values.
	Realms []RealmReference
}

// ArmTrustAnchor is the key that signs the tokens of one instance.
type ArmTrustAnchor struct {
	ImplID []byte
	InstID []byte
	Key    crypto.PublicKey
}

// ArmComponent is a software component's reference value for an
// implementation.
type ArmComponent struct {
	ImplID []byte
	SwComponent
}

// ArmConfig is a CCA platform configuration's reference value.
type ArmConfig struct {
	ImplID, Value, Mask []byte
}

// RealmReference is one realm's reference values: REMs[i] and RPV are nil
// when the CoRIM does not constrain them.
type RealmReference struct {
	Alg  string
	RIM  []byte
	REMs [4][]byte
	RPV  []byte
}

// TrustAnchor returns the key of the instance (impl, inst), or nil.
func (r *ArmReference) TrustAnchor(impl, inst []byte) *ArmTrustAnchor {
	for i := range r.TrustAnchors {
		if bytes.Equal(r.TrustAnchors[i].ImplID, impl) && bytes.Equal(r.TrustAnchors[i].InstID, inst) {
			return &r.TrustAnchors[i]
		}
	}
	return nil
}

// ComponentsOf returns the software components of an implementation.
func (r *ArmReference) ComponentsOf(impl []byte) []ArmComponent {
	var out []ArmComponent
	for _, c := range r.Components {
		if bytes.Equal(c.ImplID, impl) {
			out = append(out, c)
		}
	}
	return out
}

// KnowsImplementation reports whether the CoRIM names impl anywhere.
func (r *ArmReference) KnowsImplementation(impl []byte) bool {
	for _, t := range r.TrustAnchors {
		if bytes.Equal(t.ImplID, impl) {
			return true
		}
	}
	return len(r.ComponentsOf(impl)) > 0
}

// ReadArm decodes and validates a CoRIM of scheme (PSAIoT, CCAPlatform or
// CCARealm), whatever profile it names, and returns its reference values.
// A signed CoRIM whose signature does not verify is refused.
func ReadArm(data []byte, scheme Scheme) (*ArmReference, error) {
	switch scheme {
	case PSAIoT, CCAPlatform, CCARealm:
	default:
		return nil, fmt.Errorf("scheme %q: want %s, %s or %s", scheme, PSAIoT, CCAPlatform, CCARealm)
	}
	d, err := DecodeScheme(data, scheme)
	if err != nil {
		return nil, err
	}
	if d.Signature != nil && !d.Signature.Verified {
		return nil, fmt.Errorf("signed CoRIM: %s", d.Signature.Problem)
	}
	ref := &ArmReference{Scheme: scheme, Decoded: d}
	for _, cm := range d.raw {
		for kt := range cm.IterAttestVerifKeys() {
			key, err := kt.VerifKeys[0].PublicKey()
			if err != nil {
				return nil, fmt.Errorf("trust anchor: %w", err)
			}
			ref.TrustAnchors = append(ref.TrustAnchors, ArmTrustAnchor{
				ImplID: kt.Environment.Class.ClassID.Bytes(), InstID: kt.Environment.Instance.Bytes(), Key: key})
		}
		for rv := range cm.IterRefVals() {
			if scheme == CCARealm && d.generation.legacy() {
				for _, m := range rv.Measurements.Values {
					r, _ := legacyRealm(m) // validated by DecodeScheme
					ref.Realms = append(ref.Realms, r)
				}
				continue
			}
			class := rv.Environment.Class.ClassID.Bytes()
			if scheme == CCARealm {
				ref.Realms = append(ref.Realms, readRealm(class, rv.Measurements.Values))
				continue
			}
			for _, m := range rv.Measurements.Values {
				if m.Val.RawValue != nil {
					v, _ := m.Val.RawValue.GetBytes()
					c := ArmConfig{ImplID: class, Value: v}
					if m.Val.RawValueMask != nil {
						c.Mask = *m.Val.RawValueMask
					}
					ref.Configs = append(ref.Configs, c)
					continue
				}
				ref.Components = append(ref.Components, ArmComponent{ImplID: class, SwComponent: readComponent(m)})
			}
		}
	}
	return ref, nil
}

func readComponent(m comid.Measurement) SwComponent {
	var c SwComponent
	v := m.Val
	if m.Key != nil {
		if id, ok := m.Key.Value.(*legacyRefValID); ok {
			c.SignerID = id.SignerID
			if id.Label != nil {
				c.Type = *id.Label
			}
			if id.Version != nil {
				c.Version = *id.Version
			}
		}
	}
	if v.Digests != nil && len(*v.Digests) > 0 {
		d := (*v.Digests)[0]
		c.Alg, c.Value = algName(d.HashAlgID), d.HashValue
	}
	if v.CryptoKeys != nil && len(*v.CryptoKeys) > 0 {
		c.SignerID, _ = signerBytes((*v.CryptoKeys)[0])
	}
	if v.Name != nil {
		c.Type = *v.Name
	}
	if v.Ver != nil {
		c.Version = v.Ver.Version
	}
	return c
}

func readRealm(rim []byte, ms []comid.Measurement) RealmReference {
	r := RealmReference{RIM: rim}
	if id, ok := algOfSize(len(rim)); ok {
		r.Alg = algName(id)
	}
	for _, m := range ms {
		key := m.Key.Value.String()
		if m.Val.RawValue != nil {
			r.RPV, _ = m.Val.RawValue.GetBytes()
			continue
		}
		var d []byte
		if m.Val.Digests != nil && len(*m.Val.Digests) > 0 {
			d = (*m.Val.Digests)[0].HashValue
		}
		switch key {
		case "cca.rem0", "cca.rem1", "cca.rem2", "cca.rem3":
			r.REMs[key[len(key)-1]-'0'] = d
		}
	}
	return r
}
