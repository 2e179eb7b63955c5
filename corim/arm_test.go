package corim

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/armtest"
	"github.com/veraison/corim/comid"
	vcorim "github.com/veraison/corim/corim"
)

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// armGoldenCases are the deterministic Arm CoRIMs kept in testdata/.
func armGoldenCases(t testing.TB) map[string]func() (*Result, error) {
	cases := armGenerationCases(t, Current, "")
	maps.Copy(cases, armGenerationCases(t, Legacy, "-legacy"))
	maps.Copy(cases, armGenerationCases(t, Legacy2502, "-legacy-2502"))
	return cases
}

// armGenerationCases are the Arm CoRIMs of one Veraison generation, named
// SCHEME+suffix+".cbor".
func armGenerationCases(t testing.TB, g Generation, suffix string) map[string]func() (*Result, error) {
	opts := Options{Generation: g}
	return map[string]func() (*Result, error){
		"psa" + suffix + ".cbor": func() (*Result, error) {
			return NewPSA(psaInput(t), opts)
		},
		"cca-platform" + suffix + ".cbor": func() (*Result, error) {
			in := ccaPlatformInput(t)
			if g.legacy() {
				in.Components[0].Version = "1.2.0" // psa.refval-id carries a version
			}
			return NewCCAPlatform(in, opts)
		},
		"cca-realm" + suffix + ".cbor": func() (*Result, error) {
			return NewCCARealm(armRealmInput, opts)
		},
	}
}

var armRealmInput = CCARealmInput{RIM: repeat(0xa0, 64), REMs: [4][]byte{repeat(0xa1, 64), nil, repeat(0xa3, 64), repeat(0xa4, 64)}, RPV: repeat(0xad, 64)}

func psaInput(t testing.TB) PSAInput {
	return PSAInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, IAK: testAK(t, "psa-iak.pem"),
		Components: []SwComponent{{Type: "PRoT", Alg: "sha-256", Value: armtest.PSATAValue, SignerID: armtest.PSATASigner, Version: "1.0.0"}}}
}

func ccaPlatformInput(t testing.TB) CCAPlatformInput {
	return CCAPlatformInput{ImplID: armtest.PSAImplID, InstID: append([]byte{1}, repeat(0xcc, 32)...), CPAK: testAK(t, "cca-cpak.pem"),
		Components: []SwComponent{
			{Type: "RSE_BL1_2", Alg: "sha-256", Value: repeat(0x11, 32), SignerID: repeat(0x51, 32)},
			{Type: "RMM", Alg: "sha-512", Value: repeat(0x22, 64), SignerID: repeat(0x52, 32)},
		},
		Config: []byte{0xcf, 0xed, 0x00, 0x01}}
}

