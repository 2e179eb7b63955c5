package corim

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/armtest"
)

// legacyPeer is internal/veraisonlegacy built against the corim library of
// one range of legacy Veraison releases: what those releases decode and
// store of a PSA or CCA CoRIM.
type legacyPeer struct {
	releases, modfile, tags string
	gen                     Generation
	bin                     string
}

var legacyPeers = []*legacyPeer{
	{releases: "v0.0.2502–v0.0.2504", modfile: "go.2502.mod", tags: "corim2024", gen: Legacy2502},
	{releases: "v0.0.2505–v0.0.2511", modfile: "go.2506.mod", tags: "corim2025", gen: Legacy2502},
	{releases: "v0.0.2512–v0.0.2602", modfile: "go.mod", gen: Legacy},
}

func buildLegacyPeers(t *testing.T) {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "internal", "veraisonlegacy")
	dir := t.TempDir()
	for _, p := range legacyPeers {
		p.bin = filepath.Join(dir, strings.TrimSuffix(p.modfile, ".mod"))
		cmd := exec.Command("go", "build", "-modfile="+p.modfile, "-tags="+p.tags, "-o", p.bin, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the %s peer: %v\n%s", p.releases, err, out)
		}
	}
}

type storedEndorsement struct {
	Type       string         `json:"type"`
	SubType    string         `json:"subtype"`
	Attributes map[string]any `json:"attributes"`
}

// provision hands data to the peer; it returns what the peer stored, or
// the reason it refused.
func (p *legacyPeer) provision(t *testing.T, data []byte, args ...string) ([]storedEndorsement, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "corim.cbor")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(p.bin, append(args, f)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
		return nil, strings.TrimSpace(stderr.String())
	}
	var out []storedEndorsement
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("peer output: %v\n%s", err, stdout.Bytes())
	}
	return out, ""
}

// b64 is how Veraison's endorsement attributes carry bytes.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Each legacy Veraison range stores from goldenpcr's CoRIM of its
// generation exactly the values it was built from, and refuses the other
// generation's encoding: the two legacy generations are not one.
func TestLegacyVeraisonStoresOurCoRIMs(t *testing.T) {
	buildLegacyPeers(t)
	cases := armGoldenCases(t)
	cpak := testAK(t, "cca-cpak.pem")
	for _, p := range legacyPeers {
		suffix, other := "-legacy.cbor", "-legacy-2502.cbor"
		if p.gen == Legacy2502 {
			suffix, other = other, suffix
		}
		t.Run(p.releases, func(t *testing.T) {
			stored, reason := p.provision(t, must(t, cases["psa"+suffix]))
			if reason != "" {
				t.Fatalf("PSA refused: %s", reason)
			}
			in := psaInput(t)
			wantPSA := []map[string]any{
				{"impl-id": b64(in.ImplID), "signer-id": b64(armtest.PSATASigner), "measurement-value": b64(armtest.PSATAValue),
					"measurement-desc": "sha-256", "measurement-type": "PRoT", "version": "1.0.0"},
				{"impl-id": b64(in.ImplID), "inst-id": b64(in.InstID), "iak-pub": pemOf(t, in.IAK)},
			}
			checkStored(t, "PSA", stored, []string{"platform.sw-component", ""}, wantPSA)

			stored, reason = p.provision(t, must(t, cases["cca-platform"+suffix]))
			if reason != "" {
				t.Fatalf("CCA platform refused: %s", reason)
			}
			impl := b64(armtest.PSAImplID)
			checkStored(t, "CCA platform", stored, []string{"platform.sw-component", "platform.sw-component", "platform.config", ""}, []map[string]any{
				{"impl-id": impl, "signer-id": b64(repeat(0x51, 32)), "measurement-value": b64(repeat(0x11, 32)), "measurement-desc": "sha-256",
					"measurement-type": "RSE_BL1_2", "version": "1.2.0"},
				{"impl-id": impl, "signer-id": b64(repeat(0x52, 32)), "measurement-value": b64(repeat(0x22, 64)), "measurement-desc": "sha-512", "measurement-type": "RMM"},
				{"impl-id": impl, "platform-config-label": legacyPlatformCfgLabel, "platform-config-id": b64([]byte{0xcf, 0xed, 0x00, 0x01})},
				{"impl-id": impl, "inst-id": b64(append([]byte{1}, repeat(0xcc, 32)...)), "iak-pub": pemOf(t, cpak)},
			})

			stored, reason = p.provision(t, must(t, cases["cca-realm"+suffix]))
			if reason != "" {
				t.Fatalf("CCA realm refused: %s", reason)
			}
			r := armRealmInput
			checkStored(t, "CCA realm", stored, []string{"realm.reference-value"}, []map[string]any{
				{"realm-initial-measurement": b64(r.RIM), "hash-alg-id": "sha-512", "rem0": b64(r.REMs[0]), "rem2": b64(r.REMs[2]),
					"rem3": b64(r.REMs[3]), "realm-personalization-value": b64(r.RPV)},
			})

			if _, reason := p.provision(t, must(t, cases["psa"+other])); reason == "" {
				t.Errorf("the %s peer took the other legacy encoding (%s)", p.releases, other)
			}
			if _, reason := p.provision(t, must(t, cases["psa.cbor"])); reason == "" {
				t.Errorf("the %s peer took a current-profile CoRIM", p.releases)
			}
		})
	}

	// A signed legacy CoRIM: v0.0.2512–v0.0.2602 check its x5chain against
	// their CA and its signature.
	s := testSigner(t)
	signed, err := NewPSA(psaInput(t), Options{Generation: Legacy, Sign: s})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	other := filepath.Join(dir, "other.pem")
	os.WriteFile(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Chain[len(s.Chain)-1].Raw}), 0o644)
	os.WriteFile(other, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testSigner(t).Chain[1].Raw}), 0o644)
	p := legacyPeers[2]
	if stored, reason := p.provision(t, signed.CBOR, "-ca", root); reason != "" || len(stored) != 2 {
		t.Errorf("signed legacy PSA CoRIM: %d stored, %s", len(stored), reason)
	}
	if _, reason := p.provision(t, signed.CBOR, "-ca", other); !strings.Contains(reason, "certificate chain verification failed") {
		t.Errorf("signed under a foreign CA: %q", reason)
	}
}

