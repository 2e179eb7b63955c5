package refvals

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// GyroidOS's guest OSes as cmld measures them into PCR 11.
//
// cmld checks a guest OS's images when it starts a container of that OS:
// for each `mounts` entry of type SHARED, SHARED_RW or OVERLAY_RO, in the
// configuration's order, it hashes <dir>/<image_file>.img and, when the
// SHA-256 equals image_sha2_256, has tpm2d extend PCR 11 (SHA-256 bank)
// with that hash directly and append (file name, hash) to the container
// measurement list; tpm2d skips a (hash, file name) pair the list already
// holds. An entry with image_verity_sha256 is checked in a background
// process after the container started, so it comes after the entries
// without, and its place among other verity images of the same start is a
// race. cmld starts c0, the core OS's container, first; the other
// containers start when configured or asked to, in an order the build
// cannot know, and a guest OS no container uses is never measured.

// GuestOSRoot is where cmld keeps guest OSes on the device; the file name
// it measures an image under is GuestOSRoot/<os>-<version>/<image>.img.
const GuestOSRoot = "/data/cml/operatingsystems"

// RuleGuestOSImage is the provenance rule of cmld's PCR 11 measurement.
const RuleGuestOSImage = "GyroidOS cmld: SHA-256 of the guest-OS image"

// GuestOS is one guest OS of a GyroidOS build: gyroidos-guests/<os>-<version>/
// with <os>-<version>.conf beside it.
type GuestOS struct {
	Name    string // <os>-<version>
	OS      string // <os>
	Version string
	Dir     string
	Conf    string
	// Core: the core OS, whose container c0 cmld starts first.
	Core bool
	// Images in the order cmld measures them when it starts the OS.
	Images []CMLImage
}

// CMLImage is an image cmld measures into PCR 11.
type CMLImage struct {
	Path string // the local file
	// Name is the file name cmld measures it under (on the device); the
	// de-duplication is by (SHA-256, Name).
	Name string
	// WantSHA256 is image_sha2_256 of the configuration that names it
	// (lowercase hex), checked against the file; "" checks nothing.
	WantSHA256 string
	Conf       string
	sha256     string
}

// guestOSDirName splits <os>-<version> (the version being digits).
func guestOSDirName(name string) (osName, version string, ok bool) {
	i := strings.LastIndex(name, "-")
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	for _, c := range name[i+1:] {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	return name[:i], name[i+1:], true
}

// newerVersion compares two version strings of digits numerically.
func newerVersion(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return len(a) > len(b) || len(a) == len(b) && a > b
	}
	return x > y
}

// isCoreOS reports the core OS by GyroidOS's naming (gyroidos-coreos,
// trustx-coreos).
func isCoreOS(osName string) bool {
	return osName == "coreos" || strings.HasSuffix(osName, "-coreos")
}

// ReadGuestOSes reads the guest OSes of a gyroidos-guests directory: the
// newest version of each OS, with the images cmld measures when it starts
// it, core OS first, then by name. notes says what was left out and why.
func ReadGuestOSes(dir string) (oses []GuestOS, notes []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	newest := map[string]string{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		osName, ver, ok := guestOSDirName(e.Name())
		if !ok {
			notes = append(notes, fmt.Sprintf("%s: not <os>-<version>, not a guest OS", e.Name()))
			continue
		}
		if old, ok := newest[osName]; ok {
			if !newerVersion(ver, old) {
				notes = append(notes, fmt.Sprintf("%s-%s: older than %s-%s, which the device runs", osName, ver, osName, old))
				continue
			}
			notes = append(notes, fmt.Sprintf("%s-%s: older than %s-%s, which the device runs", osName, old, osName, ver))
		}
		newest[osName] = ver
	}
	for osName, ver := range newest {
		g, n, err := readGuestOS(dir, osName, ver)
		if err != nil {
			return nil, nil, err
		}
		oses = append(oses, g)
		notes = append(notes, n...)
	}
	sort.Slice(oses, func(i, j int) bool {
		if oses[i].Core != oses[j].Core {
			return oses[i].Core
		}
		return oses[i].Name < oses[j].Name
	})
	return oses, notes, nil
}

