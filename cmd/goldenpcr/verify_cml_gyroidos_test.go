package main

import (
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/cmltest"
	"github.com/goldenpcr/goldenpcr/internal/gyroidostest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// A GyroidOS deploy directory made of real files (an sbsigned EFI boot
// bundle, two guest OSes with their .conf): the golden PCRs 4 and 11
// refvals computes from it are what a test device that boots those files
// leaves in its real TPM (PCR 4 from osslsigncode's Authenticode digest,
// PCR 11 from each image's SHA-256, extended by tpm2_pcrextend).
func TestGyroidOSGoldenValuesMatchDevice(t *testing.T) {
	l := gyroidostest.Build(t,
		gyroidostest.Guest{Name: "gyroidos-coreos-20250101120000", Images: []gyroidostest.Image{{File: "root"}}},
		gyroidostest.Guest{Name: "kiosk-20250101120000", Images: []gyroidostest.Image{{File: "root"}}},
	)
	out := filepath.Join(t.TempDir(), "gyroidos.json")
	if code, _, errs := run(t, "refvals", "compute", "--yocto-deploy", l.Deploy, "--bank", "sha256", "-o", "json", "-O", out); code != exitOK {
		t.Fatalf("refvals: exit %d %s", code, errs)
	}
	golden := loadBaseline(t, out)

	d := cmltest.NewWith(t, cmltest.Options{BootApp: l.Kernel, Guests: []cmltest.GuestImage{
		{DevicePath: "/data/cml/operatingsystems/gyroidos-coreos-20250101120000/root.img", File: l.Images["gyroidos-coreos-20250101120000/root.img"]},
		{DevicePath: "/data/cml/operatingsystems/kiosk-20250101120000/root.img", File: l.Images["kiosk-20250101120000/root.img"]},
	}})
	tpm := d.ReadPCRs(t, 4, 8, 9, 11)
	for _, i := range []int{4, 8, 9, 11} {
		var want string
		for _, p := range golden.PCRs {
			if p.Index == i {
				want = p.Values["sha256"]
			}
		}
		got, _ := tpm.Get(pcr.SHA256, i)
		if want == "" || hex.EncodeToString(got) != want {
			j, _ := json.Marshal(golden.PCRs)
			t.Errorf("PCR %d: device %x, golden %q\n%s", i, got, want, j)
		}
	}
}
