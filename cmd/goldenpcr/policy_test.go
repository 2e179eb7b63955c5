package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm-tools/client"
	pb "github.com/google/go-tpm-tools/proto/tpm"
	"google.golang.org/protobuf/proto"

	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/swtpmtest"
	"github.com/goldenpcr/goldenpcr/policy"
)

// labBootTPM starts a swtpm and extends PCRs 0–7 with every event of a
// real boot-lab log (fixtures/lab), as that boot's firmware did, and
// writes the TPM's PCRs 0–7 (tpm2_pcrread) as the baseline to seal to.
func labBootTPM(t *testing.T, dir string) (*swtpmtest.TPM, string) {
	t.Helper()
	tpm := swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}})
	events, err := eventlog.ReadFile("../../fixtures/lab/grub-eventlog.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Type == eventlog.EvNoAction || ev.PCR > 7 {
			continue
		}
		var spec []string
		for _, d := range ev.Digests {
			spec = append(spec, fmt.Sprintf("%s=%x", d.Alg, d.Value))
		}
		tpm.Run(t, "tpm2_pcrextend", fmt.Sprintf("%d:%s", ev.PCR, strings.Join(spec, ",")))
	}
	golden := filepath.Join(dir, "golden.pcrs.yaml")
	writeFile(t, golden, tpm.Run(t, "tpm2_pcrread", "sha1:0,1,2,3,4,5,6,7+sha256:0,1,2,3,4,5,6,7"))
	return tpm, golden
}

// tpmPolicy runs a real policy session on tpm: TPM2_PolicyPCR over sel
// (the TPM reads its own PCRs), then TPM2_PolicyOR over orFiles if any,
// and returns the session's digest (tpm2_policygetdigest's).
func tpmPolicy(t *testing.T, tpm *swtpmtest.TPM, dir, sel string, orFiles ...string) string {
	t.Helper()
	session, out := filepath.Join(dir, "session.ctx"), filepath.Join(dir, "policy.bin")
	tpm.Run(t, "tpm2_startauthsession", "-S", session, "--policy-session")
	defer tpm.Run(t, "tpm2_flushcontext", session)
	tpm.Run(t, "tpm2_policypcr", "-S", session, "-l", sel, "-L", out)
	if len(orFiles) > 0 {
		tpm.Run(t, "tpm2_policyor", "-S", session, "-L", out, "-l", "sha256:"+strings.Join(orFiles, ","))
	}
	d, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(d)
}

// TestPolicyPCRSwtpm: goldenpcr's TPM2_PolicyPCR digests equal a real
// policy session's on swtpm, whose PCRs a real boot-lab log extended, for
// one bank, several PCRs, two banks, and a PolicyOR over a baseline's
// variants.
func TestPolicyPCRSwtpm(t *testing.T) {
	dir := t.TempDir()
	tpm, golden := labBootTPM(t, dir)
	for _, sel := range []string{"sha256:7", "sha256:0,4,7", "sha1:0,7+sha256:0,7", "sha1:0,1,2,3,4,5,6,7"} {
		code, out, errs := run(t, "policy", "pcr", "--baseline", golden, "--pcrs", sel, "-o", "hex")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", sel, code, errs)
		}
		if want := tpmPolicy(t, tpm, dir, sel); strings.TrimSpace(out) != want {
			t.Errorf("%s: goldenpcr %s, the TPM %s", sel, strings.TrimSpace(out), want)
		}
	}

	// A baseline whose PCR 7 has two candidates, secure boot "on" (made
	// up) and the TPM's: two branches joined by PolicyOR.
	pcr7 := readPCRValue(t, golden, "sha256", 7)
	pcr0 := readPCRValue(t, golden, "sha256", 0)
	doc := fmt.Sprintf(`version: goldenpcr.baseline/v1
metadata: {tool: test}
pcrs:
  - pcr: 0
    values: {sha256: %s}
  - pcr: 7
    values: {sha256: %s}
    variants:
      - {sha256: %s}
`, pcr0, strings.Repeat("ab", 32), pcr7)
	variants := filepath.Join(dir, "variants.yaml")
	writeFile(t, variants, []byte(doc))
	code, out, errs := run(t, "policy", "pcr", "--baseline", variants, "--pcrs", "sha256:0,7", "-o", "json")
	if code != 0 {
		t.Fatalf("variants: exit %d: %s", code, errs)
	}
	var got policyPCROutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if !got.PolicyOR || len(got.Branches) != 2 {
		t.Fatalf("want a PolicyOR of 2 branches: %s", out)
	}
	var files []string
	for i, br := range got.Branches {
		d, _ := hex.DecodeString(br.Digest)
		f := filepath.Join(dir, fmt.Sprintf("branch%d.bin", i))
		writeFile(t, f, d)
		files = append(files, f)
	}
	if want := tpmPolicy(t, tpm, dir, "sha256:0,7", files...); got.Digest != want {
		t.Errorf("PolicyOR: goldenpcr %s, the TPM %s", got.Digest, want)
	}
	// Refusals: a PCR the baseline lacks, a bank it does not predict,
	// more than 8 branches, an empty selection.
	for sel, want := range map[string]string{
		"sha256:0,9":   "PCR sha256:9: the baseline does not predict it",
		"sha384:0":     "PCR sha384:0: the baseline predicts no sha384 value for it",
		"sha256:0,7,8": "PCR sha256:8",
	} {
		code, _, errs := run(t, "policy", "pcr", "--baseline", variants, "--pcrs", sel)
		if code != exitUsage || !strings.Contains(errs, want) {
			t.Errorf("%s: exit %d %q, want %q", sel, code, errs, want)
		}
	}
}