func readGuestOS(dir, osName, ver string) (GuestOS, []string, error) {
	name := osName + "-" + ver
	g := GuestOS{Name: name, OS: osName, Version: ver, Dir: filepath.Join(dir, name), Conf: filepath.Join(dir, name+".conf"), Core: isCoreOS(osName)}
	data, err := os.ReadFile(g.Conf)
	if err != nil {
		return g, nil, fmt.Errorf("guest OS %s: its configuration: %w", name, err)
	}
	mounts, err := ReadGuestOSConf(data)
	if err != nil {
		return g, nil, fmt.Errorf("%s: %w", g.Conf, err)
	}
	var notes, named []string
	var background []CMLImage
	for _, m := range mounts {
		if m.ImageFile == "" {
			continue
		}
		named = append(named, m.ImageFile+".img")
		switch {
		case !m.measuredAtStart() && m.SHA256 == "":
			continue // no image file (EMPTY, DEVICE, …)
		case !m.measuredAtStart():
			notes = append(notes, fmt.Sprintf("%s: %s.img (%s) is not checked when a container starts, so not measured", name, m.ImageFile, m.MountType))
			continue
		case m.SHA256 == "":
			notes = append(notes, fmt.Sprintf("%s: %s.img has no image_sha2_256: cmld checks its SHA-1 and measures nothing", name, m.ImageFile))
			continue
		}
		img := CMLImage{Path: filepath.Join(g.Dir, m.ImageFile+".img"), Name: GuestOSRoot + "/" + name + "/" + m.ImageFile + ".img", WantSHA256: m.SHA256, Conf: g.Conf}
		if _, err := os.Stat(img.Path); err != nil {
			return g, nil, fmt.Errorf("%s line %d names %s.img: %w", g.Conf, m.Line, m.ImageFile, err)
		}
		if m.Verity {
			background = append(background, img)
		} else {
			g.Images = append(g.Images, img)
		}
	}
	if len(background) > 1 {
		notes = append(notes, fmt.Sprintf("%s: %d images with dm-verity are checked in background processes at once; their order is a race, taken here as the configuration's", name, len(background)))
	}
	g.Images = append(g.Images, background...)
	if len(g.Images) == 0 {
		notes = append(notes, fmt.Sprintf("%s: no image cmld measures", name))
	}
	files, _ := filepath.Glob(filepath.Join(g.Dir, "*.img"))
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasSuffix(base, ".hash.img") || containsString(named, base) {
			continue
		}
		notes = append(notes, fmt.Sprintf("%s: %s is named by no mounts entry of %s, not measured", name, base, filepath.Base(g.Conf)))
	}
	return g, notes, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hash computes an image's SHA-256 once and checks it against its
// configuration's image_sha2_256.
func (img *CMLImage) hash() (string, error) {
	if img.sha256 != "" {
		return img.sha256, nil
	}
	sum, err := baseline.FileSHA256(img.Path)
	if err != nil {
		return "", err
	}
	if img.WantSHA256 != "" && sum != img.WantSHA256 {
		return "", fmt.Errorf("%s: SHA-256 %s, but %s says image_sha2_256 %s: cmld would refuse the image and measure nothing", img.Path, sum, img.Conf, img.WantSHA256)
	}
	img.sha256 = sum
	return sum, nil
}

// cmlMeasured is one extend of PCR 11 by cmld.
type cmlMeasured struct {
	img    *CMLImage
	digest []byte
}

// cmlSequence is what cmld extends for images measured in this order:
// a (hash, name) pair already measured is skipped, as tpm2d does.
func cmlSequence(images []*CMLImage) (out []cmlMeasured, skipped []*CMLImage, err error) {
	seen := map[[2]string]bool{}
	for _, img := range images {
		sum, err := img.hash()
		if err != nil {
			return nil, nil, err
		}
		key := [2]string{sum, img.Name}
		if seen[key] {
			skipped = append(skipped, img)
			continue
		}
		seen[key] = true
		d, _ := hex.DecodeString(sum)
		out = append(out, cmlMeasured{img: img, digest: d})
	}
	return out, skipped, nil
}

