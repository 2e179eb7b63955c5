package authenticode

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Real EFI binaries from Debian packages (installed by make deps).
var debianUnsigned = []string{
	"/usr/lib/shim/shimx64.efi",
	"/usr/lib/shim/mmx64.efi",
	"/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi",
	"/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
	"/usr/lib/systemd/boot/efi/linuxx64.efi.stub",
}

// Debian's binaries as their vendors signed them.
var debianSigned = map[string]string{
	"/usr/lib/shim/shimx64.efi.signed":                   "Microsoft",
	"/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed": "Debian",
}

func digestFile(t *testing.T, path string, alg pcr.Alg) ([]byte, *Image, *os.File) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run make deps)", err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	img, err := Parse(f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	d, err := img.Digest(f, alg)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d, img, f
}

// testSigner writes a self-signed RSA key and certificate as PEM files.
func testSigner(t *testing.T) (keyPath, certPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "goldenpcr test signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPath, certPath = filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return keyPath, certPath
}

var calculated = regexp.MustCompile(`Calculated message digest\s*:\s*([0-9A-Fa-f]+)`)

// osslsigncodeDigest returns the digest `osslsigncode verify` calculates.
func osslsigncodeDigest(t *testing.T, path string) string {
	t.Helper()
	out, _ := exec.Command("osslsigncode", "verify", "-in", path).CombinedOutput()
	m := calculated.FindSubmatch(out)
	if m == nil {
		t.Fatalf("osslsigncode printed no calculated digest for %s:\n%s", path, out)
	}
	return strings.ToLower(string(m[1]))
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// Signing a Debian binary with osslsigncode or sbsign, then letting
// osslsigncode calculate its digest: goldenpcr must get the same value,
// and the value the signer embedded, which sbverify accepts.
func TestDigestAgreesWithOsslsigncode(t *testing.T) {
	key, cert := testSigner(t)
	dir := t.TempDir()
	for _, in := range debianUnsigned {
		for _, tc := range []struct {
			signer string
			alg    pcr.Alg
		}{{"osslsigncode", pcr.SHA256}, {"osslsigncode", pcr.SHA1}, {"osslsigncode", pcr.SHA384}, {"sbsign", pcr.SHA256}} {
			name := filepath.Base(in) + "." + tc.signer + "." + tc.alg.String()
			t.Run(name, func(t *testing.T) {
				out := filepath.Join(dir, name)
				if tc.signer == "sbsign" {
					run(t, "sbsign", "--key", key, "--cert", cert, "--output", out, in)
				} else {
					run(t, "osslsigncode", "sign", "-h", tc.alg.String(), "-certs", cert, "-key", key, "-in", in, "-out", out)
				}
				got, img, f := digestFile(t, out, tc.alg)
				if want := osslsigncodeDigest(t, out); hex.EncodeToString(got) != want {
					t.Errorf("digest %x, osslsigncode calculates %s", got, want)
				}
				sigs, err := img.Signatures(f)
				if err != nil || len(sigs) != 1 {
					t.Fatalf("signatures %v, %v", sigs, err)
				}
				if !bytes.Equal(sigs[0].SignedDigest, got) || sigs[0].DigestAlgorithm != tc.alg.String() {
					t.Errorf("signed digest %s:%x, calculated %x", sigs[0].DigestAlgorithm, sigs[0].SignedDigest, got)
				}
				if c := sigs[0].Certificates; len(c) != 1 || c[0].Subject.CommonName != "goldenpcr test signer" {
					t.Errorf("signer chain %v", c)
				}
				if chain, err := sigs[0].Signer(); err != nil || len(chain) != 1 || chain[0].Subject.CommonName != "goldenpcr test signer" {
					t.Errorf("PKCS#7 signer %v, %v", chain, err)
				}
				bad := sigs[0]
				bad.content = bytes.Clone(bad.content)
				bad.content[len(bad.content)-1] ^= 1
				if _, err := bad.Signer(); err == nil || !strings.Contains(err.Error(), "messageDigest") {
					t.Errorf("altered content: %v", err)
				}
				// sbverify prints no digest, but accepts the signature only
				// if the digest it calculates is the signed one, which is
				// goldenpcr's (checked above). It reads SHA-256 only.
				if tc.alg == pcr.SHA256 {
					run(t, "sbverify", "--cert", cert, out)
				}
			})
		}
	}
}

// Debian's shim and GRUB as Microsoft and Debian signed them: the digest
// they signed is the digest goldenpcr calculates.
func TestDigestOfVendorSignedBinaries(t *testing.T) {
	for path, vendor := range debianSigned {
		t.Run(filepath.Base(path), func(t *testing.T) {
			got, img, f := digestFile(t, path, pcr.SHA256)
			sigs, err := img.Signatures(f)
			if err != nil || len(sigs) == 0 {
				t.Fatalf("signatures %v, %v", sigs, err)
			}
			if !bytes.Equal(sigs[0].SignedDigest, got) {
				t.Errorf("%s signed %x, goldenpcr calculates %x", vendor, sigs[0].SignedDigest, got)
			}
			if leaf := sigs[0].Certificates[0]; !strings.Contains(leaf.Subject.String()+leaf.Issuer.String(), vendor) {
				t.Errorf("signer %s, issuer %s: want %s", leaf.Subject, leaf.Issuer, vendor)
			}
			if chain, err := sigs[0].Signer(); err != nil || !strings.Contains(chain[0].Subject.String()+chain[0].Issuer.String(), vendor) {
				t.Errorf("%s's PKCS#7 signer %v, %v", vendor, chain, err)
			}
		})
	}
}

// pesign (Debian's package) hashes every Debian binary, signed or not, in
// the two digests it knows, SHA-1 and SHA-256: goldenpcr must agree.
func TestDigestAgreesWithPesign(t *testing.T) {
	paths := append([]string(nil), debianUnsigned...)
	for p := range debianSigned {
		paths = append(paths, p)
	}
	for _, path := range paths {
		for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
			t.Run(filepath.Base(path)+"."+alg.String(), func(t *testing.T) {
				out, err := exec.Command("pesign", "--hash", "--digest_type", alg.String(), "--in", path).CombinedOutput()
				if err != nil {
					t.Fatalf("pesign: %v\n%s", err, out)
				}
				want, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "hash: ")
				if !ok {
					t.Fatalf("pesign printed no hash: %s", out)
				}
				if got, _, _ := digestFile(t, path, alg); hex.EncodeToString(got) != want {
					t.Errorf("%s: goldenpcr %x, pesign %s", alg, got, want)
				}
			})
		}
	}
}

