package armattest

import (
	"fmt"

	cose "github.com/veraison/go-cose"
	"github.com/veraison/psatoken"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/verdict"
)

// PSAToken is a PSA attestation token as read, before any check.
type PSAToken struct {
	PSAClaims `yaml:",inline"`
	ClientID  int32 `json:"client_id" yaml:"client_id"`

	claims psatoken.IClaims
	msg    *cose.Sign1Message
}

// ReadPSA reads a PSA token: a COSE_Sign1 (tagged or not) over the claims
// of PSA profile 1 or http://arm.com/psa/2.0.0. Claims are read as they
// are; VerifyPSA validates them.
func ReadPSA(data []byte) (tok *PSAToken, err error) {
	defer func() {
		if r := recover(); r != nil {
			tok, err = nil, fmt.Errorf("not a well-formed PSA token (the decoder failed: %v)", r)
		}
	}()
	msg, err := readSign1(data, "PSA token")
	if err != nil {
		return nil, err
	}
	claims, err := psatoken.DecodeClaimsFromCBOR(msg.Payload)
	if err != nil {
		return nil, fmt.Errorf("PSA token: the COSE_Sign1 payload is not PSA claims: %w", err)
	}
	tok = &PSAToken{PSAClaims: readPSAClaims(claims), claims: claims, msg: msg}
	tok.ClientID, _ = claims.GetClientID()
	return tok, nil
}

// readSign1 decodes a COSE_Sign1, tagged (18) or not.
func readSign1(data []byte, what string) (*cose.Sign1Message, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: the input is empty", what)
	}
	if data[0] != 0xd2 && data[0] != 0x84 {
		return nil, fmt.Errorf("not a %s: it starts with %s; want a COSE_Sign1 (d2 84 or 84)", what, short(data[:min(len(data), 8)]))
	}
	var msg cose.Sign1Message
	var err error
	if data[0] == 0xd2 {
		err = msg.UnmarshalCBOR(data)
	} else {
		var u cose.UntaggedSign1Message
		err = u.UnmarshalCBOR(data)
		msg = cose.Sign1Message(u)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not a well-formed COSE_Sign1: %w", what, err)
	}
	if len(msg.Payload) == 0 {
		return nil, fmt.Errorf("%s: the COSE_Sign1 has no payload", what)
	}
	return &msg, nil
}

// PSAReport is the outcome of VerifyPSA.
type PSAReport struct {
	Verified       bool      `json:"verified" yaml:"verified"`
	Token          *PSAToken `json:"token" yaml:"token"`
	verdict.Checks `json:"checks" yaml:"checks"`
}

// VerifyPSA checks a PSA token the way Veraison's PSA_IOT scheme appraises
// it, against a PSA_IOT CoRIM:
//
//	claims              the claims are valid for the token's profile
//	implementation-id   the CoRIM names the token's implementation id
//	trust-anchor        the CoRIM has an IAK for the token's instance id
//	signature           the COSE_Sign1 verifies with that IAK
//	nonce               the token's nonce is the session's
//	software-component  each component's measurement value is a reference
//	                    value of the implementation, with its signer id (and
//	                    its type and version where the reference names them)
//	security-lifecycle  the device is in the secured state
func VerifyPSA(tok *PSAToken, ref *corim.ArmReference, nonce []byte) *PSAReport {
	rep := &PSAReport{Token: tok}
	if tok == nil || ref == nil {
		rep.Checks = verdict.Checks{notRun("token", "no token or no CoRIM")}
		return rep
	}
	if err := tok.claims.Validate(); err != nil {
		rep.Checks = append(rep.Checks, fail("claims", "%s: %v", tok.Profile, err))
	} else {
		rep.Checks = append(rep.Checks, pass("claims", fmt.Sprintf("valid %s claims", tok.Profile)))
	}
	rep.Checks = append(rep.Checks, anchorChecks(ref, tok.ImplID, tok.InstID, tok.msg, "IAK", "signature")...)
	rep.Checks = append(rep.Checks, nonceCheck("nonce", tok.Nonce, nonce, "the nonce given"))
	rep.Checks = append(rep.Checks, componentChecks(ref, tok.ImplID, tok.Components)...)
	rep.Checks = append(rep.Checks, lifecycleCheck(tok.Lifecycle, psatoken.LifeCycleToState(tok.Lifecycle).String(), psatoken.LifeCycleToState(tok.Lifecycle) == psatoken.StateSecured))
	rep.Verified = rep.Checks.Verified()
	return rep
}

func lifecycleCheck(v uint16, state string, secured bool) verdict.Check {
	if secured {
		return pass("security-lifecycle", fmt.Sprintf("0x%04x: %s", v, state))
	}
	return fail("security-lifecycle", "0x%04x: %s, want secured (0x3000-0x30ff)", v, state)
}
