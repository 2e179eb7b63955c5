package tpmcert_test

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/quote"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

func TestVerifyAKCert(t *testing.T) {
	root, der, key := ekChain(t, nil, nil)
	cert, err := tpmcert.ParseTPMCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, _, otherKey := ekChain(t, nil, nil)
	ak := &tpmstruct.PublicKey{Format: "test", Key: &key.PublicKey}
	for _, tc := range []struct {
		name   string
		cert   *tpmcert.TPMCertificate
		ak     *tpmstruct.PublicKey
		roots  []*x509.Certificate
		passed bool
		want   string
	}{
		{"certified AK", cert, ak, []*x509.Certificate{root}, true, "certifies the quoting AK and chains to a given root ((empty subject) ← CN=test TPM root)"},
		{"another AK signed the quote", cert, &tpmstruct.PublicKey{Key: &otherKey.PublicKey}, []*x509.Certificate{root}, false, "not the AK that signed the quote"},
		{"another CA", cert, ak, []*x509.Certificate{otherRoot}, false, "does not chain to the given roots"},
		{"no roots", cert, ak, nil, false, "no AK root CAs given"},
		{"no certificate", nil, ak, []*x509.Certificate{root}, false, "there is no AK certificate"},
	} {
		c := quote.VerifyAKCert(tc.cert, tc.ak, &tpmcert.AKCertPolicy{Roots: tc.roots}, nil)
		if c.Name != quote.CheckAKCert || c.Passed != tc.passed || !strings.Contains(c.Reason, tc.want) {
			t.Errorf("%s: %+v, want passed=%v with %q", tc.name, c, tc.passed, tc.want)
		}
		if !tc.passed {
			if _, ok := c.Err.(*quote.AKCertError); !ok {
				t.Errorf("%s: error %T, want *quote.AKCertError", tc.name, c.Err)
			}
		}
	}
}
