package refvals

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/internal/fat"
)

// What grub-mkimage appends to an EFI GRUB core image: a section named
// "mods" that starts with a module-info header (magic "mimg" as a
// little-endian word, then the objects' offset and the total size, both
// relative to the header: 32-bit words on 32-bit targets, 64-bit ones
// after a padding word on 64-bit targets) followed by objects, each a
// type word and a size word (the size counts this 8-byte header and the
// padding) and its body.
const (
	grubModuleMagic = 0x676d696d
	grubObjModule   = 0 // an ELF module, named by its .modname section
	grubObjMemdisk  = 1 // a disk image: FAT (Debian) or tar (grub-mkstandalone)
	grubObjConfig   = 2 // the -c file, NUL-terminated
	grubObjPrefix   = 3 // the -p directory, NUL-terminated
	grubObjHeader   = 8
)

// errNoMods is ReadGRUBImage's error for a PE that is no GRUB image.
var errNoMods = errors.New("no mods section: not a GRUB core image")

// DefaultGRUBPrefix is the prefix assumed when neither the caller nor
// the GRUB image gives one (Debian's).
const DefaultGRUBPrefix = "/EFI/debian"

// GRUBImage is what a GRUB EFI image carries besides code: the objects
// of its module section that say how it starts.
type GRUBImage struct {
	// Config is the embedded configuration (grub-mkimage -c), which GRUB
	// runs before $prefix/grub.cfg; HasConfig says there is one.
	Config       string
	HasConfig    bool
	ConfigOffset int64
	// Prefix is the embedded prefix (grub-mkimage -p).
	Prefix    string
	HasPrefix bool
	// Memdisk is the embedded disk (memdisk), FAT or tar, nil if none.
	Memdisk       []byte
	MemdiskOffset int64
	// Modules are the names of the modules built into the image: insmod
	// of one of them opens no file.
	Modules []string
}

// grubVersionString matches the version GRUB's kernel keeps as a C string
// for its banner ("GNU GRUB  version %s"): 2.00 to 2.19, then an optional
// distribution suffix ("2.06-13+deb12u2", "2.12~rc1"). The OIDs GRUB's
// crypto carries ("2.16.840.1…") do not match: a dot follows their minor.
var grubVersionString = regexp.MustCompile(`\x00(2\.[01][0-9](?:[~+-][0-9A-Za-z.+~:-]{0,40})?)\x00`)

// GRUBVersion returns the GRUB version an image carries, or "" when none
// is found.
func GRUBVersion(image []byte) string {
	if !bytes.Contains(image, []byte("GNU GRUB  version %s")) {
		return ""
	}
	if m := grubVersionString.FindSubmatch(image); m != nil {
		return string(m[1])
	}
	return ""
}

// GRUBEmbeddedConfig returns the configuration embedded in a GRUB EFI
// image (grub-mkimage's -c file; Debian's images embed "normal
// (memdisk)/grub.cfg"), and whether it has one.
func GRUBEmbeddedConfig(image []byte) (cfg string, found bool, err error) {
	g, err := ReadGRUBImage(image)
	if err != nil {
		return "", false, err
	}
	return g.Config, g.HasConfig, nil
}

