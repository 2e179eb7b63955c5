// Package ear owns attestation results as EAR (the EAT Attestation Result
// JWT that Veraison issues): it turns a goldenpcr verdict into a signed EAR
// whose trust vector claims only what the checks proved, and it verifies an
// EAR (goldenpcr's or Veraison's) and says what each submodule's status and
// trust vector mean, in words.
package ear

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	vear "github.com/veraison/ear"

	"github.com/goldenpcr/goldenpcr/verdict"
)

// Profile is the eat_profile of every EAR.
const Profile = vear.EatProfile

// Developer is the verifier-id developer goldenpcr writes.
const Developer = "https://github.com/goldenpcr/goldenpcr"

// Claim names the checks a trust vector claim rests on, per scheme: the
// claim is made only when those checks ran.
type Claim struct {
	// Vector is the trust vector field, e.g. "instance-identity".
	Vector string
	// Value is the AR4SI claim value.
	Value vear.TrustClaim
	// Because says which checks justified it.
	Because string
}

// Issue is what an EAR is made from.
type Issue struct {
	// Submod names the appraisal, e.g. "TPM" or a Veraison scheme name.
	Submod string
	// Checks are the verdict's checks; Vector decides the trust vector
	// from them.
	Checks verdict.Checks
	// Vector turns the checks into claims (TPMQuoteVector for a quote).
	Vector func(verdict.Checks) []Claim
	// Nonce, if the checks proved the evidence fresh with it, becomes
	// eat_nonce (base64url); nil leaves eat_nonce out.
	Nonce []byte
	// Build is the verifier-id build, e.g. "goldenpcr v1.2.0".
	Build string
	// Now is the issue time (iat).
	Now time.Time
}

// Sign makes the EAR and signs it with key (ECDSA P-256/384/521 or RSA):
// the status is affirming when the verdict verified and nothing was
// opted out of, warning when it verified with a check skipped on request,
// contraindicated when it did not verify; never above what a claim of the
// trust vector allows.
func Sign(in Issue, key crypto.Signer) ([]byte, error) {
	alg, err := algFor(key.Public())
	if err != nil {
		return nil, err
	}
	ar := vear.NewAttestationResult(in.Submod, in.Build, Developer)
	iat := in.Now.Unix()
	ar.IssuedAt = &iat
	if in.Nonce != nil {
		n := base64.RawURLEncoding.EncodeToString(in.Nonce)
		if len(n) < 8 || len(n) > 88 {
			return nil, fmt.Errorf("nonce of %d bytes: an EAR's eat_nonce takes 6 to 64 bytes", len(in.Nonce))
		}
		ar.Nonce = &n
	}
	app := ar.Submods[in.Submod]
	status := statusOf(in.Checks)
	app.Status = &status
	for _, c := range in.Vector(in.Checks) {
		setClaim(app.TrustVector, c.Vector, c.Value)
	}
	app.UpdateStatusFromTrustVector()
	return ar.Sign(alg, key)
}

func statusOf(checks verdict.Checks) vear.TrustTier {
	if !checks.Verified() {
		return vear.TrustTierContraindicated
	}
	for _, c := range checks {
		if c.Skipped && c.Details["warning"] != "" {
			return vear.TrustTierWarning
		}
	}
	return vear.TrustTierAffirming
}

// vectorFields are the trust vector's claims in the order of the ear
// library's TrustVector.Report lines, each with its field.
var vectorFields = []struct {
	name  string
	field func(*vear.TrustVector) *vear.TrustClaim
}{
	{"instance-identity", func(tv *vear.TrustVector) *vear.TrustClaim { return &tv.InstanceIdentity }},
	{"configuration", func(tv *vear.TrustVector) *vear.TrustClaim { return &tv.Configuration }},
	{"executables", func(tv *vear.TrustVector) *vear.TrustClaim { return &tv.Executables }},
	{"file-system", func(tv *vear.TrustVector) *vear.TrustClaim { return &tv.FileSystem }},
	{"hardware", func(tv *vear.TrustVector) *vear.TrustClaim { return &tv.Hardware }},
	{"runtime-opaque", func(tv *vear.TrustVector) *vear.TrustClaim { return &tv.RuntimeOpaque }},
	{"storage-opaque", func(tv *vear.TrustVector) *vear.TrustClaim { return &tv.StorageOpaque }},
	{"sourced-data", func(tv *vear.TrustVector) *vear.TrustClaim { return &tv.SourcedData }},
}

