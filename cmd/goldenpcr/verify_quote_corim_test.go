package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/swtpmtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// corimLab is one swtpm with two ECDSA AKs and quotes over its PCRs, and
// CoRIMs made with corim create from the PCR values tpm2_pcrread reports.
type corimLab struct {
	tpm   *swtpmtest.TPM
	dir   string
	nonce string
}

func (l *corimLab) path(n string) string { return filepath.Join(l.dir, n) }

func (l *corimLab) run(t *testing.T, tool string, args ...string) []byte {
	t.Helper()
	out := l.tpm.Run(t, tool, args...)
	l.tpm.Run(t, "tpm2_flushcontext", "-t")
	return out
}

// quote makes NAME.msg, NAME.sig and NAME.pcrs with the AK "ak".
func (l *corimLab) quote(t *testing.T, name, sel, nonce string) {
	t.Helper()
	l.run(t, "tpm2_quote", "-c", l.path("ak.ctx"), "-q", nonce, "-l", sel, "-g", "sha256",
		"-m", l.path(name+".msg"), "-s", l.path(name+".sig"), "-o", l.path(name+".pcrs"), "-F", "serialized")
}

// verify runs verify quote -o json on quote NAME with the extra options;
// it returns the exit code and the checks by name.
func (l *corimLab) verify(t *testing.T, name string, extra ...string) (int, map[string]corimCheck, string) {
	t.Helper()
	args := append([]string{"verify", "quote", "-o", "json", "-m", l.path(name + ".msg"), "-s", l.path(name + ".sig"),
		"--pcrs", l.path(name + ".pcrs")}, extra...)
	code, out, errs := run(t, args...)
	if code == exitUsage {
		return code, nil, errs
	}
	var rep struct {
		Verified bool
		Checks   []corimCheck
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %v\n%s%s", args, err, out, errs)
	}
	checks := map[string]corimCheck{}
	for _, c := range rep.Checks {
		checks[c.Name] = c
	}
	return code, checks, out
}

type corimCheck struct {
	Name    string
	Passed  bool
	Skipped bool
	Reason  string
	Notes   []string
}

