package refvals

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/internal/optname"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// GRUB with its tpm module measures every command it runs into PCR 8 and
// every file it reads into PCR 9.
const PCRBootLoaderConfig = 8

// GRUBOptions describe the boot GRUB is simulated for.
type GRUBOptions struct {
	// Root is GRUB's boot device, e.g. "(hd0)": the device the GRUB image
	// was started from, root when GRUB starts, and the one device whose
	// files (Files, the grub.cfg) the simulation knows.
	Root string
	// Prefix is the directory of grub.cfg on Root, e.g. "/EFI/debian";
	// Compute fills an empty one from the GRUB image (its embedded
	// configuration or prefix), else DefaultGRUBPrefix.
	Prefix string
	// Image is the GRUB image booted, read by ReadGRUBImage: its embedded
	// configuration runs first (in GRUB's rescue parser, unmeasured), its
	// memdisk holds files, and its modules are built in. Compute sets it
	// from the GRUB image among the inputs. Without one, modules are
	// unknown (insmod is assumed to load a built-in module, noted).
	Image *GRUBImage
	// DebianPrelude and OECore replace the image's embedded configuration
	// when ShapeGiven (or when there is no Image): Debian's "normal
	// (memdisk)/grub.cfg", which runs the image's memdisk grub.cfg (it
	// tests for $prefix/x86_64-efi/grub.cfg, then $prefix/grub.cfg, and
	// sources that), or OE-core's "search.file PREFIX/grub.cfg root; set
	// prefix=($root)PREFIX". Neither, with ShapeGiven: none.
	DebianPrelude, OECore bool
	ShapeGiven            bool
	// Files maps paths on Root ("/vmlinuz", "/EFI/debian/extra.cfg") to
	// local files: what GRUB finds there. Together with the grub.cfg (at
	// Prefix/grub.cfg) they are all of Root's files: a test or search for
	// any other file on Root is decided false.
	Files map[string]string
	// ConfigPath is the local grub.cfg file, for provenance.
	ConfigPath string
	// Note, if set, receives what the simulation decided from the files
	// described (a file found absent, a module not loaded).
	Note func(format string, args ...any)
	// OptionName, if set, words Files in errors (as Inputs.OptionName).
	OptionName func(YoctoOption) string
}

// GRUBPCR8And9 simulates GRUB starting: the image's embedded
// configuration in the rescue parser, then normal mode reading
// $prefix/grub.cfg (cfg), and booting its default entry. It appends what
// GRUB measures: "grub_cmd: " plus each command normal mode runs (quotes
// removed, variables expanded) into PCR 8, "kernel_cmdline: " for the
// kernel, and each file GRUB opens into PCR 9 (data: the file's name as
// GRUB was given it, digest: the file's hash) — configuration files read
// by normal mode, source and configfile, search's probes, modules insmod
// loads from $prefix, the kernel, initrds, test -s, chainloader and
// loopback images, grubenv — but not the memdisk's files.
//
// Conditions (if/elif/else) are decided when they depend on the files of
// the boot device (Files) and variables set by the configuration; a
// condition on anything else (another device, a command whose outcome is
// runtime state) is refused with its line, as are for, while, until,
// function, submenu and nesting beyond grubMaxDepth. Cost is bounded by
// the expansion budget (see grubExpansionPerByte), which every script run
// draws from.
//
// It returns the kernel the simulated boot loads, if any.
func GRUBPCR8And9(b *baseline.Builder, cfg []byte, opts GRUBOptions) (*GRUBKernel, error) {
	boot := strings.TrimSuffix(strings.TrimPrefix(opts.Root, "("), ")")
	g := &grubSim{b: b, opts: opts, boot: boot, files: map[string]*grubCached{}, notes: map[string]bool{},
		vars:   map[string]string{"root": boot, "prefix": opts.Root + opts.Prefix, "grub_platform": "efi"},
		budget: grubExpansionPerByte*len(cfg) + grubExpansionFloor, cfg: cfg, loaded: map[string]bool{}}
	if opts.Image != nil {
		g.modulesKnown = true
		for _, m := range opts.Image.Modules {
			g.loaded[m] = true
		}
	}
	embedded, hasEmbedded := "", false
	switch {
	case opts.Image != nil && !opts.ShapeGiven:
		embedded, hasEmbedded = opts.Image.Config, opts.Image.HasConfig
	case opts.DebianPrelude:
		embedded, hasEmbedded = "normal (memdisk)/grub.cfg\n", true
	case opts.OECore:
		embedded, hasEmbedded = "search.file "+opts.Prefix+"/grub.cfg root\nset prefix=($root)"+opts.Prefix+"\n", true
	}
	if hasEmbedded {
		g.budget += grubExpansionPerByte * len(embedded)
		if err := g.rescue(embedded); err != nil {
			return nil, err
		}
	}
	if !g.normalRan {
		// kern/main.c: after the embedded configuration, grub_main loads
		// normal mode, which reads $prefix/grub.cfg.
		if err := g.normalMode(g.vars["prefix"] + "/grub.cfg"); err != nil {
			return nil, err
		}
	}
	return g.kernel, nil
}

