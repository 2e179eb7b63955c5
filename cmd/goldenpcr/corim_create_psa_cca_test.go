package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/corim"
)

const (
	seedImplB64 = "YWNtZS1pbXBsZW1lbnRhdGlvbi1pZC0wMDAwMDAwMDE="
	seedInstB64 = "Ac7rrnuJJ6MiflMDz14PH3s0u1Qq1yUKwD+83jbsLxUI"
	seedTAComp  = "type=PRoT,value=sha-256:tNHB5PpzYZcMCNsS0lNMaa/BxXFwWGreLZwfGU/WzUw=,signer-id=rLsRx+TaIXIFUjzkzhokWuGiOa48a/2eeHH35di66Gs="
	ccaInstHex  = "01cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

// hexOf is n bytes b as hex.
func hexOf(b byte, n int) string { return hex.EncodeToString(bytes.Repeat([]byte{b}, n)) }

var (
	realmRIMHex = hexOf(0xa0, 64)
	rep11       = hexOf(0x11, 32)
)

// The CLI writes the corim package's golden PSA and CCA CoRIMs byte for
// byte from its options (ids as base64 and as hex), and show decodes them.
func TestCorimCreateArmGolden(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"psa.cbor", []string{"--scheme", "psa", "--impl-id", seedImplB64, "--inst-id", seedInstB64, "--iak", corimData + "psa-iak.pem",
			"--component", seedTAComp + ",version=1.0.0"}},
		{"cca-platform.cbor", []string{"--scheme", "cca-platform", "--impl-id", "61636d652d696d706c656d656e746174696f6e2d69642d303030303030303031",
			"--inst-id", ccaInstHex, "--cpak", corimData + "cca-cpak.pem",
			"--component", "type=RSE_BL1_2,value=sha-256:" + hexOf(0x11, 32) + ",signer-id=" + hexOf(0x51, 32),
			"--component", "type=RMM,value=sha-512:" + hexOf(0x22, 64) + ",signer-id=" + hexOf(0x52, 32),
			"--platform-config", "cfed0001"}},
		{"cca-realm.cbor", []string{"--scheme", "cca-realm", "--rim", realmRIMHex, "--rem0", hexOf(0xa1, 64), "--rem2", hexOf(0xa3, 64),
			"--rem3", hexOf(0xa4, 64), "--rpv", hexOf(0xad, 64)}},
		{"psa-legacy.cbor", []string{"--scheme", "psa", "--veraison", "legacy", "--impl-id", seedImplB64, "--inst-id", seedInstB64, "--iak", corimData + "psa-iak.pem",
			"--component", seedTAComp + ",version=1.0.0"}},
		{"cca-platform-legacy.cbor", []string{"--scheme", "cca-platform", "--veraison", "legacy", "--impl-id", seedImplB64,
			"--inst-id", ccaInstHex, "--cpak", corimData + "cca-cpak.pem",
			"--component", "type=RSE_BL1_2,value=sha-256:" + hexOf(0x11, 32) + ",signer-id=" + hexOf(0x51, 32) + ",version=1.2.0",
			"--component", "type=RMM,value=sha-512:" + hexOf(0x22, 64) + ",signer-id=" + hexOf(0x52, 32),
			"--platform-config", "cfed0001"}},
		{"cca-realm-legacy.cbor", []string{"--scheme", "cca-realm", "--veraison", "legacy", "--rim", realmRIMHex, "--rem0", hexOf(0xa1, 64), "--rem2", hexOf(0xa3, 64),
			"--rem3", hexOf(0xa4, 64), "--rpv", hexOf(0xad, 64)}},
	} {
		out := filepath.Join(dir, tc.golden)
		code, stdout, errs := run(t, append([]string{"corim", "create", "-O", out}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.golden, code, errs)
		}
		media := `media type  application/rim+cbor; profile="tag:arm.com,2025:`
		if strings.HasSuffix(tc.golden, "-legacy.cbor") {
			media = `media type  application/corim-unsigned+cbor; profile="http://arm.com/`
		}
		if !strings.Contains(stdout, media) {
			t.Errorf("%s: summary:\n%s", tc.golden, stdout)
		}
		got, _ := os.ReadFile(out)
		want, _ := os.ReadFile(corimData + tc.golden)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the CLI's CoRIM differs from the golden file", tc.golden)
		}
		code, js, errs := run(t, "corim", "show", out, "-o", "json")
		var d corim.Decoded
		if code != 0 || json.Unmarshal([]byte(js), &d) != nil || len(d.Comids) != 1 {
			t.Fatalf("%s: show: exit %d %s\n%s", tc.golden, code, errs, js)
		}
	}
	code, text, _ := run(t, "corim", "show", filepath.Join(dir, "psa.cbor"))
	for _, want := range []string{"PSA_IOT", "psa.software-component sha-256 b4d1c1e4", "type PRoT, signer-id acbb11c7", "version 1.0.0", "instance (ueid) 01ceebae"} {
		if code != 0 || !strings.Contains(text, want) {
			t.Errorf("show lacks %q:\n%s", want, text)
		}
	}
	code, text, _ = run(t, "corim", "show", filepath.Join(dir, "cca-realm.cbor"))
	if code != 0 || !strings.Contains(text, "cca.rpv              raw-value adad") || !strings.Contains(text, "ARM_CCA realm") {
		t.Errorf("realm show:\n%s", text)
	}
	code, text, _ = run(t, "corim", "show", filepath.Join(dir, "psa-legacy.cbor"))
	for _, want := range []string{"PSA_IOT, Veraison legacy", "psa.refval-id        sha-256 b4d1c1e4", "type PRoT, signer-id acbb11c7", "class 61636d65"} {
		if code != 0 || !strings.Contains(text, want) {
			t.Errorf("legacy show lacks %q:\n%s", want, text)
		}
	}
	code, text, _ = run(t, "corim", "show", filepath.Join(dir, "cca-realm-legacy.cbor"))
	for _, want := range []string{"ARM_CCA realm, Veraison legacy", "instance (bytes) a0a0", "register rem3        sha-512 a4a4", "realm                raw-value adad"} {
		if code != 0 || !strings.Contains(text, want) {
			t.Errorf("legacy realm show lacks %q:\n%s", want, text)
		}
	}
}

