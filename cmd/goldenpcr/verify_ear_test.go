package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	vear "github.com/veraison/ear"
)

// earKeys writes an ECDSA P-256 key pair: private key PEM, public key PEM,
// and the public key as a JWK set.
func earKeys(t *testing.T, dir string) (priv, pub, jwks string, key *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	priv = filepath.Join(dir, "ear.key")
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pder, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pub = filepath.Join(dir, "ear.pub")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o644)
	jk, err := jwk.FromRaw(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	set.AddKey(jk)
	b, _ := json.Marshal(map[string]any{"ear-verification-key": jk, "media-types": []string{}})
	jwks = filepath.Join(dir, "verification.json")
	os.WriteFile(jwks, b, 0o644)
	return priv, pub, jwks, k
}

// verify quote -o ear writes goldenpcr's verdict as an EAR that verify ear
// and the ear library both accept, with the trust vector the checks
// justify; a quote that fails gives a contraindicated EAR and exit 1.
func TestVerifyQuoteEAR(t *testing.T) {
	dir := t.TempDir()
	priv, pub, jwks, key := earKeys(t, dir)
	code, out, errs := run(t, rsaArgs(t, "--expected", qf("rsa-quote.pcrs"), "-o", "ear", "--ear-key", priv)...)
	if code != exitOK || strings.Count(out, ".") != 2 {
		t.Fatalf("-o ear: exit %d %q %q", code, out, errs)
	}
	tok := filepath.Join(dir, "result.jwt")
	os.WriteFile(tok, []byte(out), 0o644)

	var ar vear.AttestationResult
	if err := ar.Verify([]byte(strings.TrimSpace(out)), jwa.ES256, &key.PublicKey); err != nil {
		t.Fatal(err)
	}
	tv := ar.Submods["TPM"].TrustVector
	if *ar.Submods["TPM"].Status != vear.TrustTierAffirming || tv.InstanceIdentity != vear.TrustworthyInstanceClaim ||
		tv.Executables != vear.ApprovedBootClaim || tv.Hardware != vear.NoClaim || tv.Configuration != vear.NoClaim {
		t.Errorf("EAR: %v %+v", *ar.Submods["TPM"].Status, tv)
	}

	code, text, errs := run(t, "verify", "ear", tok, "--key", pub, "--nonce", fixtureNonceHex(t))
	for _, want := range []string{"submodule TPM: affirming", "instance-identity   2 affirming", "executables         3 affirming",
		"✓ signature", "✓ profile", "✓ nonce", "✓ status", "verified: every check passed"} {
		if !strings.Contains(text, want) {
			t.Errorf("verify ear text lacks %q:\n%s", want, text)
		}
	}
	if code != exitOK {
		t.Errorf("verify ear: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, "verify", "ear", tok, "--jwks", jwks, "-o", "json"); code != exitOK {
		t.Errorf("verify ear --jwks: exit %d %s", code, errs)
	}
	other := hex.EncodeToString([]byte("another nonce!!!"))
	if code, text, _ := run(t, "verify", "ear", tok, "--key", pub, "--nonce", other); code != exitMismatch || !strings.Contains(text, "✗ nonce") {
		t.Errorf("other nonce: exit %d\n%s", code, text)
	}
	_, otherPub, _, _ := earKeys(t, t.TempDir())
	if code, text, _ := run(t, "verify", "ear", tok, "--key", otherPub); code != exitMismatch || !strings.Contains(text, "✗ signature") {
		t.Errorf("other key: exit %d\n%s", code, text)
	}

	// A quote that does not verify: its EAR says so, and exit is 1.
	wrong := filepath.Join(dir, "wrong.yaml")
	os.WriteFile(wrong, []byte("sha256:\n  7: 0x"+strings.Repeat("ab", 32)+"\n"), 0o644)
	code, out, _ = run(t, rsaArgs(t, "--expected", wrong, "-o", "ear", "--ear-key", priv)...)
	if code != exitMismatch {
		t.Fatalf("mismatching quote -o ear: exit %d", code)
	}
	os.WriteFile(tok, []byte(out), 0o644)
	if code, text, _ := run(t, "verify", "ear", tok, "--key", pub); code != exitMismatch || !strings.Contains(text, "submodule TPM: contraindicated") ||
		!strings.Contains(text, "executables        33 warning") {
		t.Errorf("contraindicated EAR: exit %d\n%s", code, text)
	}

	// Bad usage.
	for _, args := range [][]string{
		rsaArgs(t, "-o", "ear"),
		rsaArgs(t, "--ear-key", priv),
		rsaArgs(t, "-o", "ear", "--ear-key", filepath.Join(dir, "missing.key")),
		rsaArgs(t, "-o", "ear", "--ear-key", pub),
		{"verify", "ear", tok},
		{"verify", "ear", tok, "--key", pub, "--jwks", jwks},
		{"verify", "ear", filepath.Join(dir, "missing.jwt"), "--key", pub},
		{"verify", "ear", pub, "--key", pub},
		{"verify", "ear", tok, "--jwks", "http://127.0.0.1:1/x"},
	} {
		if code, _, errs := run(t, args...); code != exitUsage || errs == "" {
			t.Errorf("%v: exit %d %q", args[len(args)-3:], code, errs)
		}
	}
}