// GRUBKernel is the kernel a GRUB configuration boots.
type GRUBKernel struct {
	// Command is the loader command, e.g. "linux" or "linuxefi".
	Command string
	// Path is the kernel as GRUB names it; File the local file.
	Path, File string
}

// Variable expansion may produce at most grubExpansionPerByte bytes per
// byte of configuration (grub.cfg, the embedded one and each file
// sourced) plus grubExpansionFloor, in all, and every script run costs
// its size from the same budget. Every variable's value is made of the
// configuration's text and of expansions, so this bounds the variables
// too. Real configurations expand short variables (root, prefix, a
// command line) a few times and stay far below it, the floor leaving a
// small file room for long values; doubling a variable a line (set
// a=$a$a) grows exponentially, appending to one quadratically, a file
// sourcing itself or another many times multiplies, and each is refused
// before it costs more than a small multiple of the input.
const (
	grubExpansionPerByte = 16
	grubExpansionFloor   = 1 << 20
)

// grubMaxDepth bounds the nesting of source, configfile and normal (GRUB
// itself recurses until its stack runs out).
const grubMaxDepth = 32

// grubLists are the files normal mode reads from $prefix/x86_64-efi when
// it starts and whenever prefix is set (normal/main.c read_lists).
var grubLists = []string{"command.lst", "fs.lst", "crypto.lst", "terminal.lst"}

// grubScript is a configuration file being run: its name for errors, its
// text and where it came from.
type grubScript struct {
	name, text, local string
}

type grubEntry struct {
	title, id string
	body      grubList
	script    *grubScript
}

type grubSim struct {
	b            *baseline.Builder
	opts         GRUBOptions
	boot         string // the boot device's name, without parentheses
	cfg          []byte
	vars         map[string]string
	entries      []grubEntry
	booted       bool
	normalRan    bool
	kernel       *GRUBKernel
	budget       int // bytes variable expansion and scripts may still cost
	depth        int
	loaded       map[string]bool // modules built in or loaded
	modulesKnown bool
	charged      map[string]bool // local files whose size was added to the budget
	files        map[string]*grubCached
	notes        map[string]bool
}

// grubCached is a local file read once however often GRUB opens it, its
// digests computed once per bank.
type grubCached struct {
	data   []byte
	sha256 string
	sums   map[pcr.Alg][]byte
}

// read returns a local file's contents, read once.
func (g *grubSim) read(local string) (*grubCached, error) {
	if c, ok := g.files[local]; ok {
		return c, nil
	}
	data, err := os.ReadFile(local)
	if err != nil {
		return nil, err
	}
	c := &grubCached{data: data, sums: map[pcr.Alg][]byte{}}
	g.files[local] = c
	return c, nil
}

func (g *grubSim) filesOption() string { return optname.Word(g.opts.OptionName, YoctoGRUBFiles) }

// note says once what the simulation decided.
func (g *grubSim) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if g.opts.Note != nil && !g.notes[n] {
		g.notes[n] = true
		g.opts.Note("%s", n)
	}
}

// errAt prefixes err with the script and line it happened at, unless it
// already names one (it came from a nested script).
func errAt(s *grubScript, line int, err error) error {
	var le *grubLineError
	if errors.As(err, &le) {
		return err
	}
	return &grubLineError{fmt.Errorf("%s line %d: %w", s.name, line, err)}
}

type grubLineError struct{ err error }

func (e *grubLineError) Error() string { return e.err.Error() }
func (e *grubLineError) Unwrap() error { return e.err }

func (g *grubSim) measureCmd(cmd, rule string) error {
	text := "grub_cmd: " + cmd
	return g.b.Extend(PCRBootLoaderConfig, baseline.Measurement{Type: "EV_IPL", Description: text, Data: append([]byte(text), 0),
		Digest: baseline.HashOf([]byte(cmd)), Provenance: baseline.Provenance{Rule: rule, Artifact: g.opts.ConfigPath}})
}