// CMLImagesPCR11 appends what GyroidOS's cmld extends into PCR 11 for the
// images, measured in this order (there is no event log; the sha256 bank
// is the only one it uses). Images are named as given.
func CMLImagesPCR11(b *baseline.Builder, images []string) error {
	imgs := make([]*CMLImage, len(images))
	for i, p := range images {
		imgs[i] = &CMLImage{Path: p, Name: p}
	}
	return cmlExtend(b, imgs)
}

func cmlExtend(b *baseline.Builder, images []*CMLImage) error {
	seq, skipped, err := cmlSequence(images)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		b.Note("PCR 11: %s measured again as %s with the same SHA-256: tpm2d skips a pair it holds, so it is folded once", s.Path, s.Name)
	}
	for _, m := range seq {
		digest := m.digest
		b.AddInput(baseline.Input{Role: "guest-os", Path: m.img.Path, SHA256: m.img.sha256})
		err := b.Extend(PCRKernelBoot, baseline.Measurement{Type: "CML_IMAGE", Description: "cmld: " + m.img.Name,
			Digest: func(alg pcr.Alg) ([]byte, error) {
				if alg != pcr.SHA256 {
					return nil, fmt.Errorf("GyroidOS measures images into the sha256 bank only, not %s", alg)
				}
				return digest, nil
			},
			Provenance: baseline.Provenance{Rule: RuleGuestOSImage, Artifact: m.img.Path, ArtifactSHA256: m.img.sha256}})
		if err != nil {
			return err
		}
	}
	return nil
}

// maxGuestOSVariants bounds the alternative PCR 11 values recorded for
// the orders and subsets of guest OSes the build cannot decide.
const maxGuestOSVariants = 64

// GuestOSesPCR11 appends cmld's PCR 11 for a device that starts every
// guest OS: the core OS first, then the others by name. The values other
// starts give — the other OSes in another order, or only some of them —
// are returned as variants (sha256), at most maxGuestOSVariants of them;
// what is beyond is said in a note.
func GuestOSesPCR11(b *baseline.Builder, oses []GuestOS) ([]map[string]string, error) {
	var core, rest []*GuestOS
	for i := range oses {
		if oses[i].Core {
			core = append(core, &oses[i])
		} else {
			rest = append(rest, &oses[i])
		}
	}
	images := func(list []*GuestOS) []*CMLImage {
		var out []*CMLImage
		for _, g := range list {
			for j := range g.Images {
				out = append(out, &g.Images[j])
			}
		}
		return out
	}
	primary := append(append([]*GuestOS{}, core...), rest...)
	if err := cmlExtend(b, images(primary)); err != nil {
		return nil, err
	}
	var names []string
	for _, g := range primary {
		names = append(names, g.Name)
	}
	b.Note("PCR 11: cmld's measurements for a device that starts a container of every guest OS, in this order: %s", strings.Join(names, ", "))
	switch {
	case len(core) == 1:
		b.Note("PCR 11: %s is the core OS: cmld starts its container c0 first", core[0].Name)
	case len(core) > 1:
		b.Note("PCR 11: several core OSes (%d); taken in name order", len(core))
	case len(rest) > 0:
		b.Note("PCR 11: no core OS (<os>-coreos) among the guest OSes: which starts first is not known")
	}
	if len(rest) == 0 || len(core) == 0 && len(rest) == 1 {
		return nil, nil // one order only
	}
	// Every other ordered choice of the other OSes after the core OS.
	primaryValue := foldValue(images(primary))
	seen := map[string]bool{primaryValue: true}
	var variants []map[string]string
	truncated := false
	var walk func(chosen []*GuestOS, used []bool)
	walk = func(chosen []*GuestOS, used []bool) {
		if truncated {
			return
		}
		if len(chosen) > 0 || len(core) > 0 {
			v := foldValue(images(append(append([]*GuestOS{}, core...), chosen...)))
			if !seen[v] {
				if len(variants) == maxGuestOSVariants {
					truncated = true
					return
				}
				seen[v] = true
				variants = append(variants, map[string]string{"sha256": v})
			}
		}
		for i, g := range rest {
			if !used[i] {
				used[i] = true
				walk(append(chosen, g), used)
				used[i] = false
			}
		}
	}
	walk(nil, make([]bool, len(rest)))
	what := "the other guest OSes started in another order, or only some of them"
	if len(core) == 0 {
		what = "the guest OSes started in another order, or only some of them"
	}
	b.Note("PCR 11: which containers a device starts, and in which order, is not known from the build: %d variants hold %s", len(variants), what)
	if truncated {
		b.Note("PCR 11: more orders exist than the %d variants recorded; give the images in the device's order to pin one value", maxGuestOSVariants)
	}
	return variants, nil
}

