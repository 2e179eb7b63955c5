package armattest

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/veraison/psatoken"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/internal/armtest"
)

// The nonce Veraison gave the OP-TEE seed's session (testdata/SOURCES.md).
var seedNonce = unhex("e3088baffa105a3820490242af825be81b5a3623da757535041f601750b9cb82")

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func readPEMKey(t *testing.T, path string) crypto.PublicKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func psaCorim(t testing.TB, iak crypto.PublicKey, comps ...corim.SwComponent) *corim.ArmReference {
	t.Helper()
	return psaCorimFor(t, corim.Current, iak, comps...)
}

func psaCorimFor(t testing.TB, g corim.Generation, iak crypto.PublicKey, comps ...corim.SwComponent) *corim.ArmReference {
	t.Helper()
	r, err := corim.NewPSA(corim.PSAInput{ImplID: armtest.PSAImplID, InstID: armtest.PSAInstID, IAK: iak, Components: comps}, corim.Options{Generation: g})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := corim.ReadArm(r.CBOR, corim.PSAIoT)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// seedPSAToken is the real token OP-TEE's PTA produced (seed 004).
func seedPSAToken(t *testing.T) *PSAToken {
	t.Helper()
	data, err := os.ReadFile("testdata/optee-psa-token.cbor")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ReadPSA(data)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var taComponent = corim.SwComponent{Type: "PRoT", Alg: "sha-256", Value: armtest.PSATAValue, SignerID: armtest.PSATASigner}

// The real token OP-TEE's PTA produced verifies against a CoRIM made from
// the seed's provisioning values, with Veraison's test IAK.
func TestPSASeedToken(t *testing.T) {
	tok := seedPSAToken(t)
	if tok.Profile != "http://arm.com/psa/2.0.0" || !bytes.Equal(tok.ImplID, armtest.PSAImplID) || tok.Lifecycle != 0x3000 || len(tok.Components) != 1 {
		t.Fatalf("token %+v", tok)
	}
	ref := psaCorim(t, readPEMKey(t, "../corim/testdata/psa-iak.pem"), taComponent)
	rep := VerifyPSA(tok, ref, seedNonce)
	if !rep.Verified {
		t.Fatalf("not verified: %+v", rep.Failed())
	}
	if c := rep.Check("software-component 0 (PRoT)"); c == nil || !c.Passed {
		t.Fatalf("component check %+v", rep.Checks)
	}
	// The measurement the seed first provisioned (before 4.3) is not the
	// TA's: Veraison answered "warning", goldenpcr fails the component.
	stale := taComponent
	stale.Value = unhex("0f4273ad8bc565b8b98335c182f299d9fe4adf82dd9e3568fc8152390447aa97")
	rep = VerifyPSA(tok, psaCorim(t, readPEMKey(t, "../corim/testdata/psa-iak.pem"), stale), seedNonce)
	if c := rep.Check("software-component 0 (PRoT)"); rep.Verified || c == nil || !strings.Contains(c.Reason, "differs from the reference's 0f4273ad") {
		t.Fatalf("stale reference: %+v", rep.Checks)
	}
}

// Tokens signed here with psatoken verify against the CoRIM, and each
// wrong claim fails its own check with its reason.
func TestPSAVerify(t *testing.T) {
	iak := armtest.Key(t, elliptic.P256())
	nonce := bytes.Repeat([]byte{0x5a}, 32)
	bl := armtest.Component("BL", bytes.Repeat([]byte{0xb1}, 32), bytes.Repeat([]byte{0x51}, 32))
	ref := psaCorim(t, &iak.PublicKey, taComponent,
		corim.SwComponent{Type: "BL", Alg: "sha-256", Value: *bl.MeasurementValue, SignerID: *bl.SignerID})
	good := func() []psatoken.SwComponent {
		return []psatoken.SwComponent{armtest.Component("PRoT", armtest.PSATAValue, armtest.PSATASigner), bl}
	}

	tok, err := ReadPSA(armtest.SignPSA(t, iak, armtest.PSAClaims(t, nonce, good()...)))
	if err != nil {
		t.Fatal(err)
	}
	if rep := VerifyPSA(tok, ref, nonce); !rep.Verified || len(rep.Checks) != 8 {
		t.Fatalf("good token: %+v", rep.Checks)
	}

	other := armtest.Key(t, elliptic.P256())
	wrongValue := good()
	wrongValue[0] = armtest.Component("PRoT", bytes.Repeat([]byte{0xee}, 32), armtest.PSATASigner)
	wrongSigner := good()
	wrongSigner[1] = armtest.Component("BL", *bl.MeasurementValue, bytes.Repeat([]byte{0x99}, 32))
	for _, tc := range []struct {
		name   string
		token  []byte
		nonce  []byte
		ref    *corim.ArmReference
		check  string
		reason string
	}{
		{"wrong measurement", armtest.SignPSA(t, iak, armtest.PSAClaims(t, nonce, wrongValue...)), nonce, ref,
			"software-component 0 (PRoT)", "measurement value eeeeeeee"},
		{"wrong signer id", armtest.SignPSA(t, iak, armtest.PSAClaims(t, nonce, wrongSigner...)), nonce, ref,
			"software-component 1 (BL)", "signer id 9999"},
		{"wrong nonce", armtest.SignPSA(t, iak, armtest.PSAClaims(t, bytes.Repeat([]byte{1}, 32), good()...)), nonce, ref,
			"nonce", "not this session's"},
		{"wrong IAK", armtest.SignPSA(t, other, armtest.PSAClaims(t, nonce, good()...)), nonce, ref,
			"signature", "not signed by the IAK of instance 01ceebae"},
		{"wrong implementation id", armtest.SignPSA(t, iak, func() psatoken.IClaims {
			c := armtest.PSAClaims(t, nonce, good()...)
			_ = c.SetImplID(bytes.Repeat([]byte{0x77}, 32))
			return c
		}()), nonce, ref, "implementation-id", "7777777777777777777777777777777777777777777777777777777777777777 is not in the CoRIM"},
		{"debug lifecycle", armtest.SignPSA(t, iak, func() psatoken.IClaims {
			c := armtest.PSAClaims(t, nonce, good()...)
			_ = c.SetSecurityLifeCycle(0x5000)
			return c
		}()), nonce, ref, "security-lifecycle", "want secured"},
		{"no nonce given", armtest.SignPSA(t, iak, armtest.PSAClaims(t, nonce, good()...)), nil, ref, "nonce", "no nonce given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ReadPSA(tc.token)
			if err != nil {
				t.Fatal(err)
			}
			rep := VerifyPSA(tok, tc.ref, tc.nonce)
			if rep.Verified {
				t.Fatal("verified")
			}
			c := rep.Check(tc.check)
			if c == nil || !c.Failed() || !strings.Contains(c.Reason, tc.reason) {
				t.Fatalf("check %s: %+v\nall: %+v", tc.check, c, rep.Checks)
			}
		})
	}
	// A wrong implementation id also leaves the token without trust anchor
	// and reference values: those fail, the signature cannot be checked.
	c := armtest.PSAClaims(t, nonce, good()...)
	_ = c.SetImplID(bytes.Repeat([]byte{0x77}, 32))
	tok, _ = ReadPSA(armtest.SignPSA(t, iak, c))
	rep := VerifyPSA(tok, ref, nonce)
	if s := rep.Check("signature"); s == nil || !s.NotRun {
		t.Errorf("signature with an unknown implementation: %+v", s)
	}
}

func TestReadPSANotToken(t *testing.T) {
	data, err := os.ReadFile("testdata/optee-psa-token.cbor")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":      {nil, "empty"},
		"text":       {[]byte("hello"), "not a PSA token: it starts with 68656c6c6f"},
		"truncated":  {data[:len(data)/2], "not a well-formed COSE_Sign1"},
		"CCA token":  {[]byte{0xd9, 0x01, 0x8f, 0xa2}, "not a PSA token"},
		"no payload": {unhex("d28443a10126a0f65840" + strings.Repeat("00", 64)), "no payload"},
	} {
		if _, err := ReadPSA(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// The seed's real OP-TEE token verifies against the CoRIMs for legacy
// Veraison too, and a legacy CoRIM with another measurement fails it.
func TestPSASeedTokenLegacyCoRIMs(t *testing.T) {
	tok := seedPSAToken(t)
	iak := readPEMKey(t, "../corim/testdata/psa-iak.pem")
	other := taComponent
	other.Value = bytes.Repeat([]byte{0x11}, 32)
	for _, g := range []corim.Generation{corim.Legacy, corim.Legacy2502} {
		if rep := VerifyPSA(tok, psaCorimFor(t, g, iak, taComponent), seedNonce); !rep.Verified {
			t.Errorf("%s: not verified: %+v", g, rep.Failed())
		}
		rep := VerifyPSA(tok, psaCorimFor(t, g, iak, other), seedNonce)
		if c := rep.Check("software-component 0 (PRoT)"); rep.Verified || c == nil || c.Passed {
			t.Errorf("%s: another measurement: verified %v, check %+v", g, rep.Verified, c)
		}
	}
}
