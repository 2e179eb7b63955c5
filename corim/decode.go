package corim

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/veraison/corim/comid"
	vcorim "github.com/veraison/corim/corim"
	cose "github.com/veraison/go-cose"
)

// Decoded is a CoRIM as people read it: ids, profile, what each CoMID
// carries, and for a signed CoRIM its signature and certificate chain.
type Decoded struct {
	Signed  bool   `json:"signed" yaml:"signed"`
	ID      string `json:"corim_id" yaml:"corim_id"`
	Profile string `json:"profile,omitempty" yaml:"profile,omitempty"`
	// Scheme is the scheme whose rules the CoRIM was validated with, or
	// empty when its profile is none goldenpcr knows.
	Scheme Scheme `json:"scheme,omitempty" yaml:"scheme,omitempty"`
	// Veraison is "current" or "legacy": the release line the profile
	// belongs to.
	Veraison  string `json:"veraison,omitempty" yaml:"veraison,omitempty"`
	MediaType string `json:"media_type,omitempty" yaml:"media_type,omitempty"`
	// Validated says which rules the CoRIM passed.
	Validated string     `json:"validated" yaml:"validated"`
	Signature *Signature `json:"signature,omitempty" yaml:"signature,omitempty"`
	Comids    []Comid    `json:"comids" yaml:"comids"`
	// raw are the CoMIDs as the corim library decoded them.
	raw []*comid.Comid
	// generation is the Veraison generation whose rules applied.
	generation Generation
}

// Signature reports a COSE_Sign1's signature and x5chain.
type Signature struct {
	Algorithm string `json:"algorithm" yaml:"algorithm"`
	Signer    string `json:"signer" yaml:"signer"`
	// Verified is true when the signature verifies with the x5chain
	// leaf's public key; Problem says why not.
	Verified bool   `json:"verified" yaml:"verified"`
	Problem  string `json:"problem,omitempty" yaml:"problem,omitempty"`
	// Chain is the x5chain, leaf first. ChainLinked is true when each
	// certificate is signed by the next; no trust root is checked here.
	Chain        []Certificate `json:"chain" yaml:"chain"`
	ChainLinked  bool          `json:"chain_linked" yaml:"chain_linked"`
	ChainProblem string        `json:"chain_problem,omitempty" yaml:"chain_problem,omitempty"`
	// chain is the x5chain as parsed, for VerifySigner.
	chain []*x509.Certificate
}

// Certificate is one x5chain entry.
type Certificate struct {
	Subject   string `json:"subject" yaml:"subject"`
	Issuer    string `json:"issuer" yaml:"issuer"`
	Serial    string `json:"serial" yaml:"serial"`
	NotBefore string `json:"not_before" yaml:"not_before"`
	NotAfter  string `json:"not_after" yaml:"not_after"`
}

// Comid is what one CoMID carries that the TPM schemes use.
type Comid struct {
	TagID           string           `json:"tag_id" yaml:"tag_id"`
	ReferenceValues []ReferenceValue `json:"reference_values,omitempty" yaml:"reference_values,omitempty"`
	TrustAnchors    []TrustAnchor    `json:"trust_anchors,omitempty" yaml:"trust_anchors,omitempty"`
}

// Environment names what a triple is about.
type Environment struct {
	ClassID      string `json:"class_id,omitempty" yaml:"class_id,omitempty"`
	Instance     string `json:"instance,omitempty" yaml:"instance,omitempty"`
	InstanceType string `json:"instance_type,omitempty" yaml:"instance_type,omitempty"`
}

// ReferenceValue is a reference-value triple.
type ReferenceValue struct {
	Environment  Environment   `json:"environment" yaml:"environment"`
	Measurements []Measurement `json:"measurements" yaml:"measurements"`
}

