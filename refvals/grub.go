package refvals

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// GRUB with its tpm module measures every command it runs into PCR 8 and
// every file it reads into PCR 9.
const PCRBootLoaderConfig = 8

// GRUBOptions describe the boot GRUB is simulated for.
type GRUBOptions struct {
	// Root is GRUB's root device, e.g. "(hd0)".
	Root string
	// Prefix is the directory of grub.cfg on Root, e.g. "/EFI/debian";
	// Compute fills an empty one from the GRUB image (its embedded
	// configuration or prefix), else DefaultGRUBPrefix.
	Prefix string
	// DebianPrelude simulates the configuration Debian embeds in its
	// monolithic and signed GRUB images, which looks for
	// $prefix/x86_64-efi/grub.cfg, then sources $prefix/grub.cfg.
	DebianPrelude bool
	// OECore simulates OE-core's grub-efi-boot<arch>.efi: its embedded
	// configuration (search.file /EFI/BOOT/grub.cfg root; set
	// prefix=($root)/EFI/BOOT) runs in GRUB's rescue parser and is not
	// measured; normal mode then measures $prefix/grub.cfg into PCR 9
	// twice before running it (as the lab's grub-oe boot shows).
	OECore bool
	// ShapeGiven says DebianPrelude and OECore were chosen by the caller:
	// the GRUB image's embedded configuration is then not read. Without
	// it, Compute reads the embedded configuration of the GRUB image among
	// the EFI applications (or the GRUB files) and sets both.
	ShapeGiven bool
	// Files maps paths as GRUB names them ("/vmlinuz") to local files, for
	// the PCR 9 digests of what GRUB reads.
	Files map[string]string
	// ConfigPath is the local grub.cfg file, for provenance.
	ConfigPath string
}