func readPCRValue(t *testing.T, path, bank string, index int) string {
	t.Helper()
	code, out, errs := run(t, "pcr", "convert", path, "--to", "json")
	if code != 0 {
		t.Fatalf("pcr convert: %s", errs)
	}
	var m map[string]map[string]string
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	v := strings.TrimPrefix(strings.ToLower(m[bank][fmt.Sprint(index)]), "0x")
	if v == "" {
		t.Fatalf("no %s:%d in %s", bank, index, out)
	}
	return v
}

// TestPolicySignEqualsSystemdMeasure: for the same UKI sections, key and
// phases, goldenpcr's .pcrsig JSON equals systemd-measure sign's (Debian's
// systemd, run against swtpm), field by field, and each signature verifies
// with the public key.
func TestPolicySignEqualsSystemdMeasure(t *testing.T) {
	const measure = "/usr/lib/systemd/systemd-measure"
	if _, err := os.Stat(measure); err != nil {
		t.Fatalf("%v (Debian's systemd package; run make deps)", err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"osrel": "ID=goldenpcr\n", "cmdline": "console=ttyS0 quiet", "linux": "not really a kernel", "initrd": "not really an initrd"} {
		writeFile(t, filepath.Join(dir, name), []byte(content))
	}
	uki := filepath.Join(dir, "uki.efi")
	if out, err := exec.Command("objcopy",
		"--add-section", ".osrel="+filepath.Join(dir, "osrel"), "--change-section-vma", ".osrel=0x20000",
		"--add-section", ".cmdline="+filepath.Join(dir, "cmdline"), "--change-section-vma", ".cmdline=0x30000",
		"--add-section", ".linux="+filepath.Join(dir, "linux"), "--change-section-vma", ".linux=0x2000000",
		"--add-section", ".initrd="+filepath.Join(dir, "initrd"), "--change-section-vma", ".initrd=0x3000000",
		"/usr/lib/systemd/boot/efi/linuxx64.efi.stub", uki).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v %s", err, out)
	}
	key, pub := filepath.Join(dir, "pcr.key"), filepath.Join(dir, "pcr.pub")
	for _, args := range [][]string{{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key}, {"pkey", "-in", key, "-pubout", "-out", pub}} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v %s", args, err, out)
		}
	}
	golden := filepath.Join(dir, "golden.yaml")
	if code, _, errs := run(t, "refvals", "compute", "--uki", uki, "-O", golden); code != 0 {
		t.Fatalf("refvals compute: %s", errs)
	}
	tpm := swtpmtest.Start(t, swtpmtest.Options{})
	for _, phases := range [][]string{nil, {"enter-initrd", "enter-initrd:leave-initrd:sysinit:ready"}} {
		for _, bank := range []string{"sha256", "sha1"} {
			args := []string{"sign", "--linux=" + filepath.Join(dir, "linux"), "--osrel=" + filepath.Join(dir, "osrel"),
				"--cmdline=" + filepath.Join(dir, "cmdline"), "--initrd=" + filepath.Join(dir, "initrd"),
				"--private-key=" + key, "--public-key=" + pub, "--bank=" + bank, "--tpm2-device=" + tpm.TCTI}
			ours := []string{"policy", "sign", "--baseline", golden, "--pcrs", bank + ":11", "--key", key}
			for _, p := range phases {
				args = append(args, "--phase="+p)
				ours = append(ours, "--phase", p)
			}
			want, err := exec.Command(measure, args...).Output()
			if err != nil {
				t.Fatalf("systemd-measure %v: %v", args, err)
			}
			code, got, errs := run(t, ours...)
			if code != 0 {
				t.Fatalf("policy sign: exit %d: %s", code, errs)
			}
			var w, g policy.PCRSigDocument
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatalf("systemd-measure's JSON: %v: %s", err, want)
			}
			if err := json.Unmarshal([]byte(got), &g); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(w) != fmt.Sprint(g) {
				t.Errorf("phases %v bank %s:\nsystemd-measure %s\ngoldenpcr       %s", phases, bank, want, got)
			}
			for _, s := range g[bank] {
				verifyPCRSig(t, dir, pub, bank, s)
			}
		}
	}
	if code, _, errs := run(t, "policy", "sign", "--baseline", golden, "--pcrs", "sha256:7,11", "--key", key); code != exitUsage || !strings.Contains(errs, "covers PCR 11 alone") {
		t.Errorf("PCR 7 in a UKI policy: exit %d %s", code, errs)
	}
	no11 := filepath.Join(dir, "no11.yaml")
	writeFile(t, no11, []byte("version: goldenpcr.baseline/v1\nmetadata: {tool: test}\npcrs:\n  - pcr: 7\n    values: {sha256: "+strings.Repeat("07", 32)+"}\n"))
	if code, _, errs := run(t, "policy", "sign", "--baseline", no11, "--pcrs", "sha256:11", "--key", key); code != exitUsage || !strings.Contains(errs, "does not predict it") {
		t.Errorf("a baseline without PCR 11: exit %d %s", code, errs)
	}
	ecKey := filepath.Join(dir, "ec.key")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ecKey).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v %s", err, out)
	}
	if code, _, errs := run(t, "policy", "sign", "--baseline", golden, "--pcrs", "sha256:11", "--key", ecKey); code != exitUsage || !strings.Contains(errs, "RSA") {
		t.Errorf("an EC key: exit %d %s", code, errs)
	}
}

