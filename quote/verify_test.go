package quote

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

func TestVerifyGenuineFixtures(t *testing.T) {
	for _, g := range genuine {
		t.Run(g.Name, func(t *testing.T) {
			rep := verifyTrusting(loadGenuine(t, g.Name, g.AK), &Policy{Nonce: fixtureNonce(t)})
			if !rep.Verified || rep.Err() != nil {
				t.Fatalf("genuine quote not verified: %v", rep.Err())
			}
			want := []string{CheckAttestHeader, CheckSignature, CheckAKAttributes, CheckAKName, CheckAKTrust, CheckNonce,
				CheckPCRSelection, CheckPCRDigest, CheckEventLog, CheckExpected, CheckClock}
			var got []string
			for _, c := range rep.Checks {
				got = append(got, c.Name)
				if c.Reason == "" {
					t.Errorf("%s has no reason", c.Name)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("checks %v, want %v", got, want)
			}
			// Nothing optional was given: those checks are skipped, never passed.
			for _, name := range []string{CheckAKName, CheckEventLog, CheckExpected, CheckClock} {
				if c := rep.Check(name); !c.Skipped || c.Passed {
					t.Errorf("%s: %+v, want skipped", name, c)
				}
			}
		})
	}
	// swtpm (libtpms) signs RSASSA-PSS with a salt as long as the hash,
	// not the largest salt (256-32-2 = 222 bytes) some TPMs use; both
	// verify because the salt length is recovered, not assumed.
	rep := verifyTrusting(loadGenuine(t, "rsapss-quote", "rsapss-ak.pub"), &Policy{Nonce: fixtureNonce(t)})
	if got := rep.Check(CheckSignature).Details["pss_salt_length"]; got != "32" {
		t.Errorf("PSS salt length %s, want 32", got)
	}
}

func TestVerifyPlainSignatures(t *testing.T) {
	for _, name := range []string{"rsa", "ecc"} {
		ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
		var err error
		if ev.Attest, err = tpmstruct.ParseAttest(readFile(t, quoteDir, name+"-plain.msg")); err != nil {
			t.Fatal(err)
		}
		alg := map[string]string{"rsa": "rsassa-sha256", "ecc": "ecdsa-sha256"}[name]
		if ev.Signature, err = tpmstruct.ParsePlainSignature(readFile(t, quoteDir, name+"-plain.sig"), alg); err != nil {
			t.Fatal(err)
		}
		if ev.AK, err = tpmstruct.ParsePublic(readFile(t, quoteDir, name+"-ak.pub")); err != nil {
			t.Fatal(err)
		}
		ev.PCRs = readPCRs(t, filepath.Join(quoteDir, name+"-plain.pcrs"))
		if rep := verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t)}); !rep.Verified {
			t.Errorf("%s plain: %v", name, rep.Err())
		}
		// The wrong scheme for the key fails the signature check only.
		ev.Signature.Scheme = map[string]tpmstruct.SigScheme{"rsa": tpmstruct.SchemeRSAPSS, "ecc": tpmstruct.SchemeECDAA}[name]
		rep := verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t)})
		if f := failedChecks(rep); !slices.Equal(f, []string{CheckSignature}) {
			t.Errorf("%s with the wrong scheme: failed %v", name, f)
		}
	}
}

