// Command veraisonlegacy is the test suite's stand-in for legacy Veraison
// (v0.0.2502–v0.0.2602) receiving a PSA_IOT or ARM_CCA CoRIM: it decodes
// the CoRIM with the corim library version those releases linked (one
// go.*.mod file per version) and applies their endorsement extractors'
// rules, then prints the endorsements Veraison would store, as JSON, or
// the reason it would refuse the CoRIM, with exit status 1.
//
// It is its own module because the main module pins a newer corim that
// no longer has the legacy type choices. Written for goldenpcr's tests
// from the documented behaviour of those releases (docs/corim.md).
//
//	veraisonlegacy [-ca CA.pem] CORIM
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/veraison/corim/comid"
	"github.com/veraison/corim/corim"
)

// endorsement is what Veraison stores: a reference value (with its
// subtype) or a trust anchor, and its attributes.
type endorsement struct {
	Type       string         `json:"type"`
	SubType    string         `json:"subtype,omitempty"`
	Attributes map[string]any `json:"attributes"`
}

func main() {
	ca := flag.String("ca", "", "PEM file of the CA a signed CoRIM's x5chain must chain to")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: veraisonlegacy [-ca CA.pem] CORIM")
		os.Exit(2)
	}
	data, err := os.ReadFile(flag.Arg(0))
	if err == nil {
		var out []endorsement
		if out, err = provision(data, *ca); err == nil {
			json.NewEncoder(os.Stdout).Encode(out)
			return
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func provision(data []byte, caFile string) ([]endorsement, error) {
	if len(data) == 0 {
		return nil, errors.New("empty data")
	}
	var uc corim.UnsignedCorim
	if data[0] == 0xd2 || bytes.HasPrefix(data, []byte{0xd9, 0x01, 0xf4}) {
		sc, err := verifySigned(data, caFile)
		if err != nil {
			return nil, err
		}
		uc = sc.UnsignedCorim
	} else if err := uc.FromCBOR(data); err != nil {
		return nil, fmt.Errorf("CBOR decoding failed: %w", err)
	}
	if err := uc.Valid(); err != nil {
		return nil, fmt.Errorf("invalid unsigned corim: %w", err)
	}
	if uc.Profile == nil {
		return nil, errors.New("no profile information set in CoRIM")
	}
	profile, err := uc.Profile.Get()
	if err != nil {
		return nil, fmt.Errorf("failed to get the profile information: %w", err)
	}
	var refVals func(comid.ValueTriples) ([]endorsement, error)
	var anchor func(comid.KeyTriple) (endorsement, error)
	switch profile {
	case "http://arm.com/psa/iot/1", "http://arm.com/cca/ssd/1":
		refVals, anchor = platformRefVals, platformAnchor
	case "http://arm.com/cca/realm/1":
		refVals = realmRefVals
		anchor = func(comid.KeyTriple) (endorsement, error) {
			return endorsement{}, fmt.Errorf("invalid profile %s for a trust anchor", profile)
		}
	default:
		return nil, fmt.Errorf("no legacy Arm scheme takes profile %s", profile)
	}
	comids, err := comidsOf(&uc)
	if err != nil {
		return nil, err
	}
	var out []endorsement
	for i, content := range comids {
		var c comid.Comid
		if err := c.FromCBOR(content); err != nil {
			return nil, fmt.Errorf("decoding failed for CoMID at index %d: %w", i, err)
		}
		if err := c.Valid(); err != nil {
			return nil, fmt.Errorf("decoding failed for CoMID at index %d: %w", i, err)
		}
		if c.Triples.ReferenceValues != nil {
			rvs, err := refVals(*c.Triples.ReferenceValues)
			if err != nil {
				return nil, fmt.Errorf("bad software component in CoMID at index %d: %w", i, err)
			}
			out = append(out, rvs...)
		}
		if c.Triples.AttestVerifKeys != nil {
			for _, kt := range *c.Triples.AttestVerifKeys {
				ta, err := anchor(kt)
				if err != nil {
					return nil, fmt.Errorf("bad key in CoMID at index %d: %w", i, err)
				}
				out = append(out, ta)
			}
		}
	}
	return out, nil
}

// platformClass is the PSA or CCA platform's class: the implementation
// id, and vendor and model when given.
func platformClass(env comid.Environment) (map[string]any, error) {
	if env.Class == nil {
		return nil, errors.New("expecting class in environment")
	}
	if env.Class.ClassID == nil {
		return nil, errors.New("expecting class-id in class")
	}
	impl, err := env.Class.ClassID.GetImplID()
	if err != nil {
		return nil, fmt.Errorf("could not extract implementation-id from class-id: %w", err)
	}
	attrs := map[string]any{"impl-id": impl[:]}
	if env.Class.Vendor != nil {
		attrs["hw-vendor"] = *env.Class.Vendor
	}
	if env.Class.Model != nil {
		attrs["hw-model"] = *env.Class.Model
	}
	return attrs, nil
}

// platformRefVals reads PSA software components (psa.refval-id, one
// digest) and CCA platform configurations (cca.platform-config-id, a raw
// value).
func platformRefVals(rvs comid.ValueTriples) ([]endorsement, error) {
	var out []endorsement
	for _, rv := range rvs.Values {
		for i, m := range rv.Measurements.Values {
			attrs, err := platformClass(rv.Environment)
			if err != nil {
				return nil, fmt.Errorf("could not extract PSA class attributes: %w", err)
			}
			if m.Key == nil {
				return nil, errors.New("measurement key is not present")
			}
			if !m.Key.IsSet() {
				return nil, fmt.Errorf("measurement key is not set at index %d ", i)
			}
			e := endorsement{Type: "reference value", Attributes: attrs}
			switch m.Key.Type() {
			case comid.PSARefValIDType:
				id, err := m.Key.GetPSARefValID()
				if err != nil {
					return nil, fmt.Errorf("unable to extract measurement at index %d, failed extracting psa-swcomp-id: %w", i, err)
				}
				if m.Val.Digests == nil {
					return nil, fmt.Errorf("unable to extract measurement at index %d, measurement value has no digests", i)
				}
				if len(*m.Val.Digests) != 1 {
					return nil, fmt.Errorf("unable to extract measurement at index %d, expecting exactly one digest", i)
				}
				d := (*m.Val.Digests)[0]
				e.SubType = "platform.sw-component"
				attrs["signer-id"] = id.SignerID
				attrs["measurement-value"] = d.HashValue
				attrs["measurement-desc"] = d.AlgIDToString()
				if id.Label != nil {
					attrs["measurement-type"] = *id.Label
				}
				if id.Version != nil {
					attrs["version"] = *id.Version
				}
			case comid.CCAPlatformConfigIDType:
				label, err := m.Key.GetCCAPlatformConfigID()
				if err != nil {
					return nil, fmt.Errorf("unable to extract measurement: %w", err)
				}
				if m.Val.RawValue == nil {
					return nil, errors.New("unable to extract measurement: no CCA platform config id set in the measurements")
				}
				v, err := m.Val.RawValue.GetBytes()
				if err != nil {
					return nil, fmt.Errorf("unable to extract measurement: %w", err)
				}
				e.SubType = "platform.config"
				attrs["platform-config-label"] = string(label)
				attrs["platform-config-id"] = v
			default:
				return nil, fmt.Errorf("unknown measurement key: %s", m.Key.Type())
			}
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no software components found")
	}
	return out, nil
}

// platformAnchor reads an IAK or CPAK: class, UEID instance, exactly one
// PEM key.
func platformAnchor(kt comid.KeyTriple) (endorsement, error) {
	attrs, err := platformClass(kt.Environment)
	if err != nil {
		return endorsement{}, fmt.Errorf("could not extract PSA class attributes: %w", err)
	}
	if kt.Environment.Instance == nil {
		return endorsement{}, errors.New("could not extract PSA instance-id: expecting instance in environment")
	}
	inst, err := kt.Environment.Instance.GetUEID()
	if err != nil {
		return endorsement{}, fmt.Errorf("could not extract PSA instance-id: %w", err)
	}
	if len(kt.VerifKeys) != 1 {
		return endorsement{}, errors.New("expecting exactly one IAK public key")
	}
	k := kt.VerifKeys[0]
	if _, ok := k.Value.(*comid.TaggedPKIXBase64Key); !ok {
		return endorsement{}, fmt.Errorf("IAK does not appear to be a PEM key (%T)", k.Value)
	}
	attrs["inst-id"] = []byte(inst)
	attrs["iak-pub"] = k.String()
	return endorsement{Type: "trust anchor", Attributes: attrs}, nil
}

// realmRefVals reads realms: class (a UUID or a vendor) optional, a bytes
// instance, and per measurement the integrity registers rim and
// rem0–rem3 (one digest each, one algorithm) and a 64-byte personalization
// value as the raw value.
func realmRefVals(rvs comid.ValueTriples) ([]endorsement, error) {
	var out []endorsement
	for _, rv := range rvs.Values {
		attrs := map[string]any{}
		if c := rv.Environment.Class; c != nil {
			switch {
			case c.ClassID != nil:
				u, err := c.ClassID.GetUUID()
				if err != nil {
					return nil, fmt.Errorf("could not extract Realm class attributes: could not extract uuid from class-id: %w", err)
				}
				attrs["class-id"] = u.String()
			case c.Vendor != nil:
				attrs["vendor"] = *c.Vendor
			default:
				return nil, errors.New("could not extract Realm class attributes: class is neither a classID or a vendor name")
			}
		}
		in := rv.Environment.Instance
		if in == nil {
			return nil, errors.New("could not extract Realm instance attributes: expecting instance in environment")
		}
		if in.Type() != "bytes" {
			return nil, errors.New("could not extract Realm instance attributes: expecting instance as bytes for CCA Realm")
		}
		for _, m := range rv.Measurements.Values {
			e := endorsement{Type: "reference value", SubType: "realm.reference-value", Attributes: map[string]any{}}
			for k, v := range attrs {
				e.Attributes[k] = v
			}
			if err := realmMeasurement(m, e.Attributes); err != nil {
				return nil, fmt.Errorf("unable to extract realm reference attributes from measurement: %w", err)
			}
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no measurements found")
	}
	return out, nil
}

func realmMeasurement(m comid.Measurement, attrs map[string]any) error {
	if m.Val.RawValue != nil {
		rpv, err := m.Val.RawValue.GetBytes()
		if err != nil {
			return fmt.Errorf("extracting rpv: %w", err)
		}
		if len(rpv) != 64 {
			return fmt.Errorf("extracting rpv: invalid length %d for realm personalization value", len(rpv))
		}
		attrs["realm-personalization-value"] = rpv
	}
	if m.Val.IntegrityRegisters == nil {
		// Veraison v0.0.2602 dereferences the registers here and fails.
		return errors.New("extracting measurement: no integrity registers")
	}
	rimAlg := ""
	for k, ds := range m.Val.IntegrityRegisters.IndexMap {
		name, ok := k.(string)
		if !ok {
			return fmt.Errorf("extracting measurement: unexpected type for index: %T", k)
		}
		name = strings.ToLower(name)
		if err := ds.Valid(); err != nil {
			return fmt.Errorf("extracting measurement: unable to extract realm digest: invalid digest: %v", err)
		}
		if len(ds) != 1 {
			return fmt.Errorf("extracting measurement: unable to extract realm digest: expecting 1 digest, got %d", len(ds))
		}
		// As in Veraison: each register is compared with the RIM's
		// algorithm once the RIM has been read.
		a := ds[0].AlgIDToString()
		if rimAlg != "" && a != rimAlg {
			return fmt.Errorf("extracting measurement: incompatible AlgID %s for key %s", a, name)
		}
		switch name {
		case "rim":
			rimAlg = a
			attrs["realm-initial-measurement"] = ds[0].HashValue
			attrs["hash-alg-id"] = a
		case "rem0", "rem1", "rem2", "rem3":
			attrs[name] = ds[0].HashValue
		default:
			return fmt.Errorf("extracting measurement: unexpected register index: %s", name)
		}
	}
	if attrs["realm-initial-measurement"] == nil {
		return errors.New("extracting realm attributes: no realm initial measurements")
	}
	return nil
}
