package quote

import "github.com/goldenpcr/goldenpcr/internal/optname"

// Option names an input of the Evidence or an option of the Policy, for
// the reasons that tell a user what to give or what was given up ("no
// nonce given: … give the nonce, or opt out"). The library words an
// option by the Go field that sets it; Policy.OptionName lets a caller
// word it in its own terms (goldenpcr's CLI names its flags), so the
// reasons a user reads name what that user can type.
type Option string

// The options reasons name; each value is the library's word for it.
const (
	// OptNonce is how the verifier gives the nonce it sent.
	OptNonce Option = "Policy.Nonce"
	// OptNoNonce opts out of the freshness check.
	OptNoNonce Option = "Policy.NoNonce"
	// OptAllowUnrestricted accepts an AK that is not a restricted
	// signing key, or whose attributes are unknown.
	OptAllowUnrestricted Option = "Policy.AllowUnrestricted"
	// OptAKCert is where an AK certificate comes from.
	OptAKCert Option = "Evidence.AKCert"
	// OptAKRoots are the CAs that certify AKs.
	OptAKRoots Option = "Policy.AKCert.Roots"
	// OptEKRoots are the TPM manufacturers' root CAs.
	OptEKRoots Option = "Policy.EK.Roots"
)

// name words an option for the policy's caller.
func (p *Policy) name(o Option) string {
	if p == nil {
		return string(o)
	}
	return optname.Word(p.OptionName, o)
}
