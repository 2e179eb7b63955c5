// Package cmltest is a GyroidOS CML device for tests: it speaks tpm2d's
// side of the attestation protocol on a loopback port, backed by a real
// swtpm. The quote key is, as CML's, an unrestricted RSA-2048 sign+decrypt
// key made with tpm2_create; a test CA issues the device certificate for
// it; PCRs 0-7 are extended with boot measurements, PCR 10 from a
// generated IMA list (internal/imagen: ima-sig entries signed by a test
// kernel-module key, an ima-modsig module signed with openssl, an
// unsigned file, a violation) and PCR 11 from a container list, each with
// tpm2_pcrextend; every answer is quoted by tpm2_quote over the requested
// selection with the request's nonce and reads the PCRs afterwards with
// tpm2_pcrread, as tpm2d does. Modes make the device misbehave in one way
// each. Tests only.
package cmltest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/goldenpcr/goldenpcr/cml"
	"github.com/goldenpcr/goldenpcr/cml/tpm2dpb"
	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/internal/gyroidostest"
	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/internal/loopback"
	"github.com/goldenpcr/goldenpcr/internal/swtpmtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Mode is how the device answers.
type Mode string

// The modes: Genuine answers as tpm2d does; each other mode differs from
// it in one way.
const (
	Genuine Mode = "genuine"
	// WrongPCR reports PCR 4 (else the first quoted PCR) with another value
	// than the one quoted.
	WrongPCR Mode = "wrong-pcr"
	// WrongNonce quotes with another nonce than the request's.
	WrongNonce Mode = "wrong-nonce"
	// OtherCA sends a certificate for the quote key from another CA.
	OtherCA Mode = "other-ca"
	// SelfSigned sends a certificate the quote key signed itself, as tpm2d
	// does before the device is enrolled.
	SelfSigned Mode = "self-signed"
	// TamperedIMA changes a file name in the IMA list after measuring it.
	TamperedIMA Mode = "tampered-ima"
	// TamperedContainer changes a container entry's data hash.
	TamperedContainer Mode = "tampered-container"
	// OtherSelection quotes PCR 15 toggled in the requested selection, and
	// reports the values of what it quoted.
	OtherSelection Mode = "other-selection"
	// TruncatedFrame sends half of the response and closes.
	TruncatedFrame Mode = "truncated-frame"
	// HugeFrame sends a frame length of 4 GiB - 1.
	HugeFrame Mode = "huge-frame"
	// Silent reads the request and never answers.
	Silent Mode = "silent"
)

// Modes lists every misbehaving mode.
var Modes = []Mode{WrongPCR, WrongNonce, OtherCA, SelfSigned, TamperedIMA, TamperedContainer, OtherSelection, TruncatedFrame, HugeFrame, Silent}

// Device is a simulated GyroidOS device.
type Device struct {
	// Files a verifier is given, in Dir: the device CA, the kernel-module
	// signing certificate, and the golden values of PCRs 0-9 (a PCR file,
	// as refvals would compute them).
	Dir, CAPath, KmodCertPath, BaselinePath string
	// Boot holds the SHA-256 values of PCRs 0-9, IMA the IMA list's
	// entries, Containers the container list.
	Boot       pcr.Values
	Containers []*tpm2dpb.MlContainerEntry

	opts                         Options
	tpm                          *swtpmtest.TPM
	devCert, otherCert, selfCert []byte
	imaList, imaTampered         []byte
	mu, tpmMu                    sync.Mutex
	seq                          int
	lastRequest, lastResponse    []byte
}

// Options make the device boot given files instead of made-up ones.
type Options struct {
	// BootApp, if set, is the EFI application firmware starts
	// (EFI/BOOT/BOOTX64.EFI): PCR 4 gets the UEFI sequence for it, with
	// its Authenticode digest as osslsigncode calculates it.
	BootApp string
	// Guests, if set, are the guest-OS images cmld measures into PCR 11,
	// in that order.
	Guests []GuestImage
}

// GuestImage is a guest-OS image as cmld opens it.
type GuestImage struct {
	DevicePath string // e.g. /data/cml/operatingsystems/<os>-<version>/root.img
	File       string // the image on this machine
}

// New starts swtpm, makes the quote key and certificates, and extends the
// PCRs. It fails t when swtpm, tpm2-tools or openssl are missing.
func New(t testing.TB) *Device { return NewWith(t, Options{}) }