// TestVerifyTamperingTypedErrors changes one thing at a time in a genuine
// quote and checks which checks fail and which typed error says so.
func TestVerifyTamperingTypedErrors(t *testing.T) {
	nonce := fixtureNonce(t)
	type tamper struct {
		name   string
		change func(ev *Evidence, p *Policy)
		failed []string
		errAs  any
		reason string
	}
	cases := []tamper{
		{"flipped clock byte", func(ev *Evidence, p *Policy) { ev.Attest = mustAttest(t, flip(ev.Attest.Raw, 65)) },
			[]string{CheckSignature}, new(*SignatureError), "does not verify under the AK"},
		{"flipped signature byte", func(ev *Evidence, p *Policy) { ev.Signature.RSA = flip(ev.Signature.RSA, 100) },
			[]string{CheckSignature}, new(*SignatureError), "RSASSA-PKCS1-v1_5 with sha256 over the 135-byte TPMS_ATTEST does not verify"},
		{"wrong magic", func(ev *Evidence, p *Policy) { ev.Attest = mustAttest(t, flip(ev.Attest.Raw, 3)) },
			[]string{CheckAttestHeader, CheckSignature}, new(*AttestHeaderError), "not TPM_GENERATED_VALUE"},
		{"wrong nonce", func(ev *Evidence, p *Policy) { p.Nonce = flip(nonce, 0) },
			[]string{CheckNonce}, new(*NonceError), "differs from the expected nonce"},
		{"nonce prefix only", func(ev *Evidence, p *Policy) { p.Nonce = nonce[:8] },
			[]string{CheckNonce}, new(*NonceError), "starts with the nonce but has 8 more bytes"},
		{"no nonce", func(ev *Evidence, p *Policy) { p.Nonce = nil },
			[]string{CheckNonce}, new(*NonceError), "no nonce given"},
		{"changed PCR", func(ev *Evidence, p *Policy) { ev.PCRs[pcr.SHA256][7] = flip(ev.PCRs[pcr.SHA256][7], 0) },
			[]string{CheckPCRDigest}, new(*PCRDigestError), "a supplied value differs from what the TPM quoted"},
		{"one PCR fewer", func(ev *Evidence, p *Policy) { delete(ev.PCRs[pcr.SHA256], 16) },
			[]string{CheckPCRSelection, CheckPCRDigest}, new(*SelectionError), "quoted but not supplied: sha256:16"},
		{"one PCR more", func(ev *Evidence, p *Policy) { ev.PCRs.Set(pcr.SHA256, 8, make([]byte, 32)) },
			[]string{CheckPCRSelection}, new(*SelectionError), "supplied but not quoted: sha256:8"},
		{"no PCR values", func(ev *Evidence, p *Policy) { ev.PCRs = nil },
			[]string{CheckPCRSelection, CheckPCRDigest}, new(*PCRDigestError), "no PCR values given"},
		{"no AK", func(ev *Evidence, p *Policy) { ev.AK = nil },
			[]string{CheckSignature, CheckAKAttributes, CheckAKTrust}, new(*SignatureError), "no AK public key given"},
		{"other AK", func(ev *Evidence, p *Policy) { ev.AK = mustPublic(t, "rsapss-ak.pub") },
			[]string{CheckSignature}, new(*SignatureError), "the AK is fixed to rsapss/sha256, but the signature is rsassa/sha256"},
		{"ECC AK for RSA signature", func(ev *Evidence, p *Policy) { ev.AK = mustPublic(t, "ecc-ak.pem"); p.AllowUnrestricted = true },
			[]string{CheckSignature}, new(*SignatureError), "an RSA (rsassa) signature, but the AK is ECC P-256"},
		{"PEM AK", func(ev *Evidence, p *Policy) { ev.AK = mustPublic(t, "rsa-ak.pem") },
			[]string{CheckAKAttributes}, new(*AKAttributesError), "carries no TPM object attributes"},
		{"AK name", func(ev *Evidence, p *Policy) { p.AKName = readFile(t, quoteDir, "ecc-ak.name") },
			[]string{CheckAKName}, new(*AKNameError), "expected 000b"},
		{"min reset count", func(ev *Evidence, p *Policy) { p.MinResetCount = ev.Attest.ClockInfo.ResetCount + 1 },
			[]string{CheckClock}, new(*FreshnessError), "resetCount is 2, policy says at least 3"},
		{"max clock", func(ev *Evidence, p *Policy) { p.MaxClock = 1 },
			[]string{CheckClock}, new(*FreshnessError), "policy says at most 1"},
		{"expected values", func(ev *Evidence, p *Policy) {
			want := pcr.Values{}
			want.Set(pcr.SHA256, 0, ev.PCRs[pcr.SHA256][0])
			want.Set(pcr.SHA256, 7, make([]byte, 32))
			want.Set(pcr.SHA256, 8, make([]byte, 32))
			p.Expected = &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{want}}}
		}, []string{CheckExpected}, new(*PCRMismatchError), "2 of 3 expected PCRs differ: sha256:7 mismatch, sha256:8 not quoted"},
		{"event log", func(ev *Evidence, p *Policy) { ev.EventLog = fakeReplay(ev.PCRs, pcr.SHA256, 7) },
			[]string{CheckEventLog}, new(*ReplayError), "sha256 PCR 7 replays to"},
		{"event log without a quoted bank", func(ev *Evidence, p *Policy) {
			ev.EventLog = fakeReplay(ev.PCRs, 0, 0)
			ev.EventLog.Banks = []pcr.Alg{pcr.SHA256}
		}, []string{CheckEventLog}, new(*ReplayError), "the event log has no sha1 digests"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
			p := &Policy{Nonce: nonce}
			c.change(ev, p)
			rep := verifyTrusting(ev, p)
			if rep.Verified {
				t.Fatal("tampered quote verified")
			}
			if f := failedChecks(rep); !slices.Equal(f, c.failed) {
				t.Errorf("failed %v, want %v", f, c.failed)
			}
			if !errors.As(rep.Err(), c.errAs) {
				t.Errorf("error %v is not %T", rep.Err(), c.errAs)
			}
			first := rep.Check(c.failed[0])
			all := first.Reason + " | " + rep.Err().Error()
			if !strings.Contains(all, c.reason) {
				t.Errorf("reason %q lacks %q", all, c.reason)
			}
		})
	}
}