func setClaim(tv *vear.TrustVector, name string, v vear.TrustClaim) {
	for _, f := range vectorFields {
		if f.name == name {
			*f.field(tv) = v
			return
		}
	}
	panic("ear: unknown trust vector claim " + name)
}

// TPMQuoteVector is the trust vector a TPM quote's checks justify (check
// names of package quote; for an attestation, the checks of every quote):
//   - instance-identity: trustworthy when the signature verified under an
//     AK the verifier vouches for (ak-trust passed); crypto validation
//     failed when the signature did not; unrecognised when the AK is not
//     vouched for. No claim when ak-trust was opted out of.
//   - hardware: genuine when an EK or AK certificate chained to given roots
//     (ek-cert or ak-cert passed); unrecognised when one failed.
//   - executables: approved boot when the quoted PCRs matched the expected
//     values (expected-pcrs passed); unrecognised when they did not.
//
// Configuration, file system and the opaque claims are never made: no
// check of a quote proves them.
func TPMQuoteVector(checks verdict.Checks) []Claim {
	var out []Claim
	ran := func(name string) *verdict.Check { return worst(checks, func(n string) bool { return n == name }) }
	sig, trust := ran("signature"), ran("ak-trust")
	switch {
	case sig != nil && !sig.Passed:
		out = append(out, Claim{"instance-identity", vear.CryptoValidationFailedClaim, "signature failed"})
	case trust != nil && !trust.Passed:
		out = append(out, Claim{"instance-identity", vear.UnrecognizedInstanceClaim, "ak-trust failed"})
	case sig != nil && trust != nil:
		out = append(out, Claim{"instance-identity", vear.TrustworthyInstanceClaim, "signature and ak-trust passed"})
	}
	for _, name := range []string{"ek-cert", "ak-cert"} {
		if c := ran(name); c != nil && !c.Passed {
			out = append(out, Claim{"hardware", vear.UnrecognizedHardwareClaim, name + " failed"})
			break
		} else if c != nil {
			out = append(out, Claim{"hardware", vear.GenuineHardwareClaim, name + " passed"})
		}
	}
	if c := ran("expected-pcrs"); c != nil && c.Passed {
		out = append(out, Claim{"executables", vear.ApprovedBootClaim, "expected-pcrs passed"})
	} else if c != nil {
		out = append(out, Claim{"executables", vear.UnrecognizedRuntimeClaim, "expected-pcrs failed"})
	}
	return dedupe(out)
}

