package corim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/veraison/corim/comid"
	"github.com/veraison/swid"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// ParsecTPMInput is what a PARSEC_TPM CoRIM is made of.
type ParsecTPMInput struct {
	// Reference holds the golden PCR values: a baseline, or a PCR file
	// whose alternatives (CHARRA documents) become variants.
	Reference *baseline.Reference
	// ClassID is the platform class the reference values and the key
	// belong to.
	ClassID uuid.UUID
	// AK is the attestation key (RSA or ECDSA), the trust anchor.
	AK crypto.PublicKey
	// KeyID is the trust anchor's instance: 33 bytes, 0x01 then 32
	// bytes. By default 0x01 ‖ SHA-256(the AK's DER SubjectPublicKeyInfo).
	KeyID []byte
}

// EnactTrustInput is what a TPM_ENACTTRUST CoRIM is made of.
type EnactTrustInput struct {
	Reference *baseline.Reference
	// Selection is the PCR selection the node's quotes are made over, in
	// the order the TPM concatenates the values.
	Selection pcr.Selection
	// NodeID is the node's instance UUID.
	NodeID uuid.UUID
	// AK is the node's ECDSA attestation key.
	AK crypto.PublicKey
}

// namedInfo maps TPM banks to IANA named-information hash ids; SHA-1 and
// SM3 have none, so a CoRIM cannot carry them.
var namedInfo = map[pcr.Alg]uint64{pcr.SHA256: swid.Sha256, pcr.SHA384: swid.Sha384, pcr.SHA512: swid.Sha512}

// DefaultKeyID is 0x01 ‖ SHA-256(DER SubjectPublicKeyInfo of k).
func DefaultKeyID(k crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(der)
	return append([]byte{0x01}, h[:]...), nil
}

// NewParsecTPM builds a PARSEC_TPM CoRIM: the AK as trust anchor of
// (class, key id), and for each PCR of the reference one reference value
// per acceptable value (the primary value, then each variant) with mkey =
// the PCR index and a digest per bank a CoRIM can name.
func NewParsecTPM(in ParsecTPMInput, opts Options) (*Result, error) {
	if in.ClassID == uuid.Nil {
		return nil, errors.New("class-id: the nil UUID names no class")
	}
	if err := tpmKey(in.AK, false); err != nil {
		return nil, err
	}
	keyID := in.KeyID
	if keyID == nil {
		var err error
		if keyID, err = DefaultKeyID(in.AK); err != nil {
			return nil, fmt.Errorf("AK: %w", err)
		}
	}
	if len(keyID) != keyIDSize || keyID[0] != 0x01 {
		return nil, fmt.Errorf("key id: %d bytes%s, want %d: 0x01 then 32 bytes", len(keyID), firstByte(keyID), keyIDSize)
	}
	b, err := baselineOf(in.Reference)
	if err != nil {
		return nil, err
	}
	class := comid.NewClassUUID(comid.UUID(in.ClassID))
	key, err := pkixPEM(in.AK)
	if err != nil {
		return nil, fmt.Errorf("AK: %w", err)
	}
	cm := comid.NewComid()
	cm.AddAttestVerifKey(&comid.KeyTriple{
		Environment: comid.Environment{Class: class, Instance: comid.MustNewBytesInstance(keyID)},
		VerifKeys:   comid.CryptoKeys{key},
	})
	skipped := map[pcr.Alg][]int{}
	for _, p := range b.PCRs {
		for ci, cand := range append([]map[string]string{p.Values}, p.Variants...) {
			m := comid.MustNewUintMeasurement(uint64(p.Index))
			for _, bank := range slices.Sorted(maps.Keys(cand)) {
				alg, err := pcr.ParseAlg(bank)
				if err != nil {
					return nil, fmt.Errorf("PCR %d: %w", p.Index, err)
				}
				id, ok := namedInfo[alg]
				if !ok {
					if !slices.Contains(skipped[alg], p.Index) {
						skipped[alg] = append(skipped[alg], p.Index)
					}
					continue
				}
				d, err := hex.DecodeString(cand[bank])
				if err != nil || len(d) != alg.Size() {
					return nil, fmt.Errorf("PCR %d%s: bank %s: not %d bytes of hex", p.Index, candidateName(ci), bank, alg.Size())
				}
				m.AddDigest(id, d)
			}
			if m.Val.Digests == nil || len(*m.Val.Digests) == 0 {
				return nil, fmt.Errorf("PCR %d%s: no bank a CoRIM can carry (it has %s; a CoRIM digest is sha256, sha384 or sha512)", p.Index, candidateName(ci), strings.Join(slices.Sorted(maps.Keys(cand)), ", "))
			}
			var rv comid.ValueTriple
			rv.Environment = comid.Environment{Class: class}
			rv.Measurements.Add(m)
			cm.AddReferenceValue(&rv)
		}
	}
	var notes []string
	for _, alg := range slices.Sorted(maps.Keys(skipped)) {
		notes = append(notes, fmt.Sprintf("bank %s of PCRs %s not carried: it has no IANA named-information hash id, so a CoRIM cannot name it", alg, pcr.FormatPCRList(skipped[alg])))
	}
	return finish(ParsecTPM, cm, opts, notes)
}