// verifyPCRSig checks a signature with openssl: RSASSA-PKCS1-v1_5 over
// the bank's hash of pol, what TPM2_PolicyAuthorize verifies.
func verifyPCRSig(t *testing.T, dir, pub, bank string, s policy.PCRSig) {
	t.Helper()
	pol, _ := hex.DecodeString(s.Pol)
	sig, err := base64.StdEncoding.DecodeString(s.Sig)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "pol.bin"), pol)
	writeFile(t, filepath.Join(dir, "sig.bin"), sig)
	if out, err := exec.Command("openssl", "dgst", "-"+bank, "-verify", pub, "-signature", filepath.Join(dir, "sig.bin"), filepath.Join(dir, "pol.bin")).CombinedOutput(); err != nil {
		t.Errorf("openssl dgst -verify: %v %s", err, out)
	}
}

// TestSealSwtpm: a blob sealed to a swtpm's EK and the PCRs a real boot
// left opens on that swtpm (go-tpm-tools client), not after one more
// extend, and not on another TPM; the EK is checked first.
func TestSealSwtpm(t *testing.T) {
	dir := t.TempDir()
	tpm, golden := labBootTPM(t, dir)
	ekPub := filepath.Join(dir, "ek.pub")
	tpm.Run(t, "tpm2_createek", "-c", filepath.Join(dir, "ek.ctx"), "-G", "rsa", "-u", ekPub)
	secret := []byte("the disk key of the predicted boot")
	writeFile(t, filepath.Join(dir, "secret"), secret)
	blobPath := filepath.Join(dir, "secret.blob")
	code, out, errs := run(t, "seal", "--ek", ekPub, "--baseline", golden, "--pcrs", "sha256:0,4,7", "--in", filepath.Join(dir, "secret"), "-O", blobPath)
	if code != 0 || !strings.Contains(out, "ek-template") {
		t.Fatalf("seal: exit %d: %s%s", code, out, errs)
	}
	// The policy digest seal reports is policy pcr's.
	_, pol, _ := run(t, "policy", "pcr", "--baseline", golden, "--pcrs", "sha256:0,4,7", "-o", "hex")
	if !strings.Contains(out, strings.TrimSpace(pol)) {
		t.Errorf("seal's policy digest is not policy pcr's %s:\n%s", pol, out)
	}
	blob := readBlob(t, blobPath)
	imp := func(tpm *swtpmtest.TPM) ([]byte, error) {
		rw := tpm.Open(t)
		defer rw.Close()
		ek, err := client.EndorsementKeyRSA(rw)
		if err != nil {
			t.Fatal(err)
		}
		defer ek.Close()
		return ek.Import(blob)
	}
	got, err := imp(tpm)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("import on the predicted boot: %q, %v", got, err)
	}
	// The same secret for tpm2-tools: tpm2_import under the EK, then
	// tpm2_unseal with a PCR policy session.
	prefix := filepath.Join(dir, "disk")
	if code, out, errs := run(t, "seal", "--ek", ekPub, "--baseline", golden, "--pcrs", "sha256:0,4,7", "--in", filepath.Join(dir, "secret"), "--format", "tpm2-tools", "-O", prefix); code != 0 || !strings.Contains(out, prefix+".seed") {
		t.Fatalf("seal --format tpm2-tools: exit %d: %s%s", code, out, errs)
	}
	unseal := func() ([]byte, error) { return tpm2ToolsUnseal(t, tpm, dir, prefix, "sha256:0,4,7") }
	if got, err := unseal(); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("tpm2_unseal on the predicted boot: %q, %v", got, err)
	}
	other := swtpmtest.Start(t, swtpmtest.Options{})
	if _, err := imp(other); err == nil {
		t.Error("another TPM imported the blob")
	}
	tpm.Run(t, "tpm2_pcrextend", "4:sha256="+strings.Repeat("5a", 32))
	if _, err := imp(tpm); err == nil || !strings.Contains(err.Error(), "unseal") {
		t.Errorf("import after one more extend of PCR 4: %v", err)
	}
	if got, err := unseal(); err == nil {
		t.Errorf("tpm2_unseal after one more extend of PCR 4: %q", got)
	}

	// A signing key imports as a key that signs; its blob binds PCR 0.
	key, ecKey := filepath.Join(dir, "device.key"), filepath.Join(dir, "device-ec.key")
	for k, args := range map[string][]string{key: {"RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, ecKey: {"EC", "-pkeyopt", "ec_paramgen_curve:P-256"}} {
		if out, err := exec.Command("openssl", append(append([]string{"genpkey", "-algorithm"}, args...), "-out", k)...).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v %s", err, out)
		}
	}
	if code, _, errs := run(t, "seal", "--ek", ekPub, "--baseline", golden, "--pcrs", "sha256:0", "--signing-key", ecKey, "-O", filepath.Join(dir, "ec.blob")); code == 0 || !strings.Contains(errs, "must be RSA") {
		t.Errorf("seal --signing-key with an EC key: exit %d %s", code, errs)
	}
	keyBlob := filepath.Join(dir, "key.blob")
	if code, _, errs := run(t, "seal", "--ek", ekPub, "--baseline", golden, "--pcrs", "sha256:0", "--signing-key", key, "-O", keyBlob); code != 0 {
		t.Fatalf("seal --signing-key: %s", errs)
	}
	rw := tpm.Open(t)
	ek, err := client.EndorsementKeyRSA(rw)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ek.ImportSigningKey(readBlob(t, keyBlob))
	if err != nil {
		t.Fatalf("ImportSigningKey: %v", err)
	}
	sk.Close()
	ek.Close()
	rw.Close()

	// The EK is checked before anything is sealed to it.
	badEK := filepath.Join(dir, "srk.pub")
	tpm.Run(t, "tpm2_flushcontext", "-t")
	tpm.Run(t, "tpm2_createprimary", "-C", "o", "-c", filepath.Join(dir, "primary.ctx"))
	tpm.Run(t, "tpm2_readpublic", "-c", filepath.Join(dir, "primary.ctx"), "-o", badEK)
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"an SRK as the EK":       {[]string{"--ek", badEK}, "not the TCG default EK template"},
		"a PCR with variants":    {[]string{"--baseline", writeVariants(t, dir, golden)}, "an import blob binds one"},
		"two banks":              {[]string{"--pcrs", "sha1:0+sha256:0"}, "one bank"},
		"a PCR not predicted":    {[]string{"--pcrs", "sha256:0,10"}, "PCR sha256:10: the baseline does not predict it"},
		"roots without a cert":   {[]string{"--ek-roots", golden}, "check an EK certificate"},
		"an unknown blob format": {[]string{"--format", "pem"}, "go-tpm-tools or tpm2-tools"},
	} {
		args := map[string]string{"--ek": ekPub, "--baseline": golden, "--pcrs": "sha256:0,7", "--in": filepath.Join(dir, "secret"), "-O": filepath.Join(dir, "x.blob")}
		var extra []string
		for i := 0; i < len(c.args); i += 2 {
			if _, ok := args[c.args[i]]; ok {
				args[c.args[i]] = c.args[i+1]
			} else {
				extra = append(extra, c.args[i], c.args[i+1])
			}
		}
		cmd := []string{"seal"}
		for k, v := range args {
			cmd = append(cmd, k, v)
		}
		code, _, errs := run(t, append(cmd, extra...)...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d %q, want %q", name, code, errs, c.want)
		}
	}
}

