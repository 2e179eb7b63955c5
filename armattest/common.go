package armattest

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"fmt"
	"strings"

	cose "github.com/veraison/go-cose"
	"github.com/veraison/psatoken"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// Hex is bytes that reports show as hex.
type Hex []byte

// MarshalText writes the bytes as lower-case hex.
func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h Hex) String() string { return hex.EncodeToString(h) }

// Component is a software component as a token reports it.
type Component struct {
	Type        string `json:"type,omitempty" yaml:"type,omitempty"`
	Value       Hex    `json:"value" yaml:"value"`
	SignerID    Hex    `json:"signer_id" yaml:"signer_id"`
	Version     string `json:"version,omitempty" yaml:"version,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// PSAClaims are the claims a PSA token and a CCA platform token share.
type PSAClaims struct {
	Profile string `json:"profile" yaml:"profile"`
	ImplID  Hex    `json:"implementation_id" yaml:"implementation_id"`
	InstID  Hex    `json:"instance_id" yaml:"instance_id"`
	// Nonce is the session's nonce in a PSA token, the hash of the RAK in
	// a CCA platform token.
	Nonce      Hex         `json:"nonce" yaml:"nonce"`
	Lifecycle  uint16      `json:"security_lifecycle" yaml:"security_lifecycle"`
	Components []Component `json:"software_components" yaml:"software_components"`
}

// readPSAClaims reads the shared claims as they are; a missing claim is
// left empty, for the claims check to report.
func readPSAClaims(c psatoken.IClaims) PSAClaims {
	var p PSAClaims
	p.Profile, _ = c.GetProfile()
	p.ImplID, _ = c.GetImplID()
	p.InstID, _ = c.GetInstID()
	p.Nonce, _ = c.GetNonce()
	p.Lifecycle, _ = c.GetSecurityLifeCycle()
	scs, _ := c.GetSoftwareComponents()
	p.Components = components(scs)
	return p
}

func components(scs []psatoken.ISwComponent) []Component {
	var out []Component
	for _, sc := range scs {
		var c Component
		c.Type, _ = sc.GetMeasurementType()
		v, _ := sc.GetMeasurementValue()
		s, _ := sc.GetSignerID()
		c.Value, c.SignerID = v, s
		c.Version, _ = sc.GetVersion()
		c.Description, _ = sc.GetMeasurementDesc()
		out = append(out, c)
	}
	return out
}

func pass(name, reason string) verdict.Check {
	return verdict.Check{Name: name, Passed: true, Reason: reason}
}

func fail(name, format string, args ...any) verdict.Check {
	msg := fmt.Sprintf(format, args...)
	return verdict.Check{Name: name, Reason: msg, Err: fmt.Errorf("%s: %s", name, msg)}
}

func notRun(name, format string, args ...any) verdict.Check {
	c := fail(name, format, args...)
	c.NotRun = true
	return c
}

func skip(name, reason string) verdict.Check {
	return verdict.Check{Name: name, Skipped: true, Reason: reason}
}

// short is the first bytes of a long value, for reasons.
func short(b []byte) string {
	if len(b) <= 16 {
		return hex.EncodeToString(b)
	}
	return hex.EncodeToString(b[:16]) + "…"
}

// verifySign1 checks a COSE_Sign1's signature with key.
func verifySign1(msg *cose.Sign1Message, key crypto.PublicKey) error {
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil {
		return fmt.Errorf("no signature algorithm in the protected header: %w", err)
	}
	v, err := cose.NewVerifier(alg, key)
	if err != nil {
		return fmt.Errorf("%s with this key: %w", alg, err)
	}
	if err := msg.Verify(nil, v); err != nil {
		return fmt.Errorf("%s signature does not verify: %w", alg, err)
	}
	return nil
}

// anchorChecks are the implementation-id, trust-anchor and signature
// checks of a token signed by the key of (impl, inst).
func anchorChecks(ref *corim.ArmReference, impl, inst []byte, msg *cose.Sign1Message, keyName, sigName string) []verdict.Check {
	var cs []verdict.Check
	if ref.KnowsImplementation(impl) {
		cs = append(cs, pass("implementation-id", fmt.Sprintf("%s is in the CoRIM", Hex(impl))))
	} else {
		cs = append(cs, fail("implementation-id", "%s is not in the CoRIM (it names %s)", Hex(impl), knownImpls(ref)))
	}
	ta := ref.TrustAnchor(impl, inst)
	if ta == nil {
		cs = append(cs, fail("trust-anchor", "the CoRIM has no %s for instance %s of implementation %s", keyName, Hex(inst), Hex(impl)),
			notRun(sigName, "no %s to check it with", keyName))
		return cs
	}
	cs = append(cs, pass("trust-anchor", fmt.Sprintf("the CoRIM's %s for instance %s", keyName, Hex(inst))))
	if err := verifySign1(msg, ta.Key); err != nil {
		return append(cs, fail(sigName, "not signed by the %s of instance %s: %v", keyName, Hex(inst), err))
	}
	return append(cs, pass(sigName, fmt.Sprintf("signed by the %s of instance %s", keyName, Hex(inst))))
}

func knownImpls(ref *corim.ArmReference) string {
	var ids []string
	seen := map[string]bool{}
	add := func(b []byte) {
		if s := Hex(b).String(); !seen[s] {
			seen[s] = true
			ids = append(ids, s)
		}
	}
	for _, t := range ref.TrustAnchors {
		add(t.ImplID)
	}
	for _, c := range ref.Components {
		add(c.ImplID)
	}
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// componentChecks holds each of the token's software components against
// the implementation's reference values: one with the same measurement
// value must exist, with the same signer id, and the same type and version
// where the reference names them.
func componentChecks(ref *corim.ArmReference, impl []byte, comps []Component) []verdict.Check {
	refs := ref.ComponentsOf(impl)
	if len(comps) == 0 {
		return []verdict.Check{fail("software-components", "the token reports no software component")}
	}
	var cs []verdict.Check
	for i, c := range comps {
		name := fmt.Sprintf("software-component %d", i)
		if c.Type != "" {
			name += " (" + c.Type + ")"
		}
		cs = append(cs, componentCheck(name, c, refs))
	}
	return cs
}

func componentCheck(name string, c Component, refs []corim.ArmComponent) verdict.Check {
	if len(refs) == 0 {
		return notRun(name, "no reference values for the token's implementation id")
	}
	var sameValue []corim.ArmComponent
	for _, r := range refs {
		if bytes.Equal(r.Value, c.Value) {
			sameValue = append(sameValue, r)
		}
	}
	if len(sameValue) == 0 {
		for _, r := range refs {
			if r.Type != "" && r.Type == c.Type {
				return fail(name, "measurement value %s differs from the reference's %s", c.Value, Hex(r.Value)).
					With("measurement", c.Value.String(), "reference", Hex(r.Value).String())
			}
		}
		return fail(name, "measurement value %s matches no reference value of the implementation", c.Value)
	}
	var why []string
	for _, r := range sameValue {
		switch {
		case !bytes.Equal(r.SignerID, c.SignerID):
			why = append(why, fmt.Sprintf("signer id %s differs from the reference's %s", c.SignerID, Hex(r.SignerID)))
		case r.Type != "" && r.Type != c.Type:
			why = append(why, fmt.Sprintf("measurement type %q differs from the reference's %q", c.Type, r.Type))
		case r.Version != "" && r.Version != c.Version:
			why = append(why, fmt.Sprintf("version %q differs from the reference's %q", c.Version, r.Version))
		default:
			reason := fmt.Sprintf("%s %s, signer id %s: matches its reference value", r.Alg, short(c.Value), short(c.SignerID))
			if r.Version != "" {
				reason += ", version " + r.Version
			}
			return pass(name, reason)
		}
	}
	return fail(name, "measurement value %s is the reference's, but %s", short(c.Value), strings.Join(why, "; "))
}

func nonceCheck(name string, got, want []byte, what string) verdict.Check {
	switch {
	case want == nil:
		return notRun(name, "no nonce given to check it against")
	case bytes.Equal(got, want):
		return pass(name, fmt.Sprintf("%s equals %s", Hex(got), what))
	}
	return fail(name, "%s, want %s (%s): not this session's", Hex(got), Hex(want), what).With("token", Hex(got).String(), "expected", Hex(want).String())
}
