package tpmcert_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/tpmcert"
)

// FuzzParseTPMCertificate: no input makes the certificate reader panic,
// and an accepted certificate has a key and a summary.
func FuzzParseTPMCertificate(f *testing.F) {
	for _, name := range []string{"swtpm-ek-rsa.crt", "swtpm-ek-ecc.crt", "swtpm-localca-root.pem", "swtpm-localca-intermediate.pem"} {
		b, err := os.ReadFile(filepath.Join("../fixtures/quote", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := tpmcert.ParseTPMCertificate(data)
		if err != nil {
			return
		}
		if c.Key == nil || c.Summary() == nil {
			t.Fatalf("accepted without a key: %+v", c)
		}
		_ = c.ManufacturerName()
		_ = c.EKUKind()
		_, _ = tpmcert.ParseCertificates(data)
	})
}
