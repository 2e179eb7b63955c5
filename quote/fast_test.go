package quote

import (
	"bytes"
	"slices"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// TestVerifiedAgreesWithVerify: the lean batch path says "verified"
// exactly when the full report does, over genuine quotes, every
// single-byte change of message and signature that still parses, and
// every policy knob.
func TestVerifiedAgreesWithVerify(t *testing.T) {
	nonce := fixtureNonce(t)
	cases := 0
	check := func(what string, ev *Evidence, p *Policy) {
		t.Helper()
		cases++
		full := Verify(ev, p)
		if fast := Verified(ev, p); fast != full.Verified {
			t.Errorf("%s: Verified %v, Verify %v (failed %v)", what, fast, full.Verified, failedChecks(full))
		}
		if v := VerifyVerdict(ev, p); v.Verified != full.Verified || !sameFailures(v.Failed(), full.Failed()) {
			t.Errorf("%s: VerifyVerdict %v %v, Verify %v %v", what, v.Verified, v.Failed(), full.Verified, full.Failed())
		}
	}
	for _, g := range genuine {
		base := loadGenuine(t, g.Name, g.AK)
		name, _ := base.AK.TPM.Name()
		policies := map[string]*Policy{
			"nonce":              {Nonce: nonce},
			"no nonce":           {},
			"--no-nonce":         {NoNonce: true},
			"wrong nonce":        {Nonce: append([]byte{0}, nonce...)},
			"ak name":            {Nonce: nonce, AKName: name},
			"wrong ak name":      {Nonce: nonce, AKName: flip(name, 3)},
			"empty ak name":      {Nonce: nonce, AKName: []byte{}},
			"reset count":        {Nonce: nonce, MinResetCount: 2},
			"reset count high":   {Nonce: nonce, MinResetCount: 3},
			"restart count high": {Nonce: nonce, MinRestartCount: 1},
			"min clock":          {Nonce: nonce, MinClock: 1 << 40},
			"max clock":          {Nonce: nonce, MaxClock: 1},
			"require safe":       {Nonce: nonce, RequireSafe: true},
			"allow unrestricted": {Nonce: nonce, AllowUnrestricted: true},
		}
		for _, p := range policies {
			p.TrustedAKs = []*tpmstruct.PublicKey{base.AK}
		}
		other := loadGenuine(t, "ecc-quote", "ecc-ak.pub").AK
		policies["untrusted AK"] = &Policy{Nonce: nonce}
		policies["untrusted AK allowed"] = &Policy{Nonce: nonce, AllowUntrustedAK: true}
		policies["another trusted key"] = &Policy{Nonce: nonce, TrustedAKs: []*tpmstruct.PublicKey{other}}
		policies["untrusted AK, ak name"] = &Policy{Nonce: nonce, AKName: name}
		// Expected values and event logs, which only the full path checks.
		good := Policy{Nonce: nonce, TrustedAKs: []*tpmstruct.PublicKey{base.AK}}
		changed := clonePCRs(base.PCRs)
		changed[pcr.SHA256][7] = flip(changed[pcr.SHA256][7], 0)
		for en, exp := range map[string]pcr.Values{"expected": base.PCRs, "wrong expected": changed, "nothing expected": {}} {
			p := good
			p.Expected = &baseline.Reference{Doc: &pcr.Document{Sets: []pcr.Values{exp}}}
			policies[en] = &p
		}
		for ln, rp := range map[string]*eventlog.Replay{
			"log": fakeReplay(base.PCRs, 0, -1), "log off in sha256:7": fakeReplay(base.PCRs, pcr.SHA256, 7),
			"log off in sha1:0": fakeReplay(base.PCRs, pcr.SHA1, 0),
		} {
			ev := *base
			ev.EventLog = rp
			for _, pn := range []string{"nonce", "expected", "wrong expected", "untrusted AK allowed"} {
				check(g.Name+" "+ln+" "+pn, &ev, policies[pn])
			}
			p := good
			p.UnloggedPCRs = []int{16}
			check(g.Name+" "+ln+" unlogged 16", &ev, &p)
		}
		required := good
		required.RequireEventLog = true
		policies["log required"] = &required
		requested := good
		requested.Selection = pcr.Selection{{Alg: pcr.SHA256, PCRs: []int{0, 7}}}
		policies["other selection requested"] = &requested
		for pn, p := range policies {
			check(g.Name+" "+pn, base, p)
		}
		p := policies["nonce"]
		for i := range base.Attest.Raw {
			a, err := tpmstruct.ParseAttest(flip(base.Attest.Raw, i))
			if err != nil {
				continue
			}
			ev := *base
			ev.Attest = a
			check(g.Name+" message byte", &ev, p)
		}
		raw := base.Signature.Marshal()
		for i := range raw {
			s, err := tpmstruct.ParseSignature(flip(raw, i))
			if err != nil {
				continue
			}
			ev := *base
			ev.Signature = s
			check(g.Name+" signature byte", &ev, p)
		}
		// PCR values: one changed, one missing, one extra, none.
		for _, bank := range base.PCRs.Algs() {
			for _, i := range base.PCRs.Indices(bank) {
				ev := *base
				ev.PCRs = clonePCRs(base.PCRs)
				ev.PCRs[bank][i] = flip(ev.PCRs[bank][i], 0)
				check(g.Name+" PCR changed", &ev, p)
				delete(ev.PCRs[bank], i)
				check(g.Name+" PCR missing", &ev, p)
			}
		}
		ev := *base
		ev.PCRs = clonePCRs(base.PCRs)
		ev.PCRs.Set(pcr.SHA256, 23, make([]byte, 32))
		check(g.Name+" PCR extra", &ev, p)
		ev.PCRs = nil
		check(g.Name+" no PCRs", &ev, p)
		// Keys: none, PEM (no attributes), another quote's key.
		ev = *base
		ev.AK = nil
		check(g.Name+" no AK", &ev, p)
		ev.AK = mustPublic(t, g.AK[:len(g.AK)-len(".pub")]+".pem")
		check(g.Name+" PEM AK", &ev, p)
		check(g.Name+" PEM AK allowed", &ev, policies["allow unrestricted"])
		for _, other := range genuine {
			ev.AK = mustPublic(t, other.AK)
			check(g.Name+" AK "+other.AK, &ev, p)
		}
		ev = *base
		ev.Signature = nil
		check(g.Name+" no signature", &ev, p)
	}
	// The unrestricted (CML-like) key.
	ev := &Evidence{Attest: mustAttest(t, readFile(t, quoteDir, "unrestricted-quote.msg")), AK: mustPublic(t, "unrestricted-key.pub"),
		PCRs: readPCRs(t, quoteDir+"/unrestricted-quote.pcrs")}
	s, err := tpmstruct.ParseSignature(readFile(t, quoteDir, "unrestricted-quote.sig"))
	if err != nil {
		t.Fatal(err)
	}
	ev.Signature = s
	check("unrestricted", ev, &Policy{Nonce: nonce})
	check("unrestricted allowed", ev, &Policy{Nonce: nonce, AllowUnrestricted: true})
	check("nil evidence", nil, nil)
	check("no attest", &Evidence{}, &Policy{NoNonce: true})
	t.Logf("%d cases agree", cases)
}

// sameFailures reports whether two lists of failed checks have the same
// names and reasons in the same order.
func sameFailures(a, b []Check) bool {
	return slices.EqualFunc(a, b, func(x, y Check) bool { return x.Name == y.Name && x.Reason == y.Reason })
}

func clonePCRs(v pcr.Values) pcr.Values {
	out := pcr.Values{}
	for _, a := range v.Algs() {
		for _, i := range v.Indices(a) {
			out.Set(a, i, bytes.Clone(v[a][i]))
		}
	}
	return out
}