// fakeReplay returns a replay that agrees with vals on every PCR of both
// banks, except PCR bad of bank badBank (none when badBank is 0).
func fakeReplay(vals pcr.Values, badBank pcr.Alg, bad int) *eventlog.Replay {
	rp := &eventlog.Replay{Banks: []pcr.Alg{pcr.SHA1, pcr.SHA256}, Values: pcr.Values{}, Events: 9}
	for i := range rp.LastEvent {
		rp.LastEvent[i] = -1
	}
	for _, a := range rp.Banks {
		for i, v := range vals[a] {
			if i == 16 {
				rp.Values.Set(a, i, make([]byte, a.Size())) // untouched
				continue
			}
			if a == badBank && i == bad {
				v = flip(v, 0)
			}
			rp.Values.Set(a, i, v)
			rp.LastEvent[i] = i
		}
	}
	return rp
}

func TestVerifyEventLogDetails(t *testing.T) {
	ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	ev.EventLog = fakeReplay(ev.PCRs, 0, 0)
	rep := verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t)})
	c := rep.Check(CheckEventLog)
	if !c.Passed || !strings.Contains(c.Reason, "sha256:16 not in the log") {
		t.Errorf("%+v", c)
	}
	// A log that touches none of the quoted PCRs explains nothing.
	for i := range ev.EventLog.LastEvent {
		ev.EventLog.LastEvent[i] = -1
	}
	rep = verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t)})
	if c := rep.Check(CheckEventLog); c.Passed || !strings.Contains(c.Reason, "extends none of the quoted PCRs") {
		t.Errorf("%+v", c)
	}
	var re *ReplayError
	if !errors.As(rep.Err(), &re) || re.PCR != -1 {
		t.Errorf("%v", rep.Err())
	}
	// Several bad PCRs: the first is named, all are listed.
	ev.EventLog = fakeReplay(ev.PCRs, pcr.SHA1, 1)
	ev.EventLog.Values[pcr.SHA256][7] = make([]byte, 32)
	rep = verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t)})
	if !errors.As(rep.Err(), &re) || re.Bank != pcr.SHA1 || re.PCR != 1 || len(re.Failing) != 2 {
		t.Errorf("%+v", re)
	}
}