// Measurement is one measurement of a reference value: a PCR's digests
// (PARSEC_TPM), or the composite PCR digest with no key (ENACTTRUST).
type Measurement struct {
	PCR     *uint64  `json:"pcr,omitempty" yaml:"pcr,omitempty"`
	Key     string   `json:"mkey,omitempty" yaml:"mkey,omitempty"`
	Digests []Digest `json:"digests" yaml:"digests"`
	// Name, Version, SignerID (hex), RawValue and RawValueMask (hex) are
	// what the Arm schemes' measurements add.
	Name         string `json:"name,omitempty" yaml:"name,omitempty"`
	Version      string `json:"version,omitempty" yaml:"version,omitempty"`
	SignerID     string `json:"signer_id,omitempty" yaml:"signer_id,omitempty"`
	RawValue     string `json:"raw_value,omitempty" yaml:"raw_value,omitempty"`
	RawValueMask string `json:"raw_value_mask,omitempty" yaml:"raw_value_mask,omitempty"`
	// Registers are a legacy realm measurement's integrity registers
	// (rim, rem0…rem3), by index.
	Registers []Register `json:"integrity_registers,omitempty" yaml:"integrity_registers,omitempty"`
}

// Register is one integrity register of a measurement.
type Register struct {
	Index   string   `json:"index" yaml:"index"`
	Digests []Digest `json:"digests" yaml:"digests"`
}

// Digest is one digest, its algorithm by its named-information name.
type Digest struct {
	Alg   string `json:"alg" yaml:"alg"`
	Value string `json:"value" yaml:"value"`
}

// TrustAnchor is an attestation-verification-key triple.
type TrustAnchor struct {
	Environment Environment `json:"environment" yaml:"environment"`
	Keys        []Key       `json:"keys" yaml:"keys"`
}

// Key is a verification key.
type Key struct {
	Type string `json:"type" yaml:"type"`
	// Kind is e.g. "ECDSA P-256" when the key parses.
	Kind  string `json:"kind,omitempty" yaml:"kind,omitempty"`
	Value string `json:"value" yaml:"value"`
	// Public is the parsed key, nil when it does not parse.
	Public crypto.PublicKey `json:"-" yaml:"-"`
}

var (
	unsignedTag = []byte{0xd9, 0x01, 0xf5} // #6.501 unsigned-corim
	sign1Tag    = []byte{0xd2}             // #6.18 COSE_Sign1
	corimSigned = []byte{0xd9, 0x01, 0xf4} // #6.500 tagged-corim-type-choice, before #6.502
)

// Decode reads a CoRIM, unsigned or COSE_Sign1-signed, validates it with
// the rules of the scheme its profile names (the CoRIM rules alone for a
// profile goldenpcr does not know), and verifies a signature with its
// x5chain leaf. A signature that does not verify is reported in the
// result, not as an error.
func Decode(data []byte) (*Decoded, error) { return decode(data, "", genOfCoRIM) }

// DecodeScheme is Decode validating with scheme's rules whatever profile
// the CoRIM names (a CoRIM with an overridden profile URI).
// Under an overridden profile the Arm CoMID's type choices say which
// generation's rules apply: legacy Veraison's psa.impl-id class and
// integrity registers, or the current ones.
func DecodeScheme(data []byte, scheme Scheme) (*Decoded, error) {
	if _, err := ProfileURI(scheme, Current); err != nil {
		return nil, err
	}
	return decode(data, scheme, genOfCoRIM)
}

// genOfCoRIM asks decode to take the generation from the CoRIM: its
// profile, else its CoMIDs' type choices.
const genOfCoRIM Generation = -1