// ArmVector is the trust vector a PSA or CCA token's checks justify (check
// names of package armattest), as Veraison's PSA and CCA schemes make it:
//   - instance-identity: trustworthy when the token verified under the
//     CoRIM's trust anchor (trust-anchor and signature, or for CCA
//     platform-signature, passed); crypto validation failed, or
//     unrecognised when the CoRIM has no key for the instance;
//   - hardware: genuine when the implementation id is the CoRIM's and the
//     lifecycle is secured; unrecognised or unsafe when not;
//   - executables: approved runtime when every software component (and,
//     for CCA with a realm CoRIM, the realm's RIM and REMs) is a reference
//     value; unrecognised when one is not;
//   - configuration (CCA): approved when the platform config is the
//     reference's; unsafe when not.
func ArmVector(checks verdict.Checks) []Claim {
	var out []Claim
	is := func(names ...string) func(string) bool {
		return func(n string) bool { return slices.Contains(names, n) }
	}
	sig := worst(checks, is("signature", "platform-signature", "realm-signature"))
	anchor := worst(checks, is("trust-anchor"))
	switch {
	case sig != nil && !sig.Passed:
		out = append(out, Claim{"instance-identity", vear.CryptoValidationFailedClaim, sig.Name + " failed"})
	case anchor != nil && !anchor.Passed:
		out = append(out, Claim{"instance-identity", vear.UnrecognizedInstanceClaim, "trust-anchor failed"})
	case sig != nil && anchor != nil:
		out = append(out, Claim{"instance-identity", vear.TrustworthyInstanceClaim, "trust-anchor and " + sig.Name + " passed"})
	}
	impl, life := worst(checks, is("implementation-id")), worst(checks, is("security-lifecycle"))
	switch {
	case impl != nil && !impl.Passed:
		out = append(out, Claim{"hardware", vear.UnrecognizedHardwareClaim, "implementation-id failed"})
	case life != nil && !life.Passed:
		out = append(out, Claim{"hardware", vear.UnsafeHardwareClaim, "security-lifecycle failed"})
	case impl != nil && life != nil:
		out = append(out, Claim{"hardware", vear.GenuineHardwareClaim, "implementation-id and security-lifecycle passed"})
	}
	measured := func(n string) bool {
		return strings.HasPrefix(n, "software-component") || n == "realm-rim" || strings.HasPrefix(n, "realm-rem")
	}
	if c := worst(checks, measured); c != nil && c.Passed {
		out = append(out, Claim{"executables", vear.ApprovedRuntimeClaim, "every measurement is a reference value"})
	} else if c != nil {
		out = append(out, Claim{"executables", vear.UnrecognizedRuntimeClaim, c.Name + " failed"})
	}
	if c := worst(checks, is("platform-config")); c != nil && c.Passed {
		out = append(out, Claim{"configuration", vear.ApprovedConfigClaim, "platform-config passed"})
	} else if c != nil {
		out = append(out, Claim{"configuration", vear.UnsafeConfigClaim, "platform-config failed"})
	}
	return out
}

// worst is a check matching name that ran: a failed one if any (evidence
// may repeat a check, per quote or per component), else a passed one; nil
// when none ran.
func worst(checks verdict.Checks, name func(string) bool) *verdict.Check {
	var found *verdict.Check
	for i := range checks {
		c := &checks[i]
		if !name(c.Name) || c.Skipped {
			continue
		}
		if c.Failed() {
			return c
		}
		found = c
	}
	return found
}

// dedupe keeps, per vector field, the least trustworthy claim.
func dedupe(claims []Claim) []Claim {
	var out []Claim
	for _, c := range claims {
		replaced := false
		for i := range out {
			if out[i].Vector == c.Vector {
				if c.Value.GetTier() > out[i].Value.GetTier() {
					out[i] = c
				}
				replaced = true
			}
		}
		if !replaced {
			out = append(out, c)
		}
	}
	return out
}

func algFor(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jwa.ES256, nil
		case elliptic.P384():
			return jwa.ES384, nil
		case elliptic.P521():
			return jwa.ES512, nil
		}
		return "", fmt.Errorf("ECDSA key on %s: EAR keys are P-256, P-384 or P-521", k.Curve.Params().Name)
	case *rsa.PublicKey:
		return jwa.PS256, nil
	}
	return "", fmt.Errorf("%T key: EAR keys are ECDSA or RSA", pub)
}

// Result is a verified EAR.
type Result struct {
	Profile        string    `json:"eat_profile" yaml:"eat_profile"`
	IssuedAt       time.Time `json:"iat" yaml:"iat"`
	Nonce          string    `json:"eat_nonce,omitempty" yaml:"eat_nonce,omitempty"`
	Verifier       string    `json:"verifier" yaml:"verifier"`
	Algorithm      string    `json:"alg" yaml:"alg"`
	Submods        []Submod  `json:"submods" yaml:"submods"`
	verdict.Checks `json:"checks" yaml:"checks"`
}