// NewWith is New for a device that boots the files of opts.
func NewWith(t testing.TB, opts Options) *Device {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not found: install the openssl package (make deps)")
	}
	d := &Device{Dir: t.TempDir(), opts: opts, tpm: swtpmtest.Start(t, swtpmtest.Options{}), Boot: pcr.Values{}}
	d.extendBoot(t)
	d.makeKey(t)
	d.makeCerts(t)
	d.makeIMA(t)
	d.makeContainers(t)
	return d
}

func (d *Device) path(name string) string { return filepath.Join(d.Dir, name) }

// run runs a tpm2-tools program and flushes the transient objects it
// left loaded (without a resource manager each tool leaves its own).
func (d *Device) run(t testing.TB, tool string, args ...string) {
	t.Helper()
	if err := d.tool(tool, args...); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tool runs a tpm2-tools program against the device's TPM from a
// connection's goroutine, where t.Fatal must not be called.
func (d *Device) tool(name string, args ...string) error {
	d.tpmMu.Lock()
	defer d.tpmMu.Unlock()
	for _, argv := range [][]string{append([]string{name}, args...), {"tpm2_flushcontext", "-t"}} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = d.tpm.Env()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	return nil
}

// extend extends PCR i of the SHA-256 bank with the digests, one
// tpm2_pcrextend per digest, and returns the resulting value.
func (d *Device) extend(t testing.TB, i int, digests ...[]byte) []byte {
	t.Helper()
	v := make([]byte, 32)
	for _, dg := range digests {
		d.run(t, "tpm2_pcrextend", fmt.Sprintf("%d:sha256=%x", i, dg))
		v = pcr.Extend(pcr.SHA256, v, dg)
	}
	return v
}

// extendBoot measures a made-up boot into PCRs 0-7; PCRs 8 and 9 stay
// zero, as on a GyroidOS device. The golden values go to BaselinePath.
func (d *Device) extendBoot(t testing.TB) {
	t.Helper()
	for i := 0; i < 10; i++ {
		v := make([]byte, 32)
		switch {
		case i == 4 && d.opts.BootApp != "":
			action := sha256.Sum256([]byte("Calling EFI Application from Boot Option"))
			sep := sha256.Sum256([]byte{0, 0, 0, 0})
			v = d.extend(t, i, action[:], sep[:], gyroidostest.OsslsigncodeDigest(t, d.opts.BootApp))
		case i < 8:
			dg := sha256.Sum256([]byte(fmt.Sprintf("cmltest boot component for PCR %d", i)))
			v = d.extend(t, i, dg[:])
		}
		d.Boot.Set(pcr.SHA256, i, v)
	}
	b, err := pcr.Marshal(pcr.FormatYAML, []pcr.Values{d.Boot})
	if err != nil {
		t.Fatal(err)
	}
	d.BaselinePath = d.path("golden-pcrs.yaml")
	writeFile(t, d.BaselinePath, b)
}

// makeKey creates the quote key as tpm2d does: an unrestricted RSA-2048
// key that both signs and decrypts.
func (d *Device) makeKey(t testing.TB) {
	t.Helper()
	d.run(t, "tpm2_createprimary", "-C", "o", "-G", "rsa", "-c", d.path("primary.ctx"))
	d.run(t, "tpm2_create", "-C", d.path("primary.ctx"), "-G", "rsa2048",
		"-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|decrypt",
		"-u", d.path("ak.tpub"), "-r", d.path("ak.priv"))
	d.run(t, "tpm2_load", "-C", d.path("primary.ctx"), "-u", d.path("ak.tpub"), "-r", d.path("ak.priv"), "-c", d.path("ak.ctx"))
	d.run(t, "tpm2_readpublic", "-c", d.path("ak.ctx"), "-f", "pem", "-o", d.path("ak.pem"))
}

func (d *Device) akPublic(t testing.TB) crypto.PublicKey {
	t.Helper()
	b, err := os.ReadFile(d.path("ak.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("ak.pem: no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tpmSigner signs with the quote key inside the TPM (tpm2_sign), so the
// device can make its self-signed certificate as tpm2d does.
type tpmSigner struct {
	d   *Device
	pub crypto.PublicKey
}

func (s *tpmSigner) Public() crypto.PublicKey { return s.pub }

func (s *tpmSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 {
		return nil, fmt.Errorf("cmltest: only SHA-256 signatures, not %v", opts.HashFunc())
	}
	in, out := s.d.path("tbs.digest"), s.d.path("tbs.sig")
	if err := os.WriteFile(in, digest, 0o600); err != nil {
		return nil, err
	}
	if err := s.d.tool("tpm2_sign", "-c", s.d.path("ak.ctx"), "-g", "sha256", "-s", "rsassa", "-d", "-f", "plain", "-o", out, in); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial int64

func template(cn string, isCA bool) *x509.Certificate {
	serial++
	c := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"goldenpcr cmltest"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if isCA {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign
	}
	return c
}

func newCA(t testing.TB, cn string) *ca {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, template(cn, true), template(cn, true), &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: c, key: k}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func (c *ca) issue(t testing.TB, cn string, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, template(cn, false), c.cert, pub, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pemCert(der)
}

// makeCerts issues the device certificate from the test device CA, one
// from another CA, and the self-signed one.
func (d *Device) makeCerts(t testing.TB) {
	t.Helper()
	pub := d.akPublic(t)
	deviceCA, other := newCA(t, "cmltest device sub-CA"), newCA(t, "cmltest other CA")
	d.CAPath = d.path("device-ca.pem")
	writeFile(t, d.CAPath, pemCert(deviceCA.cert.Raw))
	d.devCert = deviceCA.issue(t, "cmltest device", pub)
	d.otherCert = other.issue(t, "cmltest device", pub)
	self := template("cmltest device (self-signed)", false)
	der, err := x509.CreateCertificate(rand.Reader, self, self, pub, &tpmSigner{d: d, pub: pub})
	if err != nil {
		t.Fatal(err)
	}
	d.selfCert = pemCert(der)
}

// IMA list entries: 1, 2, 4 signed files (ima-sig), 3 an unsigned file, 5
// a signed kernel module (ima-modsig), 6 a violation.
const (
	imaEntries  = 6
	imaUnsigned = 3
	imaModule   = 5
	imaViolated = 6
	imaTampered = 2
)

// makeIMA signs files with a test kernel-module key, writes the IMA list
// and extends PCR 10 with each entry's SHA-256 template digest (all ones
// for the violation).
func (d *Device) makeIMA(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	skid := sha1.Sum(spki)
	tmpl := template("cmltest kernel module signing key", false)
	tmpl.SubjectKeyId = skid[:]
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	d.KmodCertPath = d.path("kmod.crt")
	writeFile(t, d.KmodCertPath, pemCert(der))
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.path("kmod.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))

	// The module, signed as the kernel's sign-file does: detached PKCS#7,
	// no attributes.
	module := []byte("\x7fELF cmltest kernel module")
	writeFile(t, d.path("m.ko"), module)
	cmd := exec.Command("openssl", "smime", "-sign", "-binary", "-noattr", "-nocerts", "-in", d.path("m.ko"),
		"-outform", "DER", "-out", d.path("m.p7s"), "-signer", d.KmodCertPath, "-inkey", d.path("kmod.key"), "-md", "sha256")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl smime: %v\n%s", err, out)
	}
	p7s, err := os.ReadFile(d.path("m.p7s"))
	if err != nil {
		t.Fatal(err)
	}
	modSum := sha256.Sum256(module)
	keyID := binary.BigEndian.Uint32(skid[16:])
	opts := imagen.Options{Template: "ima-sig", N: imaEntries, BootPCRs: d.Boot, Banks: []pcr.Alg{pcr.SHA256},
		Violations: []int{imaViolated},
		TemplateOf: func(i int) string {
			if i == imaModule {
				return "ima-modsig"
			}
			return ""
		},
		Path: func(i int) string {
			if i == imaModule {
				return "/lib/modules/6.6.0-cml/kernel/cmltest.ko"
			}
			return fmt.Sprintf("/usr/bin/cmltest-tool%d", i)
		},
		FileDigest: func(i int) []byte {
			sum := sha256.Sum256([]byte(fmt.Sprintf("content of file %d", i)))
			return sum[:]
		},
		Signature: func(i int, _ pcr.Alg, digest []byte) []byte {
			if i == imaUnsigned || i == imaModule {
				return nil
			}
			return imaSignature(t, key, keyID, digest)
		},
		Modsig: func(int) ([]byte, []byte) { return append([]byte("sha256:\x00"), modSum[:]...), p7s },
	}
	var list bytes.Buffer
	res, err := imagen.Write(&list, opts)
	if err != nil {
		t.Fatal(err)
	}
	d.imaList = list.Bytes()
	opts.Tamper = []int{imaTampered}
	var tampered bytes.Buffer
	if _, err := imagen.Write(&tampered, opts); err != nil {
		t.Fatal(err)
	}
	d.imaTampered = tampered.Bytes()

	rd, err := ima.NewBinaryReader(bytes.NewReader(d.imaList), nil)
	if err != nil {
		t.Fatal(err)
	}
	var digests [][]byte
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		dg := sha256.Sum256(e.Data)
		if e.Violation() {
			dg = [32]byte{}
			for i := range dg {
				dg[i] = 0xff
			}
		}
		digests = append(digests, bytes.Clone(dg[:]))
	}
	got := d.extend(t, cml.IMAPCR, digests...)
	if want, _ := res.PerBank.Get(pcr.SHA256, cml.IMAPCR); !bytes.Equal(got, want) {
		t.Fatalf("cmltest: PCR 10 extended to %x, imagen says %x", got, want)
	}
}

// imaSignature is an IMA v2 signature (EVM_IMA_XATTR_DIGSIG) over a
// SHA-256 file digest: type, version, hash algorithm, key id, size, then
// the PKCS#1 v1.5 signature.
func imaSignature(t testing.TB, key *rsa.PrivateKey, keyID uint32, digest []byte) []byte {
	t.Helper()
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{ima.XattrDigsig, 2, byte(ima.HashSHA256)}
	b = binary.BigEndian.AppendUint32(b, keyID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sig)))
	return append(b, sig...)
}

// makeContainers measures two guest-OS images into PCR 11 as cmld does:
// the SHA-256 of each image file, extended directly.
func (d *Device) makeContainers(t testing.TB) {
	t.Helper()
	guests := d.opts.Guests
	if guests == nil {
		guests = []GuestImage{{DevicePath: "/data/cml/operatingsystems/core-1.0/root.img"}, {DevicePath: "/data/cml/operatingsystems/trustx-coreos-1.0/root.img"}}
	}
	var digests [][]byte
	for _, g := range guests {
		name := g.DevicePath
		data := []byte("image " + name)
		if g.File != "" {
			var err error
			if data, err = os.ReadFile(g.File); err != nil {
				t.Fatal(err)
			}
		}
		sum := sha256.Sum256(data)
		tmpl := sha256.Sum256(append([]byte(name), sum[:]...))
		d.Containers = append(d.Containers, &tpm2dpb.MlContainerEntry{
			PcrIndex: proto.Int32(cml.ContainerPCR), Filename: proto.String(name),
			TemplateHashAlg: proto.String("sha256"), TemplateHash: tmpl[:],
			DataHashAlg: proto.String("sha256"), DataHash: bytes.Clone(sum[:]),
		})
		digests = append(digests, sum[:])
	}
	d.extend(t, cml.ContainerPCR, digests...)
}

// ReadPCRs reads the SHA-256 PCRs of the device's TPM with tpm2_pcrread.
func (d *Device) ReadPCRs(t testing.TB, indexes ...int) pcr.Values {
	t.Helper()
	var sel []string
	for _, i := range indexes {
		sel = append(sel, fmt.Sprint(i))
	}
	out := d.path("pcrread.bin")
	d.run(t, "tpm2_pcrread", "sha256:"+strings.Join(sel, ","), "-o", out)
	data, err := os.ReadFile(out)
	if err != nil || len(data) != 32*len(indexes) {
		t.Fatalf("tpm2_pcrread: %d bytes, %v", len(data), err)
	}
	v := pcr.Values{}
	for k, i := range indexes {
		v.Set(pcr.SHA256, i, data[32*k:32*(k+1)])
	}
	return v
}

// Serve answers on a fresh loopback port in mode until t ends, and
// returns the address.
func (d *Device) Serve(t testing.TB, mode Mode) string {
	t.Helper()
	l, err := loopback.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(done)
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				if err := d.answer(c, mode); err != nil {
					t.Logf("cmltest device (%s): %v", mode, err)
				}
			}()
		}
	}()
	return l.Addr().String()
}

