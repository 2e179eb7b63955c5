package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Evidence that proves nothing must not verify (issue #11). Each test
// here failed on the code before the fix: it said "verified".

// forgedAttestation is a whole attestation made in software, with no TPM:
// an RSA key whose TPMT_PUBLIC merely claims fixedtpm|restricted|sign, a
// TPMS_ATTEST over sha256:0,7 it signs itself, and an event log that
// replays to the PCR values it claims.
type forgedAttestation struct {
	tpmtPublic, attest, sig, log []byte
	pcrs                         map[int][]byte
	name                         string // the key's TPM Name, hex
}

func forgeAttestation(t *testing.T, nonce []byte) *forgedAttestation {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	var pub []byte
	pub = be.AppendUint16(pub, 0x0001)     // TPM_ALG_RSA
	pub = be.AppendUint16(pub, 0x000b)     // nameAlg sha256
	pub = be.AppendUint32(pub, 0x00050072) // fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign
	pub = be.AppendUint16(pub, 0)          // authPolicy
	pub = be.AppendUint16(pub, 0x0010)     // symmetric: TPM_ALG_NULL
	pub = be.AppendUint16(pub, 0x0014)     // scheme: RSASSA
	pub = be.AppendUint16(pub, 0x000b)     // with sha256
	pub = be.AppendUint16(pub, 2048)
	pub = be.AppendUint32(pub, 0) // default exponent
	pub = be.AppendUint16(pub, uint16(key.N.BitLen()/8))
	pub = append(pub, key.N.Bytes()...)
	nameDigest := sha256.Sum256(pub)
	name := append([]byte{0x00, 0x0b}, nameDigest[:]...)

	events := []logEvent{
		{pcr: 0, typ: evAction, data: []byte("forged: firmware")},
		{pcr: 7, typ: evDriverConfig, data: secureBootVar(1)},
		{pcr: 0, typ: evSeparator, data: []byte{0, 0, 0, 0}},
		{pcr: 7, typ: evSeparator, data: []byte{0, 0, 0, 0}},
	}
	pcrs := map[int][]byte{0: make([]byte, 32), 7: make([]byte, 32)}
	for _, e := range events {
		d := sha256.Sum256(e.data)
		v := sha256.Sum256(append(pcrs[int(e.pcr)], d[:]...))
		pcrs[int(e.pcr)] = v[:]
	}
	composite := sha256.Sum256(append(append([]byte{}, pcrs[0]...), pcrs[7]...))

	var a []byte
	a = be.AppendUint32(a, 0xff544347)
	a = be.AppendUint16(a, 0x8018)
	a = be.AppendUint16(a, uint16(len(name)))
	a = append(a, name...)
	a = be.AppendUint16(a, uint16(len(nonce)))
	a = append(a, nonce...)
	a = be.AppendUint64(a, 1000)                   // clock
	a = be.AppendUint32(a, 1)                      // resetCount
	a = be.AppendUint32(a, 0)                      // restartCount
	a = append(a, 1)                               // safe
	a = be.AppendUint64(a, 0x2019102300163636)     // firmwareVersion
	a = be.AppendUint32(a, 1)                      // one bank
	a = append(a, 0x00, 0x0b, 3, 0x81, 0, 0)       // sha256, PCRs 0 and 7
	a = be.AppendUint16(a, uint16(len(composite))) // pcrDigest
	a = append(a, composite[:]...)
	digest := sha256.Sum256(a)
	rsaSig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	var sig []byte
	sig = be.AppendUint16(sig, 0x0014)
	sig = be.AppendUint16(sig, 0x000b)
	sig = be.AppendUint16(sig, uint16(len(rsaSig)))
	sig = append(sig, rsaSig...)
	return &forgedAttestation{tpmtPublic: pub, attest: a, sig: sig, log: buildAgileLog([]pcr.Alg{pcr.SHA256}, events),
		pcrs: pcrs, name: hex.EncodeToString(name)}
}

// goTPMTools writes it as a go-tpm-tools attest.Attestation (protojson).
func (f *forgedAttestation) goTPMTools(t *testing.T, dir string) string {
	p := filepath.Join(dir, "forged-att.json")
	writeFile(t, p, []byte(jsonLine(t, map[string]any{"akPub": f.tpmtPublic, "eventLog": f.log,
		"quotes": []map[string]any{{"quote": f.attest, "rawSig": f.sig, "pcrs": map[string]any{"hash": 11, "pcrs": map[string][]byte{"0": f.pcrs[0], "7": f.pcrs[7]}}}}})))
	return p
}

// platformParameters writes it as a go-attestation PlatformParameters.
func (f *forgedAttestation) platformParameters(t *testing.T, dir string) string {
	p := filepath.Join(dir, "forged-pp.json")
	writeFile(t, p, []byte(jsonLine(t, map[string]any{"TPMVersion": 2, "Public": f.tpmtPublic, "EventLog": f.log,
		"Quotes": []map[string]any{{"Version": 2, "Quote": f.attest, "Signature": f.sig}},
		"PCRs":   []map[string]any{{"Index": 0, "Digest": f.pcrs[0], "DigestAlg": crypto.SHA256}, {"Index": 7, "Digest": f.pcrs[7], "DigestAlg": crypto.SHA256}}})))
	return p
}

// Finding 1: an attestation that carries its own AK is not trusted on its
// word; something the verifier trusts must vouch for the key.
func TestForgedAttestationNotTrusted(t *testing.T) {
	nonce := []byte("fresh nonce from the verifier")
	f := forgeAttestation(t, nonce)
	dir := t.TempDir()
	n := hex.EncodeToString(nonce)
	for _, att := range [][]string{{"--attestation", f.goTPMTools(t, dir)}, {"--platform-parameters", f.platformParameters(t, dir)}} {
		args := append(att, "--nonce", n)
		code, _, failed, reasons := verifyBundle(t, args...)
		if code != exitMismatch || len(failed) != 1 || failed[0] != "quote 1: ak-trust" || !strings.Contains(reasons, "nothing vouches for the AK") {
			t.Errorf("%v: exit %d, failed %v, want only ak-trust\n%s", att, code, failed, reasons)
		}
		// Pinned by Name, the same evidence verifies: the key is what
		// the verifier trusts, whatever made it.
		if code, _, failed, reasons := verifyBundle(t, append(args, "--ak-name", f.name)...); code != exitOK {
			t.Errorf("%v pinned: exit %d, failed %v\n%s", att, code, failed, reasons)
		}
		if code, _, failed, _ := verifyBundle(t, append(args, "--ak-name", bundleAKName(t, qf("gotpmtools-rsa.pb")))...); code != exitMismatch ||
			strings.Join(failed, ",") != "quote 1: ak-name,quote 1: ak-trust" {
			t.Errorf("%v pinned to another AK: exit %d, failed %v", att, code, failed)
		}
		// The opt-out says loudly what it gives up.
		code, out, _ := run(t, append([]string{"verify", "quote", "--allow-untrusted-ak"}, args...)...)
		if code != exitOK || !strings.Contains(out, "- ak-trust       NOT CHECKED, accepted on request: nothing vouches for the AK") ||
			!strings.Contains(out, "WARNING: this verdict says nothing about which TPM, if any, made the quote") {
			t.Errorf("%v --allow-untrusted-ak: exit %d\n%s", att, code, out)
		}
	}
	// The same in a batch, where each line says its own anchor.
	batch := filepath.Join(dir, "b.jsonl")
	writeFile(t, batch, []byte(jsonLine(t, map[string]any{"attestation": "forged-att.json", "nonce": n})+"\n"+
		jsonLine(t, map[string]any{"attestation": "forged-att.json", "nonce": n, "ak_name": f.name})+"\n"))
	code, out, _ := run(t, "verify", "quote", "--batch", batch)
	if code != exitMismatch || !strings.Contains(out, `{"line":1,"verified":false,"failed":[{"check":"quote 1: ak-trust"`) ||
		!strings.Contains(out, `{"line":2,"verified":true}`) {
		t.Errorf("batch: exit %d\n%s", code, out)
	}
}

// Finding 2: a batch takes no option that names evidence or policy (it
// used to ignore --ak-roots, --ak-cert and --ak-intermediates), and a
// line's own certificate fields are checked as the options are.
func TestBatchCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, other := newAKCA(t, dir, "AK CA"), newAKCA(t, dir, "other CA")
	cert := filepath.Join(dir, "rsa-ak.crt")
	writeFile(t, cert, ca.certify(t, qf("rsa-ak.pem")))
	batch := filepath.Join(dir, "b.jsonl")
	line := func(extra map[string]any) map[string]any {
		l := map[string]any{"ak": absQF(t, "rsa-ak.pub"), "message": absQF(t, "rsa-quote.msg"), "signature": absQF(t, "rsa-quote.sig"),
			"pcrs": absQF(t, "rsa-quote.pcrs"), "nonce": fixtureNonceHex(t)}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	writeFile(t, batch, []byte(jsonLine(t, line(map[string]any{"ak_cert": cert, "ak_roots": []string{ca.pem}}))+"\n"+
		jsonLine(t, line(map[string]any{"ak_cert": cert, "ak_roots": []string{other.pem}}))+"\n"+
		jsonLine(t, line(map[string]any{"ak_roots": []string{ca.pem}}))+"\n"))
	for _, flag := range []string{"--ak-roots", "--ak-cert", "--ak-intermediates"} {
		code, _, errs := run(t, "verify", "quote", "--batch", batch, flag, ca.pem)
		if code != exitUsage || !strings.Contains(errs, "drop "+flag) {
			t.Errorf("--batch with %s: exit %d %q", flag, code, errs)
		}
	}
	code, out, _ := run(t, "verify", "quote", "--batch", batch)
	if code != exitMismatch || !strings.Contains(out, `{"line":1,"verified":true}`) ||
		!strings.Contains(out, `{"line":2,"verified":false,"failed":[{"check":"ak-cert","reason":"it does not chain to the given roots`) ||
		!strings.Contains(out, `{"line":3,"verified":false,"failed":[{"check":"ak-cert","reason":"AK roots were given but there is no AK certificate`) {
		t.Errorf("batch: exit %d\n%s", code, out)
	}
}

// Finding 5: an attestation ships its event log; one without it was
// stripped, and fails unless the verifier says it does without.
func TestAttestationWithoutEventLog(t *testing.T) {
	var att map[string]any
	if err := json.Unmarshal(readFixture(t, "gotpmtools-rsa.json"), &att); err != nil {
		t.Fatal(err)
	}
	delete(att, "eventLog")
	p := filepath.Join(t.TempDir(), "stripped.json")
	writeFile(t, p, []byte(jsonLine(t, att)))
	nonce := strings.TrimSpace(string(readFixture(t, "gotpmtools-nonce.hex")))
	args := []string{"--attestation", p, "--nonce", nonce, "--ak-name", bundleAKName(t, qf("gotpmtools-rsa.pb"))}
	code, _, failed, reasons := verifyBundle(t, args...)
	if code != exitMismatch || len(failed) != 4 || failed[0] != "quote 1: event-log" || !strings.Contains(reasons, "an event log is required, and none was given") {
		t.Errorf("stripped: exit %d, failed %v\n%s", code, failed, reasons)
	}
	if code, _, failed, _ := verifyBundle(t, append(args, "--allow-missing-eventlog")...); code != exitOK {
		t.Errorf("--allow-missing-eventlog: exit %d, failed %v", code, failed)
	}
	// The opt-out belongs to attestations; a single quote opts in instead.
	if code, _, errs := run(t, rsaArgs(t, "--allow-missing-eventlog")...); code != exitUsage || !strings.Contains(errs, "--require-eventlog") {
		t.Errorf("single quote with --allow-missing-eventlog: exit %d %q", code, errs)
	}
}

// leafCommands lists every runnable command of the tree.
func leafCommands(c *cobra.Command) []*cobra.Command {
	if !c.HasSubCommands() {
		return []*cobra.Command{c}
	}
	var out []*cobra.Command
	for _, s := range c.Commands() {
		out = append(out, leafCommands(s)...)
	}
	return out
}

// Finding 7: an empty value is bad usage for every option of every
// command that takes a value, never a way to switch a check off.
func TestEmptyOptionValues(t *testing.T) {
	n := 0
	for _, c := range leafCommands(newRootCmd(nil)) {
		path := strings.Fields(c.CommandPath())[1:]
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.NoOptDefVal != "" || f.Value.Type() == "bool" {
				return
			}
			n++
			for _, arg := range [][]string{{"--" + f.Name + "="}, {"--" + f.Name, ""}, {"--" + f.Name, " "}} {
				code, _, errs := run(t, append(append([]string{}, path...), arg...)...)
				want := "--" + f.Name + ": empty value"
				if !strings.Contains(f.Value.Type(), "string") {
					want = "invalid argument" // numbers: the option parser refuses ""
				}
				if code != exitUsage || !strings.Contains(errs, want) {
					t.Errorf("%s %q: exit %d %q", c.CommandPath(), arg, code, errs)
				}
			}
		})
	}
	if n < 50 {
		t.Errorf("only %d options checked", n)
	}
	// The cases the attack found, next to otherwise complete evidence.
	for _, flag := range []string{"--ak-name", "--eventlog", "--expected", "--ek-cert", "--ak-cert", "--ak-roots", "--unlogged-pcrs"} {
		if code, _, errs := run(t, rsaArgs(t, flag, "")...); code != exitUsage || !strings.Contains(errs, flag+": empty value") {
			t.Errorf("%s '': exit %d %q", flag, code, errs)
		}
	}
}