// The Arm CoRIMs decode into what they were built from, and the corim
// library's own validating decoder (profiles/psa, profiles/cca) accepts
// them.
func TestArmRoundTrip(t *testing.T) {
	for name, build := range armGoldenCases(t) {
		t.Run(name, func(t *testing.T) {
			r, err := build()
			if err != nil {
				t.Fatal(err)
			}
			data := r.CBOR
			if strings.HasSuffix(name, "-2502.cbor") {
				// The pinned library reads only the current encoding.
				if _, err := vcorim.UnmarshalAndValidateUnsignedCorimFromCBOR(data); err == nil {
					t.Fatal("the pinned library reads the encoding of v0.0.2502–v0.0.2511")
				}
				var err error
				if data, err = fromOldWire(data); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := vcorim.UnmarshalAndValidateUnsignedCorimFromCBOR(data); err != nil {
				t.Fatalf("the library refuses it: %v", err)
			}
			want := `application/rim+cbor; profile="tag:arm.com,2025:`
			if strings.Contains(name, "-legacy") {
				want = `application/corim-unsigned+cbor; profile="http://arm.com/`
			}
			if !strings.HasPrefix(r.Decoded.MediaType, want) {
				t.Errorf("media type %s", r.Decoded.MediaType)
			}
		})
	}
	ref, err := ReadArm(must(t, armGoldenCases(t)["psa.cbor"]), PSAIoT)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.TrustAnchors) != 1 || !bytes.Equal(ref.TrustAnchors[0].InstID, armtest.PSAInstID) || !bytes.Equal(ref.TrustAnchors[0].ImplID, armtest.PSAImplID) {
		t.Fatalf("trust anchors %+v", ref.TrustAnchors)
	}
	cs := ref.ComponentsOf(armtest.PSAImplID)
	if len(cs) != 1 || cs[0].Type != "PRoT" || cs[0].Version != "1.0.0" || cs[0].Alg != "sha-256" ||
		!bytes.Equal(cs[0].Value, armtest.PSATAValue) || !bytes.Equal(cs[0].SignerID, armtest.PSATASigner) {
		t.Fatalf("components %+v", cs)
	}
	m := ref.Decoded.Comids[0].ReferenceValues[0].Measurements[0]
	if m.Key != "psa.software-component" || m.Name != "PRoT" || m.SignerID != hex.EncodeToString(armtest.PSATASigner) {
		t.Errorf("decoded measurement %+v", m)
	}

	plat, err := ReadArm(must(t, armGoldenCases(t)["cca-platform.cbor"]), CCAPlatform)
	if err != nil {
		t.Fatal(err)
	}
	if len(plat.Components) != 2 || plat.Components[1].Alg != "sha-512" || len(plat.Configs) != 1 ||
		!bytes.Equal(plat.Configs[0].Value, []byte{0xcf, 0xed, 0x00, 0x01}) || !bytes.Equal(plat.Configs[0].Mask, repeat(0xff, 4)) {
		t.Fatalf("platform %+v", plat)
	}
	realm, err := ReadArm(must(t, armGoldenCases(t)["cca-realm.cbor"]), CCARealm)
	if err != nil {
		t.Fatal(err)
	}
	r := realm.Realms[0]
	if len(realm.Realms) != 1 || r.Alg != "sha-512" || !bytes.Equal(r.RIM, repeat(0xa0, 64)) || r.REMs[1] != nil ||
		!bytes.Equal(r.REMs[3], repeat(0xa4, 64)) || !bytes.Equal(r.RPV, repeat(0xad, 64)) {
		t.Fatalf("realm %+v", realm.Realms)
	}
	if _, err := ReadArm(must(t, armGoldenCases(t)["cca-realm.cbor"]), PSAIoT); err == nil {
		t.Error("a realm CoRIM read as PSA")
	}
}

func must(t *testing.T, build func() (*Result, error)) []byte {
	t.Helper()
	r, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return r.CBOR
}

