package corim

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// IsCoRIM reports whether data starts as a CoRIM Decode reads: an
// unsigned CoRIM (CBOR tag 501) or a COSE_Sign1 (tag 18, or tag 500
// around it). A baseline document or PCR file never starts so.
func IsCoRIM(data []byte) bool {
	return len(data) > 3 && bytes.HasPrefix(data, unsignedTag) ||
		len(data) > 1 && (bytes.HasPrefix(data, sign1Tag) || bytes.HasPrefix(data, corimSigned))
}

// Errors of Reference about the PCR selection, which the caller gives.
var (
	// ErrNoSelection: a TPM_ENACTTRUST CoRIM holds one digest over a PCR
	// selection it does not name, so the selection must be given.
	ErrNoSelection = errors.New("a TPM_ENACTTRUST CoRIM holds the composite digest of a PCR selection it does not name: give the selection it was made over")
	// ErrSelectionUnused: a PARSEC_TPM CoRIM names its PCRs itself.
	ErrSelectionUnused = errors.New("a PARSEC_TPM CoRIM names each PCR itself; a PCR selection is for TPM_ENACTTRUST CoRIMs")
)

// algByName maps a CoRIM digest's named-information name to its bank.
var algByName = map[string]pcr.Alg{"sha-256": pcr.SHA256, "sha-384": pcr.SHA384, "sha-512": pcr.SHA512}

// Reference is what Veraison appraises a quote against, as goldenpcr's
// one comparison reads it:
//
//   - PARSEC_TPM: a baseline holding each PCR's reference values (the
//     first reference value of a PCR is its primary value, each further
//     one a variant, as NewParsecTPM writes them), which must name every
//     PCR a quote selects (CoversQuoted): Veraison fails a selected PCR
//     with no reference value;
//   - TPM_ENACTTRUST: the composite digest over selection, which the
//     caller gives because the CoRIM does not carry it (ErrNoSelection):
//     the quote must be over exactly that selection and its values must
//     hash to the digest.
//
// A signed CoRIM whose signature does not verify with its x5chain leaf,
// or whose chain does not link up, is refused: it was altered after
// signing. The notes of the reference say who signed it (or that no one
// did); the chain is not checked against trust roots.
func Reference(d *Decoded, selection pcr.Selection) (*baseline.Reference, error) {
	if d == nil {
		return nil, errors.New("no CoRIM")
	}
	if d.Signed {
		s := d.Signature
		switch {
		case s == nil || !s.Verified:
			why := "no signature"
			if s != nil {
				why = s.Problem
			}
			return nil, fmt.Errorf("signed CoRIM: %s", why)
		case !s.ChainLinked:
			return nil, fmt.Errorf("signed CoRIM: x5chain: %s", s.ChainProblem)
		}
	}
	ref := &baseline.Reference{Label: "CoRIM " + string(d.Scheme), Notes: []string{d.provenance()}}
	switch d.Scheme {
	case ParsecTPM:
		if selection != nil {
			return nil, ErrSelectionUnused
		}
		b, err := d.parsecBaseline()
		if err != nil {
			return nil, err
		}
		ref.Baseline, ref.CoversQuoted = b, true
	case EnactTrust:
		if len(selection) == 0 {
			return nil, ErrNoSelection
		}
		c, err := d.composite(selection)
		if err != nil {
			return nil, err
		}
		ref.Composite = c
	default:
		return nil, fmt.Errorf("profile %q: goldenpcr compares quotes with %s and %s CoRIMs only", d.Profile, ParsecTPM, EnactTrust)
	}
	return ref, nil
}

// provenance says who vouches for the CoRIM, for reports.
func (d *Decoded) provenance() string {
	if !d.Signed {
		return fmt.Sprintf("%s CoRIM %s is unsigned: nothing but the verifier's choice of file vouches for it", d.Scheme, d.ID)
	}
	s := d.Signature
	var chain []string
	for _, c := range s.Chain {
		chain = append(chain, c.Subject)
	}
	return fmt.Sprintf("%s CoRIM %s is signed (%s) by %q; the signature verifies with its x5chain leaf (%s), which is not checked against trust roots: the verifier's choice of file vouches for it",
		d.Scheme, d.ID, s.Algorithm, s.Signer, strings.Join(chain, " ← "))
}

