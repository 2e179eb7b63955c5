package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/corim"
)

const (
	corimData  = "../../corim/testdata/"
	corimBase  = corimData + "baseline.yaml"
	corimClass = "cd1f0e55-26f9-460d-b9d8-f7fde171787c"
	corimNode  = "7d2a9a4c-2f0b-4a3e-9c61-0c1e6f1d3b5a"
)

func parsecArgs(out string, extra ...string) []string {
	return append([]string{"corim", "create", "--scheme", "parsec-tpm", "--baseline", corimBase, "--class-id", corimClass,
		"--ak", corimData + "ak-rsa.pem", "-O", out}, extra...)
}

func enactArgs(out string, extra ...string) []string {
	return append([]string{"corim", "create", "--scheme", "enacttrust", "--baseline", corimBase, "--pcrs", "sha256:0,4",
		"--node-id", corimNode, "--ak", corimData + "ak-ecdsa.pem", "-O", out}, extra...)
}

// The CLI writes the golden CoRIMs of the corim package byte for byte, and
// show decodes them in every output format.
func TestCorimCreateShowGolden(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		golden, out string
		extra       []string
	}{
		{"parsec-tpm.cbor", "p.corim", nil},
		{"enacttrust.cbor", "e.corim", nil},
		{"enacttrust-legacy.cbor", "l.corim", []string{"--veraison", "legacy"}},
	} {
		out := filepath.Join(dir, tc.out)
		args := enactArgs(out, tc.extra...)
		if strings.HasPrefix(tc.golden, "parsec") {
			args = parsecArgs(out, tc.extra...)
		}
		code, stdout, errs := run(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.golden, code, errs)
		}
		if !strings.Contains(stdout, "media type  application/") {
			t.Errorf("%s: summary lacks the media type:\n%s", tc.golden, stdout)
		}
		got, _ := os.ReadFile(out)
		want, _ := os.ReadFile(corimData + tc.golden)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the CLI's CoRIM differs from the golden file", tc.golden)
		}
		code, text, errs := run(t, "corim", "show", out)
		if code != 0 || !strings.Contains(text, "profile rules") {
			t.Errorf("%s: show: exit %d %s\n%s", tc.golden, code, errs, text)
		}
		code, js, _ := run(t, "corim", "show", out, "-o", "json")
		var d corim.Decoded
		if code != 0 || json.Unmarshal([]byte(js), &d) != nil || len(d.Comids) != 1 {
			t.Errorf("%s: show -o json: exit %d\n%s", tc.golden, code, js)
		}
		code, ys, _ := run(t, "corim", "show", out, "-o", "yaml")
		var y map[string]any
		if code != 0 || yaml.Unmarshal([]byte(ys), &y) != nil || y["scheme"] != string(d.Scheme) {
			t.Errorf("%s: show -o yaml: exit %d\n%s", tc.golden, code, ys)
		}
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signingFiles writes a CA, an intermediate and a leaf key + certificate.
func signingFiles(t *testing.T, dir string) (key, cert, chain string) {
	t.Helper()
	mk := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	issue := func(cn string, k *ecdsa.PrivateKey, parent *x509.Certificate, pk *ecdsa.PrivateKey, ca bool) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: ca, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
		if parent == nil {
			parent, pk = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, pk)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	rk, ik, lk := mk(), mk(), mk()
	root := issue("test root", rk, nil, nil, true)
	inter := issue("test intermediate", ik, root, rk, true)
	leaf := issue("test signer", lk, inter, ik, false)
	der, _ := x509.MarshalPKCS8PrivateKey(lk)
	key = writePEM(t, filepath.Join(dir, "signer.key"), "PRIVATE KEY", der)
	cert = writePEM(t, filepath.Join(dir, "signer.pem"), "CERTIFICATE", leaf.Raw)
	chain = filepath.Join(dir, "chain.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})...)
	if err := os.WriteFile(chain, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return key, cert, chain
}

func TestCorimSigned(t *testing.T) {
	dir := t.TempDir()
	key, cert, chain := signingFiles(t, dir)
	out := filepath.Join(dir, "signed.corim")
	code, stdout, errs := run(t, enactArgs(out, "--sign-key", key, "--sign-cert", cert, "--chain", chain)...)
	if code != 0 || !strings.Contains(stdout, "signed (COSE_Sign1, ES256)") || !strings.Contains(stdout, "application/rim+cose") {
		t.Fatalf("exit %d %s\n%s", code, errs, stdout)
	}
	code, text, errs := run(t, "corim", "show", out)
	for _, want := range []string{"signed CoRIM (COSE_Sign1)", `ES256 by "test signer": ✓`, "chain       ✓", "leaf   CN=test signer", "issuer CN=test root"} {
		if !strings.Contains(text, want) {
			t.Errorf("show lacks %q:\n%s", want, text)
		}
	}
	if code != 0 {
		t.Fatalf("show: exit %d %s", code, errs)
	}
	// A CoRIM signed by another key than its x5chain leaf's: exit 1.
	data, _ := os.ReadFile(out)
	sigStart := len(data) - 64
	bad := append([]byte{}, data...)
	bad[sigStart] ^= 0xff
	badPath := filepath.Join(dir, "bad.corim")
	if err := os.WriteFile(badPath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	code, text, errs = run(t, "corim", "show", badPath)
	if code != exitMismatch || !strings.Contains(text, "✗") || !strings.Contains(errs, "does not verify") {
		t.Errorf("tampered signature: exit %d %s\n%s", code, errs, text)
	}
}

// Bad usage and bad inputs exit 2 with a message naming the problem, and
// write nothing.
func TestCorimErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.corim")
	key, cert, _ := signingFiles(t, dir)
	otherDir := t.TempDir()
	otherKey, _, _ := signingFiles(t, otherDir)
	notCorim := filepath.Join(dir, "not.corim")
	golden, _ := os.ReadFile(corimData + "parsec-tpm.cbor")
	truncated := filepath.Join(dir, "trunc.corim")
	os.WriteFile(notCorim, []byte("hello"), 0o644)
	os.WriteFile(truncated, golden[:len(golden)-10], 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no scheme", []string{"corim", "create", "--baseline", corimBase, "--ak", corimData + "ak-rsa.pem", "-O", out}, "--scheme: required"},
		{"unknown scheme", []string{"corim", "create", "--scheme", "tdx", "--baseline", corimBase, "--ak", corimData + "ak-rsa.pem", "-O", out}, `--scheme "tdx": want parsec-tpm, enacttrust, psa, cca-platform or cca-realm`},
		{"no -O", parsecArgs(out)[:len(parsecArgs(out))-2], "-O: required"},
		{"bad class-id", []string{"corim", "create", "--scheme", "parsec-tpm", "--baseline", corimBase, "--class-id", "nope", "--ak", corimData + "ak-rsa.pem", "-O", out}, `--class-id "nope": not a UUID`},
		{"missing class-id", []string{"corim", "create", "--scheme", "parsec-tpm", "--baseline", corimBase, "--ak", corimData + "ak-rsa.pem", "-O", out}, "--class-id: required"},
		{"short key id", parsecArgs(out, "--key-id", "01ab"), "key id: 2 bytes"},
		{"node-id with parsec", parsecArgs(out, "--node-id", corimNode), "go with --scheme enacttrust"},
		{"class-id with enacttrust", enactArgs(out, "--class-id", corimClass), "go with --scheme parsec-tpm"},
		{"RSA AK for enacttrust", []string{"corim", "create", "--scheme", "enacttrust", "--baseline", corimBase, "--pcrs", "sha256:0", "--node-id", corimNode, "--ak", corimData + "ak-rsa.pem", "-O", out}, "want an ECDSA key"},
		{"PCR the baseline lacks", []string{"corim", "create", "--scheme", "enacttrust", "--baseline", corimBase, "--pcrs", "sha256:0-2", "--node-id", corimNode, "--ak", corimData + "ak-ecdsa.pem", "-O", out}, "no value for sha256:1, sha256:2"},
		{"PCR with variants", []string{"corim", "create", "--scheme", "enacttrust", "--baseline", corimBase, "--pcrs", "sha256:0,7", "--node-id", corimNode, "--ak", corimData + "ak-ecdsa.pem", "-O", out}, "PCR 7 of the reference allow variants"},
		{"unknown bank", []string{"corim", "create", "--scheme", "enacttrust", "--baseline", corimBase, "--pcrs", "sha999:0", "--node-id", corimNode, "--ak", corimData + "ak-ecdsa.pem", "-O", out}, "--pcrs:"},
		{"bad veraison", parsecArgs(out, "--veraison", "2602"), `--veraison "2602": want current, legacy or legacy-2502`},
		{"key without cert", parsecArgs(out, "--sign-key", key), "--sign-key and --sign-cert go together"},
		{"not a certificate", parsecArgs(out, "--sign-key", key, "--sign-cert", corimBase), "--sign-cert " + corimBase},
		{"-O over the baseline", parsecArgs(corimBase), "-O:"},
		{"missing AK", []string{"corim", "create", "--scheme", "parsec-tpm", "--baseline", corimBase, "--class-id", corimClass, "--ak", filepath.Join(dir, "nope.pem"), "-O", out}, "--ak: open"},
		{"AK not a key", []string{"corim", "create", "--scheme", "parsec-tpm", "--baseline", corimBase, "--class-id", corimClass, "--ak", notCorim, "-O", out}, "--ak " + notCorim},
		{"baseline not readable", []string{"corim", "create", "--scheme", "parsec-tpm", "--baseline", notCorim, "--class-id", corimClass, "--ak", corimData + "ak-rsa.pem", "-O", out}, "--baseline: " + notCorim},
		{"cert of another key", parsecArgs(out, "--sign-key", otherKey, "--sign-cert", cert), "is not the signing key's"},
		{"show not a CoRIM", []string{"corim", "show", notCorim}, "not a CoRIM: it starts with 68656c6c6f"},
		{"show truncated", []string{"corim", "show", truncated}, "unsigned CoRIM:"},
		{"show missing", []string{"corim", "show", filepath.Join(dir, "nope")}, "no such file"},
		{"show bad scheme", []string{"corim", "show", notCorim, "--scheme", "tdx"}, `--scheme "tdx"`},
		{"show no file", []string{"corim", "show"}, "accepts 1 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := run(t, tc.args...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, %q; want exit 2 with %q", code, errs, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failing create wrote %s", out)
			}
		})
	}
	before, _ := os.ReadFile(corimBase)
	if !bytes.Contains(before, []byte("goldenpcr.baseline/v1")) {
		t.Error("-O over the baseline changed it")
	}
}