func TestArmBuildRefusals(t *testing.T) {
	iak := testAK(t, "psa-iak.pem")
	comp := SwComponent{Alg: "sha-256", Value: armtest.PSATAValue, SignerID: armtest.PSATASigner}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"impl id", errOf(NewPSA(PSAInput{ImplID: armtest.PSAImplID[:31], InstID: armtest.PSAInstID, IAK: iak, Components: []SwComponent{comp}}, Options{})), "implementation id: 31 bytes"},
		{"inst id", errOf(NewPSA(PSAInput{ImplID: armtest.PSAImplID, InstID: append([]byte{2}, armtest.PSAInstID[1:]...), IAK: iak, Components: []SwComponent{comp}}, Options{})), "instance id: 33 bytes starting 0x02"},
		{"no key", errOf(NewPSA(PSAInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, Components: []SwComponent{comp}}, Options{})), "IAK: missing"},
		{"no component", errOf(NewPSA(PSAInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, IAK: iak}, Options{})), "software components: none"},
		{"value size", errOf(NewPSA(PSAInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, IAK: iak, Components: []SwComponent{{Type: "BL", Alg: "sha-384", Value: armtest.PSATAValue, SignerID: armtest.PSATASigner}}}, Options{})), "software component 0 (BL): measurement value: 32 bytes, want 48"},
		{"alg", errOf(NewPSA(PSAInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, IAK: iak, Components: []SwComponent{{Alg: "sha3-256", Value: armtest.PSATAValue, SignerID: armtest.PSATASigner}}}, Options{})), `measurement algorithm "sha3-256"`},
		{"signer", errOf(NewPSA(PSAInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, IAK: iak, Components: []SwComponent{{Alg: "sha-256", Value: armtest.PSATAValue, SignerID: armtest.PSATASigner[:20]}}}, Options{})), "signer id: 20 bytes"},
		{"legacy signer", errOf(NewPSA(PSAInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, IAK: iak, Components: []SwComponent{{Alg: "sha-256", Value: armtest.PSATAValue, SignerID: armtest.PSATASigner[:20]}}}, Options{Generation: Legacy})), "software component 0: psa.refval-id signer-id: 20 bytes"},
		{"legacy rpv", errOf(NewCCARealm(CCARealmInput{RIM: repeat(1, 32), RPV: []byte{1}}, Options{Generation: Legacy})), "personalization value: 1 bytes, want 64"},
		{"cca version", errOf(NewCCAPlatform(CCAPlatformInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, CPAK: iak, Config: []byte{1}, Components: []SwComponent{{Alg: "sha-256", Value: armtest.PSATAValue, SignerID: armtest.PSATASigner, Version: "1"}}}, Options{})), "carries no version"},
		{"cca config", errOf(NewCCAPlatform(CCAPlatformInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, CPAK: iak, Components: []SwComponent{comp}}, Options{})), "platform config: missing"},
		{"rim", errOf(NewCCARealm(CCARealmInput{RIM: repeat(1, 20)}, Options{})), "RIM: 20 bytes"},
		{"rem", errOf(NewCCARealm(CCARealmInput{RIM: repeat(1, 32), REMs: [4][]byte{nil, repeat(1, 64)}}, Options{})), "REM1: 64 bytes, want 32"},
		{"rpv", errOf(NewCCARealm(CCARealmInput{RIM: repeat(1, 32), RPV: []byte{1}}, Options{})), "personalization value: 1 bytes, want 64"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, tc.err, tc.want)
		}
	}
}

func errOf(_ *Result, err error) error { return err }

