package ear

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	vear "github.com/veraison/ear"

	"github.com/goldenpcr/goldenpcr/verdict"
)

var now = time.Unix(1796000000, 0)

func quoteChecks(failing ...string) verdict.Checks {
	var cs verdict.Checks
	for _, n := range []string{"attest-header", "signature", "ak-attributes", "ak-trust", "nonce", "pcr-selection", "pcr-digest", "expected-pcrs", "ek-cert"} {
		c := verdict.Check{Name: n, Passed: true, Reason: "ok"}
		for _, f := range failing {
			if f == n {
				c = verdict.Check{Name: n, Reason: "wrong"}
			}
		}
		cs = append(cs, c)
	}
	return cs
}

func issue(checks verdict.Checks) Issue {
	return Issue{Submod: "TPM", Checks: checks, Vector: TPMQuoteVector, Nonce: []byte("0123456789abcdef0123456789abcdef"), Build: "goldenpcr test", Now: now}
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func failedNames(r *Result) []string {
	var out []string
	for _, c := range r.Failed() {
		out = append(out, c.Name)
	}
	return out
}

// A verified quote's EAR: affirming, the trust vector claims exactly what
// the checks proved, and the upstream ear library reads it the same way.
func TestSignVerifyQuoteResult(t *testing.T) {
	k := ecKey(t)
	tok, err := Sign(issue(quoteChecks()), k)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify(tok, []crypto.PublicKey{&k.PublicKey}, []byte("0123456789abcdef0123456789abcdef"), time.Now())
	if err != nil || !res.Verified() {
		t.Fatalf("%v %+v", err, res)
	}
	if len(res.Submods) != 1 || res.Submods[0].Status != "affirming" || res.Algorithm != "ES256" {
		t.Fatalf("%+v", res.Submods)
	}
	got := map[string]int{}
	for _, c := range res.Submods[0].TrustVector {
		got[c.Claim] = c.Value
		if c.Meaning == "" || c.Tier != "affirming" {
			t.Errorf("claim %+v has no meaning or is not affirming", c)
		}
	}
	if len(got) != 3 || got["instance-identity"] != 2 || got["hardware"] != 2 || got["executables"] != 3 {
		t.Errorf("trust vector %v; want instance-identity 2, hardware 2, executables 3 and nothing else", got)
	}
	if !strings.Contains(res.Submods[0].TrustVector[0].Meaning, "recognized") {
		t.Errorf("instance-identity in words: %q", res.Submods[0].TrustVector[0].Meaning)
	}
	// The ear library itself.
	var ar vear.AttestationResult
	if err := ar.Verify(tok, jwa.ES256, &k.PublicKey); err != nil {
		t.Fatal(err)
	}
	if s := ar.Submods["TPM"]; *s.Status != vear.TrustTierAffirming || s.TrustVector.Executables != vear.ApprovedBootClaim {
		t.Errorf("upstream reads %v %+v", *s.Status, s.TrustVector)
	}
	if *ar.Nonce != base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) || *ar.IssuedAt != now.Unix() {
		t.Errorf("nonce %s iat %d", *ar.Nonce, *ar.IssuedAt)
	}
}

