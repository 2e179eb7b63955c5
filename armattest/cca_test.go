package armattest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/veraison/ccatoken"
	"github.com/veraison/ccatoken/platform"
	"github.com/veraison/ccatoken/realm"
	cose "github.com/veraison/go-cose"
	"github.com/veraison/psatoken"

	"github.com/goldenpcr/goldenpcr/corim"
)

var (
	ccaImplID   = bytes.Repeat([]byte{0x7a}, 32)
	ccaInstID   = append([]byte{0x01}, bytes.Repeat([]byte{0xcc}, 32)...)
	ccaConfig   = []byte{0xcf, 0xed, 0x00, 0x01}
	rmmValue    = bytes.Repeat([]byte{0x22}, 32)
	rmmSigner   = bytes.Repeat([]byte{0x52}, 32)
	bl2Value    = bytes.Repeat([]byte{0x11}, 32)
	bl2Signer   = bytes.Repeat([]byte{0x51}, 32)
	realmRIM    = bytes.Repeat([]byte{0xa0}, 64)
	realmREM    = [][]byte{bytes.Repeat([]byte{0xa1}, 64), bytes.Repeat([]byte{0xa2}, 64), bytes.Repeat([]byte{0xa3}, 64), bytes.Repeat([]byte{0xa4}, 64)}
	realmRPV    = bytes.Repeat([]byte{0xad}, 64)
	islandNonce = bytes.Repeat([]byte{0x4e}, 64)
)

// ccaKeys are a platform's CPAK (P-384) and a realm's RAK (P-384).
type ccaKeys struct{ cpak, rak *ecdsa.PrivateKey }

func newCCAKeys(t testing.TB) ccaKeys {
	return ccaKeys{newKey(t, elliptic.P384()), newKey(t, elliptic.P384())}
}