// foldValue is PCR 11 after cmld measured the images in this order
// (hashes already computed and checked).
func foldValue(images []*CMLImage) string {
	seq, _, _ := cmlSequence(images)
	v := make([]byte, pcr.SHA256.Size())
	for _, m := range seq {
		v = pcr.Extend(pcr.SHA256, v, m.digest)
	}
	return hex.EncodeToString(v)
}

// guestOSDir finds the gyroidos-guests directory of a GyroidOS build:
// where GuestOSDir points, else in the deploy directory, else where Yocto
// puts the guestos multiconfig's output beside it,
// <TOPDIR>/tmp_container/deploy/images/<MACHINE>/gyroidos-guests for a
// deploy directory <TOPDIR>/<tmp>/deploy/images/<MACHINE>. It returns ""
// and where it looked when there is none.
func (d *YoctoDeploy) guestOSDir(dir string, opts YoctoOptions) (string, []string, error) {
	const sub = "gyroidos-guests"
	if opts.GuestOSDir != "" {
		if p := filepath.Join(opts.GuestOSDir, sub); isDir(p) {
			return p, nil, nil
		}
		if !isDir(opts.GuestOSDir) {
			return "", nil, fmt.Errorf("%s (%s): not a directory", opts.GuestOSDir, opts.name(YoctoGuestOSDir))
		}
		return opts.GuestOSDir, nil, nil
	}
	cands := []string{filepath.Join(dir, sub)}
	if abs, err := filepath.Abs(dir); err == nil {
		images := filepath.Dir(abs)
		deploy := filepath.Dir(images)
		if filepath.Base(images) == "images" && filepath.Base(deploy) == "deploy" {
			top := filepath.Dir(filepath.Dir(deploy))
			root := filepath.Join(top, "tmp_container", "deploy", "images")
			for _, m := range []string{d.Machine, filepath.Base(abs)} {
				if m != "" {
					cands = append(cands, filepath.Join(root, m, sub))
				}
			}
			if m, _ := filepath.Glob(filepath.Join(root, "*", sub)); len(m) == 1 {
				cands = append(cands, m[0])
			}
		}
	}
	for _, c := range cands {
		if isDir(c) {
			return c, nil, nil
		}
	}
	return "", cands, nil
}

// gyroidGuests fills in the guest OSes whose images cmld measures.
func (d *YoctoDeploy) gyroidGuests(dir string, opts YoctoOptions) error {
	guests, looked, err := d.guestOSDir(dir, opts)
	if err != nil {
		return err
	}
	if guests == "" {
		d.use("PCR 11: no gyroidos-guests directory (looked in %s); %s points to it", strings.Join(looked, ", "), opts.name(YoctoGuestOSDir))
		return nil
	}
	oses, notes, err := ReadGuestOSes(guests)
	if err != nil {
		return err
	}
	d.use("PCR 11: guest OSes from %s", guests)
	for _, g := range oses {
		d.read(g.Conf)
		var imgs []string
		for _, img := range g.Images {
			imgs = append(imgs, filepath.Base(img.Path))
		}
		d.use("PCR 11: guest OS %s (%s): %s, measured as %s/%s/…", g.Name, filepath.Base(g.Conf), strings.Join(imgs, " "), GuestOSRoot, g.Name)
	}
	for _, n := range notes {
		d.use("PCR 11: %s", n)
	}
	d.Inputs.GuestOSes = oses
	return nil
}