// ReadGRUBImage reads the module section of a GRUB EFI image. Errors
// carry the byte offset in the image.
func ReadGRUBImage(image []byte) (*GRUBImage, error) {
	img, err := authenticode.Parse(bytes.NewReader(image), int64(len(image)))
	if err != nil {
		return nil, err
	}
	var mods *authenticode.Section
	for i := range img.Sections {
		if n := img.Sections[i].Name; n == "mods" || n == ".mods" {
			mods = &img.Sections[i]
		}
	}
	if mods == nil {
		return nil, errNoMods
	}
	base, end := mods.Offset, mods.Offset+mods.Size
	at := func(off int64, format string, args ...any) error {
		return fmt.Errorf("byte offset %d (0x%x): %s", off, off, fmt.Sprintf(format, args...))
	}
	if base < 0 || end > int64(len(image)) {
		return nil, at(base, "mods section of %d bytes runs past the image's %d bytes", mods.Size, len(image))
	}
	hdrLen := int64(12)
	if img.PE32Plus {
		hdrLen = 24
	}
	if end-base < hdrLen {
		return nil, at(base, "mods section of %d bytes holds no module-info header (%d bytes)", mods.Size, hdrLen)
	}
	le := binary.LittleEndian
	if m := le.Uint32(image[base:]); m != grubModuleMagic {
		return nil, at(base, "module-info magic %#08x, want %#08x (\"mimg\")", m, grubModuleMagic)
	}
	var off, size uint64
	if img.PE32Plus {
		off, size = le.Uint64(image[base+8:]), le.Uint64(image[base+16:])
	} else {
		off, size = uint64(le.Uint32(image[base+4:])), uint64(le.Uint32(image[base+8:]))
	}
	if off < uint64(hdrLen) || size < off || size > uint64(end-base) {
		return nil, at(base, "module-info offset %d and size %d outside the %d-byte mods section", off, size, end-base)
	}
	g := &GRUBImage{}
	for p, stop := base+int64(off), base+int64(size); p < stop; {
		if stop-p < grubObjHeader {
			return nil, at(p, "%d bytes left, too few for an object header", stop-p)
		}
		typ, n := le.Uint32(image[p:]), int64(le.Uint32(image[p+4:]))
		if n < grubObjHeader || n > stop-p {
			return nil, at(p, "object of type %d has size %d, outside %d-%d", typ, n, grubObjHeader, stop-p)
		}
		body := image[p+grubObjHeader : p+n]
		switch typ {
		case grubObjConfig:
			if g.HasConfig {
				return nil, at(p, "a second embedded configuration")
			}
			g.Config, g.HasConfig, g.ConfigOffset = cString(body), true, p+grubObjHeader
		case grubObjPrefix:
			g.Prefix, g.HasPrefix = cString(body), true
		case grubObjMemdisk:
			g.Memdisk, g.MemdiskOffset = body, p+grubObjHeader
		case grubObjModule:
			name, err := grubModuleName(body)
			if err != nil {
				return nil, at(p+grubObjHeader, "module: %v", err)
			}
			g.Modules = append(g.Modules, name)
		}
		p += n
	}
	return g, nil
}

// grubModuleName reads the name of a GRUB module, an ELF object whose
// .modname section holds it (as grub-mkimage and kern/dl.c find it).
func grubModuleName(obj []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		return "", err
	}
	s := f.Section(".modname")
	if s == nil {
		return "", errors.New("no .modname section")
	}
	if s.Size > uint64(len(obj)) {
		return "", fmt.Errorf(".modname of %d bytes in a %d-byte object", s.Size, len(obj))
	}
	b, err := s.Data()
	if err != nil {
		return "", err
	}
	return cString(b), nil
}

// GRUBModuleDeps reads the modules a GRUB module file depends on (its
// .moddeps section), which kern/dl.c loads before it.
func GRUBModuleDeps(obj []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		return nil, err
	}
	s := f.Section(".moddeps")
	if s == nil {
		return nil, nil
	}
	if s.Size > uint64(len(obj)) {
		return nil, fmt.Errorf(".moddeps of %d bytes in a %d-byte object", s.Size, len(obj))
	}
	b, err := s.Data()
	if err != nil {
		return nil, err
	}
	var deps []string
	for _, d := range bytes.Split(b, []byte{0}) {
		if len(d) > 0 {
			deps = append(deps, string(d))
		}
	}
	return deps, nil
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// MemdiskFile reads a file of the embedded memdisk, path as GRUB names it
// in (memdisk), e.g. "/grub.cfg": from a FAT file system (Debian's) or a
// tar archive (grub-mkstandalone's).
func (g *GRUBImage) MemdiskFile(path string) ([]byte, error) {
	if g.Memdisk == nil {
		return nil, errors.New("no memdisk")
	}
	if len(g.Memdisk) >= 262 && string(g.Memdisk[257:262]) == "ustar" {
		tr := tar.NewReader(bytes.NewReader(g.Memdisk))
		want := strings.TrimPrefix(path, "/")
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil, fmt.Errorf("memdisk (tar at byte offset %d): no %s", g.MemdiskOffset, path)
			}
			if err != nil {
				return nil, fmt.Errorf("memdisk (tar at byte offset %d): %w", g.MemdiskOffset, err)
			}
			if strings.TrimPrefix(h.Name, "./") == want && h.Typeflag == tar.TypeReg {
				return io.ReadAll(io.LimitReader(tr, 1<<24))
			}
		}
	}
	fs, err := fat.Open(bytes.NewReader(g.Memdisk), 0, int64(len(g.Memdisk)))
	if err != nil {
		return nil, fmt.Errorf("memdisk at byte offset %d: neither tar nor %w", g.MemdiskOffset, err)
	}
	data, err := fs.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("memdisk (FAT at byte offset %d): %w", g.MemdiskOffset, err)
	}
	return data, nil
}

