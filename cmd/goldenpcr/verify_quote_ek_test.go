package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file checks EK certificates made the way a virtual TPM gets them:
// swtpm_setup --create-ek-cert --create-platform-cert with swtpm_localca
// as the certificate tool, against a local CA of the test's own.
//
// What swtpm 0.7.1 writes (seen in these tests): swtpm_localca creates a
// root CA "CN=swtpm-localca-rootca" (swtpm-localca-rootca-cert.pem) and an
// intermediate "CN=swtpm-localca" (issuercert.pem, key signkey.pem) in its
// statedir on first use; each EK certificate (RSA 2048 and ECC P-384,
// --write-ek-cert-files: ek-rsa2048.crt, ek-secp384r1.crt, DER; also in NV
// 0x1c00002 and 0x1c00016) has subject CN=unknown, EKU 2.23.133.8.1, a
// critical subjectAltName whose directoryName holds tpmManufacturer
// id:00001014, tpmModel swtpm and tpmVersion id:20191023 (one RDN each,
// UTF8String), a subjectDirectoryAttributes tpmSpecification (2.0, level
// 0, revision 164), basicConstraints CA:FALSE and keyUsage
// keyEncipherment (RSA), both critical.

// ekTPM is a swtpm state made with EK certificates by a local CA.
type ekTPM struct {
	state, certs, ca string
}

// newEKTPM runs swtpm_setup with swtpm_localca; ca is the local CA's
// folder, shared by TPMs that should chain to the same root.
func newEKTPM(t *testing.T, ca string) *ekTPM {
	t.Helper()
	for _, tool := range []string{"swtpm_setup", "swtpm_localca"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install swtpm-tools", tool)
		}
	}
	dir := t.TempDir()
	e := &ekTPM{state: filepath.Join(dir, "state"), certs: filepath.Join(dir, "certs"), ca: ca}
	for _, d := range []string{e.state, e.certs, ca} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := func(name, text string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, []byte(text))
		return p
	}
	lc := conf("swtpm-localca.conf", fmt.Sprintf("statedir = %[1]s\nsigningkey = %[1]s/signkey.pem\nissuercert = %[1]s/issuercert.pem\ncertserial = %[1]s/certserial\n", ca))
	lo := conf("swtpm-localca.options", "--platform-manufacturer goldenpcr\n--platform-version 2.1\n--platform-model test\n")
	sc := conf("swtpm_setup.conf", fmt.Sprintf("create_certs_tool = %s\ncreate_certs_tool_config = %s\ncreate_certs_tool_options = %s\n",
		mustLook(t, "swtpm_localca"), lc, lo))
	out, err := exec.Command("swtpm_setup", "--tpm2", "--tpmstate", e.state, "--config", sc, "--create-ek-cert",
		"--create-platform-cert", "--write-ek-cert-files", e.certs, "--pcr-banks", "sha256").CombinedOutput()
	if err != nil {
		t.Fatalf("swtpm_setup: %v\n%s", err, out)
	}
	return e
}

func mustLook(t *testing.T, tool string) string {
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *ekTPM) root() string  { return filepath.Join(e.ca, "swtpm-localca-rootca-cert.pem") }
func (e *ekTPM) inter() string { return filepath.Join(e.ca, "issuercert.pem") }
func (e *ekTPM) cert(kind string) string {
	return filepath.Join(e.certs, map[string]string{"rsa": "ek-rsa2048.crt", "ecc": "ek-secp384r1.crt"}[kind])
}

// ekPub starts swtpm on the state and reads the EK swtpm_setup certified
// from its persistent handle (RSA 0x81010001, ECC P-384 0x81010016) with
// tpm2_readpublic, as TPM2B_PUBLIC. (tpm2_createek -G ecc would make the
// P-256 EK of the default template, which swtpm 0.7 does not certify.)
func (e *ekTPM) ekPub(t *testing.T, alg string) string {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+e.state,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
			"--flags", "not-need-init,startup-clear")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ok := false
		for i := 0; i < 100 && !ok; i++ {
			if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port+1)); err == nil {
				c.Close()
				ok = true
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		pub := filepath.Join(filepath.Dir(e.state), "ek-"+alg+".pub")
		var out []byte
		if ok {
			handle := map[string]string{"rsa": "0x81010001", "ecc": "0x81010016"}[alg]
			c := exec.Command("tpm2_readpublic", "-c", handle, "-f", "tss", "-o", pub)
			c.Env = append(os.Environ(), fmt.Sprintf("TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=%d", port))
			out, err = c.CombinedOutput()
		}
		cmd.Process.Kill()
		cmd.Wait()
		if ok && err == nil {
			return pub
		}
		lastErr = fmt.Errorf("swtpm listening %v, tpm2_readpublic %v: %s", ok, err, out)
	}
	t.Fatal(lastErr)
	return ""
}