// ccaToken is a token ccatoken signs: the platform token by the CPAK, the
// realm token by the RAK, bound by the platform challenge H(RAK). edit may
// change the claims after they are bound.
func ccaToken(t testing.TB, k ccaKeys, challenge []byte, edit func(platform.IClaims, realm.IClaims)) []byte {
	t.Helper()
	p := platform.NewClaims()
	comps := []psatoken.ISwComponent{ptr(swc("RSE_BL2", bl2Value, bl2Signer)), ptr(swc("RMM", rmmValue, rmmSigner))}
	for _, err := range []error{
		p.SetImplID(ccaImplID), p.SetInstID(ccaInstID), p.SetSecurityLifeCycle(0x3000), p.SetSoftwareComponents(comps),
		p.SetConfig(ccaConfig), p.SetHashAlgID("sha-256"), p.SetVSI("https://veraison.example/v1/challenge-response"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	rak, err := cose.NewKeyFromPublic(&k.rak.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rakCOSE, err := rak.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	r := realm.NewClaims()
	for _, err := range []error{
		r.SetChallenge(challenge), r.SetPersonalizationValue(realmRPV), r.SetInitialMeasurement(realmRIM),
		r.SetExtensibleMeasurements(realmREM), r.SetHashAlgID("sha-512"), r.SetPubKey(rakCOSE), r.SetPubKeyHashAlgID("sha-256"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var ev ccatoken.Evidence
	if err := ev.SetClaims(p, r); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(p, r)
	}
	data, err := ev.Sign(signer(t, k.cpak), signer(t, k.rak))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func ptr[T any](v T) *T { return &v }

func ccaCorims(t testing.TB, cpak *ecdsa.PublicKey) (plat, rlm *corim.ArmReference) {
	t.Helper()
	pr, err := corim.NewCCAPlatform(corim.CCAPlatformInput{ImplID: ccaImplID, InstID: ccaInstID, CPAK: cpak, Config: ccaConfig,
		Components: []corim.SwComponent{
			{Type: "RSE_BL2", Alg: "sha-256", Value: bl2Value, SignerID: bl2Signer},
			{Type: "RMM", Alg: "sha-256", Value: rmmValue, SignerID: rmmSigner},
		}}, corim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := corim.NewCCARealm(corim.CCARealmInput{RIM: realmRIM, REMs: [4][]byte{realmREM[0], nil, realmREM[2], realmREM[3]}, RPV: realmRPV}, corim.Options{})
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
	k := newCCAKeys(t)
	plat, rlm := ccaCorims(t, &k.cpak.PublicKey)
	tok, err := ReadCCA(ccaToken(t, k, islandNonce, nil))
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

	otherPlat, _ := ccaCorims(t, &newKey(t, elliptic.P384()).PublicKey)
	for _, tc := range []struct {
		name      string
		edit      func(platform.IClaims, realm.IClaims)
		challenge []byte
		plat      *corim.ArmReference
		check     string
		reason    string
	}{
		{"wrong measurement", func(p platform.IClaims, _ realm.IClaims) {
			_ = p.SetSoftwareComponents([]psatoken.ISwComponent{ptr(swc("RSE_BL2", bl2Value, bl2Signer)), ptr(swc("RMM", bytes.Repeat([]byte{0xee}, 32), rmmSigner))})
		}, islandNonce, plat, "software-component 1 (RMM)", "measurement value eeee"},
		{"wrong signer id", func(p platform.IClaims, _ realm.IClaims) {
			_ = p.SetSoftwareComponents([]psatoken.ISwComponent{ptr(swc("RSE_BL2", bl2Value, bytes.Repeat([]byte{0x99}, 32))), ptr(swc("RMM", rmmValue, rmmSigner))})
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
			_ = r.SetExtensibleMeasurements([][]byte{realmREM[0], realmREM[1], realmREM[2], bytes.Repeat([]byte{0xbb}, 64)})
		}, islandNonce, plat, "realm-rem3", "differs from the reference's a4a4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ReadCCA(ccaToken(t, k, tc.challenge, tc.edit))
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

// ratlsCert is an Islet RA-TLS certificate: self-signed by key, the token
// in extension 1.3.3.3.7, its realm challenge SHA-512(nonce ‖ SPKI of
// bindTo).
func ratlsCert(t testing.TB, k ccaKeys, key, bindTo *ecdsa.PrivateKey, nonce []byte) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(&bindTo.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	challenge := RATLSChallenge(nonce, &x509.Certificate{RawSubjectPublicKeyInfo: spki})
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(7),
		Subject:         pkix.Name{CommonName: "RA-TLS realm"},
		NotBefore:       time.Now().Add(-time.Hour),
		NotAfter:        time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: OIDRATLSToken, Value: ccaToken(t, k, challenge, nil)}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestRATLS(t *testing.T) {
	k := newCCAKeys(t)
	plat, rlm := ccaCorims(t, &k.cpak.PublicKey)
	certKey, otherKey := newKey(t, elliptic.P256()), newKey(t, elliptic.P256())
	nonce := []byte("islet-server-challenge-0123456789")
	policy := CCAPolicy{Platform: plat, Realm: rlm}

	c, err := ReadRATLS(ratlsCert(t, k, certKey, certKey, nonce))
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
	c, err = ReadRATLS(ratlsCert(t, k, certKey, otherKey, nonce))
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
	c, _ = ReadRATLS(ratlsCert(t, k, certKey, certKey, nonce))
	if rep, _ := VerifyRATLS(c, []byte("another nonce"), policy); rep.Verified {
		t.Fatal("verified with another nonce")
	}
}

func TestReadCCANotToken(t *testing.T) {
	k := newCCAKeys(t)
	good := ccaToken(t, k, islandNonce, nil)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "empty"},
		"text":      {[]byte("hello"), "not a CCA token: it starts with 68656c6c6f"},
		"truncated": {good[:len(good)/2], "not a well-formed collection"},
		"no realm":  {[]byte{0xd9, 0x01, 0x8f, 0xa1, 0x19, 0xac, 0xca, 0x41, 0x00}, "no realm token"},
		"CMW":       {[]byte{0xd9, 0x03, 0x8b, 0xa0}, "CMW collection"},
		"PSA token": {signPSA(t, k.cpak, psaClaims(t, bytes.Repeat([]byte{1}, 32), swc("BL", bl2Value, bl2Signer))), "not a CCA token"},
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
