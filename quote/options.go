package quote

// Option names an input of the Evidence or an option of the Policy, for
// the reasons that tell a user what to give or what was given up ("no
// nonce given: … give the nonce, or opt out"). The library words an
// option by the Go field that sets it; Policy.OptionName lets a caller
// word it in its own terms (goldenpcr's CLI names its flags), so the
// reasons a user reads name what that user can type.
type Option string

// The options reasons name.
const (
	// OptNonce is how the verifier gives the nonce it sent.
	OptNonce Option = "nonce"
	// OptNoNonce opts out of the freshness check.
	OptNoNonce Option = "no_nonce"
	// OptAllowUnrestricted accepts an AK that is not a restricted
	// signing key, or whose attributes are unknown.
	OptAllowUnrestricted Option = "allow_unrestricted"
	// OptAKCert is where an AK certificate comes from.
	OptAKCert Option = "ak_cert"
	// OptAKRoots are the CAs that certify AKs.
	OptAKRoots Option = "ak_roots"
	// OptEKRoots are the TPM manufacturers' root CAs.
	OptEKRoots Option = "ek_roots"
)

// libraryNames word the options as this package's API sets them.
var libraryNames = map[Option]string{
	OptNonce:             "Policy.Nonce",
	OptNoNonce:           "Policy.NoNonce",
	OptAllowUnrestricted: "Policy.AllowUnrestricted",
	OptAKCert:            "Evidence.AKCert",
	OptAKRoots:           "Policy.AKCert.Roots",
	OptEKRoots:           "Policy.EK.Roots",
}

// name words an option for the policy's caller.
func (p *Policy) name(o Option) string {
	if p != nil && p.OptionName != nil {
		if s := p.OptionName(o); s != "" {
			return s
		}
	}
	return libraryNames[o]
}
