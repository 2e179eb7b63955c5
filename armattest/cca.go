package armattest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/ccatoken/platform"
	"github.com/veraison/ccatoken/realm"
	cose "github.com/veraison/go-cose"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// CCAToken is a CCA attestation token as read: the platform token and the
// realm token of one collection, before any check.
type CCAToken struct {
	Platform CCAPlatformClaims `json:"platform" yaml:"platform"`
	Realm    CCARealmClaims    `json:"realm" yaml:"realm"`

	pClaims    platform.IClaims
	rClaims    realm.IClaims
	pMsg, rMsg *cose.Sign1Message
}

// CCAPlatformClaims are the claims of the platform token.
type CCAPlatformClaims struct {
	// PSAClaims' Nonce is the platform challenge: the hash of the RAK.
	PSAClaims `yaml:",inline"`
	Config    Hex    `json:"config" yaml:"config"`
	HashAlg   string `json:"hash_algorithm" yaml:"hash_algorithm"`
}

// CCARealmClaims are the claims of the realm token.
type CCARealmClaims struct {
	Profile    string `json:"profile,omitempty" yaml:"profile,omitempty"`
	Challenge  Hex    `json:"challenge" yaml:"challenge"`
	RPV        Hex    `json:"personalization_value" yaml:"personalization_value"`
	RIM        Hex    `json:"rim" yaml:"rim"`
	REMs       []Hex  `json:"rems" yaml:"rems"`
	HashAlg    string `json:"hash_algorithm" yaml:"hash_algorithm"`
	RAK        Hex    `json:"rak" yaml:"rak"`
	RAKHashAlg string `json:"rak_hash_algorithm" yaml:"rak_hash_algorithm"`
}

// collection is the CCA token's CBOR map (tag 399).
type collection struct {
	Platform []byte `cbor:"44234,keyasint"`
	Realm    []byte `cbor:"44241,keyasint"`
}

var (
	ccaTag = []byte{0xd9, 0x01, 0x8f} // #6.399
	cmwTag = []byte{0xd9, 0x03, 0x8b} // #6.907
)

// ReadCCA reads a CCA token: the collection (CBOR tag 399, or the bare
// map) of a platform token (44234) and a realm token (44241), each a
// COSE_Sign1, with their claims as ccatoken decodes them.
func ReadCCA(data []byte) (tok *CCAToken, err error) {
	defer func() {
		if r := recover(); r != nil {
			tok, err = nil, fmt.Errorf("not a well-formed CCA token (the decoder failed: %v)", r)
		}
	}()
	body := data
	switch {
	case len(data) == 0:
		return nil, errors.New("CCA token: the input is empty")
	case bytes.HasPrefix(data, ccaTag):
		body = data[len(ccaTag):]
	case bytes.HasPrefix(data, cmwTag):
		return nil, errors.New("CCA token: a CMW collection (CBOR tag 907) is not read; give the CCA token collection (tag 399)")
	case data[0]&0xe0 != 0xa0: // a map
		return nil, fmt.Errorf("not a CCA token: it starts with %s; want the collection, CBOR tag 399 (d9 01 8f)", short(data[:min(len(data), 8)]))
	}
	var c collection
	if err := cbor.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("CCA token: not a well-formed collection: %w", err)
	}
	if c.Platform == nil {
		return nil, errors.New("CCA token: no platform token (key 44234)")
	}
	if c.Realm == nil {
		return nil, errors.New("CCA token: no realm token (key 44241)")
	}
	tok = &CCAToken{}
	if tok.pMsg, err = readSign1(c.Platform, "CCA platform token"); err != nil {
		return nil, err
	}
	if tok.rMsg, err = readSign1(c.Realm, "CCA realm token"); err != nil {
		return nil, err
	}
	if tok.pClaims, err = platform.DecodeClaimsFromCBOR(tok.pMsg.Payload); err != nil {
		return nil, fmt.Errorf("CCA platform token: the payload is not CCA platform claims: %w", err)
	}
	if tok.rClaims, err = realm.DecodeClaimsFromCBOR(tok.rMsg.Payload); err != nil {
		return nil, fmt.Errorf("CCA realm token: the payload is not CCA realm claims: %w", err)
	}
	p, r := &tok.Platform, &tok.Realm
	pc, rc := tok.pClaims, tok.rClaims
	p.PSAClaims = readPSAClaims(pc)
	p.Config, _ = pc.GetConfig()
	p.HashAlg, _ = pc.GetHashAlgID()
	r.Profile, _ = rc.GetProfile()
	r.Challenge, _ = rc.GetChallenge()
	r.RPV, _ = rc.GetPersonalizationValue()
	r.RIM, _ = rc.GetInitialMeasurement()
	rems, _ := rc.GetExtensibleMeasurements()
	for _, m := range rems {
		r.REMs = append(r.REMs, m)
	}
	r.HashAlg, _ = rc.GetHashAlgID()
	r.RAK, _ = rc.GetPubKey()
	r.RAKHashAlg, _ = rc.GetPubKeyHashAlgID()
	return tok, nil
}

