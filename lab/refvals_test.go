package lab

import (
	"bytes"
	"os"
	"slices"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/refvals"
)

// The golden-value calculators predict, from the booted artifacts alone
// (what `goldenpcr refvals compute` is given), every PCR the firmware,
// the boot loaders and the kernel's EFI stub measured in the real boot:
//
//	uki     PCRs 4 (UKI, kernel), 5, 7 (secure boot off), 9, 11
//	uki-sb  PCRs 4 (signed UKI), 5, 7 (snakeoil db authority), 9, 11
//	grub    PCRs 4, 5, 7, 8 and 9 (Debian's monolithic GRUB)
//	grub-oe PCRs 4, 5, 7, 8 and 9 (OE-core's GRUB image, wic's grub.cfg)
//	sdboot  PCRs 4 (systemd-boot, UKI, kernel), 5, 7, 9, 11
//	shim    PCRs 4, 5, 7 (db, SbatLevel, MokListRT), 8, 9: Debian's
//	        production chain shim → GRUB → kernel
//	grub-search PCRs 4, 5, 7, 8 and 9 (Debian's monolithic GRUB, a
//	        grub.cfg with search --file, if/else, source and insmod)
//	uki-pcrphase  PCRs 4, 5, 7, 9, 11 (sections, then the phases) and 15
//	        (the machine ID) as systemd-pcrextend measured them
func TestRefvalsPredictRealBoot(t *testing.T) {
	forEachVariant(t, func(t *testing.T, c *Capture) {
		in, pcrs := labInputs(t, c)
		comparePCRs(t, c, in, pcrs, "refvals")
	})
}

// comparePCRs computes the baseline of in and checks the given PCRs of
// both banks against what the real boot measured; who names the source of
// the prediction in failures.
func comparePCRs(t *testing.T, c *Capture, in refvals.Inputs, pcrs []int, who string) {
	t.Helper()
	in.Banks = Banks
	doc, err := refvals.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := doc.Values()
	if err != nil {
		t.Fatal(err)
	}
	// The baseline's events, held against the real log, match one for one
	// in every predicted PCR: the mismatch debugger can name an event.
	al, err := doc.Align(captureEvents(t, c))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range pcrs {
		k := slices.IndexFunc(al.PCRs, func(a baseline.PCRAlignment) bool { return a.Index == i })
		if k < 0 || !al.PCRs[k].OK {
			t.Errorf("%s: %s PCR %d: the baseline's events do not align with the real log", c.Variant, who, i)
		}
	}
	for _, alg := range Banks {
		for _, i := range pcrs {
			w, ok := want.Get(alg, i)
			if !ok {
				t.Errorf("%s: %s predicted no %s PCR %d", c.Variant, who, alg, i)
				continue
			}
			if got := c.PCRs[alg][i]; !bytes.Equal(w, got) {
				t.Errorf("%s: %s PCR %d: %s predicts %x, the real boot measured %x", c.Variant, alg, i, who, w, got)
			}
		}
	}
}

// `refvals predict`: with the boot's own event log as the reference for
// the firmware part and the artifacts for the rest, every PCR but IMA's
// PCR 10 is predicted as the TPM held it.
func TestRefvalsPredictNextBoot(t *testing.T) {
	forEachVariant(t, func(t *testing.T, c *Capture) {
		in, _ := labInputs(t, c)
		f, err := os.Open(c.Path("eventlog.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		doc, err := refvals.Predict(f, in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := doc.Values()
		if err != nil {
			t.Fatal(err)
		}
		for _, alg := range Banks {
			for _, i := range want.Indices(alg) {
				if w, _ := want.Get(alg, i); !bytes.Equal(w, c.PCRs[alg][i]) {
					t.Errorf("%s: %s PCR %d: predicted %x, the real boot measured %x", c.Variant, alg, i, w, c.PCRs[alg][i])
				}
			}
			if n := len(want.Indices(alg)); n < 9 {
				t.Errorf("%s: only %d %s PCRs predicted", c.Variant, n, alg)
			}
		}
	})
}

// captureEvents are the events of every log of a capture, the firmware
// log's first (Capture.Logs).
func captureEvents(t *testing.T, c *Capture) []*eventlog.Event {
	t.Helper()
	logs, err := c.Logs()
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventlog.Event
	for _, l := range logs {
		out = append(out, l.Events...)
	}
	return out
}

// readEvents reads every event of a TCG log.
func readEvents(t *testing.T, path string) []*eventlog.Event {
	t.Helper()
	events, err := eventlog.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// labInputs are the artifacts of a variant's boot, as a build pipeline
// would pass them, and the PCRs they determine.
func labInputs(t *testing.T, c *Capture) (refvals.Inputs, []int) {
	in := refvals.Inputs{Banks: Banks, EFIVars: firmwareVars(t, c)}
	grub := func(apps ...string) {
		in.EFIApps = apps
		in.GRUBCfg = c.Path("grub.cfg")
		in.GRUB = refvals.GRUBOptions{Root: "(hd0)", Prefix: "/EFI/debian",
			Files: map[string]string{"/vmlinuz": c.Path("vmlinuz"), "/initrd.img": c.Path("initrd.img")}}
	}
	pcrs := []int{4, 5, 7, 9}
	stubLoads := true // an override, as --stub-loads-kernel is
	switch c.Variant {
	case "uki":
		in.UKI, in.StubLoadsKernel = c.Path("uki.efi"), &stubLoads
		pcrs = append(pcrs, 11)
	case "uki-sb", "uki-sb-kernel":
		in.UKI = c.Path("uki.efi")
		pcrs = append(pcrs, 11)
	case "uki-pcrphase":
		in.UKI, in.StubLoadsKernel = c.Path("uki.efi"), &stubLoads
		for _, s := range PCRPhaseSteps {
			if s == "--machine-id" {
				in.MachineID = PCRPhaseMachineID
			} else {
				in.Phases = append(in.Phases, s)
			}
		}
		pcrs = append(pcrs, 11, 15)
	case "grub-oe":
		in.EFIApps = []string{c.Path("grubx64.efi")}
		in.GRUBCfg = c.Path("grub.cfg")
		in.GRUB = refvals.GRUBOptions{Root: "(hd0)", Prefix: "/EFI/BOOT",
			Files: map[string]string{"/bzImage": c.Path("vmlinuz"), "/initrd": c.Path("initrd.img")}}
		pcrs = append(pcrs, 8)
	case "sdboot":
		in.EFIApps = []string{c.Path("systemd-bootx64.efi")}
		in.UKI, in.StubLoadsKernel = c.Path("uki.efi"), &stubLoads
		pcrs = append(pcrs, 11)
	case "grub":
		grub(c.Path("grubx64.efi"))
		pcrs = append(pcrs, 8)
	case "grub-search":
		grub(c.Path("grubx64.efi"))
		in.GRUB.Files["/EFI/debian/extra.cfg"] = c.Path("extra.cfg")
		in.GRUB.Files["/EFI/debian/x86_64-efi/"+grubSearchModule+".mod"] = c.Path(grubSearchModule + ".mod")
		pcrs = append(pcrs, 8)
	case "shim", "shim-linux", "shim-nosb":
		grub(c.Path("shimx64.efi"), c.Path("grubx64.efi"))
		pcrs = append(pcrs, 8)
	default:
		t.Fatalf("variant %s has no prediction", c.Variant)
	}
	return in, pcrs
}