// LastFrames returns the last request the device read and the last
// response frame it sent.
func (d *Device) LastFrames() (request, response []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastRequest, d.lastResponse
}

// answer handles one connection; an error ends it without an answer, as
// tpm2d does.
func (d *Device) answer(c net.Conn, mode Mode) error {
	payload, err := cml.NewFrameReader(c).ReadFrame()
	if err != nil {
		return err
	}
	req, err := cml.ParseRequest(payload)
	if err != nil {
		return err // tpm2d answers nothing
	}
	if mode == Silent {
		_, err := io.Copy(io.Discard, c) // until the client gives up
		return err
	}
	frame, err := d.response(req, mode)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.lastRequest, _ = cml.AppendFrame(nil, payload)
	d.lastResponse = frame
	d.mu.Unlock()
	switch mode {
	case TruncatedFrame:
		frame = frame[:len(frame)/2]
	case HugeFrame:
		frame = append([]byte{0xff, 0xff, 0xff, 0xff}, frame[4:64]...)
	}
	_, err = c.Write(frame)
	return err
}

func (d *Device) response(req *cml.Request, mode Mode) ([]byte, error) {
	bitmap, err := req.Bitmap()
	if err != nil {
		return nil, err
	}
	if mode == OtherSelection {
		bitmap ^= 1 << 15
	}
	var list []string
	var numbers []int
	for i := 0; i < pcr.NumPCRs; i++ {
		if bitmap&(1<<i) != 0 {
			list, numbers = append(list, fmt.Sprint(i)), append(numbers, i)
		}
	}
	nonce := bytes.Clone(req.Nonce)
	if mode == WrongNonce {
		nonce[0] ^= 0x01
	}
	d.mu.Lock()
	d.seq++
	n := d.seq
	d.mu.Unlock()
	msg, sig, vals := d.path(fmt.Sprintf("q%d.msg", n)), d.path(fmt.Sprintf("q%d.sig", n)), d.path(fmt.Sprintf("q%d.pcrs", n))
	sel := "sha256:" + strings.Join(list, ",")
	if err := d.tool("tpm2_quote", "-c", d.path("ak.ctx"), "-q", hex.EncodeToString(nonce), "-l", sel, "-g", "sha256", "-m", msg, "-s", sig); err != nil {
		return nil, err
	}
	// tpm2d reads the PCRs one by one after the quote.
	if err := d.tool("tpm2_pcrread", sel, "-o", vals); err != nil {
		return nil, err
	}
	quoted, err := os.ReadFile(msg)
	if err != nil {
		return nil, err
	}
	signature, err := os.ReadFile(sig)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(vals)
	if err != nil {
		return nil, err
	}
	if len(raw) != 32*len(numbers) {
		return nil, fmt.Errorf("tpm2_pcrread wrote %d bytes for %d PCRs", len(raw), len(numbers))
	}
	m := &tpm2dpb.Tpm2DToRemote{
		Code: tpm2dpb.Tpm2DToRemote_ATTESTATION_RES.Enum(), Atype: req.AType.Enum(), Halg: tpm2dpb.HashAlgLen_SHA256.Enum(),
		Quoted: quoted, Signature: signature, Certificate: d.devCert, MlImaEntry: d.imaList, MlContainerEntry: d.Containers,
	}
	wrong := numbers[0]
	if bitmap&(1<<4) != 0 {
		wrong = 4
	}
	for k, i := range numbers {
		v := bytes.Clone(raw[32*k : 32*k+32])
		if mode == WrongPCR && i == wrong {
			v[0] ^= 0x01
		}
		m.PcrValues = append(m.PcrValues, &tpm2dpb.Pcr{Number: proto.Int32(int32(i)), Value: v})
	}
	switch mode {
	case OtherCA:
		m.Certificate = d.otherCert
	case SelfSigned:
		m.Certificate = d.selfCert
	case TamperedIMA:
		m.MlImaEntry = d.imaTampered
	case TamperedContainer:
		changed := proto.Clone(d.Containers[0]).(*tpm2dpb.MlContainerEntry)
		changed.DataHash[0] ^= 0x01
		m.MlContainerEntry = append([]*tpm2dpb.MlContainerEntry{changed}, d.Containers[1:]...)
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	return cml.AppendFrame(nil, payload)
}