// measureFileData extends PCR 9 with a file GRUB opened, named as GRUB
// was given it; a local file's digests are computed once, so a file
// opened many times costs its size once.
func (g *grubSim) measureFileData(name string, data []byte, local string) error {
	prov := baseline.Provenance{Rule: "GRUB: file read, H(contents)", Artifact: local}
	digest := baseline.HashOf(data)
	if local != "" {
		c := g.files[local]
		if c == nil {
			c = &grubCached{data: data, sums: map[pcr.Alg][]byte{}}
			g.files[local] = c
		}
		if c.sha256 == "" {
			c.sha256 = fmt.Sprintf("%x", pcr.SHA256.Sum(data))
			g.b.AddInput(baseline.Input{Role: "grub-file", Path: local, SHA256: c.sha256})
		}
		prov.ArtifactSHA256 = c.sha256
		digest = func(alg pcr.Alg) ([]byte, error) {
			if d, ok := c.sums[alg]; ok {
				return d, nil
			}
			c.sums[alg] = alg.Sum(c.data)
			return c.sums[alg], nil
		}
	}
	return g.b.Extend(PCRKernelConfig, baseline.Measurement{Type: "EV_IPL", Description: name, Data: append([]byte(name), 0),
		Digest: digest, Provenance: prov})
}

// grubFile is a file as GRUB's file layer finds it.
type grubFile struct {
	local   string // local file; "" for the memdisk and the grub.cfg bytes
	data    []byte // contents when read
	memdisk bool   // on (memdisk): the verifiers skip it
	cfg     bool   // the grub.cfg given
}

// split returns the device (without parentheses) and path of a GRUB file
// name; a name without a device is on root.
func (g *grubSim) split(name string) (dev, p string, err error) {
	if strings.HasPrefix(name, "(") {
		end := strings.IndexByte(name, ')')
		if end < 0 {
			return "", "", fmt.Errorf("%q: unterminated device name", name)
		}
		dev, p = name[1:end], name[end+1:]
	} else {
		dev, p = g.vars["root"], name
	}
	if p == "" {
		p = "/"
	}
	return dev, p, nil
}

// lookup finds the file GRUB opens by name: on the boot device among the
// files described, in the memdisk, else refused (no input describes
// another device). ok is false when the boot device has no such file.
func (g *grubSim) lookup(name string) (f grubFile, ok bool, err error) {
	dev, p, err := g.split(name)
	if err != nil {
		return f, false, err
	}
	switch {
	case dev == "memdisk" && g.opts.Image != nil && g.opts.Image.Memdisk != nil:
		data, err := g.opts.Image.MemdiskFile(p)
		if err != nil {
			return f, false, nil
		}
		return grubFile{data: data, memdisk: true}, true, nil
	case dev != g.boot:
		return f, false, fmt.Errorf("%s is on device %s, which no input describes (only the boot device %s is: %s)", name, dev, g.boot, g.filesOption())
	}
	if local, found := g.opts.Files[p]; found {
		return grubFile{local: local}, true, nil
	}
	if p == g.opts.Prefix+"/grub.cfg" {
		return grubFile{local: g.opts.ConfigPath, data: g.cfg, cfg: true}, true, nil
	}
	return f, false, nil
}

// isDir says whether p is a directory of the boot device: its root, or
// the directory of a file described.
func (g *grubSim) isDir(p string) bool {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return true
	}
	in := func(f string) bool { return strings.HasPrefix(f, p+"/") }
	if in(g.opts.Prefix + "/grub.cfg") {
		return true
	}
	for f := range g.opts.Files {
		if in(f) {
			return true
		}
	}
	return false
}

// open reads and measures a file GRUB opens with a measured file type;
// it must exist.
func (g *grubSim) open(name, what string) (grubFile, error) {
	f, ok, err := g.lookup(name)
	if err != nil {
		return f, err
	}
	if !ok {
		return f, fmt.Errorf("%s opens %s: give the local file for it (%s %s=FILE)", what, name, g.filesOption(), name)
	}
	if f.data == nil {
		c, err := g.read(f.local)
		if err != nil {
			return f, err
		}
		f.data = c.data
	}
	if f.memdisk {
		return f, nil // kern/verifiers.c skips memdisk and procfs files
	}
	return f, g.measureFileData(name, f.data, f.local)
}