// checkJSON is a check as -o json prints it.
type checkJSON struct {
	Name    string
	Passed  bool
	Skipped bool
	Reason  string
}

type ekReport struct {
	Verified bool
	EK       struct {
		Subject          string
		Issuer           string
		Key              string
		Manufacturer     string   `json:"tpm_manufacturer"`
		ManufacturerName string   `json:"tpm_manufacturer_name"`
		Model            string   `json:"tpm_model"`
		Version          string   `json:"tpm_version"`
		Spec             string   `json:"tpm_specification"`
		EKU              []string `json:"eku"`
		SANCritical      bool     `json:"san_critical"`
		Chain            []string
	}
	Checks []checkJSON
}

func (r *ekReport) check(name string) checkJSON {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return checkJSON{Name: name, Reason: "(missing)"}
}

// TestEKCertificateSwtpm checks swtpm's EK certificates: genuine ones
// chain and are decoded; another CA's root, a missing intermediate, a
// tampered certificate and another TPM's EK are each rejected for their
// own reason.
func TestEKCertificateSwtpm(t *testing.T) {
	caDir := t.TempDir()
	a := newEKTPM(t, filepath.Join(caDir, "ca-a"))
	b := newEKTPM(t, filepath.Join(caDir, "ca-b"))  // another local CA
	a2 := newEKTPM(t, filepath.Join(caDir, "ca-a")) // another TPM, same CA
	rsaPub, eccPub := a.ekPub(t, "rsa"), a.ekPub(t, "ecc")
	otherPub := a2.ekPub(t, "rsa")

	// A PEM copy of the RSA EK certificate, and a folder of roots.
	der, err := os.ReadFile(a.cert("rsa"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	pemCert := filepath.Join(tmp, "ek.pem")
	writeFile(t, pemCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	rootsDir := filepath.Join(tmp, "roots")
	os.MkdirAll(rootsDir, 0o755)
	rootPEM, _ := os.ReadFile(a.root())
	writeFile(t, filepath.Join(rootsDir, "swtpm-root.pem"), rootPEM)
	writeFile(t, filepath.Join(rootsDir, "README"), []byte("not a certificate"))
	tampered := filepath.Join(tmp, "tampered.crt")
	bad := append([]byte{}, der...)
	bad[len(bad)-5] ^= 0x01 // in the signature
	writeFile(t, tampered, bad)

	verify := func(args ...string) (int, ekReport, string) {
		code, out, errs := run(t, append(rsaArgs(t, "-o", "json"), args...)...)
		var r ekReport
		if code != exitUsage {
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
		}
		return code, r, errs
	}

	for _, c := range []struct {
		name string
		args []string
	}{
		{"rsa DER, root and intermediate files", []string{"--ek-cert", a.cert("rsa"), "--ek-roots", a.root(), "--ek-intermediates", a.inter(), "--ek-pub", rsaPub}},
		{"rsa PEM, roots folder", []string{"--ek-cert", pemCert, "--ek-roots", rootsDir, "--ek-intermediates", a.inter()}},
		{"ecc P-384", []string{"--ek-cert", a.cert("ecc"), "--ek-roots", a.root(), "--ek-intermediates", a.inter(), "--ek-pub", eccPub}},
		{"second TPM of the same CA", []string{"--ek-cert", a2.cert("rsa"), "--ek-roots", a.root(), "--ek-intermediates", a.inter(), "--ek-pub", otherPub}},
	} {
		code, r, errs := verify(c.args...)
		if code != 0 || !r.Verified {
			t.Errorf("%s: exit %d %s\n%+v", c.name, code, errs, r.Checks)
			continue
		}
		ek := r.EK
		if ek.Manufacturer != "id:00001014" || ek.Model != "swtpm" || ek.Version != "id:20191023" || !ek.SANCritical ||
			ek.Spec != "family 2.0, level 0, revision 164" || len(ek.EKU) != 1 || !strings.HasPrefix(ek.EKU[0], "2.23.133.8.1") ||
			len(ek.Chain) != 3 || ek.Chain[2] != "CN=swtpm-localca-rootca" || ek.Issuer != "CN=swtpm-localca" {
			t.Errorf("%s: EK summary %+v", c.name, ek)
		}
		if ch := r.check("ek-cert"); !strings.Contains(ch.Reason, "from the TCG subjectAltName (critical, decoded by goldenpcr)") {
			t.Errorf("%s: ek-cert reason %q", c.name, ch.Reason)
		}
	}

	for _, c := range []struct {
		name, check, says string
		args              []string
	}{
		{"another CA's root", "ek-cert", "does not chain to the given roots",
			[]string{"--ek-cert", a.cert("rsa"), "--ek-roots", b.root(), "--ek-intermediates", b.inter()}},
		{"intermediate missing", "ek-cert", "certificate signed by unknown authority",
			[]string{"--ek-cert", a.cert("rsa"), "--ek-roots", a.root()}},
		{"tampered certificate", "ek-cert", "does not chain to the given roots",
			[]string{"--ek-cert", tampered, "--ek-roots", a.root(), "--ek-intermediates", a.inter()}},
		{"no roots", "ek-cert", "no EK root CAs given",
			[]string{"--ek-cert", a.cert("rsa")}},
		{"another TPM's EK", "ek-pub", "the EK certificate certifies RSA 2048, not the given EK",
			[]string{"--ek-cert", a.cert("rsa"), "--ek-roots", a.root(), "--ek-intermediates", a.inter(), "--ek-pub", otherPub}},
		{"ECC EK for the RSA certificate", "ek-pub", "not the given EK (TPM2B_PUBLIC ECC P-384)",
			[]string{"--ek-cert", a.cert("rsa"), "--ek-roots", a.root(), "--ek-intermediates", a.inter(), "--ek-pub", eccPub}},
	} {
		code, r, errs := verify(c.args...)
		ch := r.check(c.check)
		if code != exitMismatch || ch.Passed || ch.Skipped || !strings.Contains(ch.Reason, c.says) {
			t.Errorf("%s: exit %d %s, %s check %+v, want it failed saying %q", c.name, code, errs, c.check, ch, c.says)
		}
		var failed []string
		for _, x := range r.Checks {
			if !x.Passed && !x.Skipped {
				failed = append(failed, x.Name)
			}
		}
		if len(failed) != 1 {
			t.Errorf("%s: failed checks %v, want only %s", c.name, failed, c.check)
		}
	}

	// Usage errors: EK options without --ek-cert, a folder without
	// certificates, a non-certificate.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ek-roots", a.root()}, "needs --ek-cert"},
		{[]string{"--ek-cert", a.cert("rsa"), "--ek-roots", a.state}, "no *.pem, *.crt, *.cer or *.der files"},
		{[]string{"--ek-cert", rsaPub, "--ek-roots", a.root()}, "--ek-cert"},
	} {
		code, _, errs := verify(c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, errs, c.want)
		}
	}

	// The text report names the TPM.
	code, out, _ := run(t, rsaArgs(t, "--ek-cert", a.cert("rsa"), "--ek-roots", a.root(), "--ek-intermediates", a.inter())...)
	if code != 0 || !strings.Contains(out, "EK certificate: RSA 2048, issuer CN=swtpm-localca, serial ") ||
		!strings.Contains(out, "TPM id:00001014 (IBM, by its PCI vendor id (swtpm, libtpms)) model swtpm version id:20191023") ||
		!strings.Contains(out, "✓ ek-cert        chains to a given root (CN=unknown ← CN=swtpm-localca ← CN=swtpm-localca-rootca), EKU tcg-kp-EKCertificate") {
		t.Errorf("text report: exit %d\n%s", code, out)
	}
}
