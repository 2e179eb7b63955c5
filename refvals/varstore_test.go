package refvals

import (
	"os"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/eventlog"
)

// Debian's OVMF variable stores: the Microsoft one enrols Microsoft's KEK
// and db, the snakeoil one Debian's test key, the plain one nothing.
func TestReadDebianOVMFVarStores(t *testing.T) {
	for _, tc := range []struct {
		file     string
		sb       bool
		dbIssuer string
	}{
		{"/usr/share/OVMF/OVMF_VARS_4M.ms.fd", true, "Microsoft"},
		{"/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd", true, "SnakeOil"},
		{"/usr/share/OVMF/OVMF_VARS_4M.fd", false, ""},
	} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatalf("%v (Debian ovmf; run make deps)", err)
		}
		vars, err := ReadVarStore(data)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		sb, pk, kek, db, _ := SecureBootFromVarStore(vars)
		if sb != tc.sb {
			t.Errorf("%s: secure boot %v, want %v", tc.file, sb, tc.sb)
		}
		if !tc.sb {
			continue
		}
		for name, l := range map[string][]byte{"PK": pk, "KEK": kek, "db": db} {
			if _, err := eventlog.ParseSignatureLists(l); err != nil || len(l) == 0 {
				t.Errorf("%s %s: %v (%d bytes)", tc.file, name, err, len(l))
			}
		}
		lists, _ := eventlog.ParseSignatureLists(db)
		found := false
		for _, l := range lists {
			for _, s := range l.Signatures {
				if s.Certificate != nil && strings.Contains(s.Certificate.Subject+s.Certificate.Issuer, tc.dbIssuer) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: no db certificate from %s", tc.file, tc.dbIssuer)
		}
	}
	if _, err := ReadVarStore([]byte("not a variable store, not at all, no no no no no no no")); err == nil || !strings.Contains(err.Error(), "not an edk2 variable store") {
		t.Errorf("garbage: %v", err)
	}
}