// An option that takes one value is given once: the last would win.
func TestRepeatedOptions(t *testing.T) {
	for _, args := range [][]string{
		rsaArgs(t, "--nonce", "00"),
		rsaArgs(t, "--ak-name", "00", "--ak-name="+"11"),
		rsaArgs(t, "-m", qf("ecc-quote.msg")),
		{"eventlog", "show", rhel8, "--pcr", "7", "--pcr", "4"},
		{"pcr", "convert", qf("rsa-quote.pcrs"), "--to", "json", "--to", "yaml"},
	} {
		if code, _, errs := run(t, args...); code != exitUsage || !strings.Contains(errs, "given more than once") {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}
	// Options that take lists may repeat.
	dir := t.TempDir()
	ca := newAKCA(t, dir, "AK CA")
	if code, _, errs := run(t, rsaArgs(t, "--ak-roots", ca.pem, "--ak-roots", dir)...); code != exitMismatch || errs == "" {
		t.Errorf("repeated --ak-roots: exit %d %q", code, errs)
	}
}

// A batch line may not give a field twice or give it an empty value.
func TestBatchLineEmptyAndRepeatedFields(t *testing.T) {
	good := `"ak":"rsa-ak.pub","message":"rsa-quote.msg","signature":"rsa-quote.sig","pcrs":"rsa-quote.pcrs","nonce":"` + fixtureNonceHex(t) + `"`
	for _, c := range []struct{ line, want string }{
		{`{` + good + `}`, ""},
		{`{` + good + `,"ak_name":""}`, "ak_name: empty value"},
		{`{` + good + `,"expected":null}`, "expected: empty value"},
		{`{` + good + `,"ak_roots":[]}`, "ak_roots: empty value"},
		{`{` + good + `,"ak_roots":["a",""]}`, "ak_roots: empty value in the list"},
		{`{` + good + `,"nonce":"00"}`, "nonce: given more than once"},
		{`{` + good + `,"NONCE":"00"}`, "NONCE: given more than once"},
		{`{` + good + `,"eventlog":" "}`, "eventlog"},
	} {
		_, res, _ := runBatch(t, []string{c.line})
		if len(res) != 1 || (c.want == "") != res[0].Verified || !strings.Contains(res[0].Error, c.want) {
			t.Errorf("%s: %+v, want %q", c.line, res, c.want)
		}
	}
}

// Every input of the attestation formats, absent, duplicated, reordered or
// moved to another PCR or bank: only what still proves the same thing
// verifies (the nocgo fixtures, made by the go-tpm-tools simulator).
func TestAttestationInputClasses(t *testing.T) {
	nonce := strings.TrimSpace(string(readFixture(t, "gotpmtools-nonce.hex")))
	pin := bundleAKName(t, qf("gotpmtools-rsa.pb"))
	dir := t.TempDir()
	load := func(name string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(readFixture(t, name), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	quotes := func(m map[string]any) []any { return m["quotes"].([]any) }
	pcrsOf := func(q any) map[string]any {
		return q.(map[string]any)["pcrs"].(map[string]any)["pcrs"].(map[string]any)
	}
	for _, c := range []struct {
		name   string
		mod    func(m map[string]any)
		raw    func(b []byte) []byte // edits the JSON text instead
		code   int
		failed string // a failed check that must be among the failures, or the usage error
	}{
		{name: "genuine", code: exitOK},
		{name: "quotes reordered", mod: func(m map[string]any) {
			q := quotes(m)
			q[0], q[len(q)-1] = q[len(q)-1], q[0]
		}, code: exitOK},
		{name: "no quotes", mod: func(m map[string]any) { m["quotes"] = []any{} }, code: exitMismatch, failed: "the attestation holds no quote"},
		{name: "quotes absent", mod: func(m map[string]any) { delete(m, "quotes") }, code: exitMismatch, failed: "the attestation holds no quote"},
		{name: "AK absent", mod: func(m map[string]any) { delete(m, "akPub") }, code: exitMismatch, failed: "no AK public key given"},
		{name: "a PCR moved to another index", mod: func(m map[string]any) {
			p := pcrsOf(quotes(m)[1])
			p["8"], p["7"] = p["7"], p["8"]
		}, code: exitMismatch, failed: "quote 2: pcr-digest"},
		{name: "a quote's values moved to another bank", mod: func(m map[string]any) {
			q := quotes(m)
			a, b := q[0].(map[string]any)["pcrs"].(map[string]any), q[1].(map[string]any)["pcrs"].(map[string]any)
			a["pcrs"], b["pcrs"] = b["pcrs"], a["pcrs"]
		}, code: exitUsage, failed: "bytes"},
		{name: "a quote's bank relabelled", mod: func(m map[string]any) {
			quotes(m)[2].(map[string]any)["pcrs"].(map[string]any)["hash"] = "SHA256"
		}, code: exitUsage, failed: "quotes[2].pcrs: sha256 PCR 0 is 48 bytes, want 32"},
		{name: "signatures swapped between quotes", mod: func(m map[string]any) {
			q := quotes(m)
			a, b := q[0].(map[string]any), q[1].(map[string]any)
			a["rawSig"], b["rawSig"] = b["rawSig"], a["rawSig"]
		}, code: exitMismatch, failed: "quote 1: signature"},
		{name: "a quote duplicated", mod: func(m map[string]any) { m["quotes"] = append(quotes(m), quotes(m)[0]) }, code: exitOK},
		{name: "a PCR given twice", raw: func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"pcrs":{"0":`, `"pcrs":{"0":"AAAAAAAAAAAAAAAAAAAAAAAAAAA=","0":`, 1))
		}, code: exitUsage, failed: "0: given more than once"},
		{name: "event log given twice", mod: nil, code: exitUsage, failed: "the attestation carries its own event log"},
	} {
		m := load("gotpmtools-rsa.json")
		if c.mod != nil {
			c.mod(m)
		}
		b := []byte(jsonLine(t, m))
		if c.raw != nil {
			b = c.raw(b)
		}
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".json")
		writeFile(t, p, b)
		args := []string{"verify", "quote", "-o", "json", "--attestation", p, "--nonce", nonce, "--ak-name", pin}
		if c.name == "event log given twice" {
			args = append(args, "--eventlog", qf("gotpmtools-rsa.pb"))
		}
		code, out, errs := run(t, args...)
		if code != c.code || !strings.Contains(out+errs, c.failed) {
			t.Errorf("%s: exit %d, want %d with %q\n%s%s", c.name, code, c.code, c.failed, errs, out)
		}
	}

	// go-attestation's flat PCR list.
	for _, c := range []struct {
		name   string
		mod    func(m map[string]any)
		code   int
		failed string
	}{
		{"a PCR's bank relabelled", func(m map[string]any) { m["PCRs"].([]any)[0].(map[string]any)["DigestAlg"] = 5 }, exitUsage, "is 20 bytes, want 32"},
		{"a PCR listed twice alike", func(m map[string]any) { m["PCRs"] = append(m["PCRs"].([]any), m["PCRs"].([]any)[0]) }, exitOK, ""},
		{"a PCR listed twice unlike", func(m map[string]any) {
			dup := map[string]any{}
			for k, v := range m["PCRs"].([]any)[0].(map[string]any) {
				dup[k] = v
			}
			dup["Digest"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
			m["PCRs"] = append(m["PCRs"].([]any), dup)
		}, exitUsage, "listed twice with different values"},
		{"a PCR moved to another index", func(m map[string]any) {
			for _, e := range m["PCRs"].([]any) {
				if e := e.(map[string]any); e["Index"].(float64) == 7 && e["DigestAlg"].(float64) == 5 {
					e["Index"] = 24 - 1
				}
			}
		}, exitUsage, "listed twice with different values"},
		{"no event log", func(m map[string]any) { delete(m, "EventLog") }, exitMismatch, "an event log is required"},
		{"a field given twice", nil, exitUsage, "Public: given more than once"},
	} {
		m := load("goattestation-rsa.json")
		b := []byte(jsonLine(t, m))
		if c.mod != nil {
			c.mod(m)
			b = []byte(jsonLine(t, m))
		} else { // a forged Public first, the real one after it
			b = []byte(strings.Replace(string(b), `{"EventLog"`, `{"Public":"AAAA","EventLog"`, 1))
		}
		p := filepath.Join(dir, "pp-"+strings.ReplaceAll(c.name, " ", "-")+".json")
		writeFile(t, p, b)
		code, out, errs := run(t, "verify", "quote", "-o", "json", "--platform-parameters", p, "--nonce", nonce, "--ak-name", pin)
		if code != c.code || !strings.Contains(out+errs, c.failed) {
			t.Errorf("PlatformParameters %s: exit %d, want %d with %q\n%s%s", c.name, code, c.code, c.failed, errs, out)
		}
	}
}
