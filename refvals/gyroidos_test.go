package refvals

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/gyroidostest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// peHash is the Authenticode SHA-256 as goldenpcr pe hash computes it.
func peHash(t *testing.T, path string) []byte {
	t.Helper()
	f, err := authenticode.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := f.Digest(pcr.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fold is PCR extends from zero with crypto/sha256, on its own.
func fold(digests ...[]byte) string {
	v := make([]byte, 32)
	for _, d := range digests {
		h := sha256.New()
		h.Write(v)
		h.Write(d)
		v = h.Sum(nil)
	}
	return hex.EncodeToString(v)
}

func sha(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return s[:]
}

func gyroidCompute(t *testing.T, l *gyroidostest.Layout, opts YoctoOptions) (*YoctoDeploy, *baseline.Baseline, error) {
	t.Helper()
	opts.Dir = l.Deploy
	d := discover(t, opts)
	in := d.Inputs
	in.Banks = []pcr.Alg{pcr.SHA256}
	doc, err := Compute(in)
	return d, doc, err
}

func pcrOf(doc *baseline.Baseline, i int) *baseline.PCR {
	for j := range doc.PCRs {
		if doc.PCRs[j].Index == i {
			return &doc.PCRs[j]
		}
	}
	return nil
}

// A GyroidOS build as Yocto lays it out: the signed boot bundle in the
// deploy directory, two guest OSes (and an older build of the core OS)
// in tmp_container's. PCR 4 and PCR 11 equal what is computed here on
// their own: PCR 4 from osslsigncode's Authenticode digest and the UEFI
// event sequence, PCR 11 by folding SHA-256 of each image from zero.
func TestYoctoGyroidOSDeploy(t *testing.T) {
	l := gyroidostest.Build(t,
		gyroidostest.Guest{Name: "gyroidos-coreos-20241231000000", Images: []gyroidostest.Image{{File: "root"}}},
		gyroidostest.Guest{Name: "gyroidos-coreos-20250101120000", Images: []gyroidostest.Image{{File: "root", Verity: true}}},
		gyroidostest.Guest{Name: "kiosk-20250101120000", Images: []gyroidostest.Image{{File: "root"}, {File: "firmware", MountType: "FLASH"}}},
	)
	d, doc, err := gyroidCompute(t, l, YoctoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Flow != YoctoGyroidOS || len(d.Inputs.GuestOSes) != 2 || d.Inputs.GuestOSes[0].Name != "gyroidos-coreos-20250101120000" {
		t.Fatalf("flow %s, guest OSes %+v", d.Flow, d.Inputs.GuestOSes)
	}

	// PCR 4: "Calling EFI Application from Boot Option", the separator,
	// the signed bundle's Authenticode digest.
	action := sha256.Sum256([]byte("Calling EFI Application from Boot Option"))
	sep := sha256.Sum256([]byte{0, 0, 0, 0})
	peDigest := peHash(t, l.Kernel)
	// (sbsign pads the file to 8 bytes, so the unsigned file's differs.)
	if !bytes.Equal(peDigest, gyroidostest.OsslsigncodeDigest(t, l.Kernel)) {
		t.Fatal("the signed bundle's Authenticode digest differs from osslsigncode's")
	}
	if got, want := pcrOf(doc, 4).Values["sha256"], fold(action[:], sep[:], peDigest); got != want {
		t.Errorf("PCR 4 %s, want %s", got, want)
	}

	// PCR 11: the core OS first, then the other; the older core OS build
	// and the FLASH image are not measured.
	core := sha(t, l.Images["gyroidos-coreos-20250101120000/root.img"])
	kiosk := sha(t, l.Images["kiosk-20250101120000/root.img"])
	p11 := pcrOf(doc, 11)
	if p11 == nil || p11.Values["sha256"] != fold(core, kiosk) {
		t.Fatalf("PCR 11 %+v, want %s", p11, fold(core, kiosk))
	}
	// The other start the build cannot rule out: c0 alone.
	if len(p11.Variants) != 1 || p11.Variants[0]["sha256"] != fold(core) {
		t.Errorf("PCR 11 variants %v, want c0 alone %s", p11.Variants, fold(core))
	}
	wantNames := []string{"/data/cml/operatingsystems/gyroidos-coreos-20250101120000/root.img", "/data/cml/operatingsystems/kiosk-20250101120000/root.img"}
	for i, e := range p11.Events {
		if e.Provenance.Rule != RuleGuestOSImage || e.Provenance.Artifact != l.Images[strings.TrimPrefix(wantNames[i], GuestOSRoot+"/")] ||
			e.Description != "cmld: "+wantNames[i] || e.Digests["sha256"] != hex.EncodeToString([][]byte{core, kiosk}[i]) {
			t.Errorf("PCR 11 event %d: %+v", i, e)
		}
	}
	var guestInputs []string
	for _, in := range doc.Metadata.Inputs {
		if in.Role == "guest-os" {
			guestInputs = append(guestInputs, in.Path+"="+in.SHA256)
		}
	}
	if strings.Join(guestInputs, " ") != l.Images["gyroidos-coreos-20250101120000/root.img"]+"="+hex.EncodeToString(core)+" "+l.Images["kiosk-20250101120000/root.img"]+"="+hex.EncodeToString(kiosk) {
		t.Errorf("guest-os inputs %v", guestInputs)
	}

	// PCRs 8 and 9 zero, PCR 10 and the firmware PCRs left out, all noted.
	for _, i := range []int{8, 9} {
		if p := pcrOf(doc, i); p == nil || p.Values["sha256"] != strings.Repeat("0", 64) || len(p.Events) != 0 {
			t.Errorf("PCR %d: %+v, want zero", i, p)
		}
	}
	for _, i := range []int{0, 1, 2, 3, 6, 7, 10} {
		if pcrOf(doc, i) != nil {
			t.Errorf("PCR %d computed", i)
		}
	}
	notes := strings.Join(append(doc.Metadata.Notes, d.Used...), "\n")
	for _, want := range []string{"PCR 8: zero", "PCR 9: zero", "PCR 10: not computed", "goldenpcr ima policy", "PCRs 0-3,6-7: not computed", "ReferenceLog",
		"gyroidos-coreos-20241231000000: older than gyroidos-coreos-20250101120000", "firmware.img (FLASH) is not checked when a container starts",
		"gyroidos-coreos-20250101120000 is the core OS", "1 variants hold"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

// A .conf whose image_sha2_256 is not the image's is an error naming
// both hashes: cmld would refuse the image.
func TestYoctoGyroidOSHashMismatch(t *testing.T) {
	wrong := strings.Repeat("ab", 32)
	l := gyroidostest.Build(t, gyroidostest.Guest{Name: "gyroidos-coreos-20250101120000", Images: []gyroidostest.Image{{File: "root", ConfSHA256: strings.ToUpper(wrong)}}})
	_, _, err := gyroidCompute(t, l, YoctoOptions{})
	real := hex.EncodeToString(sha(t, l.Images["gyroidos-coreos-20250101120000/root.img"]))
	if err == nil || !strings.Contains(err.Error(), real) || !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "gyroidos-coreos-20250101120000.conf") {
		t.Fatalf("err = %v, want both %s and %s", err, real, wrong)
	}
}

// The same image measured twice (two mounts of one image file) is folded
// once, as tpm2d skips a (hash, file name) pair it holds; the same bytes
// under another name are measured again.
func TestYoctoGyroidOSSameImageTwice(t *testing.T) {
	same := []byte("one guest-OS image")
	l := gyroidostest.Build(t,
		gyroidostest.Guest{Name: "gyroidos-coreos-20250101120000", Images: []gyroidostest.Image{{File: "root", Data: same}, {File: "root"}}},
	)
	_, doc, err := gyroidCompute(t, l, YoctoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(same)
	if p := pcrOf(doc, 11); p == nil || len(p.Events) != 1 || p.Values["sha256"] != fold(s[:]) || len(p.Variants) != 0 {
		t.Fatalf("PCR 11 %+v, want one extend %s", p, fold(s[:]))
	}
	if !strings.Contains(strings.Join(doc.Metadata.Notes, "\n"), "folded once") {
		t.Errorf("notes %v", doc.Metadata.Notes)
	}
	// Given twice by hand: the same.
	b := baseline.NewBuilder(pcr.SHA256)
	img := l.Images["gyroidos-coreos-20250101120000/root.img"]
	other := writeFile(t, t.TempDir(), "root.img", same)
	if err := CMLImagesPCR11(b, []string{img, img, other}); err != nil {
		t.Fatal(err)
	}
	if got := b.Baseline().PCRs[0].Values["sha256"]; got != fold(s[:], s[:]) {
		t.Errorf("given twice, then under another name: %s, want %s", got, fold(s[:], s[:]))
	}
}

// Three guest OSes: the core OS first, the other two in either order or
// only some of them, each a variant.
func TestYoctoGyroidOSOrderVariants(t *testing.T) {
	l := gyroidostest.Build(t,
		gyroidostest.Guest{Name: "a-20250101120000", Images: []gyroidostest.Image{{File: "root"}}},
		gyroidostest.Guest{Name: "b-20250101120000", Images: []gyroidostest.Image{{File: "root"}}},
		gyroidostest.Guest{Name: "trustx-coreos-20250101120000", Images: []gyroidostest.Image{{File: "root"}}},
	)
	_, doc, err := gyroidCompute(t, l, YoctoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, a, b := sha(t, l.Images["trustx-coreos-20250101120000/root.img"]), sha(t, l.Images["a-20250101120000/root.img"]), sha(t, l.Images["b-20250101120000/root.img"])
	p := pcrOf(doc, 11)
	if p.Values["sha256"] != fold(c, a, b) {
		t.Fatalf("PCR 11 %s, want core, a, b", p.Values["sha256"])
	}
	got := map[string]bool{}
	for _, v := range p.Variants {
		got[v["sha256"]] = true
	}
	want := map[string]bool{fold(c): true, fold(c, a): true, fold(c, b): true, fold(c, b, a): true}
	if len(got) != len(want) || len(p.Variants) != len(want) {
		t.Fatalf("variants %v", p.Variants)
	}
	for v := range want {
		if !got[v] {
			t.Errorf("variant %s missing", v)
		}
	}
	if err := doc.Validate(); err != nil {
		t.Error(err)
	}
}

// The guest OSes found where an option points, and not found at all.
func TestYoctoGyroidOSGuestDir(t *testing.T) {
	l := gyroidostest.Build(t, gyroidostest.Guest{Name: "gyroidos-coreos-20250101120000", Images: []gyroidostest.Image{{File: "root"}}})
	moved := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Rename(filepath.Dir(l.Guests), moved); err != nil {
		t.Fatal(err)
	}
	flags := func(o YoctoOption) string {
		return map[YoctoOption]string{YoctoGuestOSDir: "--cml-guests", YoctoReferenceLog: "--reference-log"}[o]
	}
	d, doc, err := gyroidCompute(t, l, YoctoOptions{OptionName: flags})
	if err != nil {
		t.Fatal(err)
	}
	if pcrOf(doc, 11) != nil || !strings.Contains(strings.Join(d.Used, "\n"), "no gyroidos-guests directory (looked in "+filepath.Join(l.Deploy, "gyroidos-guests")) ||
		!strings.Contains(strings.Join(d.Used, "\n"), "--cml-guests points to it") {
		t.Errorf("without guests: PCR 11 %+v, used %v", pcrOf(doc, 11), d.Used)
	}
	if _, doc, err = gyroidCompute(t, l, YoctoOptions{GuestOSDir: moved}); err != nil || pcrOf(doc, 11) == nil {
		t.Fatalf("GuestOSDir: %v", err)
	}
	if _, err := DiscoverYoctoWith(YoctoOptions{Dir: l.Deploy, GuestOSDir: filepath.Join(moved, "nope"), OptionName: flags}); err == nil || !strings.Contains(err.Error(), "--cml-guests") {
		t.Errorf("a GuestOSDir that is not there: %v", err)
	}
	// A guest OS without its configuration is an error.
	os.Remove(filepath.Join(moved, "gyroidos-guests", "gyroidos-coreos-20250101120000.conf"))
	if _, err := DiscoverYoctoWith(YoctoOptions{Dir: l.Deploy, GuestOSDir: moved}); err == nil || !strings.Contains(err.Error(), "its configuration") {
		t.Errorf("no .conf: %v", err)
	}
}

// A reference log gives PCRs 0-3 and 5-7 exactly as it replays, each
// event with the log as its artifact; the artifacts keep PCRs 4 and 11.
func TestYoctoGyroidOSReferenceLog(t *testing.T) {
	l := gyroidostest.Build(t, gyroidostest.Guest{Name: "gyroidos-coreos-20250101120000", Images: []gyroidostest.Image{{File: "root"}}})
	d := discover(t, YoctoOptions{Dir: l.Deploy})
	for _, name := range []string{"arch-linux-workstation.bin", "ubuntu-2104-no-secure-boot.bin"} {
		log := filepath.Join("../fixtures/tcg", name)
		in := d.Inputs
		in.Banks, in.ReferenceLog = []pcr.Alg{pcr.SHA256}, log
		doc, err := Compute(in)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(log)
		rep, err := eventlog.ReplayLog(bytes.NewReader(data), &eventlog.ReplayOptions{Banks: []pcr.Alg{pcr.SHA256}})
		if err != nil {
			t.Fatal(err)
		}
		logSum := hex.EncodeToString(pcr.SHA256.Sum(data))
		for _, i := range []int{0, 1, 2, 3, 5, 6, 7} {
			p := pcrOf(doc, i)
			want, _ := rep.Values.Get(pcr.SHA256, i)
			if p == nil || p.Values["sha256"] != hex.EncodeToString(want) || len(p.Events) != rep.Extends[i] {
				t.Errorf("%s PCR %d: %+v, want %x from %d events", name, i, p, want, rep.Extends[i])
				continue
			}
			for _, e := range p.Events {
				if e.Provenance.Artifact != log || e.Provenance.ArtifactSHA256 != logSum || !strings.HasPrefix(e.Provenance.Rule, "recorded in the reference log") {
					t.Errorf("%s PCR %d provenance %+v", name, i, e.Provenance)
				}
			}
		}
		if v, _ := rep.Values.Get(pcr.SHA256, 4); pcrOf(doc, 4).Values["sha256"] == hex.EncodeToString(v) {
			t.Errorf("%s: PCR 4 taken from the log", name)
		}
		if pcrOf(doc, 11) == nil || len(pcrOf(doc, 11).Events) != 1 {
			t.Errorf("%s: PCR 11 %+v", name, pcrOf(doc, 11))
		}
		if err := doc.Validate(); err != nil {
			t.Error(err)
		}
	}

	// A log whose event contradicts its own data is refused.
	data, _ := os.ReadFile("../fixtures/tcg/arch-linux-workstation.bin")
	rd, err := eventlog.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatal("no EFI variable event in the log")
		}
		if ev.Type == eventlog.EvEFIVariableDriverCfg && eventlog.CheckDigest(ev).Status == eventlog.DigestOK {
			i := bytes.Index(data[ev.Offset:], ev.Data)
			data[int(ev.Offset)+i+len(ev.Data)-1] ^= 1
			break
		}
	}
	bad := writeFile(t, t.TempDir(), "bad.log", data)
	in := d.Inputs
	in.Banks, in.ReferenceLog = []pcr.Alg{pcr.SHA256}, bad
	if _, err := Compute(in); err == nil || !strings.Contains(err.Error(), "contradicts itself") {
		t.Errorf("inconsistent log: %v", err)
	}
}

func TestReadGuestOSConfGyroid(t *testing.T) {
	sum := strings.Repeat("0a", 32)
	conf := `# comment with mounts { image_file: "x" }
name: 'os' version: 1 flags: [1, 2, -3] ratio: 1.5e-3
feature { name: "a" nested < image_file: "not a mount" > } ;
mounts: {
  image_file: "ro" "ot"  # adjacent strings
  mount_type: SHARED_RW,
  image_sha2_256: "` + strings.ToUpper(sum) + `"
  mount_data: "context=\"a\\b\"\x41\101"
  image_verity_sha256: ""
}
mounts < image_file: 'etc' mount_type: OVERLAY_RO >
`
	m, err := ReadGuestOSConf([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0] != (GuestOSMount{ImageFile: "root", MountType: "SHARED_RW", SHA256: sum, Verity: true, Line: 4}) ||
		m[1] != (GuestOSMount{ImageFile: "etc", MountType: "OVERLAY_RO", Line: 11}) {
		t.Fatalf("%+v", m)
	}
	for bad, why := range map[string]string{
		"mounts { image_sha2_256: \"" + sum + "\" image_sha2_256: \"" + sum + "\" }": "line 1: mounts entry of line 1: image_sha2_256 given twice",
		"mounts { image_sha2_256: \"abc\" }":                                         "not a SHA-256",
		"mounts { image_file: \"root\"":                                              "want a field name, got \"end of file\"",
		"name: \"open":                                                               "string not closed",
		"mounts image_file":                                                          "want { after mounts",
		"a { b: 1":                                                                   "{ not closed",
		"x: \"\\q\"":                                                                 "unknown escape",
		"mounts { mount_type: \"SHARED\" }":                                          "want an enum name",
	} {
		if _, err := ReadGuestOSConf([]byte(bad)); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: %v, want %q", bad, err, why)
		}
	}
}