func pemOf(t *testing.T, key any) string {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}

// checkStored compares what the peer stored with what was meant, entry by
// entry, in order.
func checkStored(t *testing.T, what string, got []storedEndorsement, subtypes []string, want []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d endorsements stored, want %d: %+v", what, len(got), len(want), got)
	}
	for i := range want {
		if got[i].SubType != subtypes[i] {
			t.Errorf("%s %d: subtype %q, want %q", what, i, got[i].SubType, subtypes[i])
		}
		a := got[i].Attributes
		if k, ok := a["iak-pub"].(string); ok {
			a["iak-pub"] = strings.TrimSpace(k)
		}
		if len(a) != len(want[i]) {
			t.Errorf("%s %d: attributes %v, want %v", what, i, a, want[i])
		}
		for k, v := range want[i] {
			if a[k] != v {
				t.Errorf("%s %d: %s = %v, want %v", what, i, k, a[k], v)
			}
		}
	}
}

// Veraison v0.0.2602's own legacy test vectors: the peer accepts and
// refuses them as that release's tests say it does, and goldenpcr's
// Decode agrees, naming the rule a refused one breaks.
func TestVeraisonLegacyVectors(t *testing.T) {
	buildLegacyPeers(t)
	p := legacyPeers[2]
	dir := filepath.Join("..", "fixtures", "veraison", "v0.0.2602")
	for _, tc := range []struct {
		file string
		want string // "": accepted; else the reason Decode gives
	}{
		{"unsignedCorimMiniComidPsaIakPubOne.cbor", ""},
		{"unsignedCorimMiniComidPsaIakPubTwo.cbor", ""},
		{"unsignedCorimMiniComidPsaRefValOne.cbor", ""},
		{"unsignedCorimMiniComidPsaRefValThree.cbor", ""},
		{"unsignedCorimMiniComidPsaRefValOnlyMandIDAttr.cbor", ""},
		{"unsignedCorimMiniComidPsaMultIak.cbor", "2 keys, want exactly one"},
		{"unsignedCorimMiniComidPsaRefValMultDigest.cbor", "want exactly 1"},
		{"unsignedCorimMiniComidPsaRefValNoMkey.cbor", "no measurement key"},
		{"unsignedCorimMiniComidPsaRefValNoImplID.cbor", "want psa.impl-id"},
		{"unsignedCorimMiniComidPsaIakPubNoUeID.cbor", "instance: want a ueid"},
		{"unsignedCorimMiniComidPsaIakPubNoImplID.cbor", "want psa.impl-id"},
		{"unsignedCorimCcaComidCcaRefValOne.cbor", ""},
		{"unsignedCorimCcaComidCcaRefValFour.cbor", ""},
		{"unsignedCorimCcaNoProfileComidCcaRefValOne.cbor", "no profile"},
		{"unsignedCorimCcaNoProfileComidCcaRefValFour.cbor", "no profile"},
		{"unsignedCorimCcaRealmComidCcaRealm.cbor", ""},
		{"unsignedCorimCcaRealmComidCcaRealmNoClass.cbor", ""},
		{"unsignedCorimCcaRealmComidCcaRealmNoInstance.cbor", "instance: want bytes"},
		{"unsignedCorimCcaRealmComidCcaRealmInvalidInstance.cbor", "instance: want bytes"},
		{"unsignedCorimCcaRealmComidCcaRealmInvalidClass.cbor", "class id: type psa.impl-id, want a uuid"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			_, reason := p.provision(t, data)
			if (reason == "") != (tc.want == "") {
				t.Fatalf("the peer: %q; Veraison v0.0.2602's tests say accepted=%v", reason, tc.want == "")
			}
			d, err := Decode(data)
			switch {
			case tc.want == "no profile":
				if err != nil || d.Scheme != "" {
					t.Errorf("Decode: %v, scheme %q; want no scheme", err, d.Scheme)
				}
			case tc.want == "":
				if err != nil || d.Veraison != "legacy" {
					t.Errorf("Decode: %v", err)
				}
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Errorf("Decode: %v, want %q", err, tc.want)
			}
		})
	}
}