// parsecBaseline collects the PCRs of every reference value.
func (d *Decoded) parsecBaseline() (*baseline.Baseline, error) {
	b := &baseline.Baseline{Version: baseline.SchemaVersion, Metadata: baseline.Metadata{Tool: "goldenpcr",
		Notes: []string{"reference values of PARSEC_TPM CoRIM " + d.ID}}}
	at := map[int]int{} // PCR index → position in b.PCRs
	for ci, cm := range d.Comids {
		for ri, rv := range cm.ReferenceValues {
			for mi, m := range rv.Measurements {
				where := fmt.Sprintf("CoMID %d: reference value %d: measurement %d", ci, ri, mi)
				if m.PCR == nil || *m.PCR >= pcr.NumPCRs {
					return nil, fmt.Errorf("%s: no PCR index 0-%d", where, pcr.NumPCRs-1)
				}
				values := map[string]string{}
				for _, dg := range m.Digests {
					alg, ok := algByName[dg.Alg]
					if !ok {
						return nil, fmt.Errorf("%s: digest algorithm %s is no TPM bank", where, dg.Alg)
					}
					if _, twice := values[alg.String()]; twice {
						return nil, fmt.Errorf("%s: two %s digests", where, dg.Alg)
					}
					values[alg.String()] = dg.Value
				}
				i := int(*m.PCR)
				if pos, ok := at[i]; ok {
					b.PCRs[pos].Variants = append(b.PCRs[pos].Variants, values)
					continue
				}
				at[i] = len(b.PCRs)
				b.PCRs = append(b.PCRs, baseline.PCR{Index: i, Values: values})
			}
		}
	}
	if len(b.PCRs) == 0 {
		return nil, errors.New("the CoRIM holds no reference value")
	}
	slices.SortFunc(b.PCRs, func(x, y baseline.PCR) int { return x.Index - y.Index })
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// composite is the one reference digest of a TPM_ENACTTRUST CoRIM over
// the given selection.
func (d *Decoded) composite(selection pcr.Selection) (*baseline.Composite, error) {
	for _, b := range selection {
		if !b.Alg.Valid() {
			return nil, fmt.Errorf("PCR selection: unknown bank %s", b.Alg)
		}
		for _, i := range b.PCRs {
			if i < 0 || i >= pcr.NumPCRs {
				return nil, fmt.Errorf("PCR selection: PCR %d is not 0-%d", i, pcr.NumPCRs-1)
			}
		}
	}
	var digests []string
	for _, cm := range d.Comids {
		for _, rv := range cm.ReferenceValues {
			for _, m := range rv.Measurements {
				for _, dg := range m.Digests {
					if dg.Alg != "sha-256" {
						return nil, fmt.Errorf("composite digest: %s, want sha-256", dg.Alg)
					}
					digests = append(digests, dg.Value)
				}
			}
		}
	}
	if len(digests) != 1 {
		return nil, fmt.Errorf("%d composite digests, want exactly 1", len(digests))
	}
	dg, err := hex.DecodeString(digests[0])
	if err != nil || len(dg) != pcr.SHA256.Size() {
		return nil, fmt.Errorf("composite digest %q: not %d bytes of hex", digests[0], pcr.SHA256.Size())
	}
	return &baseline.Composite{Selection: selection, Hash: pcr.SHA256, Digest: dg}, nil
}

// Anchor is a trust anchor of a CoRIM: a verification key and the
// environment it is the key of.
type Anchor struct {
	Environment Environment
	Key         crypto.PublicKey
	// Kind is e.g. "ECDSA P-256".
	Kind string
}

// Anchors lists the keys of the CoRIM's attestation-verification-key
// triples that parse, in order.
func (d *Decoded) Anchors() []Anchor {
	var out []Anchor
	for _, cm := range d.Comids {
		for _, ta := range cm.TrustAnchors {
			for _, k := range ta.Keys {
				if k.Public != nil {
					out = append(out, Anchor{Environment: ta.Environment, Key: k.Public, Kind: k.Kind})
				}
			}
		}
	}
	return out
}

// String names the anchor's environment: "class …, instance …" or "node …".
func (a Anchor) String() string {
	var parts []string
	if a.Environment.ClassID != "" {
		parts = append(parts, "class "+a.Environment.ClassID)
	}
	if a.Environment.Instance != "" {
		word := "instance"
		if a.Environment.ClassID == "" {
			word = "node"
		}
		parts = append(parts, word+" "+a.Environment.Instance)
	}
	return strings.Join(parts, ", ")
}
