package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cmlPCRs = "../../fixtures/cml/pcrs-sha256.txt"

// config → import → config is byte-identical, written to -O or stdout,
// for BASIC and ADVANCED; the imported baseline diffs equal with the
// values the config was made from.
func TestRattestationRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cert := newAKCA(t, dir, "kmod").pem
	for i, extra := range [][]string{
		nil,
		{"--name", "lab device A"},
		{"--pcrs", "0-7,10,11"},
		{"--atype", "advanced", "--pcrs", "4,7", "--no-ima", "--no-containers"},
	} {
		conf := filepath.Join(dir, "first.conf")
		args := append([]string{"rattestation", "config", "--baseline", cmlPCRs, "--kmod-cert", cert, "-O", conf}, extra...)
		if code, out, errs := run(t, args...); code != exitOK || out != "" {
			t.Fatalf("%v: exit %d %q %s", extra, code, out, errs)
		}
		first, _ := os.ReadFile(conf)
		_, stdout, _ := run(t, args[:len(args)-len(extra)-2]...)
		if i == 0 && stdout != string(first) {
			t.Errorf("stdout and -O differ")
		}
		imported := filepath.Join(dir, "imported.yaml")
		if code, _, errs := run(t, "rattestation", "import", conf, "-O", imported); code != exitOK || errs != "" {
			t.Fatalf("import: exit %d %s", code, errs)
		}
		again := filepath.Join(dir, "again.conf")
		args = append([]string{"rattestation", "config", "--baseline", imported, "--kmod-cert", cert, "-O", again}, extra...)
		if code, _, errs := run(t, args...); code != exitOK {
			t.Fatalf("config from the import: exit %d %s", code, errs)
		}
		second, _ := os.ReadFile(again)
		if !bytes.Equal(first, second) {
			t.Errorf("%v: config → import → config differs:\n%s\n---\n%s", extra, first, second)
		}
	}
	pcrs := filepath.Join(dir, "imported.pcrs.yaml")
	conf := filepath.Join(dir, "basic.conf")
	run(t, "rattestation", "config", "--baseline", cmlPCRs, "--kmod-cert", cert, "-O", conf)
	if code, _, errs := run(t, "rattestation", "import", conf, "-o", "pcrs", "-O", pcrs); code != exitOK {
		t.Fatalf("import -o pcrs: exit %d %s", code, errs)
	}
	if code, out, errs := run(t, "pcr", "diff", pcrs, cmlPCRs); code != exitOK || !strings.Contains(out, "all 12 compared PCRs match") {
		t.Errorf("pcr diff of the import and the response: exit %d %s %s", code, out, errs)
	}
	other := filepath.Join(dir, "other.txt")
	data, _ := os.ReadFile(cmlPCRs)
	os.WriteFile(other, bytes.Replace(data, []byte("4: e43f"), []byte("4: f43f"), 1), 0o644)
	if code, _, _ := run(t, "pcr", "diff", pcrs, other); code != exitMismatch {
		t.Errorf("pcr diff of the import and other values: exit %d, want 1", code)
	}
}

