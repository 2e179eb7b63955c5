package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/internal/cmltest"
	"github.com/goldenpcr/goldenpcr/internal/gyroidostest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// A GyroidOS deploy directory made of real files (an sbsigned EFI boot
// bundle, two guest OSes with their .conf): the golden PCRs 4 and 11
// refvals computes from it are what a test device that boots those files
// leaves in its real TPM (PCR 4 from osslsigncode's Authenticode digest,
// PCR 11 from each image's SHA-256, extended by tpm2_pcrextend); verify
// cml with that baseline holds each reported container to the build's
// guest-OS images.
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

	// The device's PCRs 0-3 and 5-7 are made up (no reference log of its
	// firmware): hold it to the baseline's PCRs 4, 8, 9 and 11.
	var kept []baseline.PCR
	for _, p := range golden.PCRs {
		if p.Index == 4 || p.Index == 8 || p.Index == 9 || p.Index == 11 {
			kept = append(kept, p)
		}
	}
	golden.PCRs = kept
	b, err := json.Marshal(golden)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(out, b, 0o644)
	addr := d.Serve(t, cmltest.Genuine)
	args := []string{"verify", "cml", addr, "--baseline", out, "--ca", d.CAPath, "--kmod-cert", d.KmodCertPath,
		"--atype", "ADVANCED", "--pcrs", "4,8-11", "--timeout", "5s"}
	if code, text, errs := run(t, args...); code != exitOK || !regexp.MustCompile(`✓ container-images +all 2 images are guest-OS images of the baseline`).MatchString(text) {
		t.Errorf("verify cml with the build's baseline: exit %d %s\n%s", code, errs, text)
	}

	// A device that runs an image the build did not produce.
	rogue := filepath.Join(t.TempDir(), "root.img")
	os.WriteFile(rogue, []byte("not from this build"), 0o644)
	d2 := cmltest.NewWith(t, cmltest.Options{BootApp: l.Kernel, Guests: []cmltest.GuestImage{
		{DevicePath: "/data/cml/operatingsystems/gyroidos-coreos-20250101120000/root.img", File: l.Images["gyroidos-coreos-20250101120000/root.img"]},
		{DevicePath: "/data/cml/operatingsystems/kiosk-20250101120000/root.img", File: rogue},
	}})
	args[2], args[6], args[8] = d2.Serve(t, cmltest.Genuine), d2.CAPath, d2.KmodCertPath
	if code, text, _ := run(t, args...); code != exitMismatch || !regexp.MustCompile(`✗ container-images +1 of 2 images are none of the baseline's 2 guest-OS images: /data/cml/operatingsystems/kiosk-20250101120000/root.img`).MatchString(text) {
		t.Errorf("rogue image: exit %d\n%s", code, text)
	}
}