// GRUBPCR8And9 simulates GRUB running cfg and booting its default entry,
// and appends what GRUB measures: "grub_cmd: " plus each command as run
// (quotes removed, variables expanded) into PCR 8, "kernel_cmdline: " for
// the kernel, and each file it reads into PCR 9 (data: the path, digest:
// the file's hash). Only straight-line configurations are simulated: set,
// insmod, search (measured; its effect on root is not simulated), linux,
// initrd (and their efi variants), boot, name=value assignments, and
// menuentry blocks (also wic's "menuentry 'boot'{"); if, for,
// function, source and submenu are refused with the line number, as are
// blocks opening inside a menuentry and variable expansion beyond its
// budget (see grubExpansionPerByte).
//
// It returns the kernel the simulated boot loads, if any.
func GRUBPCR8And9(b *baseline.Builder, cfg []byte, opts GRUBOptions) (*GRUBKernel, error) {
	g := &grubSim{b: b, opts: opts, vars: map[string]string{"root": opts.Root, "prefix": opts.Root + opts.Prefix},
		budget: grubExpansionPerByte*len(cfg) + grubExpansionFloor}
	if opts.DebianPrelude {
		p := opts.Root + opts.Prefix
		for _, c := range []string{"[ -z " + p + " -o ! -e " + p + " ]", "[ -e " + p + "/x86_64-efi/grub.cfg ]", "[ -e " + p + "/grub.cfg ]", "source " + p + "/grub.cfg"} {
			if err := g.measureCmd(c, "Debian's embedded GRUB configuration"); err != nil {
				return nil, err
			}
		}
		if err := g.measureFileData(p+"/grub.cfg", cfg, opts.ConfigPath); err != nil {
			return nil, err
		}
	}
	if opts.OECore {
		for range 2 {
			if err := g.measureFileData(opts.Root+opts.Prefix+"/grub.cfg", cfg, opts.ConfigPath); err != nil {
				return nil, err
			}
		}
	}
	if err := g.run(string(cfg), 1, true); err != nil {
		return nil, err
	}
	if g.booted || len(g.entries) == 0 {
		return g.kernel, nil
	}
	e, err := g.defaultEntry()
	if err != nil {
		return nil, err
	}
	if err := g.measureCmd("setparams "+e.title, "GRUB: boot of the default menu entry"); err != nil {
		return nil, err
	}
	if err := g.run(e.body, e.line, false); err != nil {
		return nil, err
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
// byte of grub.cfg plus grubExpansionFloor, in all. Every variable's value
// is made of the configuration's text and of expansions, so this bounds
// the variables too. Real configurations expand short variables (root,
// prefix, a command line) a few times and stay far below it, the floor
// leaving a small file room for long values; doubling a variable a line
// (set a=$a$a) grows exponentially, appending to one quadratically, and
// either is refused before it costs more than a small multiple of the
// input.
const (
	grubExpansionPerByte = 16
	grubExpansionFloor   = 1 << 20
)

type grubEntry struct {
	title string
	body  string
	line  int
}

type grubSim struct {
	b       *baseline.Builder
	opts    GRUBOptions
	vars    map[string]string
	entries []grubEntry
	booted  bool
	kernel  *GRUBKernel
	budget  int // bytes variable expansion may still produce
}

func (g *grubSim) measureCmd(cmd, rule string) error {
	text := "grub_cmd: " + cmd
	return g.b.Extend(PCRBootLoaderConfig, baseline.Measurement{Type: "EV_IPL", Description: text, Data: append([]byte(text), 0),
		Digest: baseline.HashOf([]byte(cmd)), Provenance: baseline.Provenance{Rule: rule, Artifact: g.opts.ConfigPath}})
}

func (g *grubSim) measureFile(grubPath string) error {
	local, ok := g.opts.Files[grubPath]
	if !ok {
		return fmt.Errorf("GRUB reads %s: give the local file for it", grubPath)
	}
	data, err := os.ReadFile(local)
	if err != nil {
		return err
	}
	return g.measureFileData(grubPath, data, local)
}

func (g *grubSim) measureFileData(grubPath string, data []byte, local string) error {
	prov := baseline.Provenance{Rule: "GRUB: file read, H(contents)", Artifact: local}
	if local != "" {
		prov.ArtifactSHA256 = fmt.Sprintf("%x", pcr.SHA256.Sum(data))
		g.b.AddInput(baseline.Input{Role: "grub-file", Path: local, SHA256: prov.ArtifactSHA256})
	}
	return g.b.Extend(PCRKernelConfig, baseline.Measurement{Type: "EV_IPL", Description: grubPath, Data: append([]byte(grubPath), 0),
		Digest: baseline.HashOf(data), Provenance: prov})
}

// run executes script's lines, the first numbered firstLine; topLevel
// allows menuentry definitions.
func (g *grubSim) run(script string, firstLine int, topLevel bool) error {
	lineNo := firstLine
	for rest := script; rest != "" && !g.booted; lineNo++ {
		lineStart := len(script) - len(rest)
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		words, err := grubWords(line, g.vars, &g.budget)
		if err != nil {
			return fmt.Errorf("grub.cfg line %d: %w", lineNo, err)
		}
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "menuentry":
			if !topLevel {
				return fmt.Errorf("grub.cfg line %d: nested menuentry is not simulated", lineNo)
			}
			start := strings.LastIndex(line, "{")
			if len(words) < 3 || words[len(words)-1] != "{" || start < 0 {
				return fmt.Errorf("grub.cfg line %d: only \"menuentry TITLE {\" with the brace on its line is simulated", lineNo)
			}
			entryLine := lineNo
			for {
				if rest == "" {
					return fmt.Errorf("grub.cfg line %d: menuentry block never closed", entryLine)
				}
				lineNo++
				var l string
				l, rest, _ = strings.Cut(rest, "\n")
				if strings.HasPrefix(strings.TrimSpace(l), "}") {
					break
				}
				// The first line starting with "}" closes the block, which
				// is right only if no block opens inside it.
				if w := grubFirstWord(l); w == "menuentry" || w == "submenu" || w == "function" {
					return fmt.Errorf("grub.cfg line %d: %s inside a menuentry block is not simulated", lineNo, w)
				}
			}
			// The block is measured as written, from "{" to the matching
			// "}": sliced from the script, as copying it a line at a time
			// would be quadratic.
			block := strings.TrimSuffix(script[lineStart+start:len(script)-len(rest)], "\n")
			title := strings.Join(words[1:len(words)-1], " ")
			if err := g.measureCmd("menuentry "+title+" "+block, "GRUB: command run"); err != nil {
				return err
			}
			inner := block[1:strings.LastIndex(block, "}")]
			g.entries = append(g.entries, grubEntry{title: title, body: strings.TrimPrefix(inner, "\n"), line: entryLine + 1})
			continue
		case "if", "elif", "else", "fi", "for", "while", "function", "source", "configfile", "submenu":
			return fmt.Errorf("grub.cfg line %d: %q is not simulated (straight-line configurations only)", lineNo, words[0])
		}
		cmd := strings.Join(words, " ")
		if err := g.measureCmd(cmd, "GRUB: command run"); err != nil {
			return err
		}
		switch words[0] {
		case "set":
			for _, w := range words[1:] {
				if k, v, ok := strings.Cut(w, "="); ok {
					g.vars[k] = v
				}
			}
		default:
			// A lone "name=value" is an assignment, as wic's "default=boot".
			if k, v, ok := strings.Cut(words[0], "="); ok && len(words) == 1 && k != "" {
				g.vars[k] = v
			}
		case "linux", "linuxefi", "linux16":
			if len(words) < 2 {
				return fmt.Errorf("grub.cfg line %d: %s without a kernel", lineNo, words[0])
			}
			if err := g.measureFile(words[1]); err != nil {
				return fmt.Errorf("grub.cfg line %d: %w", lineNo, err)
			}
			g.kernel = &GRUBKernel{Command: words[0], Path: words[1], File: g.opts.Files[words[1]]}
			text := "kernel_cmdline: " + strings.Join(words[1:], " ")
			if err := g.b.Extend(PCRBootLoaderConfig, baseline.Measurement{Type: "EV_IPL", Description: text, Data: append([]byte(text), 0),
				Digest: baseline.HashOf([]byte(strings.Join(words[1:], " "))), Provenance: baseline.Provenance{Rule: "GRUB: kernel command line", Artifact: g.opts.ConfigPath}}); err != nil {
				return err
			}
		case "initrd", "initrdefi", "initrd16":
			for _, f := range words[1:] {
				if err := g.measureFile(f); err != nil {
					return fmt.Errorf("grub.cfg line %d: %w", lineNo, err)
				}
			}
		case "boot":
			g.booted = true
		}
	}
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
		if e.title == def {
			return e, nil
		}
	}
	return grubEntry{}, fmt.Errorf("default=%q names no menu entry (ids are not simulated)", def)
}