// chargeScript takes the cost of running a script from the budget, after
// adding what a configuration file not seen before brings.
func (g *grubSim) chargeScript(local string, text string) error {
	if local != "" {
		if g.charged == nil {
			g.charged = map[string]bool{}
		}
		if !g.charged[local] {
			g.charged[local] = true
			g.budget += grubExpansionPerByte * len(text)
		}
	}
	if len(text) > g.budget {
		return fmt.Errorf("running %d more bytes of configuration exceeds the budget (%d bytes per byte of configuration plus %d KiB)", len(text), grubExpansionPerByte, grubExpansionFloor>>10)
	}
	g.budget -= len(text)
	return nil
}

// rescue runs the embedded configuration as kern/main.c does: in the
// rescue parser, one command a line, nothing measured as a command.
func (g *grubSim) rescue(text string) error {
	s := &grubScript{name: "the GRUB image's embedded configuration", text: text}
	for n, line := range strings.Split(text, "\n") {
		words, err := grubWords(line, g.vars, &g.budget)
		if err != nil {
			return errAt(s, n+1, err)
		}
		if len(words) == 0 || g.booted || g.normalRan {
			continue
		}
		if _, err := g.command(s, n+1, words, false); err != nil {
			return errAt(s, n+1, err)
		}
	}
	return nil
}

// normalMode enters normal mode on a configuration file, as the normal
// command does (normal/main.c grub_normal_execute): read the module
// lists, run the file in a scope of its own, then boot the default entry
// of its menu.
func (g *grubSim) normalMode(config string) error {
	g.normalRan = true
	if err := g.readLists(); err != nil {
		return err
	}
	if _, ok, err := g.lookup(config); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("GRUB's normal mode finds no %s: it stops at its command line", config)
	}
	return g.source("normal", config)
}

// readLists measures the module lists in $prefix that exist.
func (g *grubSim) readLists() error {
	for _, l := range grubLists {
		name := g.vars["prefix"] + "/x86_64-efi/" + l
		if _, ok, err := g.lookup(name); err != nil || !ok {
			continue
		}
		if _, err := g.open(name, "normal mode"); err != nil {
			return err
		}
	}
	return nil
}

// runFile parses and runs a configuration file in normal mode.
func (g *grubSim) runFile(s *grubScript) error {
	if g.depth >= grubMaxDepth {
		return fmt.Errorf("%s: source, configfile and normal nested deeper than %d", s.name, grubMaxDepth)
	}
	if err := g.chargeScript(s.local, s.text); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	list, err := parseGRUB(s)
	if err != nil {
		return err
	}
	g.depth++
	defer func() { g.depth-- }()
	_, err = g.runList(s, list)
	return err
}

func (g *grubSim) bootDefault() error {
	if g.booted || len(g.entries) == 0 {
		return nil
	}
	e, err := g.defaultEntry()
	if err != nil {
		return err
	}
	if err := g.measureCmd("setparams "+e.title, "GRUB: boot of the default menu entry"); err != nil {
		return err
	}
	if _, err := g.runList(e.script, e.body); err != nil {
		return err
	}
	// normal/menu.c boots once the entry's commands have run.
	g.booted = true
	return nil
}

// runList runs a parsed list and returns the status of its last command.
func (g *grubSim) runList(s *grubScript, list grubList) (bool, error) {
	status := true
	for _, n := range list {
		if g.booted {
			break
		}
		var err error
		switch n := n.(type) {
		case *grubIf:
			status, err = g.runIf(s, n)
		case *grubMenu:
			err = g.defineEntry(s, n)
			status = true
		case *grubSimple:
			var words []string
			if words, err = g.expand(n); err != nil {
				return false, errAt(s, n.line, err)
			}
			if len(words) == 0 {
				continue
			}
			if err = g.measureCmd(strings.Join(words, " "), "GRUB: command run"); err != nil {
				return false, err
			}
			status, err = g.command(s, n.line, words, true)
			if err != nil {
				return false, errAt(s, n.line, err)
			}
		}
		if err != nil {
			return false, err
		}
	}
	return status, nil
}

// runIf runs the first branch whose condition holds; a condition's status
// must be decidable (decided reports which commands are).
func (g *grubSim) runIf(s *grubScript, n *grubIf) (bool, error) {
	for i, cond := range n.conds {
		if err := g.decidable(s, cond); err != nil {
			return false, err
		}
		ok, err := g.runList(s, cond)
		if err != nil || g.booted {
			return false, err
		}
		if ok {
			return g.runList(s, n.bodies[i])
		}
	}
	if n.els != nil {
		return g.runList(s, n.els)
	}
	return true, nil
}