func TestVerifyPolicyOptOuts(t *testing.T) {
	ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	ev.AK = mustPublic(t, "rsa-ak.pem")
	rep := verifyTrusting(ev, &Policy{NoNonce: true, AllowUnrestricted: true})
	if !rep.Verified {
		t.Fatalf("opted-out checks failed: %v", rep.Err())
	}
	for _, name := range []string{CheckNonce, CheckAKAttributes} {
		if c := rep.Check(name); !c.Skipped || c.Passed {
			t.Errorf("%s: %+v, want skipped", name, c)
		}
	}
	// A CML-like unrestricted sign+decrypt key.
	u := loadGenuine(t, "unrestricted-quote", "unrestricted-key.pub")
	rep = verifyTrusting(u, &Policy{Nonce: fixtureNonce(t)})
	if f := failedChecks(rep); !slices.Equal(f, []string{CheckAKAttributes}) || !strings.Contains(rep.Check(CheckAKAttributes).Reason, "not restricted") {
		t.Errorf("unrestricted without policy: %v %s", f, rep.Check(CheckAKAttributes).Reason)
	}
	rep = verifyTrusting(u, &Policy{Nonce: fixtureNonce(t), AllowUnrestricted: true, RequireSafe: true, MinClock: 1})
	if !rep.Verified || !rep.Check(CheckAKAttributes).Passed || !rep.Check(CheckClock).Passed {
		t.Errorf("unrestricted with policy: %v", rep.Err())
	}
}

// TestCMLFixture checks the GyroidOS tpm2d quote from the CML
// documentation. Its device certificate was not published, so the
// signature cannot be checked and must be reported as failed.
func TestCMLFixture(t *testing.T) {
	raw := readHex(t, cmlDir, "quote.hex")
	a, err := tpmstruct.ParseAttest(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 121 || a.Magic != 0xff544347 || a.Type != 0x8018 || a.Sized {
		t.Fatalf("header: %d bytes, magic %x, type %x", len(raw), a.Magic, a.Type)
	}
	nonce := readHex(t, cmlDir, "nonce.hex")
	if !bytes.Equal(a.ExtraData, nonce) {
		t.Errorf("extraData %x, nonce %x", a.ExtraData, nonce)
	}
	if len(a.Quote.PCRSelect) != 1 || !bytes.Equal(a.Quote.PCRSelect[0].Select, []byte{0xff, 0x0f, 0x00}) {
		t.Errorf("selection %+v, want sha256 ff 0f 00", a.Quote.PCRSelect)
	}
	sel, err := a.Quote.Selection()
	if err != nil || sel.String() != "sha256:0-11" {
		t.Errorf("selection %v, %v", sel, err)
	}
	vals := cmlPCRs(t)
	var concat []byte
	for i := 0; i < 12; i++ {
		concat = append(concat, vals[pcr.SHA256][i]...)
	}
	sum := sha256.Sum256(concat)
	if !bytes.Equal(a.Quote.PCRDigest, sum[:]) || !strings.HasPrefix(hex.EncodeToString(sum[:]), "e75138ab") {
		t.Errorf("pcrDigest %x, SHA-256 of the 12 values %x", a.Quote.PCRDigest, sum)
	}
	sigRaw := readHex(t, cmlDir, "signature.hex")
	sig, err := tpmstruct.ParseSignature(sigRaw)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigRaw) != 262 || sig.Scheme != tpmstruct.SchemeRSASSA || sig.Hash != pcr.SHA256 || len(sig.RSA) != 256 || !bytes.Equal(sig.Marshal(), sigRaw) {
		t.Errorf("signature %s", sig)
	}

	rep := verifyTrusting(&Evidence{Attest: a, Signature: sig, PCRs: vals}, &Policy{Nonce: nonce, AllowUnrestricted: true})
	if rep.Verified {
		t.Fatal("a quote whose signature was not checked must not verify")
	}
	if c := rep.Check(CheckSignature); c.Passed || c.Skipped || !strings.Contains(c.Reason, "no AK public key given") {
		t.Errorf("signature check: %+v", c)
	}
	for _, name := range []string{CheckAttestHeader, CheckNonce, CheckPCRSelection, CheckPCRDigest} {
		if c := rep.Check(name); !c.Passed {
			t.Errorf("%s: %s", name, c.Reason)
		}
	}
	// With a changed PCR value the digest check fails too.
	vals[pcr.SHA256][10] = flip(vals[pcr.SHA256][10], 31)
	rep = verifyTrusting(&Evidence{Attest: a, Signature: sig, PCRs: vals}, &Policy{Nonce: nonce})
	if c := rep.Check(CheckPCRDigest); c.Passed {
		t.Error("changed PCR 10 still matches pcrDigest")
	}
}