func TestCorimCreateArmRefusals(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.corim")
	base := []string{"corim", "create", "-O", out, "--scheme", "psa", "--impl-id", seedImplB64, "--inst-id", seedInstB64, "--iak", corimData + "psa-iak.pem"}
	psa := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{psa("--component", seedTAComp, "--baseline", corimBase), "--baseline: not an option of --scheme psa"},
		{psa("--component", seedTAComp, "--rim", realmRIMHex), "--rim: not an option of --scheme psa"},
		{append(slices.Clone(base[:len(base)-2]), "--component", seedTAComp), "--iak: required"},
		{psa(), "--component: required"},
		{psa("--component", "type=PRoT,value=tNHB5PpzYZcMCNsS0lNMaa/BxXFwWGreLZwfGU/WzUw="), "want ALG:DIGEST"},
		{psa("--component", "type=PRoT,value=sha-256:"+rep11+",colour=red,signer-id="+rep11), `unknown key "colour"`},
		{psa("--component", "value=sha-256:"+rep11), "signer-id= is required"},
		{psa("--component", "value=sha-384:"+rep11+",signer-id="+rep11), "measurement value: 32 bytes, want 48"},
		{[]string{"corim", "create", "-O", out, "--scheme", "psa", "--impl-id", "AAAA", "--inst-id", seedInstB64}, "--impl-id \"AAAA\": 3 bytes, want 32"},
		{[]string{"corim", "create", "-O", out, "--scheme", "cca-realm", "--rim", realmRIMHex, "--rem1", rep11}, "--rem1"},
		{[]string{"corim", "create", "-O", out, "--scheme", "cca-platform", "--impl-id", seedImplB64, "--inst-id", ccaInstHex, "--cpak", corimData + "cca-cpak.pem",
			"--component", "value=sha-256:" + rep11 + ",signer-id=" + rep11}, "--platform-config: required"},
		{[]string{"corim", "create", "-O", out, "--scheme", "parsec-tpm", "--baseline", corimBase, "--iak", "x"}, "--iak: options of --scheme psa"},
	} {
		code, _, errs := run(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args[4:], code, errs, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused CoRIM was written")
	}
}
