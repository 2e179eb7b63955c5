// Package armtest makes Arm attestation evidence for tests: PSA tokens
// signed with psatoken's API, CCA tokens signed with ccatoken's, and Islet
// RA-TLS certificates carrying a CCA token whose realm challenge is bound
// to the certificate's key. The values are those of the OP-TEE seed (PSA)
// and of made-up CCA platform and realm measurements.
package armtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/veraison/ccatoken"
	"github.com/veraison/ccatoken/platform"
	"github.com/veraison/ccatoken/realm"
	cose "github.com/veraison/go-cose"
	"github.com/veraison/psatoken"
)

// The OP-TEE seed's PSA device and TA, as Veraison was provisioned with
// them.
var (
	PSAImplID   = []byte("acme-implementation-id-000000001")
	PSAInstID   = b64("Ac7rrnuJJ6MiflMDz14PH3s0u1Qq1yUKwD+83jbsLxUI")
	PSATAValue  = b64("tNHB5PpzYZcMCNsS0lNMaa/BxXFwWGreLZwfGU/WzUw=")
	PSATASigner = b64("rLsRx+TaIXIFUjzkzhokWuGiOa48a/2eeHH35di66Gs=")
)

// A CCA platform and realm.
var (
	CCAImplID = bytes.Repeat([]byte{0x7a}, 32)
	CCAInstID = append([]byte{0x01}, bytes.Repeat([]byte{0xcc}, 32)...)
	CCAConfig = []byte{0xcf, 0xed, 0x00, 0x01}
	BL2Value  = bytes.Repeat([]byte{0x11}, 32)
	BL2Signer = bytes.Repeat([]byte{0x51}, 32)
	RMMValue  = bytes.Repeat([]byte{0x22}, 32)
	RMMSigner = bytes.Repeat([]byte{0x52}, 32)
	RealmRIM  = bytes.Repeat([]byte{0xa0}, 64)
	RealmREMs = [][]byte{bytes.Repeat([]byte{0xa1}, 64), bytes.Repeat([]byte{0xa2}, 64), bytes.Repeat([]byte{0xa3}, 64), bytes.Repeat([]byte{0xa4}, 64)}
	RealmRPV  = bytes.Repeat([]byte{0xad}, 64)
)

// OIDRATLSToken is Islet's RA-TLS token extension, 1.3.3.3.7.
var OIDRATLSToken = asn1.ObjectIdentifier{1, 3, 3, 3, 7}

func b64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Key is a new ECDSA key.
func Key(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Signer is a COSE signer for k: ES256, ES384 or ES512 by curve.
func Signer(t testing.TB, k *ecdsa.PrivateKey) cose.Signer {
	t.Helper()
	alg := cose.AlgorithmES256
	switch k.Curve {
	case elliptic.P384():
		alg = cose.AlgorithmES384
	case elliptic.P521():
		alg = cose.AlgorithmES512
	}
	s, err := cose.NewSigner(alg, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Component is a software component of a token.
func Component(typ string, value, signer []byte) psatoken.SwComponent {
	return psatoken.SwComponent{MeasurementType: &typ, MeasurementValue: &value, SignerID: &signer}
}

// PSAClaims are the http://arm.com/psa/2.0.0 claims of the OP-TEE seed's
// device: client 1, secured, the seed's ids, nonce and comps.
func PSAClaims(t testing.TB, nonce []byte, comps ...psatoken.SwComponent) psatoken.IClaims {
	t.Helper()
	c, err := psatoken.NewClaims(psatoken.Profile2Name)
	if err != nil {
		t.Fatal(err)
	}
	var scs []psatoken.ISwComponent
	for i := range comps {
		scs = append(scs, &comps[i])
	}
	for _, err := range []error{
		c.SetClientID(1), c.SetSecurityLifeCycle(0x3000), c.SetImplID(PSAImplID), c.SetInstID(PSAInstID),
		c.SetNonce(nonce), c.SetSoftwareComponents(scs),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// SignPSA signs claims with psatoken: a COSE_Sign1 by the IAK k.
func SignPSA(t testing.TB, k *ecdsa.PrivateKey, c psatoken.IClaims) []byte {
	t.Helper()
	ev := psatoken.Evidence{}
	if err := ev.SetClaims(c); err != nil {
		t.Fatal(err)
	}
	data, err := ev.ValidateAndSign(Signer(t, k))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// CCAKeys are a platform's CPAK and a realm's RAK, both P-384.
type CCAKeys struct{ CPAK, RAK *ecdsa.PrivateKey }

// NewCCAKeys makes a CPAK and a RAK.
func NewCCAKeys(t testing.TB) CCAKeys {
	return CCAKeys{Key(t, elliptic.P384()), Key(t, elliptic.P384())}
}

// CCAToken is a CCA token ccatoken signs: the platform token (RSE_BL2 and
// RMM, config, secured) by the CPAK, the realm token (RIM, REMs, RPV, the
// realm challenge) by the RAK, bound by the platform challenge SHA-256(RAK).
// edit, when set, changes the claims after they are bound.
func CCAToken(t testing.TB, k CCAKeys, challenge []byte, edit func(platform.IClaims, realm.IClaims)) []byte {
	t.Helper()
	p := platform.NewClaims()
	bl2, rmm := Component("RSE_BL2", BL2Value, BL2Signer), Component("RMM", RMMValue, RMMSigner)
	for _, err := range []error{
		p.SetImplID(CCAImplID), p.SetInstID(CCAInstID), p.SetSecurityLifeCycle(0x3000),
		p.SetSoftwareComponents([]psatoken.ISwComponent{&bl2, &rmm}),
		p.SetConfig(CCAConfig), p.SetHashAlgID("sha-256"), p.SetVSI("https://veraison.example/v1/challenge-response"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	rak, err := cose.NewKeyFromPublic(&k.RAK.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rakCOSE, err := rak.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	r := realm.NewClaims()
	for _, err := range []error{
		r.SetChallenge(challenge), r.SetPersonalizationValue(RealmRPV), r.SetInitialMeasurement(RealmRIM),
		r.SetExtensibleMeasurements(RealmREMs), r.SetHashAlgID("sha-512"), r.SetPubKey(rakCOSE), r.SetPubKeyHashAlgID("sha-256"),
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
	data, err := ev.Sign(Signer(t, k.CPAK), Signer(t, k.RAK))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// RATLSCert is an Islet RA-TLS certificate (PEM): self-signed by key,
// valid for an hour around now, a CCA token in extension 1.3.3.3.7 whose
// realm challenge is SHA-512(nonce ‖ DER SubjectPublicKeyInfo of bindTo).
func RATLSCert(t testing.TB, k CCAKeys, key, bindTo *ecdsa.PrivateKey, nonce []byte) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(&bindTo.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	challenge := sha512.Sum512(append(append([]byte{}, nonce...), spki...))
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(7),
		Subject:         pkix.Name{CommonName: "RA-TLS realm"},
		NotBefore:       time.Now().Add(-time.Hour),
		NotAfter:        time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: OIDRATLSToken, Value: CCAToken(t, k, challenge[:], nil)}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
