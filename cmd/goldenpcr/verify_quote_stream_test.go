package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// --batch - reads the requests from standard input, relative paths from
// the working folder, and gives the same results as a batch file;
// --batch-summary counts them on stderr.
func TestVerifyQuoteBatchStdin(t *testing.T) {
	nonce := fixtureNonceHex(t)
	lines := []string{
		jsonLine(t, inlineLine(t, "rsa", "rsa-quote", "rsa-ak.pub", nonce)),
		jsonLine(t, inlineLine(t, "wrong-nonce", "ecc-quote", "ecc-ak.pub", "00"+nonce)),
		`{"id": "broken"`,
		jsonLine(t, inlineLine(t, "ecc", "ecc-quote", "ecc-ak.pub", nonce)),
		jsonLine(t, inlineLine(t, "wrong-nonce-2", "rsa-quote", "rsa-ak.pub", "00"+nonce)),
	}
	input := strings.Join(lines, "\n") + "\n"
	var out, errb bytes.Buffer
	code := execute([]string{"verify", "quote", "--batch", "-", "--batch-summary"}, strings.NewReader(input), &out, &errb)
	_, fileRes, _ := runBatch(t, lines)
	var got []batchLineResult
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r batchLineResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, r)
	}
	if code != exitMismatch || fmt.Sprint(got) != fmt.Sprint(fileRes) {
		t.Errorf("exit %d\nstdin: %+v\nfile:  %+v", code, got, fileRes)
	}
	for _, want := range []string{"batch summary: 5 lines: 2 verified, 2 failed, 1 malformed", "failed nonce: 2"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if code := execute([]string{"verify", "quote", "--batch", "-"}, strings.NewReader("\n\n"), io.Discard, &errb); code != exitUsage || !strings.Contains(errb.String(), "holds no requests") {
		t.Errorf("empty standard input: exit %d %s", code, errb.String())
	}
}

// A producer that writes one request and waits for its answer gets it:
// results are written as they are ready, not at the end, and in order.
// startBatchStream runs `verify quote --batch -` in process on pipes: what
// is written to in is its standard input, results reads its output, and
// done gets its exit code once in is closed.
func startBatchStream() (in io.WriteCloser, results *bufio.Scanner, done <-chan int) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		c := execute([]string{"verify", "quote", "--batch", "-"}, inR, outW, io.Discard)
		outW.Close()
		code <- c
	}()
	return inW, bufio.NewScanner(outR), code
}

func TestVerifyQuoteBatchStreams(t *testing.T) {
	nonce := fixtureNonceHex(t)
	inW, results, done := startBatchStream()
	for i := 0; i < 5; i++ {
		n := nonce
		if i == 3 {
			n = "00" + nonce
		}
		if _, err := io.WriteString(inW, jsonLine(t, inlineLine(t, fmt.Sprintf("r%d", i), "ecc-quote", "ecc-ak.pub", n))+"\n"); err != nil {
			t.Fatal(err)
		}
		line := make(chan string, 1)
		go func() {
			results.Scan()
			line <- results.Text()
		}()
		select {
		case l := <-line:
			var r batchLineResult
			if err := json.Unmarshal([]byte(l), &r); err != nil || r.Line != i+1 || r.ID != fmt.Sprintf("r%d", i) || r.Verified != (i != 3) {
				t.Fatalf("result %d: %q (%v)", i, l, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no result for request %d while the producer waits", i)
		}
	}
	inW.Close()
	if code := <-done; code != exitMismatch {
		t.Errorf("exit %d", code)
	}
}

// 100,000 lines piped through the real binary's --batch - come back in
// order, one result each, while its resident memory stays bounded: the
// lines in flight are a fixed set of chunks, whatever the input's length.
func TestVerifyQuoteBatchStreamBoundedMemory(t *testing.T) {
	const lines, maxRSS = 100_000, 64 << 20
	bin := filepath.Join(t.TempDir(), "goldenpcr")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	nonce := fixtureNonceHex(t)
	good := jsonLine(t, inlineLine(t, "ID", "ecc-quote", "ecc-ak.pub", nonce))
	cmd := exec.Command(bin, "verify", "quote", "--batch", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Every tenth line a real quote to verify, the others a request whose
	// AK does not parse (loaded, refused, cheap).
	go func() {
		w := bufio.NewWriter(stdin)
		for i := 0; i < lines; i++ {
			id := fmt.Sprintf("n%d", i)
			if i%10 == 0 {
				w.WriteString(strings.Replace(good, `"id":"ID"`, `"id":"`+id+`"`, 1))
			} else {
				fmt.Fprintf(w, `{"id":%q,"ak_hex":"00","message_hex":"00","signature_hex":"00","no_nonce":true}`, id)
			}
			w.WriteByte('\n')
		}
		w.Flush()
		stdin.Close()
	}()
	peak := 0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if kb := peakRSSKiB(cmd.Process.Pid); kb*1024 > peak {
				peak = kb * 1024
			}
		}
	}()
	sc := bufio.NewScanner(stdout)
	n := 0
	for sc.Scan() {
		var r batchLineResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("result %d: %v", n, err)
		}
		if r.Line != n+1 || r.ID != fmt.Sprintf("n%d", n) || r.Verified != (n%10 == 0) {
			t.Fatalf("result %d out of order or wrong: %+v", n, r)
		}
		n++
	}
	close(stop)
	<-sampled
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitMismatch || n != lines {
		t.Fatalf("exit %v, %d results", err, n)
	}
	if peak == 0 || peak > maxRSS {
		t.Errorf("peak resident memory %d MiB, want at most %d MiB", peak>>20, maxRSS>>20)
	}
	t.Logf("%d lines, peak RSS %.1f MiB", lines, float64(peak)/(1<<20))
}

// peakRSSKiB reads a process's peak resident set size (VmHWM) from /proc,
// 0 once it is gone.
func peakRSSKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}