// oeCoreEmbeddedConfig is the configuration OE-core's grub-efi class
// embeds in grub-efi-boot<arch>.efi (its cfg file for grub-mkimage -c).
const oeCoreEmbeddedConfig = "search.file /EFI/BOOT/grub.cfg root\nset prefix=($root)/EFI/BOOT\n"

// debianMemdiskConfig are the lines of the grub.cfg in the memdisk of
// Debian's signed and monolithic images that decide what GRUB runs: with
// the embedded prefix present it tests for $prefix/x86_64-efi/grub.cfg,
// then $prefix/grub.cfg, and sources that.
var debianMemdiskConfig = []string{
	`if [ -z "$prefix" -o ! -e "$prefix" ]; then`,
	`if [ -e $prefix/x86_64-efi/grub.cfg ]; then`,
	`elif [ -e $prefix/grub.cfg ]; then`,
	`source $prefix/grub.cfg`,
}

type grubShapeKind int

const (
	grubShapeNone   grubShapeKind = iota // no embedded configuration
	grubShapeDebian                      // Debian's memdisk prelude
	grubShapeOECore                      // OE-core's search.file + set prefix
	grubShapeOther                       // another one
)

// grubShape is a known shape of embedded configuration, with the prefix
// it implies (the directory of grub.cfg on the root device).
type grubShape struct {
	kind   grubShapeKind
	prefix string
	why    string
}

