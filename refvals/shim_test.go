package refvals

import (
	"bytes"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
)

// Debian's Microsoft-signed shim: its vendor certificate is Debian's
// secure-boot CA and its applied SBAT level is the "previous" one.
func TestReadDebianShim(t *testing.T) {
	s, err := ReadShim("/usr/lib/shim/shimx64.efi.signed")
	if err != nil {
		t.Fatalf("%v (Debian shim-signed; run make deps)", err)
	}
	if s.VendorCert.Subject.CommonName != "Debian Secure Boot CA" {
		t.Errorf("vendor certificate %s", s.VendorCert.Subject)
	}
	if !bytes.HasPrefix(s.SbatLevel, []byte("sbat,1,")) || !strings.Contains(string(s.SbatLevel), "shim,") {
		t.Errorf("SbatLevel %q", s.SbatLevel)
	}
	auths := s.Authorities("grubx64.efi", true)
	if len(auths) != 2 || auths[0].Name != "SbatLevel" || auths[1].Name != "MokListRT" ||
		!bytes.Equal(auths[1].Data[:16], eventlog.GUIDShimLock[:]) || !bytes.Equal(auths[1].Data[16:], s.VendorCert.Raw) {
		t.Errorf("authorities %+v", auths)
	}
	// Secure boot off: the original level only (the lab's shim-nosb boot).
	if auths := s.Authorities("grubx64.efi", false); len(auths) != 1 || string(auths[0].Data) != "sbat,1,2021030218\n" {
		t.Errorf("authorities with secure boot off %+v", auths)
	}
	if _, err := ReadShim("/usr/lib/systemd/boot/efi/systemd-bootx64.efi"); err == nil || !strings.Contains(err.Error(), "not shim") {
		t.Errorf("systemd-boot read as shim: %v", err)
	}
}