// decode reads a CoRIM with the rules of scheme ("": the one its profile
// names) for generation gen; a profile goldenpcr knows decides both.
func decode(data []byte, scheme Scheme, gen Generation) (d *Decoded, err error) {
	// The corim library indexes its input before checking lengths in
	// places; whatever it trips over, a malformed file is an error here.
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("not a well-formed CoRIM (the decoder failed: %v)", r)
		}
	}()
	var uc *vcorim.UnsignedCorim
	oldWire := false
	d = &Decoded{}
	switch {
	case len(data) > 3 && bytes.HasPrefix(data, unsignedTag):
		if uc, err = vcorim.UnmarshalAndValidateUnsignedCorimFromCBOR(data); err != nil {
			return nil, fmt.Errorf("unsigned CoRIM: %w", err)
		}
	case len(data) > 1 && (bytes.HasPrefix(data, sign1Tag) || bytes.HasPrefix(data, corimSigned)):
		sc, err := vcorim.UnmarshalAndValidateSignedCorimFromCBOR(data)
		if err != nil {
			return nil, fmt.Errorf("signed CoRIM: %w", err)
		}
		uc = &sc.UnsignedCorim
		d.Signed = true
		d.Signature = signature(data, sc)
	case len(data) > 1 && data[0]>>5 == 5: // a map: the encoding of v0.0.2502–v0.0.2511
		conv, err := fromOldWire(data)
		if err != nil {
			return nil, fmt.Errorf("unsigned CoRIM in the encoding of Veraison v0.0.2502–v0.0.2511 (no tag 501): %w", err)
		}
		if uc, err = vcorim.UnmarshalAndValidateUnsignedCorimFromCBOR(conv); err != nil {
			return nil, fmt.Errorf("unsigned CoRIM in the encoding of Veraison v0.0.2502–v0.0.2511 (no tag 501): %w", err)
		}
		oldWire = true
	default:
		return nil, fmt.Errorf("not a CoRIM: %s; want an unsigned CoRIM (CBOR tag 501, d9 01 f5) or a COSE_Sign1 (tag 18, d2)", head(data))
	}
	d.ID = uc.GetID()
	if uc.Profile != nil {
		if d.Profile, err = uc.Profile.Get(); err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		if s, g, ok := schemeOfProfile(d.Profile); ok {
			gen = g
			if scheme == "" {
				scheme = s
			}
		}
	}
	for i, tag := range uc.Tags {
		if tag.Number != vcorim.ComidTag {
			return nil, fmt.Errorf("tag %d: CBOR tag %d is not a CoMID (506); the schemes goldenpcr writes carry CoMIDs only", i, tag.Number)
		}
		cm, err := vcorim.UnmarshalComidFromCBOR(tag.Content, uc.Profile)
		if err != nil {
			return nil, fmt.Errorf("CoMID %d: %w", i, err)
		}
		d.raw = append(d.raw, cm)
	}
	if gen == genOfCoRIM {
		gen = Current
		if len(d.raw) > 0 && isLegacyArm(&d.raw[0].Triples) {
			gen = Legacy
		}
	}
	if oldWire {
		if _, g, ok := schemeOfProfile(d.Profile); ok && g == Current {
			return nil, fmt.Errorf("profile %s is current Veraison's, which does not read the encoding of v0.0.2502–v0.0.2511 (no tag 501)", d.Profile)
		}
		gen = Legacy2502
	}
	d.generation = gen
	d.Scheme = scheme
	d.Validated = "CoRIM and CoMID rules of the corim library"
	if scheme != "" {
		d.Validated += ", " + string(scheme) + " profile rules" + libraryValidator(scheme, gen)
		d.Veraison = gen.String()
		if d.Profile != "" {
			d.MediaType = MediaType(d.Profile, d.Signed, gen)
		}
	}
	for i, cm := range d.raw {
		if scheme != "" {
			// Also when the profile is overridden, so the library did
			// not pick the rules from it.
			if err := validator(scheme, gen)(&cm.Triples); err != nil {
				return nil, fmt.Errorf("CoMID %d: %s: %w", i, scheme, err)
			}
		}
		d.Comids = append(d.Comids, describeComid(cm))
	}
	return d, nil
}

func head(data []byte) string {
	if len(data) == 0 {
		return "the input is empty"
	}
	n := min(len(data), 8)
	return "it starts with " + hex.EncodeToString(data[:n])
}

func describeComid(cm *comid.Comid) Comid {
	out := Comid{TagID: cm.TagIdentity.TagID.String()}
	for rv := range cm.IterRefVals() {
		r := ReferenceValue{Environment: describeEnv(rv.Environment)}
		for _, m := range rv.Measurements.Values {
			dm := Measurement{Digests: []Digest{}}
			if m.Key != nil && m.Key.IsSet() {
				if m.Key.Type() == comid.UintType {
					if v, err := m.Key.GetKeyUint(); err == nil {
						dm.PCR = &v
					}
				} else {
					dm.Key = m.Key.Value.String()
				}
			}
			if m.Val.Digests != nil {
				dm.Digests = describeDigests(*m.Val.Digests)
			}
			describeArmValues(&dm, m)
			r.Measurements = append(r.Measurements, dm)
		}
		out.ReferenceValues = append(out.ReferenceValues, r)
	}
	for kt := range cm.IterAttestVerifKeys() {
		ta := TrustAnchor{Environment: describeEnv(kt.Environment)}
		for _, k := range kt.VerifKeys {
			if k == nil || k.Value == nil {
				continue
			}
			dk := Key{Type: k.Type(), Value: k.String()}
			if pub, err := k.PublicKey(); err == nil {
				dk.Kind, dk.Public = keyKind(pub), pub
			}
			ta.Keys = append(ta.Keys, dk)
		}
		out.TrustAnchors = append(out.TrustAnchors, ta)
	}
	return out
}

