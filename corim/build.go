package corim

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/veraison/corim/comid"
	vcorim "github.com/veraison/corim/corim"
	"github.com/veraison/eat"
	cose "github.com/veraison/go-cose"
)

// Options are what every CoRIM takes besides its scheme's inputs.
type Options struct {
	// Generation picks the profile URI and media type of a Veraison
	// release line.
	Generation Generation
	// Profile, when set, is the profile URI the CoRIM carries instead of
	// the scheme's (a URI or an OID); the scheme's rules still apply.
	Profile string
	// ID is the corim-id (a UUID or a non-empty string); by default a
	// UUID derived from the content, so equal inputs give equal bytes.
	ID string
	// Sign, when set, wraps the CoRIM in a COSE_Sign1.
	Sign *Signer
}

// Signer signs a CoRIM: the key, its certificate (the x5chain leaf) and
// the certificates above it, leaf first.
type Signer struct {
	Key   crypto.Signer
	Cert  *x509.Certificate
	Chain []*x509.Certificate
	// Name is the signer name of corim-meta; by default the
	// certificate's subject common name, else its subject.
	Name string
}

// Result is a CoRIM built and validated.
type Result struct {
	// CBOR is the CoRIM as written: an unsigned CoRIM (CBOR tag 501) or
	// a COSE_Sign1 (tag 18) over one.
	CBOR []byte
	// Decoded is CBOR decoded again, as Decode reports it.
	Decoded *Decoded
	// Notes say what of the input was not carried, and why.
	Notes []string
}

// finish wraps a scheme's CoMID in a CoRIM, signs it if asked, and decodes
// and validates the bytes before returning them.
func finish(scheme Scheme, cm *comid.Comid, opts Options, notes []string) (*Result, error) {
	if opts.Generation != Current && !opts.Generation.legacy() {
		return nil, fmt.Errorf("Veraison generation %d: want current, legacy or legacy-2502", opts.Generation)
	}
	profile := opts.Profile
	if profile == "" {
		var err error
		if profile, err = ProfileURI(scheme, opts.Generation); err != nil {
			return nil, err
		}
	}
	if _, err := eat.NewProfile(profile); err != nil {
		return nil, fmt.Errorf("profile %q: want a URI or an OID: %w", profile, err)
	}
	if opts.Sign != nil && opts.Generation == Legacy2502 {
		return nil, errors.New("signing: a CoRIM for Veraison v0.0.2502–v0.0.2511 is written unsigned (goldenpcr signs only the current CoRIM encoding, which those releases do not read)")
	}
	cm.AddEntity("goldenpcr", nil, comid.RoleTagCreator, comid.RoleCreator)
	triples, err := cm.Triples.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("encoding triples: %w", err)
	}
	cm.SetTagIdentity(derivedUUID("comid", profile, string(triples)).String(), 0)
	if err := cm.Valid(); err != nil {
		return nil, fmt.Errorf("CoMID: %w", err)
	}
	if err := validator(scheme, opts.Generation)(&cm.Triples); err != nil {
		return nil, fmt.Errorf("CoMID: %w", err)
	}
	id := opts.ID
	if id == "" {
		id = derivedUUID("corim", profile, string(triples)).String()
	}
	uc := vcorim.NewUnsignedCorim().SetID(id)
	if uc == nil {
		return nil, fmt.Errorf("corim-id %q: want a UUID or a non-empty string", id)
	}
	uc.SetProfile(profile)
	if uc.AddComid(cm) == nil {
		return nil, errors.New("CoMID: the corim library refused it")
	}
	var data []byte
	if opts.Sign != nil {
		data, err = sign(uc, opts.Sign)
	} else if data, err = uc.ToCBOR(); err == nil && opts.Generation == Legacy2502 {
		data, err = toOldWire(data)
	}
	if err != nil {
		return nil, err
	}
	dec, err := decode(data, scheme, opts.Generation)
	if err != nil {
		return nil, fmt.Errorf("the CoRIM built does not decode and validate again: %w", err)
	}
	if dec.Profile != profile {
		return nil, fmt.Errorf("the CoRIM built carries profile %q, not %q", dec.Profile, profile)
	}
	if dec.Signature != nil && !dec.Signature.Verified {
		return nil, fmt.Errorf("the CoRIM built does not verify: %s", dec.Signature.Problem)
	}
	dec.MediaType = MediaType(profile, opts.Sign != nil, opts.Generation)
	dec.Veraison = opts.Generation.String()
	return &Result{CBOR: data, Decoded: dec, Notes: notes}, nil
}