// decidable refuses a condition whose last command's status the
// simulation cannot know: only test/[, true, false and search (on the
// boot device's files) are decided.
func (g *grubSim) decidable(s *grubScript, cond grubList) error {
	if len(cond) == 0 {
		return nil
	}
	c, ok := cond[len(cond)-1].(*grubSimple)
	if !ok {
		return nil
	}
	name := c.words[0].raw
	if name == "!" && len(c.words) > 1 {
		name = c.words[1].raw
	}
	switch name {
	case "[", "test", "true", "false", "search", "search.file", "search.fs_uuid", "search.fs_label":
		return nil
	}
	return errAt(s, c.line, fmt.Errorf("whether %q succeeds is decided at boot (runtime state), not by the files: the condition cannot be simulated", name))
}

// expand turns a simple command's words into its arguments.
func (g *grubSim) expand(n *grubSimple) ([]string, error) {
	var out []string
	for _, w := range n.words {
		fields, err := expandWord(w.raw, g.vars, &g.budget)
		if err != nil {
			return nil, err
		}
		out = append(out, fields...)
	}
	return out, nil
}

// grubRuntimeCommands open files or set variables from what only the
// running machine knows (keyboard, hardware, file contents the
// simulation does not interpret): refused rather than guessed.
var grubRuntimeCommands = map[string]string{
	"cat": "prints a file", "loadfont": "opens a font", "background_image": "opens an image", "probe": "sets a variable from the device",
	"regexp": "may set variables", "read": "reads the keyboard", "hexdump": "opens a file", "cmp": "opens files",
	"sha256sum": "opens files", "sha1sum": "opens files", "md5sum": "opens files", "hashsum": "opens files",
	"smbios": "may set a variable from the firmware", "gettext": "reads translations", "save_env": "writes grubenv",
	"multiboot": "opens a kernel", "multiboot2": "opens a kernel", "module": "opens a file", "module2": "opens a file",
	"acpi": "opens tables", "devicetree": "opens a device tree", "verify_detached": "opens files", "trust": "opens a key",
}

// command runs one command's effect; measured says it runs in normal
// mode (the embedded configuration's rescue parser measures no command
// but opens files the same way). It returns the command's status.
func (g *grubSim) command(s *grubScript, line int, words []string, measured bool) (bool, error) {
	invert := false
	if words[0] == "!" && len(words) > 1 {
		invert, words = true, words[1:]
	}
	status, err := g.effect(s, line, words, measured)
	return status != invert, err
}

func (g *grubSim) effect(s *grubScript, line int, words []string, measured bool) (bool, error) {
	name, args := words[0], words[1:]
	if why, ok := grubRuntimeCommands[name]; ok {
		return false, fmt.Errorf("%s %s, which is not simulated", name, why)
	}
	switch name {
	case "set":
		for _, w := range args {
			if k, v, ok := strings.Cut(w, "="); ok {
				if err := g.setVar(k, v, measured); err != nil {
					return false, err
				}
			}
		}
	case "unset":
		for _, k := range args {
			delete(g.vars, k)
		}
	case "true":
	case "false":
		return false, nil
	case "[", "test":
		if name == "[" {
			if len(args) == 0 || args[len(args)-1] != "]" {
				return false, errors.New("[ without a closing ]")
			}
			args = args[:len(args)-1]
		}
		return g.test(args)
	case "search", "search.file", "search.fs_uuid", "search.fs_label":
		return g.search(name, args)
	case "insmod":
		if len(args) != 1 {
			return false, errors.New("insmod takes one module")
		}
		return g.insmod(args[0], 0)
	case "normal":
		config := g.vars["prefix"] + "/grub.cfg"
		if len(args) > 0 {
			config = args[0]
		}
		return true, g.normalMode(config)
	case "source", "configfile":
		if len(args) == 0 {
			return false, fmt.Errorf("%s without a file", name)
		}
		return true, g.source(name, args[0])
	case "load_env":
		return true, g.loadEnv(args)
	case "linux", "linuxefi", "linux16":
		if len(args) == 0 {
			return false, fmt.Errorf("%s without a kernel", name)
		}
		f, err := g.open(args[0], name)
		if err != nil {
			return false, err
		}
		g.kernel = &GRUBKernel{Command: name, Path: args[0], File: f.local}
		text := "kernel_cmdline: " + strings.Join(args, " ")
		return true, g.b.Extend(PCRBootLoaderConfig, baseline.Measurement{Type: "EV_IPL", Description: text, Data: append([]byte(text), 0),
			Digest: baseline.HashOf([]byte(strings.Join(args, " "))), Provenance: baseline.Provenance{Rule: "GRUB: kernel command line", Artifact: g.opts.ConfigPath}})
	case "initrd", "initrdefi", "initrd16":
		for _, f := range args {
			if strings.HasPrefix(f, "--") {
				continue
			}
			if _, err := g.open(f, name); err != nil {
				return false, err
			}
		}
	case "chainloader":
		// The image is measured here and, loaded by the firmware, into PCR
		// 4 too (give it as an EFI application for that).
		for _, f := range args {
			if !strings.HasPrefix(f, "--") {
				_, err := g.open(f, name)
				return err == nil, err
			}
		}
		return false, errors.New("chainloader without a file")
	case "loopback":
		var files []string
		for _, a := range args {
			if a == "-d" || a == "--delete" {
				return true, nil
			}
			if !strings.HasPrefix(a, "-") {
				files = append(files, a)
			}
		}
		if len(files) != 2 {
			return false, errors.New("loopback takes a device name and a file")
		}
		_, err := g.open(files[1], name)
		return err == nil, err
	case "boot":
		g.booted = true
	default:
		// A lone "name=value" is an assignment, as wic's "default=boot".
		if k, v, ok := strings.Cut(name, "="); ok && len(args) == 0 && k != "" {
			return true, g.setVar(k, v, measured)
		}
	}
	return true, nil
}

