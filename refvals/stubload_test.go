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

// The stub rule decided from the secure-boot state and a real signature:
// a kernel PE (Debian's stub stands in for one) signed with sbsign.
func TestStubLoadsKernel(t *testing.T) {
	s := gyroidostest.NewSigner(t, "goldenpcr test db")
	dir := t.TempDir()
	signedPath := filepath.Join(dir, "vmlinuz.signed")
	s.Sign(t, debianStub, signedPath)
	unsigned, signed := readFile(t, debianStub), readFile(t, signedPath)
	db := signatureList(eventlog.GUIDCertX509, s.DER)
	f, err := authenticode.Open(signedPath) // sbsign pads the image: the signed copy's digest is what firmware computes
	if err != nil {
		t.Fatal(err)
	}
	digest, err := f.Digest(pcr.SHA256)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
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
	for _, c := range []struct {
		name   string
		kernel []byte
		policy SecureBootPolicy
		loads  bool
		rule   string
	}{
		{"secure boot off", unsigned, SecureBootPolicy{Known: true}, true, "secure boot off"},
		{"signed by db", signed, SecureBootPolicy{Known: true, On: true, DB: db}, true, `db certificate "CN=goldenpcr test db"`},
		{"unsigned", unsigned, SecureBootPolicy{Known: true, On: true, DB: db}, false, "unsigned"},
		{"hash in dbx", signed, SecureBootPolicy{Known: true, On: true, DB: db, DBX: signatureList(eventlog.GUIDCertSHA256, digest)}, false, "is in dbx"},
		{"certificate in dbx", signed, SecureBootPolicy{Known: true, On: true, DB: db, DBX: db}, false, "certificate \"CN=goldenpcr test db\" is in dbx"},
		{"hash in db", signed, SecureBootPolicy{Known: true, On: true, DB: signatureList(eventlog.GUIDCertSHA256, digest)}, true, "digest is in db"},
		{"signer's signature broken", forged, SecureBootPolicy{Known: true, On: true, DB: db}, false, "no signature"},
		{"not a PE", []byte("not really a kernel"), SecureBootPolicy{Known: true}, false, "not a PE image"},
		{"signed by another key", signed, SecureBootPolicy{Known: true, On: true}, false, "no signature"},
	} {
		d, err := StubLoadsKernel(c.kernel, c.policy)
		if err != nil || d.Loads != c.loads || !strings.Contains(d.Rule, c.rule) {
			t.Errorf("%s: %+v, %v; want loads=%v and a rule with %q", c.name, d, err, c.loads, c.rule)
		}
	}
}

// Compute adds the UKI's kernel to PCR 4 exactly when the rule says, notes
// the rule, and --stub-loads-kernel's field overrides it either way.
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
		{"signed kernel", withSigned, nil, 4, "succeeds, so firmware measures it: secure boot on: the kernel's signature verifies against the db certificate"},
		{"unsigned kernel", withUnsigned, nil, 3, "fails, so firmware measures no kernel: secure boot on: the kernel is unsigned"},
		{"override false", withSigned, &no, 3, "fails, so firmware measures no kernel: given (StubLoadsKernel); the artifacts alone say otherwise: secure boot on: the kernel's signature verifies"},
		{"override true", withUnsigned, &yes, 4, "succeeds, so firmware measures it: given (StubLoadsKernel); the artifacts alone say otherwise: secure boot on: the kernel is unsigned"},
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
