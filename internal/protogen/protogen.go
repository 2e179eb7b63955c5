// Package protogen regenerates the checked-in Go code of goldenpcr's
// .proto files (cml/tpm2d.proto): it runs Debian's protoc with a
// protoc-gen-go built from the protobuf module go.mod names, then puts the
// generated imports in goimports' groups (standard library first), so the
// checked-in code passes the same formatting checks as the rest. `make
// generate` runs it, and cml's drift test runs it into a temporary folder.
package protogen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Module is the module path protoc-gen-go strips from go_package.
const Module = "github.com/goldenpcr/goldenpcr"

// A Proto is one .proto file: its folder (the include path, relative to
// the repository root), its name, and the Go file it generates (relative
// to the output folder).
type Proto struct {
	Dir, Name, GoFile string
}

// Protos are the .proto files goldenpcr generates code from.
var Protos = []Proto{
	{Dir: "cml", Name: "tpm2d.proto", GoFile: "cml/tpm2dpb/tpm2d.pb.go"},
}

// Generate runs protoc with plugin (a protoc-gen-go binary) for every
// Proto, with root as the repository root, writing into out, and groups
// the imports of each generated file.
func Generate(root, plugin, out string) error {
	plugin, err := filepath.Abs(plugin)
	if err != nil {
		return err
	}
	for _, p := range Protos {
		cmd := exec.Command("protoc", "--plugin=protoc-gen-go="+plugin, "-I", filepath.Join(root, p.Dir),
			"--go_out="+out, "--go_opt=module="+Module, filepath.Join(root, p.Dir, p.Name))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("protoc %s: %v\n%s", p.Name, err, stderr.String())
		}
		path := filepath.Join(out, p.GoFile)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fixed, err := GroupImports(src)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := os.WriteFile(path, fixed, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// GroupImports rewrites a Go file's single import block as goimports
// groups it: standard-library packages, a blank line, the others, each
// group sorted.
func GroupImports(src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	var decl *ast.GenDecl
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
			if decl != nil {
				return nil, fmt.Errorf("more than one import declaration")
			}
			decl = g
		}
	}
	if decl == nil || !decl.Lparen.IsValid() {
		return src, nil
	}
	var std, other []string
	for _, s := range decl.Specs {
		is := s.(*ast.ImportSpec)
		path, err := strconv.Unquote(is.Path.Value)
		if err != nil {
			return nil, err
		}
		line := is.Path.Value
		if is.Name != nil {
			line = is.Name.Name + " " + line
		}
		if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
			other = append(other, line)
		} else {
			std = append(std, line)
		}
	}
	sort.Strings(std)
	sort.Strings(other)
	var block strings.Builder
	block.WriteString("import (\n")
	for _, l := range std {
		block.WriteString("\t" + l + "\n")
	}
	if len(std) > 0 && len(other) > 0 {
		block.WriteString("\n")
	}
	for _, l := range other {
		block.WriteString("\t" + l + "\n")
	}
	block.WriteString(")")
	start, end := fset.Position(decl.Pos()).Offset, fset.Position(decl.End()).Offset
	out := append(append(append([]byte{}, src[:start]...), block.String()...), src[end:]...)
	return format.Source(out)
}