// setVar assigns a variable; setting prefix in normal mode has it read
// the module lists again (normal/main.c's hook on prefix).
func (g *grubSim) setVar(k, v string, normal bool) error {
	g.vars[k] = v
	if k == "prefix" && normal {
		return g.readLists()
	}
	return nil
}

// source runs a file: source in the current scope and menu, configfile
// and normal in a scope of their own (commands/configfile.c), whose menu,
// if it has entries, is shown and its default booted.
func (g *grubSim) source(cmd, name string) error {
	f, err := g.open(name, cmd)
	if err != nil {
		return err
	}
	s := &grubScript{name: name, text: string(f.data), local: f.local}
	if f.cfg {
		s.name = "grub.cfg"
	}
	if cmd == "source" {
		return g.runFile(s)
	}
	vars, entries := g.vars, g.entries
	g.vars, g.entries = make(map[string]string, len(vars)), nil
	for k, v := range vars {
		g.vars[k] = v
	}
	if err := g.runFile(s); err != nil {
		return err
	}
	if err := g.bootDefault(); err != nil {
		return err
	}
	g.vars, g.entries = vars, entries
	return nil
}

// insmod loads a module as kern/dl.c does: one built in or loaded already
// opens nothing; another is read from $prefix/x86_64-efi/NAME.mod
// (measured), then its dependencies.
func (g *grubSim) insmod(mod string, depth int) (bool, error) {
	file := mod
	if !strings.ContainsAny(mod, "/(") {
		if g.loaded[mod] {
			return true, nil
		}
		if !g.modulesKnown {
			g.note("PCRs 8/9: insmod %s: the GRUB image's modules are unknown (no GRUB image among the inputs): assumed built in", mod)
			return true, nil
		}
		file = g.vars["prefix"] + "/x86_64-efi/" + mod + ".mod"
	}
	_, ok, err := g.lookup(file)
	if err != nil {
		return false, fmt.Errorf("insmod %s: %w", mod, err)
	}
	if !ok {
		g.note("PCRs 8/9: insmod %s: not built into the GRUB image and %s is not among the files: GRUB fails to load it", mod, file)
		return false, nil
	}
	f, err := g.open(file, "insmod "+mod)
	if err != nil {
		return false, err
	}
	g.loaded[strings.TrimSuffix(path.Base(mod), ".mod")] = true
	deps, err := GRUBModuleDeps(f.data)
	if err != nil {
		return false, fmt.Errorf("insmod %s: %s: %w", mod, f.local, err)
	}
	if depth >= grubMaxDepth {
		return false, fmt.Errorf("insmod %s: module dependencies nested deeper than %d", mod, grubMaxDepth)
	}
	for _, d := range deps {
		if ok, err := g.insmod(d, depth+1); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// search decides search's outcome on the boot device's files: --file
// probes (device)FILE, which opens it (commands/search.c), and sets the
// variable to the device; UUIDs and labels are not described.
func (g *grubSim) search(cmd string, args []string) (bool, error) {
	kind, set, setVar := "", false, "root"
	switch cmd {
	case "search.file":
		kind = "file"
	case "search.fs_uuid":
		kind = "uuid"
	case "search.fs_label":
		kind = "label"
	}
	var keys []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--file" || a == "-f":
			kind = "file"
		case a == "--fs-uuid" || a == "-u":
			kind = "uuid"
		case a == "--label" || a == "-l":
			kind = "label"
		case a == "--set" || a == "-s":
			set = true
		case strings.HasPrefix(a, "--set="):
			set, setVar = true, strings.TrimPrefix(a, "--set=")
		case a == "--no-floppy" || a == "-n" || strings.HasPrefix(a, "--hint"):
			if (a == "--hint" || strings.HasPrefix(a, "--hint-") && !strings.Contains(a, "=")) && i+1 < len(args) {
				i++
			}
		case strings.HasPrefix(a, "-") && a != "-":
			return false, fmt.Errorf("%s option %s is not simulated", cmd, a)
		default:
			keys = append(keys, a)
		}
	}
	if cmd != "search" && len(keys) == 2 {
		set, setVar, keys = true, keys[1], keys[:1]
	}
	if len(keys) != 1 {
		return false, fmt.Errorf("%s takes one file, UUID or label", cmd)
	}
	if kind != "file" {
		return false, fmt.Errorf("%s for a file system %s: file system UUIDs and labels are not described (search --file is simulated)", cmd, kind)
	}
	probe := "(" + g.boot + ")" + keys[0]
	if _, ok, err := g.lookup(probe); err != nil {
		return false, err
	} else if !ok {
		return false, fmt.Errorf("%s %s: not among the boot device's files, and GRUB would go on to devices no input describes", cmd, keys[0])
	}
	if _, err := g.open(probe, cmd); err != nil {
		return false, err
	}
	g.note("PCRs 8/9: %s %s: found on the boot device %s (the only device described)", cmd, keys[0], g.boot)
	if set {
		return true, g.setVar(setVar, g.boot, g.normalRan)
	}
	return true, nil
}