// Bad usage, unreadable inputs and golden values rattestation could not
// check as meant exit 2, the message naming the option and what to do.
func TestRattestationConfigRefuses(t *testing.T) {
	dir := t.TempDir()
	cert := newAKCA(t, dir, "kmod").pem
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	data, _ := os.ReadFile(cmlPCRs)
	lines := strings.SplitAfter(string(data), "\n")
	first8 := write("first8.txt", strings.Join(lines[:8], ""))
	no10 := write("no10.txt", strings.Join(lines[:10], "")+lines[11])
	zero10 := write("zero10.txt", strings.Join(lines[:10], "")+"10: "+strings.Repeat("0", 64)+"\n"+lines[11])
	notCert := write("notcert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	base := []string{"rattestation", "config", "--baseline", cmlPCRs, "--kmod-cert", cert}
	with := func(args ...string) []string { return append(append([]string{}, base...), args...) }
	cases := []struct {
		args []string
		says []string
	}{
		{[]string{"rattestation", "config", "--kmod-cert", cert}, []string{`"baseline" not set`}},
		{[]string{"rattestation", "config", "--baseline", cmlPCRs}, []string{`"kmod-cert" not set`}},
		{with("-O", filepath.Join(dir, "rattestation.cfg")), []string{"-O ", "ends in .conf"}},
		{[]string{"rattestation", "config", "--baseline", filepath.Join(dir, "absent"), "--kmod-cert", cert}, []string{"--baseline", "absent"}},
		{[]string{"rattestation", "config", "--baseline", cmlPCRs, "--kmod-cert", filepath.Join(dir, "absent.pem")}, []string{"--kmod-cert", "absent.pem"}},
		{[]string{"rattestation", "config", "--baseline", cmlPCRs, "--kmod-cert", notCert}, []string{"--kmod-cert " + notCert, "not an X.509 certificate"}},
		{with("--atype", "ALL"), []string{"--atype ALL: rattestation aborts on it"}},
		{with("--atype", "FULL"), []string{"--atype", "want BASIC or ADVANCED"}},
		{with("--atype", "BASIC", "--pcrs", "0-7"), []string{"--pcrs goes with --atype ADVANCED"}},
		{with("--pcrs", "0-24"), []string{"--pcrs", "PCR index"}},
		{with("--pcrs", "0-7"), []string{"--pcrs leaves out", "add PCR 10 to --pcrs, or give --no-ima"}},
		{with("--name", "Gerät"), []string{"--name: byte 0xc3"}},
		{with("--name", ""), []string{"--name: empty value"}},
		{[]string{"rattestation", "config", "--baseline", first8, "--kmod-cert", cert}, []string{"--baseline " + first8 + " has no SHA-256 value for PCR 8-11", "--no-ima", "--no-containers"}},
		{[]string{"rattestation", "config", "--baseline", no10, "--kmod-cert", cert}, []string{"PCR 10 is IMA's", "give --no-ima"}},
		{[]string{"rattestation", "config", "--baseline", zero10, "--kmod-cert", cert}, []string{"PCR 10 is zero, which a device running IMA cannot reach", "--no-ima"}},
		{with("-O", cmlPCRs+".conf", "--baseline", cmlPCRs+".conf"), []string{"--baseline given more than once"}},
	}
	for _, tc := range cases {
		code, out, errs := run(t, tc.args...)
		ok := code == exitUsage && out == ""
		for _, s := range tc.says {
			ok = ok && strings.Contains(errs, s)
		}
		if !ok || strings.Contains(errs, "verify_ima") || strings.Contains(errs, "kmod_sign_cert") {
			t.Errorf("%v: exit %d %q, want 2 saying %q", tc.args[2:], code, errs, tc.says)
		}
	}
	// What the messages say to do works.
	for _, args := range [][]string{
		{"--baseline", no10, "--no-ima"},
		{"--baseline", zero10, "--no-ima"},
		{"--baseline", first8, "--pcrs", "0-7", "--no-ima", "--no-containers"},
	} {
		if code, _, errs := run(t, append([]string{"rattestation", "config", "--kmod-cert", cert}, args...)...); code != exitOK {
			t.Errorf("%v: exit %d %s", args, code, errs)
		}
	}
	// -O never writes over an input.
	conf := write("in.conf", "x")
	if code, _, errs := run(t, "rattestation", "config", "--baseline", cmlPCRs, "--kmod-cert", cert, "-O", cert+".conf"); code != exitOK {
		t.Errorf("-O beside the cert: %d %s", code, errs)
	}
	if code, _, errs := run(t, "rattestation", "import", conf, "-O", conf); code != exitUsage || !strings.Contains(errs, conf) {
		t.Errorf("import -O over its input: exit %d %s", code, errs)
	}
}

// import refuses a config rattestation would refuse or misread, with the
// file and line, and warns of what rattestation stumbles on later.
func TestRattestationImport(t *testing.T) {
	dir := t.TempDir()
	cert := newAKCA(t, dir, "kmod").pem
	conf := filepath.Join(dir, "rattestation.conf")
	if code, _, errs := run(t, "rattestation", "config", "--baseline", cmlPCRs, "--kmod-cert", cert, "-O", conf); code != exitOK {
		t.Fatal(errs)
	}
	good, _ := os.ReadFile(conf)
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, bytes.Replace(good, []byte("halg: SHA256\n"), []byte("halg: SHA256 # bank\n"), 1), 0o644)
	if code, _, errs := run(t, "rattestation", "import", bad); code != exitUsage || !strings.Contains(errs, bad+": line 3: '#': comments are not accepted") {
		t.Errorf("a comment: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, "rattestation", "import", filepath.Join(dir, "absent.conf")); code != exitUsage || !strings.Contains(errs, "absent.conf") {
		t.Errorf("a missing file: exit %d %s", code, errs)
	}
	if code, out, errs := runStdin(t, good, "rattestation", "import", "-", "-o", "json"); code != exitOK || !strings.Contains(out, `"sha256": "e43fb367`) {
		t.Errorf("stdin: exit %d %s %.200s", code, errs, out)
	}
	s := string(good)
	hand := filepath.Join(dir, "hand.txt")
	os.WriteFile(hand, []byte(s[:strings.Index(s, "kmod_sign_cert")]+"kmod_sign_cert: \"kmod.pem\"\n"), 0o644)
	code, out, errs := run(t, "rattestation", "import", hand)
	if code != exitOK || !strings.Contains(errs, "warning: "+hand+": kmod_sign_cert \"kmod.pem\" is no PEM text") ||
		!strings.Contains(errs, "warning: "+hand+": rattestation reads a config only from a file whose name ends in .conf") || !strings.Contains(out, "version: goldenpcr.baseline/v1") {
		t.Errorf("a hand-made config: exit %d %q", code, errs)
	}
}