// derivedUUID is a UUID (version 8, RFC 9562) made from the SHA-256 of the
// parts, so a CoRIM's ids follow from its content.
func derivedUUID(parts ...string) uuid.UUID {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var u uuid.UUID
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return u
}

func sign(uc *vcorim.UnsignedCorim, s *Signer) ([]byte, error) {
	if s.Key == nil {
		return nil, errors.New("signing: no key")
	}
	if s.Cert == nil {
		return nil, errors.New("signing: no certificate (the x5chain leaf Veraison checks the signature with)")
	}
	pub, err := x509.MarshalPKIXPublicKey(s.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	certPub, err := x509.MarshalPKIXPublicKey(s.Cert.PublicKey)
	if err != nil || !bytes.Equal(pub, certPub) {
		return nil, fmt.Errorf("signing certificate %q is not the signing key's: its public key differs", s.Cert.Subject)
	}
	for i, c := range s.Chain {
		below := s.Cert
		if i > 0 {
			below = s.Chain[i-1]
		}
		if err := below.CheckSignatureFrom(c); err != nil {
			return nil, fmt.Errorf("certificate chain: %q does not sign %q: %w", c.Subject, below.Subject, err)
		}
	}
	alg, err := coseAlg(s.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	signer, err := cose.NewSigner(alg, s.Key)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	sc := vcorim.NewSignedCorim()
	sc.UnsignedCorim = *uc
	name := s.Name
	if name == "" {
		name = s.Cert.Subject.CommonName
	}
	if name == "" {
		name = s.Cert.Subject.String()
	}
	if name == "" {
		name = "goldenpcr"
	}
	sc.Meta.SetSigner(name, nil)
	if err := sc.AddSigningCert(s.Cert.Raw); err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	if len(s.Chain) > 0 {
		var der []byte
		for _, c := range s.Chain {
			der = append(der, c.Raw...)
		}
		if err := sc.AddIntermediateCerts(der); err != nil {
			return nil, fmt.Errorf("certificate chain: %w", err)
		}
	}
	return sc.Sign(signer)
}

// coseAlg is the COSE algorithm a key signs with: ES256/384/512 by curve,
// PS256 for RSA, EdDSA for Ed25519.
func coseAlg(pub crypto.PublicKey) (cose.Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return cose.AlgorithmES256, nil
		case elliptic.P384():
			return cose.AlgorithmES384, nil
		case elliptic.P521():
			return cose.AlgorithmES512, nil
		}
		return 0, fmt.Errorf("ECDSA curve %s: want P-256, P-384 or P-521", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return 0, fmt.Errorf("RSA-%d: want at least 2048 bits", k.N.BitLen())
		}
		return cose.AlgorithmPS256, nil
	case ed25519.PublicKey:
		return cose.AlgorithmEdDSA, nil
	}
	return 0, fmt.Errorf("%T cannot sign a CoRIM", pub)
}

// pkixPEM is a public key as a pkix-base64-key: PEM "PUBLIC KEY".
func pkixPEM(k crypto.PublicKey) (*comid.CryptoKey, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return comid.NewPKIXBase64Key(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}

// ParsePrivateKey reads a signing key: PEM PRIVATE KEY (PKCS#8), EC
// PRIVATE KEY or RSA PRIVATE KEY.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %w", b.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("PEM %s: a %T cannot sign", b.Type, k)
		}
		return s, nil
	}
}