func TestMalformedImages(t *testing.T) {
	orig, err := os.ReadFile(debianUnsigned[3])
	if err != nil {
		t.Fatal(err)
	}
	peOff := int(binary.LittleEndian.Uint32(orig[0x3c:]))
	optSize := int(binary.LittleEndian.Uint16(orig[peOff+20:]))
	secTable := peOff + 24 + optSize
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
		offset int64
		want   string
	}{
		{"empty", func(b []byte) []byte { return nil }, 0, "DOS header needs 64 bytes"},
		{"no MZ", func(b []byte) []byte { b[0] = 'X'; return b }, 0, "not a PE image"},
		{"no PE", func(b []byte) []byte { b[peOff] = 'X'; return b }, int64(peOff), "no PE signature"},
		{"bad magic", func(b []byte) []byte { b[peOff+24] = 7; return b }, int64(peOff + 24), "neither PE32 nor PE32+"},
		{"truncated headers", func(b []byte) []byte { return b[:secTable+10] }, int64(peOff + 24 + 60), "SizeOfHeaders 1024 exceeds the file size"},
		{"section past end", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[secTable+16:], 0x7fffffff); return b }, int64(secTable), "runs past the end of the file"},
		{"certificate table outside", func(b []byte) []byte {
			dir := peOff + 24 + 112 + 4*8 // PE32+ data directory 4
			binary.LittleEndian.PutUint32(b[dir:], uint32(len(b)-8))
			binary.LittleEndian.PutUint32(b[dir+4:], 64)
			return b
		}, int64(peOff + 24 + 112 + 32), "certificate table"},
		{"too many sections", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[peOff+6:], 1000); return b }, int64(peOff + 6), "1000 sections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(bytes.Clone(orig))
			_, err := Parse(bytes.NewReader(b), int64(len(b)))
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want FormatError with %q", err, tc.want)
			}
			if tc.offset >= 0 && fe.Offset != tc.offset {
				t.Errorf("offset %d, want %d", fe.Offset, tc.offset)
			}
		})
	}
}
