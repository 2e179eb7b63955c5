package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/internal/armtest"
)

const (
	seedToken = "../../armattest/testdata/optee-psa-token.cbor"
	seedNonce = "e3088baffa105a3820490242af825be81b5a3623da757535041f601750b9cb82"
)

func writePub(t *testing.T, dir, name string, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errs)
	}
	return out
}

// OP-TEE seed: the TA's measurement → PSA CoRIM → the PTA's real token
// verifies; a wrong nonce or another IAK fails with exit 1 and the check.
func TestVerifyPSA(t *testing.T) {
	dir := t.TempDir()
	good, other := filepath.Join(dir, "psa.corim"), filepath.Join(dir, "other.corim")
	mustRun(t, "corim", "create", "--scheme", "psa", "--impl-id", seedImplB64, "--inst-id", seedInstB64,
		"--iak", corimData+"psa-iak.pem", "--component", seedTAComp, "-O", good)
	mustRun(t, "corim", "create", "--scheme", "psa", "--impl-id", seedImplB64, "--inst-id", seedInstB64,
		"--iak", writePub(t, dir, "other.pem", armtest.Key(t, elliptic.P256())), "--component", seedTAComp, "-O", other)

	out := mustRun(t, "verify", "psa", seedToken, "--corim", good, "--nonce", seedNonce)
	for _, want := range []string{"http://arm.com/psa/2.0.0", "✓ signature", "✓ software-component 0 (PRoT)", "verified: every check passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	// The token as OP-TEE prints it (hex), the nonce as Veraison's EAR
	// carries it (base64url).
	data, _ := os.ReadFile(seedToken)
	hexToken := filepath.Join(dir, "token.hex")
	os.WriteFile(hexToken, []byte(hex.EncodeToString(data)+"\n"), 0o644)
	js := mustRun(t, "verify", "psa", hexToken, "--corim", good, "--nonce", "4wiLr_oQWjggSQJCr4Jb6BtaNiPadXU1BB9gF1C5y4I=", "-o", "json")
	var o struct {
		Verified bool
		Checks   []struct{ Name string }
	}
	if json.Unmarshal([]byte(js), &o) != nil || !o.Verified || len(o.Checks) != 7 {
		t.Fatalf("json:\n%s", js)
	}

	// -o ear: the verdict as an EAR that verify ear reads back.
	priv, pub, _, _ := earKeys(t, dir)
	jwtFile := filepath.Join(dir, "psa.jwt")
	os.WriteFile(jwtFile, []byte(mustRun(t, "verify", "psa", seedToken, "--corim", good, "--nonce", seedNonce, "-o", "ear", "--ear-key", priv)), 0o644)
	text := mustRun(t, "verify", "ear", jwtFile, "--key", pub, "--nonce", seedNonce)
	for _, want := range []string{"submodule PSA_IOT: affirming", "instance-identity   2", "executables         2", "hardware            2"} {
		if !strings.Contains(text, want) {
			t.Errorf("PSA EAR lacks %q:\n%s", want, text)
		}
	}
	code, jwt, _ := run(t, "verify", "psa", seedToken, "--corim", other, "--nonce", seedNonce, "-o", "ear", "--ear-key", priv)
	os.WriteFile(jwtFile, []byte(jwt), 0o644)
	if _, text, _ := run(t, "verify", "ear", jwtFile, "--key", pub); code != 1 || !strings.Contains(text, "submodule PSA_IOT: contraindicated") ||
		!strings.Contains(text, "instance-identity  99") {
		t.Errorf("PSA EAR of a token under another IAK: exit %d\n%s", code, text)
	}

	for _, tc := range []struct {
		args  []string
		code  int
		check string
	}{
		{[]string{seedToken, "--corim", good, "--nonce", strings.Repeat("00", 32)}, 1, "✗ nonce"},
		{[]string{seedToken, "--corim", other, "--nonce", seedNonce}, 1, "✗ signature"},
		{[]string{good, "--corim", good, "--nonce", seedNonce}, 2, "not a PSA token"},
		{[]string{seedToken, "--nonce", seedNonce}, 2, "--corim: required"},
		{[]string{seedToken, "--corim", good}, 2, "--nonce: required"},
		{[]string{seedToken, "--corim", corimData + "cca-realm.cbor", "--nonce", seedNonce}, 2, "reference value"},
	} {
		code, out, errs := run(t, append([]string{"verify", "psa"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errs, tc.check) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.check, out, errs)
		}
	}
}

// Islet: a realm → CCA platform and realm CoRIMs → a token, and an RA-TLS
// certificate bound to its key, verify; one bound to another key fails.
func TestVerifyCCA(t *testing.T) {
	dir := t.TempDir()
	k := armtest.NewCCAKeys(t)
	plat, realm := filepath.Join(dir, "platform.corim"), filepath.Join(dir, "realm.corim")
	h := hex.EncodeToString
	mustRun(t, "corim", "create", "--scheme", "cca-platform", "--impl-id", h(armtest.CCAImplID), "--inst-id", h(armtest.CCAInstID),
		"--cpak", writePub(t, dir, "cpak.pem", k.CPAK),
		"--component", "type=RSE_BL2,value=sha-256:"+h(armtest.BL2Value)+",signer-id="+h(armtest.BL2Signer),
		"--component", "type=RMM,value=sha-256:"+h(armtest.RMMValue)+",signer-id="+h(armtest.RMMSigner),
		"--platform-config", h(armtest.CCAConfig), "-O", plat)
	mustRun(t, "corim", "create", "--scheme", "cca-realm", "--rim", h(armtest.RealmRIM), "--rem0", h(armtest.RealmREMs[0]),
		"--rpv", h(armtest.RealmRPV), "-O", realm)

	nonce := bytes.Repeat([]byte{0x4e}, 64)
	token := filepath.Join(dir, "token.cbor")
	os.WriteFile(token, armtest.CCAToken(t, k, nonce, nil), 0o644)
	out := mustRun(t, "verify", "cca", token, "--corim", plat, "--realm-corim", realm, "--nonce", h(nonce))
	for _, want := range []string{"✓ platform-signature", "✓ binding", "✓ realm-rem0", "- realm-rem1", "verified: every check passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, "verify", "cca", token, "--corim", plat, "--nonce", h(nonce), "-o", "yaml")
	var y map[string]any
	if yaml.Unmarshal([]byte(out), &y) != nil || y["verified"] != true {
		t.Fatalf("yaml:\n%s", out)
	}
	priv, pub, _, _ := earKeys(t, dir)
	jwtFile := filepath.Join(dir, "cca.jwt")
	os.WriteFile(jwtFile, []byte(mustRun(t, "verify", "cca", token, "--corim", plat, "--realm-corim", realm, "--nonce", h(nonce), "-o", "ear", "--ear-key", priv)), 0o644)
	text := mustRun(t, "verify", "ear", jwtFile, "--key", pub, "--nonce", h(nonce))
	for _, want := range []string{"submodule ARM_CCA: affirming", "instance-identity   2", "configuration       2", "executables         2"} {
		if !strings.Contains(text, want) {
			t.Errorf("CCA EAR lacks %q:\n%s", want, text)
		}
	}
	if code, out, _ := run(t, "verify", "cca", token, "--corim", plat, "--nonce", h(bytes.Repeat([]byte{1}, 64))); code != 1 || !strings.Contains(out, "✗ realm-challenge") {
		t.Errorf("wrong nonce: exit %d\n%s", code, out)
	}

	key, other := armtest.Key(t, elliptic.P256()), armtest.Key(t, elliptic.P256())
	server := []byte("islet-ratls-server-challenge")
	bound, relayed := filepath.Join(dir, "bound.pem"), filepath.Join(dir, "relayed.pem")
	os.WriteFile(bound, armtest.RATLSCert(t, k, key, key, server), 0o644)
	os.WriteFile(relayed, armtest.RATLSCert(t, k, key, other, server), 0o644)
	out = mustRun(t, "verify", "cca", "--ratls-cert", bound, "--corim", plat, "--realm-corim", realm, "--nonce", h(server))
	if !strings.Contains(out, "✓ ratls-certificate") || !strings.Contains(out, "SHA-512(nonce ‖ the certificate's SubjectPublicKeyInfo)") {
		t.Errorf("RA-TLS:\n%s", out)
	}
	if code, out, _ := run(t, "verify", "cca", "--ratls-cert", relayed, "--corim", plat, "--nonce", h(server)); code != 1 || !strings.Contains(out, "✗ realm-challenge") {
		t.Errorf("relayed RA-TLS token: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--corim", plat, "--nonce", "00"}, "give a TOKEN file or --ratls-cert"},
		{[]string{token, "--ratls-cert", bound, "--corim", plat, "--nonce", "00"}, "give one"},
		{[]string{"--ratls-cert", token, "--corim", plat, "--nonce", "00"}, "not an X.509 certificate"},
		{[]string{bound, "--corim", plat, "--nonce", "00"}, "not a CCA token"},
		{[]string{token, "--corim", realm, "--nonce", "00"}, "--corim"},
		{[]string{token, "--corim", plat, "--realm-corim", plat, "--nonce", "00"}, "--realm-corim"},
	} {
		if code, _, errs := run(t, append([]string{"verify", "cca"}, tc.args...)...); code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errs, tc.want)
		}
	}
}

// A signed PSA CoRIM (COSE_Sign1 with an x5chain) serves verify psa as the
// unsigned one does.
func TestVerifyPSASignedCorim(t *testing.T) {
	dir := t.TempDir()
	key, cert, chain := signingFiles(t, dir)
	signed := filepath.Join(dir, "psa-signed.corim")
	out := mustRun(t, "corim", "create", "--scheme", "psa", "--impl-id", seedImplB64, "--inst-id", seedInstB64,
		"--iak", corimData+"psa-iak.pem", "--component", seedTAComp, "--sign-key", key, "--sign-cert", cert, "--chain", chain, "-O", signed)
	if !strings.Contains(out, "application/rim+cose") {
		t.Fatalf("signed summary:\n%s", out)
	}
	if out := mustRun(t, "verify", "psa", seedToken, "--corim", signed, "--nonce", seedNonce); !strings.Contains(out, "verified: every check passed") {
		t.Fatalf("verify with a signed CoRIM:\n%s", out)
	}
}