func failedChecks(checks map[string]corimCheck) []string {
	var out []string
	for n, c := range checks {
		if !c.Passed && !c.Skipped {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// TestVerifyQuoteCorimSwtpm builds PARSEC_TPM and TPM_ENACTTRUST CoRIMs
// from a real swtpm's PCRs and AK and verifies real quotes against them:
// the genuine quote passes with the AK trusted because the CoRIM names
// it; quotes over other PCR values or another selection fail naming the
// PCRs; a replayed quote fails the nonce; a CoRIM naming another key fails
// ak-trust; and the same holds for batch lines.
func TestVerifyQuoteCorimSwtpm(t *testing.T) {
	l := &corimLab{tpm: swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}}), nonce: "c0ffee0123456789abcdef0123456789"}
	l.dir = l.tpm.Dir
	for i, p := range []int{0, 4, 7, 7} {
		l.run(t, "tpm2_pcrextend", fmt.Sprintf("%d:sha256=%x", p, pcr.SHA256.Sum([]byte(fmt.Sprintf("corim verify event %d", i)))))
	}
	const sel = "sha256:0,4,7"
	writeFile(t, l.path("golden.yaml"), l.run(t, "tpm2_pcrread", sel))
	l.run(t, "tpm2_createek", "-c", l.path("ek.ctx"), "-G", "ecc", "-u", l.path("ek.pub"))
	for _, ak := range []string{"ak", "other"} {
		l.run(t, "tpm2_createak", "-C", l.path("ek.ctx"), "-c", l.path(ak+".ctx"), "-G", "ecc", "-g", "sha256", "-s", "ecdsa", "-u", l.path(ak+".pub"))
		l.run(t, "tpm2_readpublic", "-c", l.path(ak+".ctx"), "-f", "pem", "-o", l.path(ak+".pem"))
	}
	l.quote(t, "good", sel, l.nonce)
	l.quote(t, "moved", "sha256:0,4,8", l.nonce) // another selection, same values
	l.run(t, "tpm2_pcrextend", fmt.Sprintf("4:sha256=%x", pcr.SHA256.Sum([]byte("an unexpected kernel"))))
	l.quote(t, "changed", sel, l.nonce) // PCR 4 differs

	key, cert, chain := signingFiles(t, l.dir)
	create := func(out string, args ...string) {
		t.Helper()
		code, stdout, errs := run(t, append([]string{"corim", "create", "--baseline", l.path("golden.yaml"), "-O", l.path(out)}, args...)...)
		if code != 0 {
			t.Fatalf("corim create %s: exit %d %s%s", out, code, errs, stdout)
		}
	}
	parsec := []string{"--scheme", "parsec-tpm", "--class-id", corimClass}
	enact := []string{"--scheme", "enacttrust", "--pcrs", sel, "--node-id", corimNode}
	create("parsec.corim", append(parsec, "--ak", l.path("ak.pem"))...)
	create("parsec-signed.corim", append(parsec, "--ak", l.path("ak.pem"), "--sign-key", key, "--sign-cert", cert, "--chain", chain)...)
	create("parsec-other.corim", append(parsec, "--ak", l.path("other.pem"))...)
	create("enact.corim", append(enact, "--ak", l.path("ak.pem"))...)
	create("enact-other.corim", append(enact, "--ak", l.path("other.pem"))...)

	nonce := []string{"--nonce", l.nonce}
	withAK := append([]string{"--ak", l.path("ak.pub")}, nonce...)
	enactSel := []string{"--corim-sel", sel}

	// --corim-roots: a signed CoRIM's signer must chain to a given root.
	t.Run("Roots", func(t *testing.T) {
		pemData, _ := os.ReadFile(chain)
		_, rest := pem.Decode(pemData)
		rootBlock, _ := pem.Decode(rest)
		root := l.path("corim-root.pem")
		os.WriteFile(root, pem.EncodeToMemory(rootBlock), 0o644)
		_, otherCert, _ := signingFiles(t, t.TempDir())
		signed := append([]string{"--corim", l.path("parsec-signed.corim")}, withAK...)
		code, checks, out := l.verify(t, "good", append(signed, "--corim-roots", root)...)
		if exp := checks["expected-pcrs"]; code != 0 || !strings.Contains(strings.Join(exp.Notes, " "), "CoRIM signer chains to a given root: CN=test signer ← CN=test intermediate ← CN=test root") {
			t.Errorf("signed CoRIM under its root: exit %d %+v\n%s", code, exp, out)
		}
		for _, tc := range []struct {
			args []string
			want string
		}{
			{append(signed, "--corim-roots", otherCert), "does not chain to a given root"},
			{append(append([]string{"--corim", l.path("parsec.corim")}, withAK...), "--corim-roots", root), "not signed"},
			{append(withAK, "--corim-roots", root), "--corim"},
		} {
			if code, _, errs := l.verify(t, "good", tc.args...); code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("%v: exit %d %q, want %q", tc.args[len(tc.args)-2:], code, errs, tc.want)
			}
		}
	})

	t.Run("Pass", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			args  []string
			notes string
		}{
			{"parsec", append([]string{"--corim", l.path("parsec.corim")}, withAK...), "is unsigned"},
			{"parsec signed", append([]string{"--corim", l.path("parsec-signed.corim")}, withAK...), `is signed (ES256) by "test signer"`},
			{"enacttrust", append(append([]string{"--corim", l.path("enact.corim")}, enactSel...), withAK...), "is unsigned"},
		} {
			code, checks, out := l.verify(t, "good", tc.args...)
			if code != 0 {
				t.Errorf("%s: exit %d, failed %v\n%s", tc.name, code, failedChecks(checks), out)
				continue
			}
			trust, exp := checks["ak-trust"], checks["expected-pcrs"]
			if !strings.Contains(trust.Reason, "the trust anchor of CoRIM "+tc.args[1]) {
				t.Errorf("%s: ak-trust does not say the CoRIM names the AK: %s", tc.name, trust.Reason)
			}
			if !exp.Passed || len(exp.Notes) != 1 || !strings.Contains(exp.Notes[0], tc.notes) {
				t.Errorf("%s: expected-pcrs %+v, want a note with %q", tc.name, exp, tc.notes)
			}
			if !checks["nonce"].Passed {
				t.Errorf("%s: nonce %+v", tc.name, checks["nonce"])
			}
		}
		// The trust anchor stands in for --ak: a PEM key carries no TPM
		// attributes, so only ak-attributes needs an opt-out.
		code, checks, out := l.verify(t, "good", append([]string{"--corim", l.path("parsec.corim"), "--allow-unrestricted"}, nonce...)...)
		if code != 0 || !checks["signature"].Passed || !checks["ak-trust"].Passed || !checks["ak-attributes"].Skipped {
			t.Errorf("CoRIM key as the AK: exit %d\n%s", code, out)
		}
		code, checks, _ = l.verify(t, "good", append([]string{"--corim", l.path("parsec.corim")}, nonce...)...)
		if got := failedChecks(checks); code != 1 || !slices.Equal(got, []string{"ak-attributes"}) {
			t.Errorf("CoRIM key as the AK without --allow-unrestricted: exit %d, failed %v", code, got)
		}
	})

	t.Run("Fail", func(t *testing.T) {
		for _, tc := range []struct {
			name, quote string
			args        []string
			failed      []string
			says        []string
		}{
			{"parsec: PCR 4 differs", "changed", append([]string{"--corim", l.path("parsec.corim")}, withAK...),
				[]string{"expected-pcrs"}, []string{"1 of 3 expected PCRs differ", "sha256:4 mismatch"}},
			{"parsec: another selection", "moved", append([]string{"--corim", l.path("parsec.corim")}, withAK...),
				[]string{"expected-pcrs"}, []string{"sha256:7 not quoted", "sha256:8 quoted but not in the reference", "sha256:8: quoted, but the reference names no value for it"}},
			{"enacttrust: PCR 4 differs", "changed", append(append([]string{"--corim", l.path("enact.corim")}, enactSel...), withAK...),
				[]string{"expected-pcrs"}, []string{"sha256 of the values of sha256:0,4,7 in selection order is", "a composite digest cannot say which"}},
			{"enacttrust: another selection", "moved", append(append([]string{"--corim", l.path("enact.corim")}, enactSel...), withAK...),
				[]string{"expected-pcrs"}, []string{"the quote selects sha256:0,4,8, the composite digest is over sha256:0,4,7", "quoted but not in the composite: sha256:8", "not quoted: sha256:7"}},
			{"enacttrust: replayed under a new nonce", "good", append(append([]string{"--corim", l.path("enact.corim"), "--ak", l.path("ak.pub")}, enactSel...), "--nonce", "5eed"),
				[]string{"nonce"}, []string{"differs from the expected nonce"}},
			{"parsec: anchor is another key", "good", append([]string{"--corim", l.path("parsec-other.corim")}, withAK...),
				[]string{"ak-trust"}, []string{"it is none of the 1 keys the verifier trusts (the trust anchor of CoRIM"}},
			{"enacttrust: anchor is another key", "good", append(append([]string{"--corim", l.path("enact-other.corim")}, enactSel...), withAK...),
				[]string{"ak-trust"}, []string{"nothing vouches for the AK"}},
			{"enacttrust: anchor is another key, no --ak", "good", append(append([]string{"--corim", l.path("enact-other.corim"), "--allow-unrestricted"}, enactSel...), nonce...),
				[]string{"signature"}, []string{"does not verify"}},
		} {
			code, checks, out := l.verify(t, tc.quote, tc.args...)
			got := failedChecks(checks)
			if code != 1 || !slices.Equal(got, tc.failed) {
				t.Errorf("%s: exit %d, failed %v, want %v\n%s", tc.name, code, got, tc.failed, out)
				continue
			}
			reason := checks[tc.failed[0]].Reason
			for _, s := range tc.says {
				if !strings.Contains(reason, s) {
					t.Errorf("%s: %s reason lacks %q: %s", tc.name, tc.failed[0], s, reason)
				}
			}
		}
	})

	t.Run("Usage", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			says string
		}{
			{"with --expected", append([]string{"--corim", l.path("parsec.corim"), "--expected", l.path("golden.yaml")}, withAK...), "give --expected or --corim, not both"},
			{"with --no-nonce", []string{"--corim", l.path("parsec.corim"), "--ak", l.path("ak.pub"), "--no-nonce"}, "--no-nonce contradicts --corim"},
			{"enacttrust without --corim-sel", append([]string{"--corim", l.path("enact.corim")}, withAK...), "give the selection it was made over (--corim-sel"},
			{"parsec with --corim-sel", append(append([]string{"--corim", l.path("parsec.corim")}, enactSel...), withAK...), "drop --corim-sel"},
			{"--corim-sel alone", append(enactSel, withAK...), "--corim-sel needs --corim"},
			{"not a CoRIM", append([]string{"--corim", l.path("golden.yaml")}, withAK...), "is not a CoRIM"},
		} {
			code, _, errs := l.verify(t, "good", tc.args...)
			if code != exitUsage || !strings.Contains(errs, tc.says) {
				t.Errorf("%s: exit %d %q, want exit 2 saying %q", tc.name, code, errs, tc.says)
			}
		}
	})

	t.Run("Batch", func(t *testing.T) {
		line := func(id, q, corim string, extra string) string {
			return fmt.Sprintf(`{"id":%q,"message":%q,"signature":%q,"pcrs":%q,"ak":%q,"nonce":%q,"corim":%q%s}`, id,
				l.path(q+".msg"), l.path(q+".sig"), l.path(q+".pcrs"), l.path("ak.pub"), l.nonce, l.path(corim), extra)
		}
		batch := strings.Join([]string{
			line("parsec", "good", "parsec.corim", ""),
			line("enact", "good", "enact.corim", `,"corim_sel":"`+sel+`"`),
			line("parsec-changed", "changed", "parsec.corim", ""),
			line("enact-other", "good", "enact-other.corim", `,"corim_sel":"`+sel+`"`),
			line("enact-nosel", "good", "enact.corim", ""),
		}, "\n") + "\n"
		writeFile(t, l.path("batch.jsonl"), []byte(batch))
		code, out, errs := run(t, "verify", "quote", "--batch", l.path("batch.jsonl"))
		if code != 1 {
			t.Fatalf("batch: exit %d %s\n%s", code, errs, out)
		}
		want := map[string]string{"parsec": "", "enact": "", "parsec-changed": "expected-pcrs", "enact-other": "ak-trust", "enact-nosel": "corim_sel"}
		for _, res := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				ID       string
				Verified bool
				Error    string
				Failed   []struct{ Check, Reason string }
			}
			if err := json.Unmarshal([]byte(res), &r); err != nil {
				t.Fatal(err)
			}
			w, ok := want[r.ID]
			if !ok {
				t.Errorf("unexpected result %s", res)
				continue
			}
			delete(want, r.ID)
			switch {
			case w == "" && !r.Verified:
				t.Errorf("%s: not verified: %s", r.ID, res)
			case w == "corim_sel" && !strings.Contains(r.Error, "(corim_sel,"):
				t.Errorf("%s: want an error naming corim_sel: %s", r.ID, res)
			case w != "" && w != "corim_sel" && (r.Verified || len(r.Failed) != 1 || r.Failed[0].Check != w):
				t.Errorf("%s: want only %s failed: %s", r.ID, w, res)
			}
		}
		if len(want) > 0 {
			t.Errorf("no result for %v", want)
		}
	})
	if testing.Verbose() {
		for _, c := range []struct{ q, corim string }{{"good", "parsec-signed.corim"}, {"moved", "enact.corim"}} {
			args := []string{"verify", "quote", "-m", l.path(c.q + ".msg"), "-s", l.path(c.q + ".sig"), "--pcrs", l.path(c.q + ".pcrs"), "--corim", l.path(c.corim)}
			if strings.HasPrefix(c.corim, "enact") {
				args = append(args, enactSel...)
			}
			_, out, _ := run(t, append(args, withAK...)...)
			t.Log("\n" + out)
		}
	}
}