// TestArmBrokenCopiesRejected breaks a golden Arm CoRIM one field at a
// time: the library's validating decoder (profiles/psa, profiles/cca) and
// Decode both refuse each copy, for its reason.
func TestArmBrokenCopiesRejected(t *testing.T) {
	sw := func(cm *comid.Comid) *comid.Measurement { return &firstRV(cm).Measurements.Values[0] }
	// Rules of Veraison's that this package adds to the library's
	// validators: only Decode applies them.
	ours := map[string]bool{"psa two digests": true}
	for _, tc := range []struct {
		name, golden string
		mutate       func(*comid.Comid)
		want         string
	}{
		{"psa impl id of 31 bytes", "psa.cbor", func(cm *comid.Comid) { firstRV(cm).Environment.Class = comid.NewClassBytes(armtest.PSAImplID[:31]) }, "implementation-id must be exactly 32 bytes"},
		{"psa mkey", "psa.cbor", func(cm *comid.Comid) { sw(cm).Key = comid.MustNewMkey("psa.other", comid.StringType) }, `mkey must be "psa.software-component"`},
		{"psa no signer id", "psa.cbor", func(cm *comid.Comid) { sw(cm).Val.CryptoKeys = nil }, "cryptokeys (signer-id) is mandatory"},
		{"psa two digests", "psa.cbor", func(cm *comid.Comid) { sw(cm).AddDigest(8, repeat(1, 64)) }, "2 digests, want exactly 1"},
		{"psa instance as bytes", "psa.cbor", func(cm *comid.Comid) {
			firstKT(cm).Environment.Instance = comid.MustNewBytesInstance(armtest.PSAInstID)
		}, "instance-id must be of type 'ueid'"},
		{"psa two keys", "psa.cbor", func(cm *comid.Comid) {
			firstKT(cm).VerifKeys = append(firstKT(cm).VerifKeys, firstKT(cm).VerifKeys[0])
		}, "exactly one entry, got 2"},
		{"cca platform no software component", "cca-platform.cbor", func(cm *comid.Comid) {
			ms := &firstRV(cm).Measurements
			ms.Values = ms.Values[2:]
		}, "at least one software component"},
		{"cca platform two configs", "cca-platform.cbor", func(cm *comid.Comid) {
			ms := &firstRV(cm).Measurements
			ms.Values = append(ms.Values, ms.Values[2])
		}, "only one platform-config"},
		{"cca platform signer id size", "cca-platform.cbor", func(cm *comid.Comid) {
			k, _ := comid.NewCryptoKeyTaggedBytes(repeat(1, 20))
			sw(cm).Val.CryptoKeys = &comid.CryptoKeys{k}
		}, "signer-id must be 32, 48, or 64 bytes (got 20)"},
		{"cca realm no rim", "cca-realm.cbor", func(cm *comid.Comid) {
			ms := &firstRV(cm).Measurements
			ms.Values = ms.Values[1:]
		}, "RIM (cca.rim) measurement is mandatory"},
		{"cca realm rim size", "cca-realm.cbor", func(cm *comid.Comid) { firstRV(cm).Environment.Class = comid.NewClassBytes(repeat(1, 20)) }, "RIM must be 32, 48, or 64 bytes"},
		{"cca realm unknown mkey", "cca-realm.cbor", func(cm *comid.Comid) { sw(cm).Key = comid.MustNewMkey("cca.rem9", comid.StringType) }, `invalid mkey "cca.rem9"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := rebuild(t, tc.golden, tc.mutate)
			if _, err := vcorim.UnmarshalAndValidateUnsignedCorimFromCBOR(data); !ours[tc.name] && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("library: %v, want %q", err, tc.want)
			}
			if _, err := Decode(data); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: %v, want %q", err, tc.want)
			}
		})
	}
}

// A legacy CoRIM tells a verifier what the current one built from the same
// input does: ReadArm gives the same trust anchors, components,
// configurations and realms (a legacy configuration has no mask, which
// compares it in full like the current all-ones mask).
func TestArmLegacyReadsLikeCurrent(t *testing.T) {
	cases := armGoldenCases(t)
	for _, tc := range []struct {
		name   string
		scheme Scheme
	}{{"psa", PSAIoT}, {"cca-platform", CCAPlatform}, {"cca-realm", CCARealm}} {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := ReadArm(must(t, cases[tc.name+".cbor"]), tc.scheme)
			if err != nil {
				t.Fatal(err)
			}
			var curKeys []crypto.PublicKey
			for i := range cur.TrustAnchors {
				curKeys = append(curKeys, cur.TrustAnchors[i].Key)
				cur.TrustAnchors[i].Key = nil
			}
			for _, g := range []string{"legacy", "legacy-2502"} {
				old, err := ReadArm(must(t, cases[tc.name+"-"+g+".cbor"]), tc.scheme)
				if err != nil {
					t.Fatal(err)
				}
				if old.Decoded.Veraison != g || !strings.Contains(old.Decoded.Validated, "legacy Veraison") {
					t.Errorf("decoded as %s, validated by %s", old.Decoded.Veraison, old.Decoded.Validated)
				}
				if tc.scheme == CCAPlatform {
					// The legacy golden input adds a version to the first component.
					cur.Components[0].Version = "1.2.0"
					cur.Configs[0].Mask = nil
					if len(old.Configs) != 1 || old.Configs[0].Mask != nil {
						t.Fatalf("legacy configs %+v", old.Configs)
					}
				}
				for i := range old.TrustAnchors {
					if i >= len(curKeys) || !old.TrustAnchors[i].Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(curKeys[i]) {
						t.Fatalf("trust anchor %d: another key", i)
					}
					old.TrustAnchors[i].Key = nil
				}
				if fmt.Sprint(old.TrustAnchors, old.Components, old.Configs, old.Realms) != fmt.Sprint(cur.TrustAnchors, cur.Components, cur.Configs, cur.Realms) {
					t.Errorf("legacy reads\n%+v %+v %+v %+v\ncurrent reads\n%+v %+v %+v %+v", old.TrustAnchors, old.Components, old.Configs, old.Realms,
						cur.TrustAnchors, cur.Components, cur.Configs, cur.Realms)
				}
			}
		})
	}
}