// Submod is one appraisal of an EAR, in words.
type Submod struct {
	Name   string `json:"name" yaml:"name"`
	Status string `json:"status" yaml:"status"`
	// TrustVector is each claim made: field → value and its meaning.
	TrustVector []VectorClaim `json:"trust_vector,omitempty" yaml:"trust_vector,omitempty"`
	PolicyID    string        `json:"appraisal_policy_id,omitempty" yaml:"appraisal_policy_id,omitempty"`
}

// VectorClaim is one trust vector claim with its meaning.
type VectorClaim struct {
	Claim   string `json:"claim" yaml:"claim"`
	Value   int    `json:"value" yaml:"value"`
	Tier    string `json:"tier" yaml:"tier"`
	Meaning string `json:"meaning" yaml:"meaning"`
}

// Check names of Verify's report.
const (
	CheckSignature = "signature"
	CheckProfile   = "profile"
	CheckNonce     = "nonce"
	CheckStatus    = "status"
)

// Verify checks an EAR JWT against keys (any one must verify it; ECDSA or
// RSA public keys), its profile, its time claims (exp and nbf when
// present), its nonce when nonce is not nil, and each submodule's status:
// every submodule must be affirming for the status check to pass. A
// token that cannot be read at all is an error; everything else is a
// failed check of the result.
func Verify(token []byte, keys []crypto.PublicKey, nonce []byte, now time.Time) (*Result, error) {
	token = bytes.TrimSpace(token)
	msg, err := jws.Parse(token)
	if err != nil {
		return nil, fmt.Errorf("not a JWS compact token: %w", err)
	}
	if len(msg.Signatures()) != 1 {
		return nil, fmt.Errorf("JWS with %d signatures, want 1", len(msg.Signatures()))
	}
	alg := msg.Signatures()[0].ProtectedHeaders().Algorithm()
	res := &Result{Algorithm: alg.String()}
	var ar vear.AttestationResult
	if sigErr := verifySignature(token, alg, keys, &ar, now); sigErr != nil {
		res.Checks = append(res.Checks, fail(CheckSignature, sigErr.Error()))
		return res, nil
	}
	res.Checks = append(res.Checks, pass(CheckSignature, fmt.Sprintf("%s signature verifies under a given key; time claims valid", alg)))
	res.fill(&ar)
	if res.Profile != Profile {
		res.Checks = append(res.Checks, fail(CheckProfile, fmt.Sprintf("eat_profile %q, want %q", res.Profile, Profile)))
	} else {
		res.Checks = append(res.Checks, pass(CheckProfile, res.Profile))
	}
	res.Checks = append(res.Checks, checkNonce(res.Nonce, nonce))
	res.Checks = append(res.Checks, checkStatus(res.Submods))
	return res, nil
}

func verifySignature(token []byte, alg jwa.SignatureAlgorithm, keys []crypto.PublicKey, ar *vear.AttestationResult, now time.Time) error {
	if alg == jwa.NoSignature {
		return errors.New(`alg "none": an unsigned result proves nothing`)
	}
	if len(keys) == 0 {
		return errors.New("no key to verify with")
	}
	var last error
	for _, k := range keys {
		if err := keyFits(alg, k); err != nil {
			last = err
			continue
		}
		if _, err := jws.Verify(token, jws.WithKey(alg, k)); err != nil {
			last = fmt.Errorf("%s signature does not verify under the key", alg)
			continue
		}
		// The signature holds: now the claims, time checks included.
		if _, err := jwt.Parse(token, jwt.WithKey(alg, k), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now }))); err != nil {
			return fmt.Errorf("claims: %w", err)
		}
		var fresh vear.AttestationResult
		if err := fresh.Verify(token, alg, k); err != nil {
			return err
		}
		*ar = fresh
		return nil
	}
	return last
}

