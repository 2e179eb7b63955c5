package refvals

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/gyroidostest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// signatureList is one EFI_SIGNATURE_LIST of the type holding one entry
// (a certificate or a hash) owned by the shim-lock GUID.
func signatureList(typ eventlog.GUID, entry []byte) []byte {
	b := append([]byte{}, typ[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(28+16+len(entry)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(16+len(entry)))
	b = append(b, eventlog.GUIDShimLock[:]...)
	return append(b, entry...)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Firmware's image verification with secure boot on (what decides the
// first boot application's PCR 7 authority), on real signatures: a PE
// (Debian's stub stands in for one) signed with sbsign.
func TestVerifyImage(t *testing.T) {
	s := gyroidostest.NewSigner(t, "goldenpcr test db")
	dir := t.TempDir()
	signedPath := filepath.Join(dir, "vmlinuz.signed")
	s.Sign(t, debianStub, signedPath)
	unsigned, signed := readFile(t, debianStub), readFile(t, signedPath)
	dbCert := signatureList(eventlog.GUIDCertX509, s.DER)
	f, err := authenticode.Open(signedPath) // sbsign pads the image: the signed copy's digest is what firmware computes
	if err != nil {
		t.Fatal(err)
	}
	digest, err := f.Digest(pcr.SHA256)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	dbHash := signatureList(eventlog.GUIDCertSHA256, digest)
	// The signer's signature broken (the last byte of the certificate
	// entry, the end of its encrypted digest): the signed digest still
	// matches, the signature does not verify.
	forged := bytes.Clone(signed)
	{
		r := bytes.NewReader(forged)
		img, err := authenticode.Parse(r, int64(len(forged)))
		if err != nil {
			t.Fatal(err)
		}
		sigs, err := img.Signatures(r)
		if err != nil || len(sigs) != 1 {
			t.Fatalf("signatures %v %v", sigs, err)
		}
		forged[sigs[0].Offset+int64(binary.LittleEndian.Uint32(forged[sigs[0].Offset:]))-1] ^= 1
	}
	lists := func(b []byte) []eventlog.SignatureList {
		l, err := eventlog.ParseSignatureLists(b)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, c := range []struct {
		name    string
		image   []byte
		db, dbx []byte
		allowed []byte // the db entry's data, or nil when refused
		refusal string
	}{
		{"signed by db", signed, dbCert, nil, s.DER, ""},
		{"unsigned", unsigned, dbCert, nil, nil, "unsigned and its digest is not in db"},
		{"hash in dbx", signed, dbCert, dbHash, nil, "is in dbx"},
		{"certificate in dbx", signed, dbCert, dbCert, nil, `certificate "CN=goldenpcr test db" is in dbx`},
		{"hash in db", signed, dbHash, nil, digest, ""},
		{"signer's signature broken", forged, dbCert, nil, nil, "no signature of it verifies"},
		{"signed by another key", signed, nil, nil, nil, "no signature of it verifies"},
	} {
		r := bytes.NewReader(c.image)
		img, err := authenticode.Parse(r, int64(len(c.image)))
		if err != nil {
			t.Fatal(err)
		}
		e, err := verifyImage(img, r, lists(c.db), lists(c.dbx))
		switch {
		case c.allowed != nil && (err != nil || !bytes.Equal(e.Raw, c.allowed)):
			t.Errorf("%s: entry %x, %v; want it allowed by %x", c.name, e.Raw, err, c.allowed)
		case c.allowed == nil && (err == nil || !strings.Contains(err.Error(), c.refusal)):
			t.Errorf("%s: %v; want a refusal with %q", c.name, err, c.refusal)
		}
	}
}

// The stub rule: the secure-boot state alone decides, as the lab's
// uki-sb-kernel boot (a db-signed kernel, not measured) shows.
func TestStubMeasuresKernel(t *testing.T) {
	s := gyroidostest.NewSigner(t, "goldenpcr test db")
	signedPath := filepath.Join(t.TempDir(), "vmlinuz.signed")
	s.Sign(t, debianStub, signedPath)
	for _, c := range []struct {
		name       string
		kernel     []byte
		secureBoot bool
		measured   bool
		rule       string
	}{
		{"secure boot off", readFile(t, debianStub), false, true, "secure boot off"},
		{"secure boot on, signed kernel", readFile(t, signedPath), true, false, "whatever its signature"},
		{"not a PE", []byte("not really a kernel"), false, false, "not a PE image"},
	} {
		if d := StubMeasuresKernel(c.kernel, c.secureBoot); d.Measured != c.measured || !strings.Contains(d.Rule, c.rule) {
			t.Errorf("%s: %+v; want measured=%v and a rule with %q", c.name, d, c.measured, c.rule)
		}
	}
}

// Compute adds the UKI's kernel to PCR 4 exactly when the rule says, notes
// the rule, and --stub-loads-kernel's field overrides it.
func TestComputeInfersStubKernel(t *testing.T) {
	s := gyroidostest.NewSigner(t, "goldenpcr test db")
	dir := t.TempDir()
	signedKernel := filepath.Join(dir, "vmlinuz.signed")
	s.Sign(t, debianStub, signedKernel)
	dbPath := writeFile(t, dir, "db.esl", signatureList(eventlog.GUIDCertX509, s.DER))
	uki := func(name, kernel string) string {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(d, "uki.signed.efi")
		s.Sign(t, buildUKI(t, d, map[string]string{".linux": kernel}), out)
		return out
	}
	withSigned, withUnsigned := uki("a", signedKernel), uki("b", debianStub)
	on, yes, no := true, true, false
	for _, c := range []struct {
		name     string
		uki      string
		override *bool
		events   int
		note     string
	}{
		{"signed kernel", withSigned, nil, 3, "firmware measures no kernel for the UKI: secure boot on: systemd-stub admits its embedded kernel"},
		{"unsigned kernel", withUnsigned, nil, 3, "firmware measures no kernel for the UKI: secure boot on"},
		{"override true", withUnsigned, &yes, 4, "firmware measures the kernel systemd-stub loads from the UKI: given (StubLoadsKernel); the artifacts alone say otherwise: secure boot on"},
		{"override false, as inferred", withSigned, &no, 3, "firmware measures no kernel for the UKI: given (StubLoadsKernel)"},
	} {
		doc, err := Compute(Inputs{Banks: []pcr.Alg{pcr.SHA256}, UKI: c.uki, SecureBoot: &on, DB: dbPath, StubLoadsKernel: c.override})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p := pcrOf(doc, 4); p == nil || len(p.Events) != c.events {
			t.Errorf("%s: PCR 4 %+v, want %d events", c.name, p, c.events)
		}
		if notes := strings.Join(doc.Metadata.Notes, "\n"); !strings.Contains(notes, c.note) {
			t.Errorf("%s: notes %s, want %q", c.name, notes, c.note)
		}
	}
	// Without a secure-boot state, an unsigned UKI means secure boot off.
	doc, err := Compute(Inputs{Banks: []pcr.Alg{pcr.SHA256}, UKI: buildUKI(t, t.TempDir(), map[string]string{".linux": debianStub})})
	if err != nil {
		t.Fatal(err)
	}
	if p := pcrOf(doc, 4); p == nil || len(p.Events) != 4 {
		t.Errorf("unsigned UKI, no secure-boot state: PCR 4 %+v", p)
	}
}