// loadEnv reads an environment block (grubenv) as commands/loadenv.c
// does: opened (measured unless --skip-sig) and its variables set.
func (g *grubSim) loadEnv(args []string) error {
	file, skip, only := g.vars["prefix"]+"/grubenv", false, []string(nil)
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--skip-sig" || a == "-s":
			skip = true
		case (a == "--file" || a == "-f") && i+1 < len(args):
			i++
			file = args[i]
		case strings.HasPrefix(a, "--file="):
			file = strings.TrimPrefix(a, "--file=")
		default:
			only = append(only, a)
		}
	}
	f, ok, err := g.lookup(file)
	if err != nil {
		return fmt.Errorf("load_env: %w", err)
	}
	if !ok {
		return fmt.Errorf("load_env reads %s: give the environment block the machine has (%s %s=FILE): its variables decide what follows", file, g.filesOption(), file)
	}
	if skip && f.data == nil {
		c, err := g.read(f.local)
		if err != nil {
			return err
		}
		f.data = c.data
	} else if !skip {
		if f, err = g.open(file, "load_env"); err != nil {
			return err
		}
	}
	for _, l := range strings.Split(string(f.data), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") || (only != nil && !slices.Contains(only, k)) {
			continue
		}
		v = strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(v)
		g.vars[k] = v
	}
	return nil
}

// test evaluates test's expression (commands/test.c): -e, -f, -d decide
// on the boot device's files without opening them; -s opens the file
// (measured); strings and integers compare; !, -a, -o and ( ) combine.
func (g *grubSim) test(args []string) (bool, error) {
	p := &grubTest{g: g, args: args}
	v, err := p.or()
	if err != nil {
		return false, err
	}
	if p.i != len(args) {
		return false, fmt.Errorf("test: unexpected %q", args[p.i])
	}
	return v, nil
}

type grubTest struct {
	g    *grubSim
	args []string
	i    int
}

func (p *grubTest) or() (bool, error) {
	v, err := p.and()
	for err == nil && p.i < len(p.args) && p.args[p.i] == "-o" {
		p.i++
		var w bool
		w, err = p.and()
		v = v || w
	}
	return v, err
}

func (p *grubTest) and() (bool, error) {
	v, err := p.unary()
	for err == nil && p.i < len(p.args) && p.args[p.i] == "-a" {
		p.i++
		var w bool
		w, err = p.unary()
		v = v && w
	}
	return v, err
}