// shape recognises the embedded configuration: Debian's "normal
// (memdisk)/grub.cfg" with the memdisk's prelude, or OE-core's
// "search.file DIR/grub.cfg root" then "set prefix=($root)DIR".
func (g *GRUBImage) shape() grubShape {
	if !g.HasConfig {
		return grubShape{kind: grubShapeNone, prefix: g.Prefix}
	}
	var lines []string
	for _, l := range strings.Split(g.Config, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 1 && lines[0] == "normal (memdisk)/grub.cfg" {
		md, err := g.MemdiskFile("/grub.cfg")
		if err != nil {
			return grubShape{kind: grubShapeOther, why: "normal (memdisk)/grub.cfg, but " + err.Error()}
		}
		have := map[string]bool{}
		for _, l := range strings.Split(string(md), "\n") {
			have[strings.TrimSpace(l)] = true
		}
		for _, l := range debianMemdiskConfig {
			if !have[l] {
				return grubShape{kind: grubShapeOther, why: fmt.Sprintf("normal (memdisk)/grub.cfg, whose grub.cfg lacks %q", l)}
			}
		}
		return grubShape{kind: grubShapeDebian, prefix: g.Prefix, why: "Debian's: normal (memdisk)/grub.cfg, which tests for $prefix/x86_64-efi/grub.cfg and $prefix/grub.cfg and sources it (prefix " + g.Prefix + "), run from the memdisk (unmeasured) in normal mode (its commands measured)"}
	}
	if len(lines) == 2 {
		search, ok1 := strings.CutPrefix(lines[0], "search.file ")
		dir, ok2 := strings.CutPrefix(lines[1], "set prefix=($root)")
		if ok1 && ok2 && search == dir+"/grub.cfg root" {
			return grubShape{kind: grubShapeOECore, prefix: dir, why: fmt.Sprintf("OE-core's: search.file %s/grub.cfg root; set prefix=($root)%s (run by the rescue parser: its commands are not measured, search.file's probe of grub.cfg is; normal mode then measures grub.cfg again)", dir, dir)}
		}
	}
	return grubShape{kind: grubShapeOther, why: fmt.Sprintf("%d commands", len(lines))}
}

// grubEmbedded gives the simulation the GRUB image among the inputs
// (its embedded configuration, memdisk and modules) and an empty prefix
// from the image; notes say what was read and what was assumed.
func (in *Inputs) grubEmbedded(b *baseline.Builder, opts *GRUBOptions) error {
	image, path, err := in.grubImage()
	if err != nil {
		return err
	}
	var g *GRUBImage
	if image != nil {
		if g, err = ReadGRUBImage(image); err != nil {
			return fmt.Errorf("%s: %w", in.name(path), err)
		}
	}
	opts.Image, opts.Note, opts.OptionName = g, b.Note, in.OptionName
	setPrefix := func(p, why string) {
		if opts.Prefix == "" && p != "" {
			opts.Prefix = p
			b.Note("PCRs 8/9: GRUB prefix %s: %s", p, why)
		}
	}
	switch {
	case opts.ShapeGiven:
		b.Note("PCRs 8/9: GRUB's embedded configuration as given (Debian prelude %v, OE-core %v), not read from the image", opts.DebianPrelude, opts.OECore)
	case g == nil:
		b.Note("PCRs 8/9: no GRUB image among the inputs: its embedded configuration is taken as (Debian prelude %v, OE-core %v), its built-in modules are unknown", opts.DebianPrelude, opts.OECore)
	default:
		s := g.shape()
		switch s.kind {
		case grubShapeNone:
			b.Note("PCRs 8/9: %s embeds no configuration: normal mode reads $prefix/grub.cfg", in.name(path))
		case grubShapeOther:
			b.Note("PCRs 8/9: %s embeds a configuration (%s): simulated as GRUB runs it, in the rescue parser (unmeasured)", in.name(path), s.why)
		default:
			b.Note("PCRs 8/9: %s embeds %s: simulated", in.name(path), s.why)
		}
		b.Note("PCRs 8/9: %s builds in %d modules: insmod of another loads $prefix/x86_64-efi/NAME.mod", in.name(path), len(g.Modules))
		if v := GRUBVersion(image); v != "" {
			b.Note("PCRs 8/9: %s is GRUB %s (read from the image); simulated as GRUB 2.06 measures, which the lab's boots of Debian's 2.06 confirm", in.name(path), v)
		} else {
			b.Note("PCRs 8/9: %s carries no GRUB version string goldenpcr recognises; simulated as GRUB 2.06 measures", in.name(path))
		}
	}
	if g != nil {
		if s := g.shape(); strings.HasPrefix(s.prefix, "/") {
			setPrefix(s.prefix, "read from "+in.name(path))
		}
	}
	setPrefix(DefaultGRUBPrefix, "assumed (Debian's): neither given nor read from a GRUB image")
	return nil
}

// grubImage finds the GRUB image among the EFI applications, then the
// files GRUB reads: the first PE with a mods section.
func (in *Inputs) grubImage() ([]byte, string, error) {
	cands := append([]string{}, in.EFIApps...)
	for _, k := range slices.Sorted(maps.Keys(in.GRUB.Files)) {
		cands = append(cands, in.GRUB.Files[k])
	}
	for _, p := range cands {
		f, err := authenticode.Open(p)
		if err != nil {
			continue // not a PE: no GRUB image
		}
		_, ok := f.Section("mods")
		if !ok {
			_, ok = f.Section(".mods")
		}
		f.Close()
		if !ok {
			continue
		}
		data, err := os.ReadFile(p)
		return data, p, err
	}
	return nil, "", nil
}
