package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// TestVerifyQuoteBatchAttestationsAgreeWithOneShot: a batch of whole
// attestations, genuine and tampered, repeated so its caches and reused
// read buffers serve the later rounds, gets for every line the verdict and
// the failed checks, reason for reason, that a single verification of the
// same attestation gets.
func TestVerifyQuoteBatchAttestationsAgreeWithOneShot(t *testing.T) {
	dir := t.TempDir()
	nonce := strings.TrimSpace(string(readFixture(t, "gotpmtools-nonce.hex")))
	files := map[string]string{}
	for _, f := range []string{"gotpmtools-rsa.pb", "gotpmtools-ecc.pb", "gotpmtools-rsa.json"} {
		files[f] = filepath.Join(dir, f)
		writeFile(t, files[f], readFixture(t, f))
	}
	data := readFixture(t, "gotpmtools-rsa.pb")
	b, err := attestation.ParseAttestation(data)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(name string, at int) {
		if at < 0 {
			t.Fatalf("%s: nothing to change", name)
		}
		c := bytes.Clone(data)
		c[at] ^= 1
		files[name] = filepath.Join(dir, name)
		writeFile(t, files[name], c)
	}
	v, _ := b.Quotes[1].PCRs.Get(pcr.SHA256, 0)
	tamper("pcr-changed.pb", bytes.Index(data, v)+3)
	// The last byte of the log: the last separator's data, which then
	// contradicts its digests.
	tamper("log-changed.pb", bytes.Index(data, b.EventLog)+len(b.EventLog)-1)
	files["truncated.pb"] = filepath.Join(dir, "truncated.pb")
	writeFile(t, files["truncated.pb"], data[:len(data)-100])

	rsaName, eccName := bundleAKName(t, qf("gotpmtools-rsa.pb")), bundleAKName(t, qf("gotpmtools-ecc.pb"))
	type request struct{ file, nonce, akName string }
	var reqs []request
	for _, f := range []string{"gotpmtools-rsa.pb", "gotpmtools-ecc.pb", "gotpmtools-rsa.json", "pcr-changed.pb", "log-changed.pb", "truncated.pb"} {
		name := rsaName
		if strings.Contains(f, "ecc") {
			name = eccName
		}
		reqs = append(reqs, request{f, nonce, name}, request{f, "00" + nonce, name}, request{f, nonce, eccName})
	}
	// One-shot verdicts.
	type verdict struct {
		usage    bool
		verified bool
		failed   []string
	}
	want := make([]verdict, len(reqs))
	for i, r := range reqs {
		code, _, _, reasons := verifyBundle(t, "--attestation", files[r.file], "--nonce", r.nonce, "--ak-name", r.akName)
		want[i] = verdict{usage: code == exitUsage, verified: code == 0}
		if !want[i].usage && reasons != "" {
			want[i].failed = strings.Split(reasons, "\n")
		}
	}
	var lines []string
	for round := 0; round < 3; round++ {
		for _, r := range reqs {
			lines = append(lines, jsonLine(t, map[string]any{"attestation": r.file, "nonce": r.nonce, "ak_name": r.akName}))
		}
	}
	res, raw := runBatchIn(t, dir, lines, exitMismatch)
	verifiedAny := false
	for i, r := range res {
		w := want[i%len(reqs)]
		var failed []string
		for _, f := range r.Failed {
			failed = append(failed, f.Check+": "+f.Reason)
		}
		if (r.Error != "") != w.usage || r.Verified != w.verified || !slices.Equal(failed, w.failed) {
			t.Errorf("line %d (%+v): batch %s\none-shot %+v", i+1, reqs[i%len(reqs)], raw[i], w)
		}
		verifiedAny = verifiedAny || r.Verified
	}
	if !verifiedAny {
		t.Error("no line verified")
	}
}