// keyFits refuses a key of another kind than alg names, before any
// signature is checked.
func keyFits(alg jwa.SignatureAlgorithm, k crypto.PublicKey) error {
	if _, ok := k.(*rsa.PublicKey); ok {
		switch alg {
		case jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
			return nil
		}
		return fmt.Errorf("token signed with %s; an RSA key cannot verify it", alg)
	}
	want, err := algFor(k)
	if err != nil {
		return err
	}
	if want != alg {
		return fmt.Errorf("token signed with %s; the %s key cannot verify it", alg, want)
	}
	return nil
}

func (res *Result) fill(ar *vear.AttestationResult) {
	if ar.Profile != nil {
		res.Profile = *ar.Profile
	}
	if ar.IssuedAt != nil {
		res.IssuedAt = time.Unix(*ar.IssuedAt, 0).UTC()
	}
	if ar.Nonce != nil {
		res.Nonce = *ar.Nonce
	}
	if ar.VerifierID != nil {
		var parts []string
		if ar.VerifierID.Developer != nil {
			parts = append(parts, *ar.VerifierID.Developer)
		}
		if ar.VerifierID.Build != nil {
			parts = append(parts, *ar.VerifierID.Build)
		}
		res.Verifier = strings.Join(parts, " ")
	}
	names := make([]string, 0, len(ar.Submods))
	for n := range ar.Submods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := ar.Submods[n]
		s := Submod{Name: n, Status: "none"}
		if a.Status != nil {
			s.Status = a.Status.String()
		}
		if a.AppraisalPolicyID != nil {
			s.PolicyID = *a.AppraisalPolicyID
		}
		if a.TrustVector != nil {
			s.TrustVector = describe(a.TrustVector)
		}
		res.Submods = append(res.Submods, s)
	}
}

// describe lists the claims made, in the vector's order, each in the
// words of the ear library's own report.
func describe(tv *vear.TrustVector) []VectorClaim {
	lines := strings.Split(strings.TrimSpace(tv.Report(false, false)), "\n")
	var out []VectorClaim
	for i, f := range vectorFields {
		v := *f.field(tv)
		if v.IsNone() {
			continue
		}
		meaning := ""
		if i < len(lines) {
			if _, after, ok := strings.Cut(lines[i], ": "); ok {
				meaning = after
			}
		}
		out = append(out, VectorClaim{Claim: f.name, Value: int(v), Tier: v.GetTier().String(), Meaning: meaning})
	}
	return out
}

func checkNonce(got string, want []byte) verdict.Check {
	if want == nil {
		if got == "" {
			return skip(CheckNonce, "no nonce given and none in the result")
		}
		return skip(CheckNonce, "no nonce given; the result carries eat_nonce "+got)
	}
	if got == "" {
		return fail(CheckNonce, "the result carries no eat_nonce, so nothing shows it answers this challenge")
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(got); err == nil && bytes.Equal(b, want) {
			return pass(CheckNonce, "eat_nonce "+got+" is the nonce given")
		}
	}
	return fail(CheckNonce, fmt.Sprintf("eat_nonce %s is not the nonce given (%s)", got, base64.RawURLEncoding.EncodeToString(want)))
}

func checkStatus(subs []Submod) verdict.Check {
	var bad []string
	for _, s := range subs {
		if s.Status != vear.TrustTierAffirming.String() {
			bad = append(bad, s.Name+" is "+s.Status)
		}
	}
	if len(subs) == 0 {
		return fail(CheckStatus, "no submodule")
	}
	if len(bad) > 0 {
		return fail(CheckStatus, strings.Join(bad, "; "))
	}
	return pass(CheckStatus, fmt.Sprintf("%d submodule(s) affirming", len(subs)))
}

func pass(name, reason string) verdict.Check {
	return verdict.Check{Name: name, Passed: true, Reason: reason}
}
func skip(name, reason string) verdict.Check {
	return verdict.Check{Name: name, Skipped: true, Reason: reason}
}
func fail(name, reason string) verdict.Check {
	return verdict.Check{Name: name, Reason: reason, Err: errors.New(reason)}
}