func describeDigests(ds comid.Digests) []Digest {
	out := []Digest{}
	for _, h := range ds {
		out = append(out, Digest{Alg: algName(h.HashAlgID), Value: hex.EncodeToString(h.HashValue)})
	}
	return out
}

func describeEnv(env comid.Environment) Environment {
	var e Environment
	if env.Class != nil && env.Class.ClassID != nil && env.Class.ClassID.Value != nil {
		e.ClassID = env.Class.ClassID.String()
		if env.Class.ClassID.Type() == comid.BytesType {
			e.ClassID = hex.EncodeToString(env.Class.ClassID.Bytes())
		}
	}
	if in := env.Instance; in != nil && in.Value != nil {
		e.InstanceType = in.Type()
		e.Instance = in.String()
		if in.Type() == comid.BytesType || in.Type() == comid.UEIDType {
			e.Instance = hex.EncodeToString(in.Bytes())
		}
	}
	return e
}

// signature verifies a signed CoRIM with its x5chain leaf and checks that
// the chain links up.
func signature(data []byte, sc *vcorim.SignedCorim) *Signature {
	s := &Signature{Signer: sc.Meta.Signer.Name, Chain: []Certificate{}}
	msg := cose.NewSign1Message()
	if err := msg.UnmarshalCBOR(bytes.TrimPrefix(data, append(append([]byte{}, corimSigned...), 0xd9, 0x01, 0xf6))); err == nil {
		if alg, err := msg.Headers.Protected.Algorithm(); err == nil {
			s.Algorithm = alg.String()
		}
	}
	chain := sc.IntermediateCerts
	if sc.SigningCert != nil {
		chain = append([]*x509.Certificate{sc.SigningCert}, chain...)
	}
	s.chain = chain
	for _, c := range chain {
		s.Chain = append(s.Chain, Certificate{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
			NotBefore: c.NotBefore.UTC().Format(time.RFC3339), NotAfter: c.NotAfter.UTC().Format(time.RFC3339)})
	}
	if sc.SigningCert == nil {
		s.Problem = "no x5chain: nothing to verify the signature with (Veraison requires one)"
		s.ChainProblem = "no x5chain"
		return s
	}
	if err := sc.Verify(sc.SigningCert.PublicKey); err != nil {
		s.Problem = "the signature does not verify with the x5chain leaf's key: " + err.Error()
	} else {
		s.Verified = true
	}
	s.ChainLinked = true
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			s.ChainLinked = false
			s.ChainProblem = fmt.Sprintf("certificate %d (%s) is not signed by certificate %d (%s): %v", i, chain[i].Subject, i+1, chain[i+1].Subject, err)
			break
		}
	}
	now := time.Now()
	for i, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			s.ChainProblem = join(s.ChainProblem, fmt.Sprintf("certificate %d (%s) is not valid now (%s to %s)", i, c.Subject,
				c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly)))
		}
	}
	return s
}

// VerifySigner checks that a signed CoRIM's signature verifies and that
// its signer chains, through the x5chain, to one of roots at time now,
// as Veraison checks it against its configured CAs. It returns the chain
// that verified, leaf first, as subjects.
func (d *Decoded) VerifySigner(roots []*x509.Certificate, now time.Time) ([]string, error) {
	s := d.Signature
	switch {
	case !d.Signed || s == nil:
		return nil, errors.New("the CoRIM is not signed, so no signer can chain to the roots")
	case !s.Verified:
		return nil, errors.New(s.Problem)
	case len(roots) == 0:
		return nil, errors.New("no root CA given")
	}
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	for _, c := range s.chain[1:] {
		inter.AddCert(c)
	}
	chains, err := s.chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, fmt.Errorf("the signer %s does not chain to a given root: %w", s.chain[0].Subject, err)
	}
	var subjects []string
	for _, c := range chains[0] {
		subjects = append(subjects, c.Subject.String())
	}
	return subjects, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