func mustAttest(t *testing.T, raw []byte) *tpmstruct.Attest {
	t.Helper()
	a, err := tpmstruct.ParseAttest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustPublic(t *testing.T, name string) *tpmstruct.PublicKey {
	t.Helper()
	k, err := tpmstruct.ParsePublic(readFile(t, quoteDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerifyPSSMaxSalt: TPMs that follow FIPS 186-4 use the hash length
// as PSS salt, older ones (and the TPM 2.0 spec before 1.38) the largest
// salt that fits. Both must verify.
func TestVerifyPSSMaxSalt(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	digest := sha256.Sum256(ev.Attest.Raw)
	for _, salt := range []int{rsa.PSSSaltLengthEqualsHash, 222} {
		s, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, digest[:], &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		ev.Signature = &tpmstruct.Signature{Scheme: tpmstruct.SchemeRSAPSS, Hash: pcr.SHA256, RSA: s}
		ev.AK = &tpmstruct.PublicKey{Format: "test", Key: &key.PublicKey}
		rep := verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t), AllowUnrestricted: true})
		want := map[int]string{rsa.PSSSaltLengthEqualsHash: "32", 222: "222"}[salt]
		if c := rep.Check(CheckSignature); !c.Passed || c.Details["pss_salt_length"] != want {
			t.Errorf("salt %d: %+v", salt, c)
		}
	}
}

func TestVerifyUnauthenticatedValuesNoted(t *testing.T) {
	ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	ev.EventLog = fakeReplay(ev.PCRs, 0, 0)
	ev.Signature.RSA = flip(ev.Signature.RSA, 0)
	rep := verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t), Expected: &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{ev.PCRs}}}})
	for _, name := range []string{CheckEventLog, CheckExpected} {
		if c := rep.Check(name); !c.Passed || !strings.Contains(c.Reason, "not authenticated") {
			t.Errorf("%s: %+v", name, c)
		}
	}
	// An Attest built by hand (no Raw) is verified over its encoding.
	ev = loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	ev.Attest.Raw = nil
	if rep := verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t)}); !rep.Verified {
		t.Errorf("hand-built Attest: %v", rep.Err())
	}
}

func TestVerifyDegenerateInputs(t *testing.T) {
	for _, ev := range []*Evidence{nil, {}} {
		rep := verifyTrusting(ev, nil)
		if rep.Verified || len(rep.Checks) != 1 || rep.Checks[0].Reason != "no TPMS_ATTEST given" {
			t.Errorf("%+v", rep)
		}
	}
	// A TPMS_ATTEST of another type: no panic, header and PCR checks fail.
	ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	ev.Attest = mustAttest(t, patch(ev.Attest.Raw, 4, 0x80, 0x17))
	ev.EventLog = fakeReplay(ev.PCRs, 0, 0)
	rep := verifyTrusting(ev, &Policy{Nonce: fixtureNonce(t), Expected: &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{ev.PCRs}}}})
	want := []string{CheckAttestHeader, CheckSignature, CheckPCRSelection, CheckPCRDigest, CheckEventLog, CheckExpected}
	if f := failedChecks(rep); !slices.Equal(f, want) {
		t.Errorf("failed %v, want %v", f, want)
	}
	if !strings.Contains(rep.Check(CheckPCRSelection).Reason, "TPM_ST_ATTEST_CERTIFY, not a quote") {
		t.Errorf("%s", rep.Check(CheckPCRSelection).Reason)
	}
}

