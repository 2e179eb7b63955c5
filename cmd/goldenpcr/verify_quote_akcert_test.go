package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// akCA is a CA that certifies AKs, as a privacy CA or a cloud's AK CA.
type akCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string // the CA certificate as a PEM file
}

func newAKCA(t *testing.T, dir, name string) *akCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := filepath.Join(dir, name+".pem")
	writeFile(t, p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return &akCA{cert: cert, key: key, pem: p}
}

// certify issues a DER certificate for the public key in the AK file.
func (ca *akCA) certify(t *testing.T, akFile string) []byte {
	t.Helper()
	b, err := os.ReadFile(akFile)
	if err != nil {
		t.Fatal(err)
	}
	ak, err := tpmstruct.ParsePublic(b)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "AK of " + filepath.Base(akFile)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, ak.Key, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// The AK certificate check on the real swtpm quotes of fixtures/quote: it
// passes only for a certificate of the quoting AK that chains to a given
// root, whether the certificate comes with --ak-cert or is the --ak.
func TestVerifyQuoteAKCert(t *testing.T) {
	dir, cas := t.TempDir(), t.TempDir()
	ca, otherCA := newAKCA(t, cas, "AK CA"), newAKCA(t, dir, "other CA")
	rsaCert, eccCert := filepath.Join(dir, "rsa-ak.crt"), filepath.Join(dir, "ecc-ak.crt")
	writeFile(t, rsaCert, ca.certify(t, qf("rsa-ak.pem")))
	writeFile(t, eccCert, ca.certify(t, qf("ecc-ak.pem")))
	for _, tc := range []struct {
		name  string
		extra []string
		code  int
		want  string
	}{
		{"certified AK", []string{"--ak-cert", rsaCert, "--ak-roots", ca.pem}, exitOK, "✓ ak-cert        certifies the quoting AK and chains to a given root (CN=AK of rsa-ak.pem ← CN=AK CA)"},
		{"roots in a folder", []string{"--ak-cert", rsaCert, "--ak-roots", cas}, exitOK, "✓ ak-cert        certifies the quoting AK and chains to a given root (CN=AK of rsa-ak.pem ← CN=AK CA)"},
		{"another AK's certificate", []string{"--ak-cert", eccCert, "--ak-roots", ca.pem}, exitMismatch, "not the AK that signed the quote"},
		{"another CA", []string{"--ak-cert", rsaCert, "--ak-roots", otherCA.pem}, exitMismatch, "does not chain to the given roots"},
		{"roots but no certificate", []string{"--ak-roots", ca.pem}, exitMismatch, "there is no AK certificate"},
		{"certificate but no roots", []string{"--ak-cert", rsaCert}, exitMismatch, "no AK root CAs given (--ak-roots)"},
		{"not a certificate", []string{"--ak-cert", qf("rsa-ak.pub"), "--ak-roots", ca.pem}, exitUsage, "--ak-cert ../../fixtures/quote/rsa-ak.pub: X.509"},
	} {
		code, out, errs := run(t, rsaArgs(t, tc.extra...)...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s%s", tc.name, code, tc.code, tc.want, out, errs)
		}
	}
	// The AK given as its certificate (which carries no TPM attributes).
	code, out, errs := run(t, "verify", "quote", "--ak", rsaCert, "--allow-unrestricted", "-m", qf("rsa-quote.msg"), "-s", qf("rsa-quote.sig"),
		"--pcrs", qf("rsa-quote.pcrs"), "--nonce", fixtureNonceHex(t), "--ak-roots", ca.pem)
	if code != exitOK || !strings.Contains(out, "✓ ak-cert") {
		t.Errorf("--ak certificate: exit %d\n%s%s", code, out, errs)
	}
}

// A go-tpm-tools attestation carries the AK certificate as ak_cert (and
// its CAs as intermediate_certs): with --ak-roots it must certify the
// attestation's AK; without, the attestation verifies as before.
func TestVerifyBundleAKCert(t *testing.T) {
	nonceHex, err := os.ReadFile(qf("gotpmtools-nonce.hex"))
	if err != nil {
		t.Fatal(err)
	}
	nonce := strings.TrimSpace(string(nonceHex))
	dir := t.TempDir()
	ca := newAKCA(t, dir, "AK CA")
	withCert := func(name, akFrom string) string {
		var att map[string]any
		b, _ := os.ReadFile(qf(name))
		if err := json.Unmarshal(b, &att); err != nil {
			t.Fatal(err)
		}
		akPub, _ := base64.StdEncoding.DecodeString(att["akPub"].(string))
		akFile := filepath.Join(dir, akFrom+".tpmt")
		writeFile(t, akFile, akPub)
		att["akCert"] = base64.StdEncoding.EncodeToString(ca.certify(t, akFile))
		out, _ := json.Marshal(att)
		p := filepath.Join(dir, name)
		writeFile(t, p, out)
		return p
	}
	genuine := withCert("gotpmtools-rsa.json", "rsa")
	// The RSA attestation carrying the ECC attestation's AK certificate.
	var ecc map[string]any
	b, _ := os.ReadFile(withCert("gotpmtools-ecc.json", "ecc"))
	json.Unmarshal(b, &ecc)
	var swapped map[string]any
	b, _ = os.ReadFile(genuine)
	json.Unmarshal(b, &swapped)
	swapped["akCert"] = ecc["akCert"]
	b, _ = json.Marshal(swapped)
	other := filepath.Join(dir, "swapped.json")
	writeFile(t, other, b)

	if code, r, failed, reasons := verifyBundle(t, "--attestation", genuine, "--nonce", nonce, "--ak-roots", ca.pem); code != exitOK || !r.Attestation.AKCert || !hasCheck(r.Checks, "ak-cert") {
		t.Errorf("genuine: exit %d, %+v, failed %v\n%s", code, r.Attestation, failed, reasons)
	}
	// Without the roots the attestation's own certificate vouches for
	// nothing: the AK must be pinned another way.
	if code, r, failed, _ := verifyBundle(t, "--attestation", genuine, "--nonce", nonce); code != exitMismatch || hasCheck(r.Checks, "ak-cert") ||
		len(failed) != 4 || failed[0] != "quote 1: ak-trust" {
		t.Errorf("without --ak-roots: exit %d, failed %v", code, failed)
	}
	if code, _, failed, _ := verifyBundle(t, "--attestation", genuine, "--nonce", nonce, "--ak-name", bundleAKName(t, genuine)); code != exitOK {
		t.Errorf("without --ak-roots, AK pinned: exit %d, failed %v", code, failed)
	}
	if code, _, failed, reasons := verifyBundle(t, "--attestation", other, "--nonce", nonce, "--ak-roots", ca.pem); code != exitMismatch ||
		len(failed) != 5 || failed[0] != "ak-cert" || failed[1] != "quote 1: ak-trust" || !strings.Contains(reasons, "not the AK that signed the quote") {
		t.Errorf("another AK's certificate: exit %d, failed %v\n%s", code, failed, reasons)
	}
}

func hasCheck(checks []checkJSON, name string) bool {
	for _, c := range checks {
		if c.Name == name && c.Passed {
			return true
		}
	}
	return false
}
