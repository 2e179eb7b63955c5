package main

import (
	"crypto"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// A verification's outcome as any mode reports it: the verdict, the failed
// checks with their reasons, or the usage error that stopped it.
type modeOutcome struct {
	verified bool
	failed   map[string]string
	usage    string
}

// oneShotOutcome runs the case's options as one verification.
func oneShotOutcome(t *testing.T, args []string) modeOutcome {
	t.Helper()
	code, out, errs := run(t, append([]string{"verify", "quote", "-o", "json"}, args...)...)
	if code == exitUsage {
		return modeOutcome{usage: errs}
	}
	var rep struct {
		Verified bool
		Checks   []checkJSON
		Quotes   []struct {
			Index  int
			Checks []checkJSON
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	o := modeOutcome{verified: rep.Verified, failed: map[string]string{}}
	add := func(prefix string, checks []checkJSON) {
		for _, c := range checks {
			if !c.Passed && !c.Skipped {
				o.failed[prefix+c.Name] = c.Reason
			}
		}
	}
	add("", rep.Checks)
	for _, q := range rep.Quotes {
		add("quote "+strconv.Itoa(q.Index)+": ", q.Checks)
	}
	if rep.Verified != (code == exitOK) {
		t.Errorf("%v: exit %d, verified %v", args, code, rep.Verified)
	}
	return o
}

// batchField maps an option to its batch field and says whether it takes
// a value.
func batchField(flag string) (string, bool) {
	switch flag {
	case "-m":
		flag = "--message"
	case "-s":
		flag = "--signature"
	}
	name := strings.ReplaceAll(strings.TrimPrefix(flag, "--"), "-", "_")
	switch name {
	case "no_nonce", "allow_unrestricted", "require_safe", "allow_untrusted_ak", "require_eventlog", "allow_missing_eventlog":
		return name, false
	}
	return name, true
}

// batchOutcome runs the case's options as the one line of a batch.
func batchOutcome(t *testing.T, args []string) modeOutcome {
	t.Helper()
	line := map[string]any{}
	for i := 0; i < len(args); i++ {
		name, hasValue := batchField(args[i])
		switch {
		case !hasValue:
			line[name] = true
		case strings.HasPrefix(name, "min_") || strings.HasPrefix(name, "max_"):
			n, err := strconv.ParseUint(args[i+1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			line[name] = n
			i++
		case name == "ak_roots" || name == "ak_intermediates" || name == "ek_roots" || name == "ek_intermediates":
			list, _ := line[name].([]string)
			line[name] = append(list, args[i+1])
			i++
		default:
			line[name] = args[i+1]
			i++
		}
	}
	path := filepath.Join(t.TempDir(), "batch.jsonl")
	writeFile(t, path, []byte(jsonLine(t, line)+"\n"))
	code, out, errs := run(t, "verify", "quote", "--batch", path)
	var r batchLineResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("%v: batch result %q (%s): %v", args, out, errs, err)
	}
	if r.Error != "" {
		return modeOutcome{usage: r.Error}
	}
	if r.Verified != (code == exitOK) {
		t.Errorf("%v: batch exit %d, verified %v", args, code, r.Verified)
	}
	o := modeOutcome{verified: r.Verified, failed: map[string]string{}}
	for _, f := range r.Failed {
		o.failed[f.Check] = f.Reason
	}
	return o
}

// asPlatformParameters turns a single quote's options into a
// go-attestation PlatformParameters holding the same quote, AK, PCR values
// and event log, and the options that still apply to it; false when the
// attestation cannot express the case (a key without a TPMT_PUBLIC, a
// plain signature, an unreadable input).
func asPlatformParameters(t *testing.T, args []string) ([]string, bool) {
	t.Helper()
	files := map[string]string{}
	var rest []string
	hasLog, requireLog := false, false
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--ak":
			rest = append(rest, args[i], args[i+1]) // the key the verifier trusts
			files[args[i]] = args[i+1]
			i++
		case "-m", "-s", "--pcrs", "--eventlog":
			files[args[i]] = args[i+1]
			hasLog = hasLog || args[i] == "--eventlog"
			i++
		case "--sig-format", "--pcrs-format", "--pcrs-sel":
			return nil, false
		case "--require-eventlog":
			requireLog = true // an attestation requires its log anyway
		default:
			rest = append(rest, args[i])
		}
	}
	read := func(flag string) []byte {
		b, err := os.ReadFile(files[flag])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if files["--ak"] == "" || files["-m"] == "" || files["-s"] == "" || files["--pcrs"] == "" {
		return nil, false
	}
	ak, err := tpmstruct.ParsePublic(read("--ak"))
	if err != nil || ak.TPM == nil {
		return nil, false
	}
	doc, err := pcr.ReadFile(files["--pcrs"], pcr.ReadOptions{})
	if err != nil || len(doc.Sets) != 1 {
		return nil, false
	}
	hashes := map[pcr.Alg]crypto.Hash{pcr.SHA1: crypto.SHA1, pcr.SHA256: crypto.SHA256, pcr.SHA384: crypto.SHA384, pcr.SHA512: crypto.SHA512}
	var pcrs []map[string]any
	for _, a := range doc.Sets[0].Algs() {
		for _, i := range doc.Sets[0].Indices(a) {
			pcrs = append(pcrs, map[string]any{"Index": i, "Digest": doc.Sets[0][a][i], "DigestAlg": hashes[a]})
		}
	}
	pp := map[string]any{"TPMVersion": 2, "Public": ak.TPM.Raw, "PCRs": pcrs,
		"Quotes": []map[string]any{{"Version": 2, "Quote": read("-m"), "Signature": read("-s")}}}
	if hasLog {
		pp["EventLog"] = read("--eventlog")
	} else if !requireLog {
		rest = append(rest, "--allow-missing-eventlog")
	}
	path := filepath.Join(t.TempDir(), "pp.json")
	writeFile(t, path, []byte(jsonLine(t, pp)))
	return append([]string{"--platform-parameters", path}, rest...), true
}

// quoteChecks keeps the checks of the attestation's quote, named as a
// single quote's are, leaving the attestation-level ones out.
func quoteChecks(failed map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range failed {
		if name, ok := strings.CutPrefix(k, "quote 1: "); ok {
			out[name] = v
		}
	}
	return out
}

// onlySuppliedNotQuoted returns the PCRs of a pcr-selection reason that
// says only that values were supplied that the quote does not select.
func onlySuppliedNotQuoted(reason string) (string, bool) {
	_, extra, ok := strings.Cut(reason, "(supplied but not quoted: ")
	if !ok || strings.Contains(reason, "quoted but not supplied") {
		return "", false
	}
	return strings.TrimSuffix(extra, ")"), true
}

// testQuoteModes runs every case of the swtpm suite three ways: as the
// options of one verification, as a line of a batch, and as a whole
// attestation (go-attestation PlatformParameters) holding the same quote,
// AK, PCR values and event log. One loader and one verdict serve all
// three, so they must agree on the verdict and on every failed check's
// reason.
func testQuoteModes(t *testing.T, cases []qcase) {
	asAttestation := 0
	for _, c := range cases {
		one := oneShotOutcome(t, c.args)
		batch := batchOutcome(t, c.args)
		if (one.usage == "") != (batch.usage == "") {
			t.Errorf("%s: one-shot usage error %q, batch error %q", c.name, one.usage, batch.usage)
			continue
		}
		if one.usage != "" {
			continue
		}
		if one.verified != batch.verified || !maps.Equal(one.failed, batch.failed) {
			t.Errorf("%s: one-shot verified %v failed %v; batch verified %v failed %v", c.name, one.verified, one.failed, batch.verified, batch.failed)
		}
		args, ok := asPlatformParameters(t, c.args)
		if !ok {
			continue
		}
		asAttestation++
		att := oneShotOutcome(t, args)
		if att.usage != "" {
			t.Errorf("%s as an attestation: %s", c.name, att.usage)
			continue
		}
		got, want := quoteChecks(att.failed), maps.Clone(one.failed)
		// A PlatformParameters lists its PCR values apart from its quotes,
		// and each quote is given the values its selection names: values
		// a quote does not select are the attestation's pcr-coverage
		// failure, not the quote's pcr-selection failure.
		if extra, ok := onlySuppliedNotQuoted(want["pcr-selection"]); ok {
			delete(want, "pcr-selection")
			if cov := att.failed["pcr-coverage"]; !strings.Contains(cov, "not authenticated by a verified quote") || !strings.Contains(cov, extra) {
				t.Errorf("%s as an attestation: pcr-coverage %q does not name %s", c.name, cov, extra)
			}
		} else if len(got) == 0 {
			for k, v := range att.failed {
				t.Errorf("%s as an attestation: %s failed with every quote verified: %s", c.name, k, v)
			}
		}
		if att.verified != one.verified || !maps.Equal(got, want) {
			t.Errorf("%s: one-shot verified %v failed %v; as an attestation verified %v failed %v", c.name, one.verified, one.failed, att.verified, att.failed)
		}
	}
	if asAttestation < len(cases)*3/4 {
		t.Errorf("only %d of %d cases ran as an attestation", asAttestation, len(cases))
	}
	t.Logf("%d cases in all three modes, %d more one-shot and in a batch", asAttestation, len(cases)-asAttestation)
}
