// Command goldenpcr-lab is what `make lab` runs: it boots every lab
// variant (or the variants named with -variant) under QEMU, writes each
// capture, and prints how goldenpcr's replay of the captured event log
// compares with the PCRs the TPM reported. With -uki it boots a UKI of
// your own instead and compares what goldenpcr predicts for it with what
// the firmware measured.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/goldenpcr/goldenpcr/lab"
)

func main() {
	variants := flag.String("variant", "", "comma-separated variants to boot (default: all)")
	uki := flag.String("uki", "", "boot this UKI (secure boot off) instead of the lab's variants")
	timeout := flag.Duration("timeout", 2*time.Minute, "with -uki: how long to let it run before reading the TPM")
	cached := flag.Bool("cached", false, "reuse captures of unchanged inputs instead of booting again")
	flag.Parse()

	l := lab.New(os.Stderr)
	l.Fresh = !*cached
	if err := lab.CheckRequirements(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if *uki != "" {
		rep, err := l.BootUKI(*uki, *timeout)
		if rep != nil {
			rep.Print(os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "lab:", err)
			os.Exit(2)
		}
		if !rep.OK() {
			os.Exit(1)
		}
		return
	}
	var todo []lab.Variant
	if *variants == "" {
		todo = lab.Variants
	} else {
		for _, n := range strings.Split(*variants, ",") {
			v, ok := lab.VariantByName(strings.TrimSpace(n))
			if !ok {
				fmt.Fprintf(os.Stderr, "lab: no variant %q\n", n)
				os.Exit(2)
			}
			todo = append(todo, v)
		}
	}
	start := time.Now()
	failed := false
	for _, v := range todo {
		c, err := l.Run(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lab:", err)
			failed = true
			continue
		}
		rep, err := lab.Check(c)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lab:", err)
			failed = true
			continue
		}
		rep.Print(os.Stdout)
		if !rep.OK() {
			failed = true
		}
	}
	fmt.Printf("lab: %d variant(s) in %.0fs; captures under %s/out\n", len(todo), time.Since(start).Seconds(), l.Cache)
	if failed {
		os.Exit(1)
	}
}