// tpm2ToolsUnseal does on tpm what a device with only tpm2-tools does with
// seal's tpm2-tools files: import them under its EK (whose policy is
// TPM2_PolicySecret on the endorsement hierarchy), load the object and
// unseal it with a PCR policy session over sel.
func tpm2ToolsUnseal(t *testing.T, tpm *swtpmtest.TPM, dir, prefix, sel string) ([]byte, error) {
	t.Helper()
	ek, session := filepath.Join(dir, "tt-ek.ctx"), filepath.Join(dir, "tt-session.ctx")
	steps := [][]string{
		{"tpm2_flushcontext", "-t"},
		{"tpm2_createek", "-c", ek, "-G", "rsa"},
		{"tpm2_startauthsession", "--policy-session", "-S", session},
		{"tpm2_policysecret", "-S", session, "-c", "e"},
		{"tpm2_import", "-C", ek, "-P", "session:" + session, "-u", prefix + ".pub", "-i", prefix + ".dpriv", "-s", prefix + ".seed", "-r", prefix + ".priv"},
		{"tpm2_flushcontext", session},
		// swtpm holds three transient objects, and each tool reloads ek.ctx.
		{"tpm2_flushcontext", "-t"},
		{"tpm2_startauthsession", "--policy-session", "-S", session},
		{"tpm2_policysecret", "-S", session, "-c", "e"},
		{"tpm2_load", "-C", ek, "-P", "session:" + session, "-u", prefix + ".pub", "-r", prefix + ".priv", "-c", prefix + ".ctx"},
		{"tpm2_flushcontext", session},
		{"tpm2_flushcontext", "-t"},
		{"tpm2_unseal", "-c", prefix + ".ctx", "-p", "pcr:" + sel},
	}
	var out []byte
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Env = tpm.Env()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		var err error
		if out, err = cmd.Output(); err != nil {
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, stderr.String())
		}
	}
	tpm.Run(t, "tpm2_flushcontext", "-t")
	return out, nil
}

func readBlob(t *testing.T, path string) *pb.ImportBlob {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blob pb.ImportBlob
	if err := proto.Unmarshal(data, &blob); err != nil {
		t.Fatal(err)
	}
	return &blob
}

// writeVariants writes a baseline whose PCR 7 has a variant.
func writeVariants(t *testing.T, dir, golden string) string {
	t.Helper()
	p := filepath.Join(dir, "seal-variants.yaml")
	writeFile(t, p, []byte(fmt.Sprintf("version: goldenpcr.baseline/v1\nmetadata: {tool: test}\npcrs:\n  - pcr: 0\n    values: {sha256: %s}\n  - pcr: 7\n    values: {sha256: %s}\n    variants:\n      - {sha256: %s}\n",
		readPCRValue(t, golden, "sha256", 0), readPCRValue(t, golden, "sha256", 7), strings.Repeat("cd", 32))))
	return p
}
