// Command benchreport runs the benchmarks the issues ask for and prints
// goldenpcr's speed next to the peer tools measured in the same run, as
// ratios. It is what `make bench` runs; it measures, it does not assert.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/goldenpcr", "goldenpcr binary to time")
	runs := flag.Int("runs", 30, "process runs per tool and input")
	only := flag.String("only", "", "run only these benchmarks, a comma-separated list of "+strings.Join(benchNames, ", ")+" (default: all)")
	flag.Parse()
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !slices.Contains(benchNames, n) {
			fmt.Fprintf(os.Stderr, "benchreport: -only: unknown benchmark %q (known: %s)\n", n, strings.Join(benchNames, ", "))
			os.Exit(2)
		}
		want[n] = true
	}
	run := func(name string) bool { return len(want) == 0 || want[name] }
	ok := true
	if run("eventlog") {
		ok = eventlogProcess(*bin, *runs) && ok
		ok = eventlogInProcess() && ok
	}
	if run("authenticode") {
		ok = authenticodeBench() && ok
	}
	if run("ima") {
		ok = imaBench(*bin) && ok
	}
	if run("quote") {
		ok = quoteBench(*bin, *runs) && ok
	}
	if run("fleet") {
		ok = fleetBench(*bin) && ok
	}
	if run("diff") {
		ok = diffBench() && ok
	}
	if !ok {
		os.Exit(1)
	}
}

// benchNames are the benchmarks -only selects, in the order they run.
var benchNames = []string{"eventlog", "authenticode", "ima", "quote", "fleet", "diff"}

// procTime is the mean cost of one run of a process.
type procTime struct {
	wall time.Duration // elapsed
	cpu  time.Duration // user + system CPU of the child
}

// timeProcess runs argv n times (after one warm-up run), discarding output.
func timeProcess(n int, argv ...string) (procTime, error) {
	run := func() (time.Duration, error) {
		c := exec.Command(argv[0], argv[1:]...)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		if err := c.Run(); err != nil {
			// Exit 1 means "mismatch" for goldenpcr and still timed work.
			if ee, isExit := err.(*exec.ExitError); !isExit || ee.ExitCode() > 1 {
				return 0, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, stderr.String())
			}
		}
		return c.ProcessState.UserTime() + c.ProcessState.SystemTime(), nil
	}
	if _, err := run(); err != nil {
		return procTime{}, err
	}
	var pt procTime
	start := time.Now()
	for i := 0; i < n; i++ {
		cpu, err := run()
		if err != nil {
			return procTime{}, err
		}
		pt.cpu += cpu
	}
	pt.wall = time.Since(start) / time.Duration(n)
	pt.cpu /= time.Duration(n)
	return pt, nil
}

// eventlogProcess compares whole-process parse+replay of every real log
// with tpm2_eventlog on the same log. Goal: at most half its time.
func eventlogProcess(bin string, runs int) bool {
	fmt.Println("== eventlog: parse + replay as a whole process (goal: goldenpcr ≤ 0.5× tpm2_eventlog)")
	logs, _ := filepath.Glob("fixtures/tcg/*.bin")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "log\tsize\tgoldenpcr wall\ttpm2_eventlog wall\tratio\tgoldenpcr CPU\ttpm2_eventlog CPU\tratio\t")
	var sumOurs, sumPeer procTime
	row := func(name, size string, ours, peer procTime) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f×\t%s\t%s\t%.2f×\t\n", name, size,
			ours.wall.Round(time.Microsecond), peer.wall.Round(time.Microsecond), float64(ours.wall)/float64(peer.wall),
			ours.cpu.Round(time.Microsecond), peer.cpu.Round(time.Microsecond), float64(ours.cpu)/float64(peer.cpu))
	}
	for _, l := range logs {
		st, _ := os.Stat(l)
		ours, err := timeProcess(runs, bin, "eventlog", "replay", l)
		if err != nil {
			fmt.Println("  error:", err)
			return false
		}
		peer, err := timeProcess(runs, "tpm2_eventlog", l)
		if err != nil {
			fmt.Println("  error:", err)
			return false
		}
		sumOurs.wall += ours.wall
		sumOurs.cpu += ours.cpu
		sumPeer.wall += peer.wall
		sumPeer.cpu += peer.cpu
		row(filepath.Base(l), fmt.Sprintf("%d B", st.Size()), ours, peer)
	}
	row("all logs", "", sumOurs, sumPeer)
	tw.Flush()
	fmt.Println()
	return true
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+([\d.]+) ns/op`)

// bestNs runs the benchmarks matching pattern in pkg three times on one
// core and returns each one's best ns/op.
func bestNs(pkg, pattern string) (map[string]float64, []byte, error) {
	out, err := exec.Command("go", "test", "-run", "^$", "-bench", pattern, "-benchtime", "2s", "-count", "3", "-cpu", "1", pkg).CombinedOutput()
	if err != nil {
		return nil, out, err
	}
	best := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			ns, _ := strconv.ParseFloat(m[2], 64)
			if b, ok := best[m[1]]; !ok || ns < b {
				best[m[1]] = ns
			}
		}
	}
	return best, out, nil
}

// diffBench reports `goldenpcr diff` of two 100 KB logs in process, on
// one core, against the goal of well under 100 ms, and against
// parsing and replaying one such log alone.
func diffBench() bool {
	fmt.Println("== diff: two ~100 KB logs (RHEL 8's, GRUB commands repeated; one command changed, one inserted), in process, one core (goal well under 100 ms)")
	best, out, err := bestNs("./cmd/goldenpcr", "^BenchmarkDiff100KB")
	if err != nil || len(best) == 0 {
		fmt.Printf("  error: %v\n%s", err, out)
		return false
	}
	for _, name := range slices.Sorted(maps.Keys(best)) {
		ns := best[name]
		fmt.Printf("  %-28s %6.2f ms (%.3f of the 100 ms goal)\n", strings.TrimSuffix(name, "-1"), ns/1e6, ns/1e8)
	}
	fmt.Println()
	return true
}

// eventlogInProcess reports logs/s for parse + SHA-256 replay of the 34 KB
// rhel8-uefi.bin log on one core. Goal: ≥ 25,000 logs/s.
func eventlogInProcess() bool {
	fmt.Println("== eventlog: in-process parse + sha256 replay of rhel8-uefi.bin (34 KB), one core (goal ≥ 25,000 logs/s)")
	best, out, err := bestNs("./eventlog", "^BenchmarkParseReplay$")
	ns := best["BenchmarkParseReplay"]
	if err != nil || ns == 0 {
		fmt.Printf("  error: %v; no benchmark result in:\n%s", err, out)
		return false
	}
	fmt.Printf("  %.1f µs per log = %.0f logs/s (best of 3)\n\n", ns/1000, 1e9/ns)
	return true
}