// NewEnactTrust builds a TPM_ENACTTRUST CoRIM: the node's ECDSA AK as
// trust anchor and one reference value, the composite PCR digest a quote
// over the selection carries when every selected PCR holds its reference
// value: SHA-256 of the values concatenated in selection order.
func NewEnactTrust(in EnactTrustInput, opts Options) (*Result, error) {
	if in.NodeID == uuid.Nil {
		return nil, errors.New("node-id: the nil UUID names no node")
	}
	if err := tpmKey(in.AK, true); err != nil {
		return nil, err
	}
	if len(in.Selection) == 0 {
		return nil, errors.New("PCR selection: empty")
	}
	b, err := baselineOf(in.Reference)
	if err != nil {
		return nil, err
	}
	byIndex := map[int]baseline.PCR{}
	for _, p := range b.PCRs {
		byIndex[p.Index] = p
	}
	var missing, varied []string
	values := pcr.Values{}
	for _, bs := range in.Selection {
		if !bs.Alg.Valid() {
			return nil, fmt.Errorf("PCR selection: unknown bank %s", bs.Alg)
		}
		if len(bs.PCRs) == 0 {
			return nil, fmt.Errorf("PCR selection: bank %s selects no PCR", bs.Alg)
		}
		for _, i := range bs.PCRs {
			p, ok := byIndex[i]
			h, have := p.Values[bs.Alg.String()]
			if !ok || !have {
				missing = append(missing, fmt.Sprintf("%s:%d", bs.Alg, i))
				continue
			}
			if len(p.Variants) > 0 && !slices.Contains(varied, fmt.Sprint(i)) {
				varied = append(varied, fmt.Sprint(i))
			}
			d, err := hex.DecodeString(h)
			if err != nil || len(d) != bs.Alg.Size() {
				return nil, fmt.Errorf("PCR %d: bank %s: not %d bytes of hex", i, bs.Alg, bs.Alg.Size())
			}
			values.Set(bs.Alg, i, d)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("PCR selection %s: the reference has no value for %s", in.Selection, strings.Join(missing, ", "))
	}
	if len(varied) > 0 {
		return nil, fmt.Errorf("PCR selection %s: PCR %s of the reference allow variants, and TPM_ENACTTRUST carries one composite digest; select PCRs without variants, or use PARSEC_TPM", in.Selection, strings.Join(varied, ", "))
	}
	digest, err := in.Selection.CompositeDigest(pcr.SHA256, values)
	if err != nil {
		return nil, err
	}
	node, err := comid.NewUUIDInstance(in.NodeID)
	if err != nil {
		return nil, fmt.Errorf("node-id: %w", err)
	}
	key, err := pkixPEM(in.AK)
	if err != nil {
		return nil, fmt.Errorf("AK: %w", err)
	}
	cm := comid.NewComid()
	cm.AddAttestVerifKey(&comid.KeyTriple{Environment: comid.Environment{Instance: node}, VerifKeys: comid.CryptoKeys{key}})
	m := &comid.Measurement{}
	m.AddDigest(swid.Sha256, digest)
	var rv comid.ValueTriple
	rv.Environment = comid.Environment{Instance: node}
	rv.Measurements.Add(m)
	cm.AddReferenceValue(&rv)
	note := fmt.Sprintf("composite PCR digest over %s: %s", in.Selection, hex.EncodeToString(digest))
	return finish(EnactTrust, cm, opts, []string{note})
}

// tpmKey checks an attestation key: RSA or ECDSA, ECDSA only when
// ecdsaOnly.
func tpmKey(k crypto.PublicKey, ecdsaOnly bool) error {
	switch k.(type) {
	case nil:
		return errors.New("AK: missing")
	case *ecdsa.PublicKey:
		return nil
	case *rsa.PublicKey:
		if !ecdsaOnly {
			return nil
		}
	default:
		if !ecdsaOnly {
			return fmt.Errorf("AK: %s, want an RSA or ECDSA key", keyKind(k))
		}
	}
	return fmt.Errorf("AK: %s, want an ECDSA key (TPM_ENACTTRUST evidence is ECDSA-signed)", keyKind(k))
}

// baselineOf is the reference as a baseline: a PCR file's alternatives
// become variants.
func baselineOf(ref *baseline.Reference) (*baseline.Baseline, error) {
	if ref == nil {
		return nil, errors.New("reference: missing")
	}
	return ref.AsBaseline()
}

func candidateName(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf(" variant %d", i)
}
