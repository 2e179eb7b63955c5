package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
func TestVerifyQuoteBatchStreams(t *testing.T) {
	nonce := fixtureNonceHex(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := execute([]string{"verify", "quote", "--batch", "-"}, inR, outW, io.Discard)
		outW.Close()
		done <- code
	}()
	results := bufio.NewScanner(outR)
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