func (p *grubTest) unary() (bool, error) {
	a := p.args[p.i:]
	switch {
	case len(a) == 0:
		return false, nil
	case a[0] == "!":
		p.i++
		v, err := p.unary()
		return !v, err
	case a[0] == "(":
		p.i++
		v, err := p.or()
		if err == nil && (p.i >= len(p.args) || p.args[p.i] != ")") {
			err = errors.New("test: ( without )")
		}
		p.i++
		return v, err
	case len(a) >= 3 && grubBinary(a[1]):
		p.i += 3
		return grubCompare(a[0], a[1], a[2])
	case len(a) >= 2 && len(a[0]) == 2 && a[0][0] == '-' && strings.Contains("efdszn", a[0][1:]):
		p.i += 2
		return p.file(a[0], a[1])
	default:
		p.i++
		return a[0] != "", nil
	}
}

func grubBinary(op string) bool {
	switch op {
	case "=", "==", "!=", "<", ">", "<=", ">=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
		return true
	}
	return false
}

func grubCompare(a, op, b string) (bool, error) {
	switch op {
	case "=", "==":
		return a == b, nil
	case "!=":
		return a != b, nil
	case "<":
		return a < b, nil
	case ">":
		return a > b, nil
	case "<=":
		return a <= b, nil
	case ">=":
		return a >= b, nil
	}
	// GRUB reads integers with strtol: no number reads as 0.
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	switch op {
	case "-eq":
		return x == y, nil
	case "-ne":
		return x != y, nil
	case "-lt":
		return x < y, nil
	case "-le":
		return x <= y, nil
	case "-gt":
		return x > y, nil
	}
	return x >= y, nil
}

func (p *grubTest) file(op, name string) (bool, error) {
	switch op {
	case "-z":
		return name == "", nil
	case "-n":
		return name != "", nil
	case "-s":
		f, ok, err := p.g.lookup(name)
		if err != nil || !ok {
			if err == nil {
				p.g.note("PCRs 8/9: test -s %s: false, no such file among the boot device's files", name)
			}
			return false, err
		}
		if f, err = p.g.open(name, "test -s"); err != nil {
			return false, err
		}
		return len(f.data) > 0, nil
	}
	_, pth, err := p.g.split(name)
	if err != nil {
		return false, err
	}
	_, isFile, err := p.g.lookup(name)
	if err != nil {
		return false, err
	}
	isDir := !isFile && p.g.isDir(pth)
	var v bool
	switch op {
	case "-e":
		v = isFile || isDir
	case "-f":
		v = isFile
	case "-d":
		v = isDir
	}
	if !v {
		p.g.note("PCRs 8/9: test %s %s: false, no such file among the boot device's files", op, name)
	}
	return v, nil
}

// defineEntry measures a menuentry definition (its arguments and its
// block as written) and adds it to the current menu.
func (g *grubSim) defineEntry(s *grubScript, n *grubMenu) error {
	args, err := g.expand(&grubSimple{words: n.words, line: n.line})
	if err != nil {
		return errAt(s, n.line, err)
	}
	if err := g.measureCmd(strings.Join(args, " ")+" "+s.text[n.blockStart:n.blockEnd], "GRUB: command run"); err != nil {
		return err
	}
	e := grubEntry{body: n.body, script: s}
	for i := 1; i < len(args); i++ {
		switch a := args[i]; a {
		case "--class", "--users", "--hotkey", "--source":
			i++
		case "--id":
			if i+1 < len(args) {
				e.id = args[i+1]
			}
			i++
		case "--unrestricted":
		default:
			if strings.HasPrefix(a, "--id=") {
				e.id = strings.TrimPrefix(a, "--id=")
			} else if e.title == "" && !strings.HasPrefix(a, "--") {
				e.title = a
			}
		}
	}
	g.entries = append(g.entries, e)
	return nil
}

func (g *grubSim) defaultEntry() (grubEntry, error) {
	def := g.vars["default"]
	if def == "" {
		def = "0"
	}
	if n, err := strconv.Atoi(def); err == nil {
		if n < 0 || n >= len(g.entries) {
			return grubEntry{}, fmt.Errorf("default=%d but grub.cfg has %d menu entries", n, len(g.entries))
		}
		return g.entries[n], nil
	}
	for _, e := range g.entries {
		if e.title == def || e.id == def {
			return e, nil
		}
	}
	return grubEntry{}, fmt.Errorf("default=%q names no menu entry", def)
}
