package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// signLab is a root filesystem of four files, keys made by openssl, and
// IMA signatures made by evmctl: tool1 and tool2 signed with RSA, tool3
// with ECDSA, tool4 unsigned.
type signLab struct {
	dir, rootfs string
	files       []string // absolute paths inside the rootfs
	contents    [][]byte
	sigs        [][]byte
}

func runTool(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newSignLab(t *testing.T) *signLab {
	t.Helper()
	requireEvmctl(t)
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not installed")
	}
	dir := t.TempDir()
	l := &signLab{dir: dir, rootfs: filepath.Join(dir, "rootfs")}
	os.MkdirAll(filepath.Join(l.rootfs, "usr/bin"), 0o755)
	runTool(t, dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out", "rsa.crt", "-days", "30", "-subj", "/CN=goldenpcr IMA RSA")
	runTool(t, dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ec.key", "-out", "ec.crt", "-days", "30", "-subj", "/CN=goldenpcr IMA EC")
	keys := []string{"rsa.key", "rsa.key", "ec.key", ""}
	for i, key := range keys {
		name := fmt.Sprintf("/usr/bin/tool%d", i+1)
		disk := filepath.Join(l.rootfs, name)
		content := []byte(fmt.Sprintf("#!/bin/sh\necho tool %d\n", i+1))
		if err := os.WriteFile(disk, content, 0o755); err != nil {
			t.Fatal(err)
		}
		var sig []byte
		if key != "" {
			runTool(t, dir, "evmctl", "ima_sign", "--sigfile", "--key", key, "-a", "sha256", disk)
			var err error
			if sig, err = os.ReadFile(disk + ".sig"); err != nil {
				t.Fatal(err)
			}
			os.Remove(disk + ".sig")
		}
		l.files, l.contents, l.sigs = append(l.files, name), append(l.contents, content), append(l.sigs, sig)
	}
	return l
}

// list writes an ima-sig list measuring the lab's files; mutate may
// change an entry's path, digest or signature (entries are 1-based).
func (l *signLab) list(t *testing.T, mutate func(i int, path *string, digest *[]byte, sig *[]byte)) string {
	t.Helper()
	n := len(l.files)
	paths, digests, sigs := make([]string, n+1), make([][]byte, n+1), make([][]byte, n+1)
	for i := 1; i <= n; i++ {
		sum := sha256.Sum256(l.contents[i-1])
		paths[i], digests[i], sigs[i] = l.files[i-1], sum[:], l.sigs[i-1]
		if mutate != nil {
			mutate(i, &paths[i], &digests[i], &sigs[i])
		}
	}
	p, _ := writeList(t, imagen.Options{Template: "ima-sig", N: n,
		Path:       func(i int) string { return paths[i] },
		FileDigest: func(i int) []byte { return digests[i] },
		Signature:  func(i int, _ pcr.Alg, _ []byte) []byte { return sigs[i] }})
	return p
}

func (l *signLab) path(name string) string { return filepath.Join(l.dir, name) }

type checkReport struct {
	Policy struct {
		Allowlisted, Signed, Excluded, Failed int
		Findings                              []struct {
			Kind, Path, Detail string
			Index              int
			Offset             int64
		}
	}
	Problems []string
}

func runCheck(t *testing.T, args ...string) (int, checkReport) {
	t.Helper()
	code, out, errOut := run(t, append(append([]string{"ima", "check"}, args...), "-o", "json")...)
	if code > 1 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return code, rep
}

func findingKinds(rep checkReport) string {
	var s []string
	for _, f := range rep.Policy.Findings {
		s = append(s, f.Kind+" "+f.Path)
	}
	return strings.Join(s, "; ")
}

// Reference values from `ima policy` (both formats) accept the list that
// measured the same files, and catch a changed and an unknown file.
func TestImaPolicyThenCheck(t *testing.T) {
	l := newSignLab(t)
	sum, keylime := l.path("rootfs.sha256sum"), l.path("policy.json")
	if code, out, errOut := run(t, "ima", "policy", l.rootfs, "--format", "sha256sum", "-O", sum); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := run(t, "ima", "policy", l.rootfs, "--exclude", "/usr/bin/tool4", "-O", keylime); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	// The digests are sha256sum's own.
	peer := runTool(t, l.rootfs, "sha256sum", "./usr/bin/tool1", "./usr/bin/tool2", "./usr/bin/tool3", "./usr/bin/tool4")
	ours, _ := os.ReadFile(sum)
	if strings.ReplaceAll(peer, "  ./", "  /") != string(ours) {
		t.Errorf("sha256sum says\n%s\ngoldenpcr wrote\n%s", peer, ours)
	}
	list := l.list(t, nil)
	if code, rep := runCheck(t, list, "--policy", sum); code != 0 || rep.Policy.Allowlisted != 4 {
		t.Errorf("sha256sum policy: exit %d: %+v", code, rep)
	}
	if code, rep := runCheck(t, list, "--policy", keylime); code != 0 || rep.Policy.Allowlisted != 3 || rep.Policy.Excluded != 1 {
		t.Errorf("keylime policy: exit %d: %+v", code, rep)
	}
	changed := l.list(t, func(i int, path *string, digest *[]byte, _ *[]byte) {
		if i == 2 {
			*digest = make([]byte, 32)
			(*digest)[0] = 1
		}
		if i == 3 {
			*path = "/usr/bin/intruder"
		}
	})
	code, rep := runCheck(t, changed, "--policy", keylime)
	if code != 1 || findingKinds(rep) != "wrong-digest /usr/bin/tool2; unknown-file /usr/bin/intruder" {
		t.Errorf("changed list: exit %d: %s", code, findingKinds(rep))
	}
	if f := rep.Policy.Findings[0]; f.Index != 2 || f.Offset <= 0 {
		t.Errorf("finding does not place the entry: %+v", f)
	}
}

// evmctl's RSA and ECDSA signatures verify with the certificates (found by
// key id); a file signed with a key not given falls back to the policy; a
// signature moved to another file fails; --require-signatures flags the
// unsigned file.
func TestImaCheckSignatures(t *testing.T) {
	l := newSignLab(t)
	sum := l.path("rootfs.sha256sum")
	if code, _, errOut := run(t, "ima", "policy", l.rootfs, "--format", "sha256sum", "-O", sum); code != 0 {
		t.Fatal(errOut)
	}
	list := l.list(t, nil)
	code, rep := runCheck(t, list, "--keys", l.path("rsa.crt"), "--keys", l.path("ec.crt"), "--require-signatures")
	if code != 1 || rep.Policy.Signed != 3 || findingKinds(rep) != "unsigned /usr/bin/tool4" {
		t.Errorf("require signatures: exit %d signed %d: %s", code, rep.Policy.Signed, findingKinds(rep))
	}
	code, rep = runCheck(t, list, "--keys", l.path("rsa.crt"), "--policy", sum)
	if code != 0 || rep.Policy.Signed != 2 || rep.Policy.Allowlisted != 2 {
		t.Errorf("rsa key and policy: exit %d: %+v", code, rep.Policy)
	}
	swapped := l.list(t, func(i int, _ *string, _ *[]byte, sig *[]byte) {
		if i == 2 {
			*sig = l.sigs[0] // tool1's signature on tool2
		}
	})
	code, rep = runCheck(t, swapped, "--keys", l.path("rsa.crt"), "--policy", sum)
	if code != 1 || findingKinds(rep) != "bad-signature /usr/bin/tool2" || !strings.Contains(rep.Policy.Findings[0].Detail, "does not verify") {
		t.Errorf("swapped signature: exit %d: %s %+v", code, findingKinds(rep), rep.Policy.Findings)
	}
	// The DER form of a certificate, as evmctl wants it, works too.
	runTool(t, l.dir, "openssl", "x509", "-in", "ec.crt", "-outform", "DER", "-out", "ec.der")
	code, rep = runCheck(t, list, "--keys", l.path("ec.der"), "--policy", sum)
	if code != 0 || rep.Policy.Signed != 1 {
		t.Errorf("DER certificate: exit %d: %+v", code, rep.Policy)
	}
}

// The kernel finds a key by the last 4 bytes of its certificate's subject
// key identifier: a certificate whose SKID is not the SHA-1 of its key,
// used through evmctl --keyid-from-cert, still verifies.
func TestImaCheckKernelKeyIDRule(t *testing.T) {
	l := newSignLab(t)
	runTool(t, l.dir, "openssl", "req", "-x509", "-new", "-key", "rsa.key", "-out", "skid.crt", "-days", "30",
		"-subj", "/CN=goldenpcr IMA SKID", "-addext", "subjectKeyIdentifier=0102030405060708090a0b0c0d0e0f1011121314")
	disk := filepath.Join(l.rootfs, l.files[0])
	runTool(t, l.dir, "evmctl", "ima_sign", "--sigfile", "--key", "rsa.key", "--keyid-from-cert", "skid.crt", "-a", "sha256", disk)
	sig, err := os.ReadFile(disk + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%x", sig[3:7]) != "11121314" {
		t.Fatalf("evmctl wrote key id %x", sig[3:7])
	}
	list := l.list(t, func(i int, _ *string, _ *[]byte, s *[]byte) {
		if i == 1 {
			*s = sig
		}
	})
	// tool1 is found by the SKID, tool2 (same key, evmctl's default key
	// id) by the key's SHA-1; tool3's EC key is not given.
	code, rep := runCheck(t, list, "--keys", l.path("skid.crt"), "--require-signatures")
	if code != 1 || rep.Policy.Signed != 2 || findingKinds(rep) != "unsigned /usr/bin/tool3; unsigned /usr/bin/tool4" {
		t.Errorf("exit %d: %+v", code, rep.Policy)
	}
}

func TestImaPolicyBadInput(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "rootfs.ext4")
	data := make([]byte, 4096)
	data[1080], data[1081] = 0x53, 0xef
	os.WriteFile(img, data, 0o644)
	code, _, errOut := run(t, "ima", "policy", img)
	if code != 2 || !strings.Contains(errOut, "ext2/3/4 file system image") {
		t.Errorf("ext4: exit %d: %s", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte("not a tar archive at all, just text that goes on and on"), 0o644)
	if code, _, errOut := run(t, "ima", "policy", filepath.Join(dir, "junk")); code != 2 {
		t.Errorf("junk: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run(t, "ima", "policy", dir, "--exclude", "("); code != 2 || !strings.Contains(errOut, "exclude") {
		t.Errorf("bad regex: exit %d: %s", code, errOut)
	}
	// -O never overwrites its input.
	tarball := filepath.Join(dir, "rootfs.tar")
	runTool(t, dir, "tar", "cf", tarball, "junk")
	if code, _, errOut := run(t, "ima", "policy", tarball, "-O", tarball); code != 2 || !strings.Contains(errOut, "refusing to overwrite") {
		t.Errorf("-O onto input: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run(t, "ima", "check", filepath.Join(imaFixtures, "keylime-ima-log-sha1.ascii")); code != 2 {
		t.Errorf("check without policy: exit %d: %s", code, errOut)
	}
}

// Archives in every compression give the directory's values.
func TestImaPolicyArchives(t *testing.T) {
	l := newSignLab(t)
	os.Symlink("tool1", filepath.Join(l.rootfs, "usr/bin/alias"))
	want, _, _ := func() (string, int, string) {
		_, out, _ := run(t, "ima", "policy", l.rootfs, "--format", "sha256sum")
		return out, 0, ""
	}()
	runTool(t, l.rootfs, "tar", "cf", l.path("rootfs.tar"), ".")
	runTool(t, l.dir, "gzip", "-k", "rootfs.tar")
	runTool(t, l.dir, "xz", "-k", "rootfs.tar")
	runTool(t, l.dir, "zstd", "-q", "rootfs.tar")
	for _, a := range []string{"rootfs.tar", "rootfs.tar.gz", "rootfs.tar.xz", "rootfs.tar.zst"} {
		code, out, errOut := run(t, "ima", "policy", l.path(a), "--format", "sha256sum")
		if code != 0 || out != want {
			t.Errorf("%s: exit %d %s\n%s\nwant\n%s", a, code, errOut, out, want)
		}
	}
}

// Appended module signatures (ima-modsig): PKCS#7 made by openssl the way
// the kernel's sign-file makes them (detached, no attributes, signer by
// issuer and serial) and the CMS default (signed attributes, signer by
// subject key identifier) both verify over the d-modsig digest; one moved
// to another module does not.
func TestImaCheckModsig(t *testing.T) {
	l := newSignLab(t)
	mods := map[int]string{1: "plain", 3: "attrs"}
	digests := map[int][]byte{}
	p7s := map[int][]byte{}
	for i, kind := range mods {
		mod := l.path(kind + ".ko")
		content := []byte(fmt.Sprintf("\x7fELF module %s", kind))
		os.WriteFile(mod, content, 0o644)
		out := l.path(kind + ".p7s")
		if kind == "plain" {
			runTool(t, l.dir, "openssl", "smime", "-sign", "-binary", "-noattr", "-nocerts", "-in", mod, "-outform", "DER", "-out", out, "-signer", "rsa.crt", "-inkey", "rsa.key", "-md", "sha256")
		} else {
			runTool(t, l.dir, "openssl", "cms", "-sign", "-binary", "-keyid", "-nocerts", "-in", mod, "-outform", "DER", "-out", out, "-signer", "rsa.crt", "-inkey", "rsa.key", "-md", "sha256")
		}
		sum := sha256.Sum256(content)
		digests[i] = append([]byte("sha256:\x00"), sum[:]...)
		p7s[i], _ = os.ReadFile(out)
	}
	write := func(swap bool) string {
		p, _ := writeList(t, imagen.Options{Template: "ima-modsig", N: 4,
			Path: func(i int) string { return fmt.Sprintf("/lib/modules/6.1.0/m%d.ko", i) },
			Modsig: func(i int) ([]byte, []byte) {
				if swap && i == 3 {
					return digests[3], p7s[1]
				}
				return digests[i], p7s[i]
			}})
		return p
	}
	code, rep := runCheck(t, write(false), "--keys", l.path("rsa.crt"))
	if code != 1 || rep.Policy.Signed != 2 || findingKinds(rep) != "unsigned /lib/modules/6.1.0/m2.ko; unsigned /lib/modules/6.1.0/m4.ko" {
		t.Errorf("modsig: exit %d: %+v", code, rep.Policy)
	}
	code, rep = runCheck(t, write(true), "--keys", l.path("rsa.crt"))
	if code != 1 || rep.Policy.Signed != 1 || !strings.Contains(findingKinds(rep), "bad-signature /lib/modules/6.1.0/m3.ko") {
		t.Errorf("moved modsig: exit %d: %+v", code, rep.Policy)
	}
}

// Issue #11: `ima check` with --pcrs that cannot check the boot_aggregate
// printed "✗ boot_aggregate" and "all entries pass" and exited 0; now the
// check shows as "-" and fails, in every format, unless opted out of.
func TestImaCheckBootAggregateThatCannotBeCheckedFails(t *testing.T) {
	digest := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 32) }
	path := func(i int) string { return fmt.Sprintf("/usr/bin/tool%d", i) }
	list, res := writeList(t, imagen.Options{N: 3, FileDigest: digest, Path: path})
	var sums strings.Builder
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&sums, "%x  %s\n", digest(i), path(i))
	}
	policy := filepath.Join(t.TempDir(), "rootfs.sha256sum")
	os.WriteFile(policy, []byte(sums.String()), 0o644)

	text, v := runAllFormats(t, 0, "ima", "check", list, "--policy", policy)
	if !strings.Contains(text, "all entries pass") || v.check("policy") != "passed" || v.check("boot-aggregate") != "skipped" {
		t.Errorf("policy only:\n%s\n%+v", text, v)
	}
	pcr10 := writePCRs(t, pcr.Values{pcr.SHA256: {10: res.PerBank[pcr.SHA256][10]}}, pcr.FormatJSON)
	text, v = runAllFormats(t, 1, "ima", "check", list, "--policy", policy, "--pcrs", pcr10)
	if strings.Contains(text, "✗") || !strings.Contains(text, "- boot_aggregate (sha256)") || strings.Contains(text, "all entries pass\n") ||
		!strings.Contains(text, "all entries pass the policy, but the list is not verified") {
		t.Errorf("PCR 10 only:\n%s", text)
	}
	if v.check("policy") != "passed" || v.check("boot-aggregate") != "not-run" {
		t.Errorf("PCR 10 only: %+v", v)
	}
	text, _ = runAllFormats(t, 0, "ima", "check", list, "--policy", policy, "--pcrs", pcr10, "--no-boot-aggregate")
	if !strings.Contains(text, "all entries pass\n") {
		t.Errorf("opted out:\n%s", text)
	}
	// A finding is a ✗ and exits 1, in every format.
	os.WriteFile(policy, []byte(sums.String()[strings.Index(sums.String(), "\n")+1:]), 0o644)
	text, v = runAllFormats(t, 1, "ima", "check", list, "--policy", policy, "--pcrs", writePCRs(t, res.PerBank, pcr.FormatJSON))
	if !strings.Contains(text, "✗ unknown-file") || v.check("policy") != "failed" || v.check("boot-aggregate") != "passed" {
		t.Errorf("finding:\n%s\n%+v", text, v)
	}
}