// Nothing is claimed that was not checked, and failures lower the status.
func TestClaimsFollowChecks(t *testing.T) {
	k := ecKey(t)
	for _, tc := range []struct {
		name   string
		checks verdict.Checks
		status string
		vector map[string]int
	}{
		{"expected values wrong", quoteChecks("expected-pcrs"), "contraindicated", map[string]int{"instance-identity": 2, "hardware": 2, "executables": 33}},
		{"signature wrong", quoteChecks("signature"), "contraindicated", map[string]int{"instance-identity": 99, "hardware": 2, "executables": 3}},
		{"no expected values, no EK", func() verdict.Checks {
			cs := quoteChecks()
			cs.Check("expected-pcrs").Passed, cs.Check("expected-pcrs").Skipped = false, true
			cs.Check("ek-cert").Passed, cs.Check("ek-cert").Skipped = false, true
			return cs
		}(), "affirming", map[string]int{"instance-identity": 2}},
		{"untrusted AK accepted on request", func() verdict.Checks {
			cs := quoteChecks()
			*cs.Check("ak-trust") = verdict.Check{Name: "ak-trust", Skipped: true, Details: map[string]string{"warning": "nobody vouches for the AK"}}
			return cs
		}(), "warning", map[string]int{"hardware": 2, "executables": 3}},
	} {
		tok, err := Sign(issue(tc.checks), k)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Verify(tok, []crypto.PublicKey{&k.PublicKey}, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, c := range res.Submods[0].TrustVector {
			got[c.Claim] = c.Value
		}
		if res.Submods[0].Status != tc.status || len(got) != len(tc.vector) {
			t.Errorf("%s: status %s, vector %v; want %s %v", tc.name, res.Submods[0].Status, got, tc.status, tc.vector)
		}
		for k, v := range tc.vector {
			if got[k] != v {
				t.Errorf("%s: %s = %d, want %d", tc.name, k, got[k], v)
			}
		}
		if wantOK := tc.status == "affirming"; res.Verified() != wantOK {
			t.Errorf("%s: verified %v, failed %v", tc.name, res.Verified(), failedNames(res))
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	k := ecKey(t)
	good, err := Sign(issue(quoteChecks()), k)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("0123456789abcdef0123456789abcdef")
	other := ecKey(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	parts := strings.Split(string(good), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"affirming"`, `"warning"`, 1))) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."

	// An expired token and one of another profile, properly signed.
	signed := func(mut func(jwt.Token)) []byte {
		tokn, err := jwt.Parse(good, jwt.WithKey(jwa.ES256, &k.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		mut(tokn)
		b, err := jwt.Sign(tokn, jwt.WithKey(jwa.ES256, k))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	expired := signed(func(tk jwt.Token) { tk.Set(jwt.ExpirationKey, time.Now().Add(-time.Hour)) })
	otherProfile := signed(func(tk jwt.Token) { tk.Set("eat_profile", "tag:example.com,2023:other") })

	for _, tc := range []struct {
		name  string
		token []byte
		keys  []crypto.PublicKey
		nonce []byte
		check string
		why   string
	}{
		{"wrong key", good, []crypto.PublicKey{&other.PublicKey}, nonce, CheckSignature, "does not verify"},
		{"RSA key for an ES256 token", good, []crypto.PublicKey{&rsaKey.PublicKey}, nonce, CheckSignature, "RSA key cannot verify"},
		{"tampered payload", []byte(tampered), []crypto.PublicKey{&k.PublicKey}, nonce, CheckSignature, "does not verify"},
		{"alg none", []byte(none), []crypto.PublicKey{&k.PublicKey}, nonce, CheckSignature, `alg "none"`},
		{"expired", expired, []crypto.PublicKey{&k.PublicKey}, nonce, CheckSignature, "exp"},
		{"other profile", otherProfile, []crypto.PublicKey{&k.PublicKey}, nonce, CheckProfile, "tag:example.com,2023:other"},
		{"other nonce", good, []crypto.PublicKey{&k.PublicKey}, []byte("another nonce of 32 bytes, yes!!"), CheckNonce, "not the nonce given"},
	} {
		res, err := Verify(tc.token, tc.keys, tc.nonce, time.Now())
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		c := res.Check(tc.check)
		if res.Verified() || c == nil || !c.Failed() || !strings.Contains(c.Reason, tc.why) {
			t.Errorf("%s: verified %v, %s = %+v; want it failed with %q", tc.name, res.Verified(), tc.check, c, tc.why)
		}
	}
	if _, err := Verify([]byte("not a token"), []crypto.PublicKey{&k.PublicKey}, nil, time.Now()); err == nil {
		t.Error("garbage read as a token")
	}
}

func TestRSAKeys(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	tok, err := Sign(issue(quoteChecks()), k)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify(tok, []crypto.PublicKey{&k.PublicKey}, nil, time.Now())
	if err != nil || !res.Verified() || res.Algorithm != "PS256" {
		t.Fatalf("%v %+v", err, res)
	}
}

// FuzzVerify: no token makes the verifier panic.
func FuzzVerify(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok, _ := Sign(issue(quoteChecks()), k)
	f.Add(tok)
	f.Add([]byte("e30.e30."))
	f.Fuzz(func(t *testing.T, data []byte) {
		Verify(data, []crypto.PublicKey{&k.PublicKey}, []byte("01234567"), time.Now())
	})
}