// The event log must explain every quoted PCR that is off its reset
// value, and no event of it may contradict its digest (issue #11).
func TestVerifyEventLogMustExplain(t *testing.T) {
	nonce := fixtureNonce(t)
	ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	// PCR 7's events removed: the log no longer touches it.
	ev.EventLog = fakeReplay(ev.PCRs, 0, 0)
	ev.EventLog.LastEvent[7] = -1
	ev.EventLog.Values.Set(pcr.SHA256, 7, make([]byte, 32))
	rep := verifyTrusting(ev, &Policy{Nonce: nonce})
	if c := rep.Check(CheckEventLog); !c.Failed() || !strings.Contains(c.Reason, "sha256:7: quoted off their reset value, but no event of the log extends them") {
		t.Errorf("unexplained PCR 7: %+v", c)
	}
	// Declared as extended outside the log, or explained by expected
	// values, it passes, and the reason says so.
	rep = verifyTrusting(ev, &Policy{Nonce: nonce, UnloggedPCRs: []int{7}})
	if c := rep.Check(CheckEventLog); !c.Passed || !strings.Contains(c.Reason, "sha256:7 extended outside the log") {
		t.Errorf("PCR 7 declared unlogged: %+v", c)
	}
	want := pcr.Values{}
	want.Set(pcr.SHA256, 7, ev.PCRs[pcr.SHA256][7])
	rep = verifyTrusting(ev, &Policy{Nonce: nonce, Expected: &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{want}}}})
	if !rep.Verified {
		t.Errorf("PCR 7 explained by the expected values: %v", rep.Err())
	}
	// A wrong expected value explains nothing.
	want.Set(pcr.SHA256, 7, make([]byte, 32))
	rep = verifyTrusting(ev, &Policy{Nonce: nonce, Expected: &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{want}}}})
	if f := failedChecks(rep); !slices.Equal(f, []string{CheckEventLog, CheckExpected}) {
		t.Errorf("wrong expected PCR 7: failed %v", f)
	}

	// An event whose data contradicts its digest fails the check, though
	// every PCR replays.
	ev.EventLog = fakeReplay(ev.PCRs, 0, 0)
	ev.EventLog.DigestIssues = []eventlog.DigestIssue{{Event: 5, Offset: 740, PCR: 7, Type: "EV_EFI_VARIABLE_DRIVER_CONFIG", Check: eventlog.DigestCheck{Status: eventlog.DigestMismatch}}}
	rep = verifyTrusting(ev, &Policy{Nonce: nonce})
	if c := rep.Check(CheckEventLog); !c.Failed() || !strings.Contains(c.Reason, "event #5 (EV_EFI_VARIABLE_DRIVER_CONFIG, PCR 7, at byte 740) has a digest that contradicts its data") {
		t.Errorf("digest issue: %+v", c)
	}

	// A required log that is missing fails; an optional one is skipped.
	ev.EventLog = nil
	if c := verifyTrusting(ev, &Policy{Nonce: nonce, RequireEventLog: true}).Check(CheckEventLog); !c.Failed() {
		t.Errorf("required log missing: %+v", c)
	}
	if c := verifyTrusting(ev, &Policy{Nonce: nonce}).Check(CheckEventLog); !c.Skipped {
		t.Errorf("optional log missing: %+v", c)
	}
}

