package quote

import (
	"crypto/x509"
	"strings"
	"testing"
)

func TestVerifyAKCert(t *testing.T) {
	root, der, key := ekChain(t, nil, nil)
	cert, err := ParseTPMCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, _, otherKey := ekChain(t, nil, nil)
	ak := &PublicKey{Format: "test", Key: &key.PublicKey}
	for _, tc := range []struct {
		name   string
		cert   *TPMCertificate
		ak     *PublicKey
		roots  []*x509.Certificate
		passed bool
		want   string
	}{
		{"certified AK", cert, ak, []*x509.Certificate{root}, true, "certifies the quoting AK and chains to a given root ((empty subject) ← CN=test TPM root)"},
		{"another AK signed the quote", cert, &PublicKey{Key: &otherKey.PublicKey}, []*x509.Certificate{root}, false, "not the AK that signed the quote"},
		{"another CA", cert, ak, []*x509.Certificate{otherRoot}, false, "does not chain to the given roots"},
		{"no roots", cert, ak, nil, false, "no AK root CAs given"},
		{"no certificate", nil, ak, []*x509.Certificate{root}, false, "there is no AK certificate"},
	} {
		c := VerifyAKCert(tc.cert, tc.ak, &AKCertPolicy{Roots: tc.roots})
		if c.Name != CheckAKCert || c.Passed != tc.passed || !strings.Contains(c.Reason, tc.want) {
			t.Errorf("%s: %+v, want passed=%v with %q", tc.name, c, tc.passed, tc.want)
		}
		if !tc.passed {
			if _, ok := c.Err.(*AKCertError); !ok {
				t.Errorf("%s: error %T, want *AKCertError", tc.name, c.Err)
			}
		}
	}
}