// grubWords splits a command line the way GRUB's script parser does for
// simple commands: quotes group and are removed, $var and ${var} expand,
// each expansion taken from *budget.
func grubWords(line string, vars map[string]string, budget *int) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '#' && !inWord:
			return words, nil
		case c == '{' || c == '}':
			// Braces are tokens of their own, as in GRUB's lexer: wic
			// writes "menuentry 'boot'{".
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			words = append(words, string(c))
		case c == ' ' || c == '\t' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c quote", c)
			}
			s := line[i+1 : i+1+end]
			if c == '"' {
				if err := expandVars(&cur, s, vars, budget); err != nil {
					return nil, err
				}
			} else {
				cur.WriteString(s)
			}
			inWord = true
			i += end + 1
		case c == '$':
			name, next, err := grubVar(line, i)
			if err != nil {
				return nil, err
			}
			if err := expandVar(&cur, name, vars, budget); err != nil {
				return nil, err
			}
			inWord = true
			i = next - 1
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// grubVar reads the variable reference at line[i] ("$name" or
// "${name}") and returns its name and the index just past it.
func grubVar(line string, i int) (string, int, error) {
	j := i + 1
	if j < len(line) && line[j] == '{' {
		end := strings.IndexByte(line[j:], '}')
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated ${")
		}
		return line[j+1 : j+end], j + end + 1, nil
	}
	for j < len(line) && (line[j] == '_' || line[j] >= 'a' && line[j] <= 'z' || line[j] >= 'A' && line[j] <= 'Z' || line[j] >= '0' && line[j] <= '9') {
		j++
	}
	return line[i+1 : j], j, nil
}

// expandVars writes s, double-quoted text, to out with its variable
// references expanded.
func expandVars(out *strings.Builder, s string, vars map[string]string, budget *int) error {
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			out.WriteByte(s[i])
			continue
		}
		name, next, err := grubVar(s, i)
		if err != nil {
			out.WriteString(s[i:])
			break
		}
		if err := expandVar(out, name, vars, budget); err != nil {
			return err
		}
		i = next - 1
	}
	return nil
}

// expandVar writes the value of the variable name to out, if *budget
// allows.
func expandVar(out *strings.Builder, name string, vars map[string]string, budget *int) error {
	v := vars[name]
	if len(v) > *budget {
		return fmt.Errorf("expanding $%s exceeds the budget for variable expansion (%d bytes per byte of grub.cfg plus %d KiB)", name, grubExpansionPerByte, grubExpansionFloor>>10)
	}
	*budget -= len(v)
	out.WriteString(v)
	return nil
}

// grubFirstWord returns line's command name as written.
func grubFirstWord(line string) string {
	line = strings.TrimLeft(line, " \t")
	if end := strings.IndexAny(line, " \t\r{"); end >= 0 {
		return line[:end]
	}
	return line
}