// CCAPolicy is what a CCA token is verified against.
type CCAPolicy struct {
	// Platform is the ARM_CCA platform CoRIM (required).
	Platform *corim.ArmReference
	// Realm is the ARM_CCA realm CoRIM; nil leaves the realm's
	// measurements unchecked (the check says so).
	Realm *corim.ArmReference
	// Challenge is the realm challenge the token must carry, and
	// ChallengeIs says what it is made of ("the nonce given").
	Challenge   []byte
	ChallengeIs string
}

// CCAReport is the outcome of VerifyCCA and VerifyRATLS.
type CCAReport struct {
	Verified bool      `json:"verified" yaml:"verified"`
	Token    *CCAToken `json:"token" yaml:"token"`
	// Certificate is the RA-TLS certificate the token came from.
	Certificate    *CertSummary `json:"certificate,omitempty" yaml:"certificate,omitempty"`
	verdict.Checks `json:"checks" yaml:"checks"`
}

// VerifyCCA checks a CCA token the way Veraison's ARM_CCA scheme appraises
// the platform, and the realm the way a realm verifier does:
//
//	platform-claims, realm-claims  each token's claims are valid
//	implementation-id, trust-anchor  the platform CoRIM names the
//	                    implementation and has a CPAK for the instance
//	platform-signature  the platform token verifies with that CPAK
//	realm-signature     the realm token verifies with its RAK
//	binding             the platform challenge is the hash of the RAK, so
//	                    the platform vouches for this realm token
//	realm-challenge     the realm challenge is the policy's
//	software-component  each platform component is a reference value, with
//	                    its signer id
//	platform-config     the platform configuration is the reference's
//	security-lifecycle  the platform is in the secured state
//	realm-rim, realm-rem0..3, realm-personalization-value  with a realm
//	                    CoRIM: the realm's measurements are the reference's
//	                    (a REM or RPV the CoRIM leaves out is not compared)
func VerifyCCA(tok *CCAToken, p CCAPolicy) *CCAReport {
	rep := &CCAReport{Token: tok}
	if tok == nil || p.Platform == nil {
		rep.Checks = verdict.Checks{notRun("token", "no token or no platform CoRIM")}
		return rep
	}
	cs := &rep.Checks
	add := func(c ...verdict.Check) { *cs = append(*cs, c...) }
	pl, rl := &tok.Platform, &tok.Realm
	add(validCheck("platform-claims", tok.pClaims.Validate(), pl.Profile))
	add(validCheck("realm-claims", tok.rClaims.Validate(), rl.Profile))
	add(anchorChecks(p.Platform, pl.ImplID, pl.InstID, tok.pMsg, "CPAK", "platform-signature")...)
	rak, rakErr := tok.rak()
	switch {
	case rakErr != nil:
		add(fail("realm-signature", "the realm token's RAK: %v", rakErr))
	default:
		if err := verifySign1(tok.rMsg, rak); err != nil {
			add(fail("realm-signature", "not signed by the realm's RAK: %v", err))
		} else {
			add(pass("realm-signature", "signed by the RAK the realm token carries"))
		}
	}
	add(bindingCheck(tok))
	is := p.ChallengeIs
	if is == "" {
		is = "the nonce given"
	}
	add(nonceCheck("realm-challenge", rl.Challenge, p.Challenge, is))
	add(componentChecks(p.Platform, pl.ImplID, pl.Components)...)
	add(configCheck(p.Platform, pl.ImplID, pl.Config))
	st := platform.LifeCycleToState(pl.Lifecycle)
	add(lifecycleCheck(pl.Lifecycle, st.String(), st == platform.StateSecured))
	add(realmChecks(p.Realm, rl)...)
	rep.Verified = rep.Checks.Verified()
	return rep
}

func validCheck(name string, err error, profile string) verdict.Check {
	if profile == "" {
		profile = "legacy (no profile claim)"
	}
	if err != nil {
		return fail(name, "%s: %v", profile, err)
	}
	return pass(name, "valid "+profile+" claims")
}

