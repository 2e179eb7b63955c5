// Package gyroidostest builds, for tests, the directories a GyroidOS
// Yocto build leaves: the deploy directory with the signed boot bundle
// (cml-kernel/bzImage-initramfs-<MACHINE>.bin.signed, a real PE signed
// with sbsign and a fresh key) and, beside it under tmp_container, the
// guest OSes (gyroidos-guests/<os>-<version>/ with their images and
// <os>-<version>.conf/.sig/.cert).
package gyroidostest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// BootApp is the PE file signed as the boot bundle.
const BootApp = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// Machine is the layout's MACHINE.
const Machine = "qemux86-64"

// Image is one image of a guest OS.
type Image struct {
	File string // "root": root.img
	Data []byte // nil: 64 KiB of random bytes
	// ConfSHA256, if set, is written as image_sha2_256 instead of the
	// image's real SHA-256.
	ConfSHA256 string
	Verity     bool // with root.hash.img and image_verity_sha256
	// MountType defaults to SHARED_RW.
	MountType string
}

// Guest is a guest OS, <os>-<version>.
type Guest struct {
	Name   string
	Images []Image
}

// Layout is what Build made.
type Layout struct {
	Top    string // TOPDIR
	Deploy string // TOPDIR/tmp/deploy/images/MACHINE
	Guests string // TOPDIR/tmp_container/deploy/images/MACHINE/gyroidos-guests
	Kernel string // the signed boot bundle
	// Images maps "<os>-<version>/<file>.img" to its local path.
	Images map[string]string
	Confs  map[string]string // <os>-<version> → its .conf
}

// Build writes the layout with the guest OSes.
func Build(t *testing.T, guests ...Guest) *Layout {
	t.Helper()
	top := t.TempDir()
	l := &Layout{Top: top, Deploy: filepath.Join(top, "tmp", "deploy", "images", Machine),
		Guests: filepath.Join(top, "tmp_container", "deploy", "images", Machine, "gyroidos-guests"),
		Images: map[string]string{}, Confs: map[string]string{}}
	l.Kernel = filepath.Join(l.Deploy, "cml-kernel", "bzImage-initramfs-"+Machine+".bin.signed")
	mkdir(t, filepath.Dir(l.Kernel))
	sign(t, BootApp, l.Kernel)
	td := "gyroidos-core-" + Machine + ".rootfs-20250101120000.testdata.json"
	write(t, filepath.Join(l.Deploy, td), []byte(`{"MACHINE": "`+Machine+`", "DISTRO": "cml-base", "KERNEL_DEPLOYSUBDIR": "cml-kernel", "INITRAMFS_IMAGE_BUNDLE": "1"}`))
	if err := os.Symlink(td, filepath.Join(l.Deploy, "gyroidos-core-"+Machine+".rootfs.testdata.json")); err != nil {
		t.Fatal(err)
	}
	for _, g := range guests {
		l.AddGuest(t, g)
	}
	return l
}

// AddGuest writes one more guest OS.
func (l *Layout) AddGuest(t *testing.T, g Guest) {
	t.Helper()
	dir := filepath.Join(l.Guests, g.Name)
	mkdir(t, dir)
	osName := g.Name[:strings.LastIndex(g.Name, "-")]
	var conf strings.Builder
	fmt.Fprintf(&conf, "# %s, as GyroidOS's guestos tooling writes it\nname: %q\nhardware: \"x86\"\nversion: %s\n", osName, osName, g.Name[len(osName)+1:])
	conf.WriteString("init_path: \"/sbin/cservice\"\ninit_param: \"quiet\"\n")
	for _, img := range g.Images {
		data := img.Data
		if data == nil {
			data = make([]byte, 64<<10)
			rand.Read(data)
		}
		path := filepath.Join(dir, img.File+".img")
		if _, err := os.Stat(path); err != nil {
			write(t, path, data)
		} else if data, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		l.Images[g.Name+"/"+img.File+".img"] = path
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])
		if img.ConfSHA256 != "" {
			want = img.ConfSHA256
		}
		mt := img.MountType
		if mt == "" {
			mt = "SHARED_RW"
		}
		s1 := sha1.Sum(data)
		fmt.Fprintf(&conf, "mounts {\n  image_file: %q\n  mount_point: \"/\"\n  fs_type: \"squashfs\"\n  mount_type: %s\n  image_size: %d\n  image_sha1: \"%x\"\n  image_sha2_256: %q\n", img.File, mt, len(data), s1, want)
		if img.Verity {
			write(t, filepath.Join(dir, img.File+".hash.img"), []byte("verity hash tree"))
			fmt.Fprintf(&conf, "  image_verity_sha256: \"%064x\"\n", 1)
		}
		conf.WriteString("}\n")
	}
	conf.WriteString("mounts {\n  image_file: \"data\"\n  mount_point: \"/data\"\n  fs_type: \"ext4\"\n  mount_type: EMPTY\n  def_size: 512\n}\n")
	conf.WriteString("description {\n  en: \"a guest OS built by the test \\\"gyroidostest\\\"\"\n}\nbuild_date: \"2025-01-01\"\n")
	l.Confs[g.Name] = filepath.Join(l.Guests, g.Name+".conf")
	write(t, l.Confs[g.Name], []byte(conf.String()))
	write(t, filepath.Join(l.Guests, g.Name+".sig"), []byte("signature"))
	write(t, filepath.Join(l.Guests, g.Name+".cert"), []byte("certificate"))
}

// sign signs in with sbsign and a fresh self-signed key into out.
func sign(t *testing.T, in, out string) {
	t.Helper()
	NewSigner(t, "gyroidostest boot signer").Sign(t, in, out)
}

// Signer is a fresh self-signed RSA key and certificate, in files sbsign
// takes.
type Signer struct {
	Key, Cert string // PEM files
	DER       []byte // the certificate
}

// NewSigner makes a key and a certificate for the common name.
func NewSigner(t testing.TB, name string) *Signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Signer{Key: filepath.Join(dir, "sign.key"), Cert: filepath.Join(dir, "sign.crt"), DER: der}
	for path, data := range map[string][]byte{
		s.Key:  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		s.Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Sign signs the PE in with sbsign into out.
func (s *Signer) Sign(t testing.TB, in, out string) {
	t.Helper()
	if b, err := exec.Command("sbsign", "--key", s.Key, "--cert", s.Cert, "--output", out, in).CombinedOutput(); err != nil {
		t.Fatalf("sbsign: %v %s", err, b)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// OsslsigncodeDigest is the Authenticode SHA-256 osslsigncode calculates
// for a PE file: a peer's reading of the boot bundle, not goldenpcr's.
func OsslsigncodeDigest(t testing.TB, path string) []byte {
	t.Helper()
	out, _ := exec.Command("osslsigncode", "verify", "-in", path).CombinedOutput()
	m := regexp.MustCompile(`Calculated message digest\s*:\s*([0-9A-Fa-f]{64})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("osslsigncode verify %s: no calculated digest in\n%s", path, out)
	}
	d, _ := hex.DecodeString(string(m[1]))
	return d
}