// Nothing vouches for an AK unless the policy does (issue #11).
func TestVerifyAKTrust(t *testing.T) {
	nonce := fixtureNonce(t)
	ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	name, _ := ev.AK.TPM.Name()
	pem := mustPublic(t, "rsa-ak.pem")
	other := mustPublic(t, "ecc-ak.pub")
	for _, c := range []struct {
		name string
		p    *Policy
		ok   bool
		says string
	}{
		{"no anchor", &Policy{Nonce: nonce}, false, "nothing vouches for the AK: a key that comes with the evidence proves nothing"},
		{"the trusted key", &Policy{Nonce: nonce, TrustedAKs: []*tpmstruct.PublicKey{ev.AK}}, true, "the AK is a key the verifier trusts"},
		{"the trusted key as PEM", &Policy{Nonce: nonce, TrustedAKs: []*tpmstruct.PublicKey{pem}}, true, "the AK is a key the verifier trusts (PEM"},
		{"another trusted key", &Policy{Nonce: nonce, TrustedAKs: []*tpmstruct.PublicKey{other}}, false, "it is none of the 1 keys the verifier trusts"},
		{"pinned Name", &Policy{Nonce: nonce, AKName: name}, true, "the AK's TPM Name is the pinned one"},
		{"opted out", &Policy{Nonce: nonce, AllowUntrustedAK: true}, true, "NOT CHECKED, accepted on request"},
		{"certificate without roots", &Policy{Nonce: nonce, AKCert: &tpmcert.AKCertPolicy{}}, false, "its certificate does not verify"},
	} {
		rep := Verify(ev, c.p)
		tc := rep.Check(CheckAKTrust)
		if rep.Verified != c.ok || !strings.Contains(tc.Reason, c.says) {
			t.Errorf("%s: verified %v, %+v", c.name, rep.Verified, tc)
		}
		if Verified(ev, c.p) != rep.Verified {
			t.Errorf("%s: the lean path disagrees", c.name)
		}
	}
	// A TPM key equal in key material but not in its TPMT_PUBLIC (here its
	// attributes) is another key.
	changed := *ev.AK.TPM
	changed.Raw = append([]byte{}, changed.Raw...)
	changed.Raw[7] ^= 0x40 // objectAttributes: userwithauth
	if sameAK(&tpmstruct.PublicKey{TPM: &changed, Key: ev.AK.Key}, ev.AK) {
		t.Error("a TPMT_PUBLIC with other attributes is the trusted key")
	}
}

// A quote over no PCR says nothing about the platform.
func TestVerifyEmptySelection(t *testing.T) {
	ev := loadGenuine(t, "rsa-quote", "rsa-ak.pub")
	ev.Attest.Quote.PCRSelect = nil
	p := &Policy{NoNonce: true, TrustedAKs: []*tpmstruct.PublicKey{ev.AK}}
	ev.PCRs = pcr.Values{}
	rep := Verify(ev, p)
	if c := rep.Check(CheckPCRSelection); !c.Failed() || !strings.Contains(c.Reason, "the quote selects no PCR") {
		t.Errorf("%+v", c)
	}
	if Verified(ev, p) {
		t.Error("the lean path verified a quote over no PCR")
	}
}

// TestVerifyRequestedSelection: with Policy.Selection the quote must
// select exactly the requested PCRs; values that match the quote do not
// make up for a quote over other PCRs than were asked for.
func TestVerifyRequestedSelection(t *testing.T) {
	a := mustAttest(t, readHex(t, cmlDir, "quote.hex"))
	sig, err := tpmstruct.ParseSignature(readHex(t, cmlDir, "signature.hex"))
	if err != nil {
		t.Fatal(err)
	}
	nonce := readHex(t, cmlDir, "nonce.hex")
	for _, tc := range []struct {
		requested string
		pass      bool
		want      string
	}{
		{"sha256:0-11", true, "exactly the requested and supplied PCRs"},
		{"sha256:0-10", false, "the quote selects sha256:0-11, the verifier asked for sha256:0-10 (quoted but not requested: sha256:11)"},
		{"sha256:0-12", false, "(requested but not quoted: sha256:12)"},
		{"sha1:0-11", false, "requested but not quoted: sha1:0, sha1:1"},
	} {
		want, err := pcr.ParseSelection(tc.requested)
		if err != nil {
			t.Fatal(err)
		}
		if tc.requested == "sha256:0-11" {
			// A bank that selects nothing is no request.
			want = append(want, pcr.BankSelection{Alg: pcr.SHA1})
		}
		rep := verifyTrusting(&Evidence{Attest: a, Signature: sig, PCRs: cmlPCRs(t)},
			&Policy{Nonce: nonce, AllowUnrestricted: true, Selection: want})
		c := rep.Check(CheckPCRSelection)
		if c.Passed != tc.pass || !strings.Contains(c.Reason, tc.want) {
			t.Errorf("%s: passed %v: %s", tc.requested, c.Passed, c.Reason)
		}
		var se *SelectionError
		if !tc.pass && (!errors.As(c.Err, &se) || se.Requested == nil) {
			t.Errorf("%s: error %T %v", tc.requested, c.Err, c.Err)
		}
	}
}
