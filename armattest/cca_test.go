package armattest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"strings"
	"testing"

	"github.com/veraison/ccatoken/platform"
	"github.com/veraison/ccatoken/realm"
	"github.com/veraison/psatoken"

	"github.com/goldenpcr/goldenpcr/corim"
	"github.com/goldenpcr/goldenpcr/internal/armtest"
)

var islandNonce = bytes.Repeat([]byte{0x4e}, 64)

func comp(typ string, value, signer []byte) psatoken.ISwComponent {
	c := armtest.Component(typ, value, signer)
	return &c
}

func ccaCorims(t testing.TB, cpak *ecdsa.PublicKey) (plat, rlm *corim.ArmReference) {
	t.Helper()
	pr, err := corim.NewCCAPlatform(corim.CCAPlatformInput{ImplID: armtest.CCAImplID, InstID: armtest.CCAInstID, CPAK: cpak, Config: armtest.CCAConfig,
		Components: []corim.SwComponent{
			{Type: "RSE_BL2", Alg: "sha-256", Value: armtest.BL2Value, SignerID: armtest.BL2Signer},
			{Type: "RMM", Alg: "sha-256", Value: armtest.RMMValue, SignerID: armtest.RMMSigner},
		}}, corim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := corim.NewCCARealm(corim.CCARealmInput{RIM: armtest.RealmRIM, REMs: [4][]byte{armtest.RealmREMs[0], nil, armtest.RealmREMs[2], armtest.RealmREMs[3]}, RPV: armtest.RealmRPV}, corim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if plat, err = corim.ReadArm(pr.CBOR, corim.CCAPlatform); err != nil {
		t.Fatal(err)
	}
	if rlm, err = corim.ReadArm(rr.CBOR, corim.CCARealm); err != nil {
		t.Fatal(err)
	}
	return plat, rlm
}

func TestCCAVerify(t *testing.T) {
	k := armtest.NewCCAKeys(t)
	plat, rlm := ccaCorims(t, &k.CPAK.PublicKey)
	tok, err := ReadCCA(armtest.CCAToken(t, k, islandNonce, nil))
	if err != nil {
		t.Fatal(err)
	}
	rep := VerifyCCA(tok, CCAPolicy{Platform: plat, Realm: rlm, Challenge: islandNonce})
	if !rep.Verified {
		t.Fatalf("good token: %+v", rep.Failed())
	}
	for _, name := range []string{"platform-signature", "realm-signature", "binding", "realm-challenge", "software-component 1 (RMM)",
		"platform-config", "realm-rim", "realm-rem0", "realm-personalization-value"} {
		if c := rep.Check(name); c == nil || !c.Passed {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if c := rep.Check("realm-rem1"); c == nil || !c.Skipped {
		t.Errorf("an unconstrained REM: %+v", c)
	}
	// Without a realm CoRIM the platform alone verifies, and the report
	// says the realm was not checked.
	rep = VerifyCCA(tok, CCAPolicy{Platform: plat, Challenge: islandNonce})
	if c := rep.Check("realm-measurements"); !rep.Verified || c == nil || !c.Skipped {
		t.Fatalf("platform only: %+v", rep.Checks)
	}

	otherPlat, _ := ccaCorims(t, &armtest.Key(t, elliptic.P384()).PublicKey)
	for _, tc := range []struct {
		name      string
		edit      func(platform.IClaims, realm.IClaims)
		challenge []byte
		plat      *corim.ArmReference
		check     string
		reason    string
	}{
		{"wrong measurement", func(p platform.IClaims, _ realm.IClaims) {
			_ = p.SetSoftwareComponents([]psatoken.ISwComponent{comp("RSE_BL2", armtest.BL2Value, armtest.BL2Signer), comp("RMM", bytes.Repeat([]byte{0xee}, 32), armtest.RMMSigner)})
		}, islandNonce, plat, "software-component 1 (RMM)", "measurement value eeee"},
		{"wrong signer id", func(p platform.IClaims, _ realm.IClaims) {
			_ = p.SetSoftwareComponents([]psatoken.ISwComponent{comp("RSE_BL2", armtest.BL2Value, bytes.Repeat([]byte{0x99}, 32)), comp("RMM", armtest.RMMValue, armtest.RMMSigner)})
		}, islandNonce, plat, "software-component 0 (RSE_BL2)", "signer id 9999"},
		{"wrong implementation id", func(p platform.IClaims, _ realm.IClaims) { _ = p.SetImplID(bytes.Repeat([]byte{0x77}, 32)) },
			islandNonce, plat, "implementation-id", "7777777777777777777777777777777777777777777777777777777777777777 is not in the CoRIM"},
		{"wrong nonce", nil, bytes.Repeat([]byte{1}, 64), plat, "realm-challenge", "not this session's"},
		{"wrong CPAK", nil, islandNonce, otherPlat, "platform-signature", "not signed by the CPAK of instance 01cccc"},
		{"wrong config", func(p platform.IClaims, _ realm.IClaims) { _ = p.SetConfig([]byte{0xcf, 0xed, 0x00, 0x02}) },
			islandNonce, plat, "platform-config", "cfed0002 differs from the reference's cfed0001"},
		{"unbound realm token", func(p platform.IClaims, _ realm.IClaims) { _ = p.SetNonce(bytes.Repeat([]byte{3}, 32)) },
			islandNonce, plat, "binding", "does not vouch for this realm token"},
		{"wrong RIM", func(_ platform.IClaims, r realm.IClaims) { _ = r.SetInitialMeasurement(bytes.Repeat([]byte{0xbb}, 64)) },
			islandNonce, plat, "realm-rim", "is no realm of the realm CoRIM"},
		{"wrong REM3", func(_ platform.IClaims, r realm.IClaims) {
			_ = r.SetExtensibleMeasurements([][]byte{armtest.RealmREMs[0], armtest.RealmREMs[1], armtest.RealmREMs[2], bytes.Repeat([]byte{0xbb}, 64)})
		}, islandNonce, plat, "realm-rem3", "differs from the reference's a4a4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ReadCCA(armtest.CCAToken(t, k, tc.challenge, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			rep := VerifyCCA(tok, CCAPolicy{Platform: tc.plat, Realm: rlm, Challenge: islandNonce})
			c := rep.Check(tc.check)
			if rep.Verified || c == nil || !c.Failed() || !strings.Contains(c.Reason, tc.reason) {
				t.Fatalf("check %s: %+v\nall: %+v", tc.check, c, rep.Checks)
			}
		})
	}
}

func TestRATLS(t *testing.T) {
	k := armtest.NewCCAKeys(t)
	plat, rlm := ccaCorims(t, &k.CPAK.PublicKey)
	certKey, otherKey := armtest.Key(t, elliptic.P256()), armtest.Key(t, elliptic.P256())
	nonce := []byte("islet-server-challenge-0123456789")
	policy := CCAPolicy{Platform: plat, Realm: rlm}

	c, err := ReadRATLS(armtest.RATLSCert(t, k, certKey, certKey, nonce))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyRATLS(c, nonce, policy)
	if err != nil {
		t.Fatal(err)
	}
	if ch := rep.Check("realm-challenge"); !rep.Verified || ch == nil || !strings.Contains(ch.Reason, "SHA-512(nonce ‖ the certificate's SubjectPublicKeyInfo)") {
		t.Fatalf("bound certificate: %+v", rep.Checks)
	}
	if rep.Check("ratls-certificate") == nil || rep.Certificate == nil || rep.Certificate.TokenSize != len(c.Token) {
		t.Fatalf("certificate summary %+v", rep.Certificate)
	}

	// A token whose challenge binds another key: a relayed token.
	c, err = ReadRATLS(armtest.RATLSCert(t, k, certKey, otherKey, nonce))
	if err != nil {
		t.Fatal(err)
	}
	rep, err = VerifyRATLS(c, nonce, policy)
	if err != nil {
		t.Fatal(err)
	}
	if ch := rep.Check("realm-challenge"); rep.Verified || ch == nil || !ch.Failed() {
		t.Fatalf("challenge bound to another key: %+v", rep.Checks)
	}
	// The right key, another session's nonce.
	c, _ = ReadRATLS(armtest.RATLSCert(t, k, certKey, certKey, nonce))
	if rep, _ := VerifyRATLS(c, []byte("another nonce"), policy); rep.Verified {
		t.Fatal("verified with another nonce")
	}
}

func TestReadCCANotToken(t *testing.T) {
	k := armtest.NewCCAKeys(t)
	good := armtest.CCAToken(t, k, islandNonce, nil)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "empty"},
		"text":      {[]byte("hello"), "not a CCA token: it starts with 68656c6c6f"},
		"truncated": {good[:len(good)/2], "not a well-formed collection"},
		"no realm":  {[]byte{0xd9, 0x01, 0x8f, 0xa1, 0x19, 0xac, 0xca, 0x41, 0x00}, "no realm token"},
		"CMW":       {[]byte{0xd9, 0x03, 0x8b, 0xa0}, "CMW collection"},
		"PSA token": {armtest.SignPSA(t, k.CPAK, armtest.PSAClaims(t, bytes.Repeat([]byte{1}, 32), armtest.Component("BL", armtest.BL2Value, armtest.BL2Signer))), "not a CCA token"},
	} {
		if _, err := ReadCCA(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"not a certificate": {[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "not an X.509 certificate"},
		"a key":             {[]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), "want a CERTIFICATE"},
	} {
		if _, err := ReadRATLS(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
