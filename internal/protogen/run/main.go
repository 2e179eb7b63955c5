// Command run is `make generate`: it regenerates the checked-in Go code of
// goldenpcr's .proto files with package protogen.
//
//	go run ./internal/protogen/run -plugin bin/protoc-gen-go
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/goldenpcr/goldenpcr/internal/protogen"
)

func main() {
	plugin := flag.String("plugin", "bin/protoc-gen-go", "the protoc-gen-go binary")
	flag.Parse()
	if err := protogen.Generate(".", *plugin, "."); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}
