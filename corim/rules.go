package corim

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/veraison/corim/comid"
	"github.com/veraison/swid"
)

// The profile rules of PARSEC_TPM and TPM_ENACTTRUST, as docs/corim.md
// states them. Each error names the triple and the field.

// keyIDSize is the size of a PARSEC_TPM key id: 0x01, then 32 bytes.
const keyIDSize = 33

// digestSizes are the named-information hash ids a TPM scheme's digests
// may use, with their sizes.
var digestSizes = map[uint64]int{swid.Sha256: 32, swid.Sha384: 48, swid.Sha512: 64}

func validParsecTriples(t *comid.Triples) error {
	if err := onlyRefValsAndKeys(t); err != nil {
		return err
	}
	var class *comid.UUID
	sameClass := func(where string, env comid.Environment) error {
		u, err := classUUID(env)
		if err != nil {
			return fmt.Errorf("%s: environment: %w", where, err)
		}
		if class != nil && *class != u {
			return fmt.Errorf("%s: environment: class-id %s differs from class-id %s of the other triples", where, u, *class)
		}
		class = &u
		return nil
	}
	if t.AttestVerifKeys != nil {
		for i, kt := range *t.AttestVerifKeys {
			where := fmt.Sprintf("attestation verification key %d", i)
			if err := sameClass(where, kt.Environment); err != nil {
				return err
			}
			in := kt.Environment.Instance
			if in == nil || in.Value == nil {
				return fmt.Errorf("%s: environment: instance (the key id) is missing", where)
			}
			if in.Type() != comid.BytesType {
				return fmt.Errorf("%s: environment: instance is of type %s, want bytes (the key id)", where, in.Type())
			}
			if id := in.Bytes(); len(id) != keyIDSize || id[0] != 0x01 {
				return fmt.Errorf("%s: environment: instance (key id) is %d bytes%s, want %d: 0x01 then 32 bytes", where, len(id), firstByte(id), keyIDSize)
			}
			if _, err := oneKey(kt.VerifKeys); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	if t.ReferenceValues != nil {
		for i, rv := range t.ReferenceValues.Values {
			where := fmt.Sprintf("reference value %d", i)
			if err := sameClass(where, rv.Environment); err != nil {
				return err
			}
			if rv.Environment.Instance != nil {
				return fmt.Errorf("%s: environment: has an instance; PARSEC_TPM reference values name the class only", where)
			}
			if len(rv.Measurements.Values) == 0 {
				return fmt.Errorf("%s: no measurements", where)
			}
			seen := map[uint64]bool{}
			for j, m := range rv.Measurements.Values {
				mw := fmt.Sprintf("%s, measurement %d", where, j)
				if m.Key == nil || !m.Key.IsSet() {
					return fmt.Errorf("%s: mkey (the PCR index) is missing", mw)
				}
				if m.Key.Type() != comid.UintType {
					return fmt.Errorf("%s: mkey is of type %s, want uint (the PCR index)", mw, m.Key.Type())
				}
				idx, err := m.Key.GetKeyUint()
				if err != nil {
					return fmt.Errorf("%s: mkey: %w", mw, err)
				}
				if idx > 23 {
					return fmt.Errorf("%s: mkey %d is not a PCR index (0-23)", mw, idx)
				}
				if seen[idx] {
					return fmt.Errorf("%s: PCR %d appears twice in one reference value", mw, idx)
				}
				seen[idx] = true
				if err := validDigests(m.Val.Digests, 0); err != nil {
					return fmt.Errorf("%s (PCR %d): %w", mw, idx, err)
				}
			}
		}
	}
	return nil
}

func validEnactTrustTriples(t *comid.Triples) error {
	if err := onlyRefValsAndKeys(t); err != nil {
		return err
	}
	var node *comid.UUID
	sameNode := func(where string, env comid.Environment) error {
		if env.Class != nil || env.Group != nil {
			return fmt.Errorf("%s: environment: has a class or group; TPM_ENACTTRUST names the instance (node id) only", where)
		}
		in := env.Instance
		if in == nil || in.Value == nil {
			return fmt.Errorf("%s: environment: instance (the node id) is missing", where)
		}
		if in.Type() != comid.UUIDType {
			return fmt.Errorf("%s: environment: instance is of type %s, want uuid (the node id)", where, in.Type())
		}
		u, err := in.GetUUID()
		if err != nil {
			return fmt.Errorf("%s: environment: instance: %w", where, err)
		}
		if node != nil && *node != u {
			return fmt.Errorf("%s: environment: node id %s differs from node id %s of the other triples", where, u, *node)
		}
		node = &u
		return nil
	}
	if t.AttestVerifKeys != nil {
		for i, kt := range *t.AttestVerifKeys {
			where := fmt.Sprintf("attestation verification key %d", i)
			if err := sameNode(where, kt.Environment); err != nil {
				return err
			}
			k, err := oneKey(kt.VerifKeys)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if _, ok := k.(*ecdsa.PublicKey); !ok {
				return fmt.Errorf("%s: verification key is %s, want ECDSA (TPM_ENACTTRUST quotes are ECDSA-signed)", where, keyKind(k))
			}
		}
	}
	if t.ReferenceValues != nil {
		for i, rv := range t.ReferenceValues.Values {
			where := fmt.Sprintf("reference value %d", i)
			if err := sameNode(where, rv.Environment); err != nil {
				return err
			}
			if n := len(rv.Measurements.Values); n != 1 {
				return fmt.Errorf("%s: %d measurements, want exactly 1 (the quote's composite PCR digest)", where, n)
			}
			m := rv.Measurements.Values[0]
			if m.Key != nil && m.Key.IsSet() {
				return fmt.Errorf("%s, measurement 0: has an mkey; the composite PCR digest has none", where)
			}
			if err := validDigests(m.Val.Digests, 1); err != nil {
				return fmt.Errorf("%s, measurement 0: %w", where, err)
			}
			if d := (*m.Val.Digests)[0]; d.HashAlgID != swid.Sha256 {
				return fmt.Errorf("%s, measurement 0: digest algorithm %s, want sha-256 (the pcrDigest of an ECDSA-SHA256 quote)", where, algName(d.HashAlgID))
			}
		}
	}
	return nil
}

// onlyRefValsAndKeys refuses triples the TPM schemes do not use, which
// Veraison would drop without a word.
func onlyRefValsAndKeys(t *comid.Triples) error {
	switch {
	case t.EndorsedValues != nil && !t.EndorsedValues.IsEmpty():
		return errors.New("endorsed values: not used by the TPM schemes")
	case t.DevIdentityKeys != nil && len(*t.DevIdentityKeys) > 0:
		return errors.New("device identity keys: not used by the TPM schemes")
	case t.CondEndorseSeries != nil && !t.CondEndorseSeries.IsEmpty():
		return errors.New("conditional endorsement series: not used by the TPM schemes")
	}
	return nil
}

func classUUID(env comid.Environment) (comid.UUID, error) {
	if env.Group != nil {
		return comid.UUID{}, errors.New("has a group; PARSEC_TPM names the class")
	}
	if env.Class == nil || env.Class.ClassID == nil || env.Class.ClassID.Value == nil {
		return comid.UUID{}, errors.New("class-id is missing")
	}
	if typ := env.Class.ClassID.Type(); typ != comid.UUIDType {
		return comid.UUID{}, fmt.Errorf("class-id is of type %s, want uuid", typ)
	}
	return env.Class.ClassID.GetUUID()
}

// oneKey checks that keys is exactly one pkix-base64-key that parses as an
// RSA or ECDSA public key, and returns it.
func oneKey(keys comid.CryptoKeys) (any, error) {
	if len(keys) != 1 {
		return nil, fmt.Errorf("%d verification keys, want exactly 1", len(keys))
	}
	k := keys[0]
	if k == nil || k.Value == nil {
		return nil, errors.New("verification key is empty")
	}
	if k.Type() != comid.PKIXBase64KeyType {
		return nil, fmt.Errorf("verification key is of type %s, want %s", k.Type(), comid.PKIXBase64KeyType)
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("verification key is %s, want RSA or ECDSA (a TPM attestation key)", keyKind(pub))
}

// validDigests checks a measurement's digests: present, of sha-256,
// sha-384 or sha-512 each at most once, each of its algorithm's size;
// exactly want of them when want > 0.
func validDigests(ds *comid.Digests, want int) error {
	if ds == nil || len(*ds) == 0 {
		return errors.New("digests are missing")
	}
	if want > 0 && len(*ds) != want {
		return fmt.Errorf("%d digests, want exactly %d", len(*ds), want)
	}
	seen := map[uint64]bool{}
	for k, d := range *ds {
		size, ok := digestSizes[d.HashAlgID]
		if !ok {
			return fmt.Errorf("digest %d: algorithm %s, want sha-256, sha-384 or sha-512", k, algName(d.HashAlgID))
		}
		if len(d.HashValue) != size {
			return fmt.Errorf("digest %d: %s value is %d bytes, want %d", k, algName(d.HashAlgID), len(d.HashValue), size)
		}
		if seen[d.HashAlgID] {
			return fmt.Errorf("digest %d: %s given twice", k, algName(d.HashAlgID))
		}
		seen[d.HashAlgID] = true
	}
	return nil
}

func algName(id uint64) string {
	switch id {
	case swid.Sha256:
		return "sha-256"
	case swid.Sha384:
		return "sha-384"
	case swid.Sha512:
		return "sha-512"
	}
	return fmt.Sprintf("id %d", id)
}

func keyKind(k any) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return fmt.Sprintf("a %T", k)
}

func firstByte(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return fmt.Sprintf(" starting 0x%02x", b[0])
}