// rak is the realm's public key: a COSE_Key in profiled realm tokens, a
// raw P-384 point in the older ones without a profile claim.
func (t *CCAToken) rak() (*ecdsa.PublicKey, error) {
	if len(t.Realm.RAK) == 0 {
		return nil, errors.New("missing")
	}
	if t.Realm.Profile == "" {
		return realm.ECDSAPublicKeyFromRaw(t.Realm.RAK)
	}
	return realm.ECDSAPublicKeyFromCOSEKey(t.Realm.RAK)
}

func bindingCheck(tok *CCAToken) verdict.Check {
	var h hash.Hash
	switch tok.Realm.RAKHashAlg {
	case "sha-256":
		h = sha256.New()
	case "sha-384":
		h = sha512.New384()
	case "sha-512":
		h = sha512.New()
	default:
		return fail("binding", "RAK hash algorithm %q: want sha-256, sha-384 or sha-512", tok.Realm.RAKHashAlg)
	}
	h.Write(tok.Realm.RAK)
	want := h.Sum(nil)
	if !bytes.Equal(tok.Platform.Nonce, want) {
		return fail("binding", "the platform challenge %s is not %s(RAK) %s: the platform token does not vouch for this realm token",
			short(tok.Platform.Nonce), tok.Realm.RAKHashAlg, short(want))
	}
	return pass("binding", fmt.Sprintf("the platform challenge is %s(RAK)", tok.Realm.RAKHashAlg))
}

func configCheck(ref *corim.ArmReference, impl, got []byte) verdict.Check {
	for _, c := range ref.Configs {
		if !bytes.Equal(c.ImplID, impl) {
			continue
		}
		if masked(got, c.Mask, c.Value) {
			return pass("platform-config", fmt.Sprintf("%s is the reference's", short(got)))
		}
		return fail("platform-config", "%s differs from the reference's %s", short(got), short(c.Value)).
			With("token", Hex(got).String(), "reference", Hex(c.Value).String())
	}
	return notRun("platform-config", "the platform CoRIM has no platform configuration for the implementation")
}

// masked reports whether got equals want under mask (all ones when nil).
func masked(got, mask, want []byte) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		m := byte(0xff)
		if mask != nil {
			if i >= len(mask) {
				return false
			}
			m = mask[i]
		}
		if got[i]&m != want[i]&m {
			return false
		}
	}
	return true
}

func realmChecks(ref *corim.ArmReference, rl *CCARealmClaims) []verdict.Check {
	if ref == nil {
		return []verdict.Check{skip("realm-measurements", "no realm CoRIM given: the realm's RIM, REMs and personalization value are not checked")}
	}
	var r *corim.RealmReference
	for i := range ref.Realms {
		if bytes.Equal(ref.Realms[i].RIM, rl.RIM) {
			r = &ref.Realms[i]
		}
	}
	if r == nil {
		var known []string
		for _, x := range ref.Realms {
			known = append(known, short(x.RIM))
		}
		return []verdict.Check{fail("realm-rim", "%s is no realm of the realm CoRIM (it has %v)", short(rl.RIM), known).With("rim", rl.RIM.String())}
	}
	cs := []verdict.Check{pass("realm-rim", fmt.Sprintf("%s %s is the realm CoRIM's", r.Alg, short(rl.RIM)))}
	for i, want := range r.REMs {
		name := fmt.Sprintf("realm-rem%d", i)
		var got []byte
		if i < len(rl.REMs) {
			got = rl.REMs[i]
		}
		switch {
		case want == nil:
			cs = append(cs, skip(name, "the realm CoRIM does not constrain it"))
		case bytes.Equal(got, want):
			cs = append(cs, pass(name, short(got)+" is the reference's"))
		default:
			cs = append(cs, fail(name, "%s differs from the reference's %s", short(got), short(want)).With("token", Hex(got).String(), "reference", Hex(want).String()))
		}
	}
	switch {
	case r.RPV == nil:
		cs = append(cs, skip("realm-personalization-value", "the realm CoRIM does not constrain it"))
	case bytes.Equal(rl.RPV, r.RPV):
		cs = append(cs, pass("realm-personalization-value", short(rl.RPV)+" is the reference's"))
	default:
		cs = append(cs, fail("realm-personalization-value", "%s differs from the reference's %s", short(rl.RPV), short(r.RPV)))
	}
	return cs
}
