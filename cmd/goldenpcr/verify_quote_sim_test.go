//go:build cgo

package main

import (
	"crypto"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-tpm-tools/client"
	pb "github.com/google/go-tpm-tools/proto/attest"
	tpmpb "github.com/google/go-tpm-tools/proto/tpm"
	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/goldenpcr/goldenpcr/attestation"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// This file verifies whole attestations made by go-tpm-tools' client
// against the go-tpm-tools TPM simulator (the Microsoft reference TPM,
// built with cgo): attest.Attestation in protobuf and protojson, and a
// go-attestation PlatformParameters built from the same quotes; genuine
// and tampered.
//
// What Key.Attest needs, as read from go-tpm-tools v0.4.10
// client/attest.go: a non-empty nonce; it quotes every allocated PCR bank
// (all 24 PCRs each) with the AK, reads the PCRs, checks each quote
// itself, and takes the event log from AttestOpts.TCGEventLog, else from
// the OS (which the simulator has none of); SkipTeeAttestation keeps it
// from probing for SEV-SNP and TDX devices. So the test extends the
// simulator's PCRs with TPM2_PCR_Event (which hashes the data with every
// bank) and hands Attest a crypto-agile log of the same events.

func logEvents() []logEvent {
	sep := []byte{0, 0, 0, 0}
	return []logEvent{
		{pcr: 0, typ: evAction, data: []byte("goldenpcr simulator: CRTM")},
		{pcr: 1, typ: evAction, data: []byte("goldenpcr simulator: platform configuration")},
		{pcr: 2, typ: evAction, data: []byte("goldenpcr simulator: option ROM")},
		// As firmware logs secure-boot state: go-tpm-tools' verifier
		// refuses any other kind of event before PCR 7's separator.
		{pcr: 7, typ: evDriverConfig, data: secureBootVar(0)},
		{pcr: 0, typ: evSeparator, data: sep},
		{pcr: 1, typ: evSeparator, data: sep},
		{pcr: 2, typ: evSeparator, data: sep},
		{pcr: 7, typ: evSeparator, data: sep},
	}
}

// simLab is one simulator with extended PCRs, its banks and event log.
type simLab struct {
	sim   *simulator.Simulator
	banks []pcr.Alg
	log   []byte
	dir   string
	nonce []byte
}

func newSimLab(t *testing.T) *simLab {
	sim, err := simulator.Get()
	if err != nil {
		t.Fatalf("simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	l := &simLab{sim: sim, dir: t.TempDir(), nonce: []byte("goldenpcr simulator nonce 0001")}
	sels, err := client.AllocatedPCRs(sim)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sels {
		l.banks = append(l.banks, pcr.Alg(s.Hash))
	}
	events := logEvents()
	for _, e := range events {
		if err := tpm2.PCREvent(sim, tpmutil.Handle(e.pcr), e.data); err != nil {
			t.Fatalf("PCR_Event %d: %v", e.pcr, err)
		}
	}
	l.log = buildAgileLog(l.banks, events)
	return l
}

// attest makes an attestation with a fresh AK of the given kind.
func (l *simLab) attest(t *testing.T, kind string) *pb.Attestation {
	t.Helper()
	var ak *client.Key
	var err error
	if kind == "ecc" {
		ak, err = client.AttestationKeyECC(l.sim)
	} else {
		ak, err = client.AttestationKeyRSA(l.sim)
	}
	if err != nil {
		t.Fatalf("AK: %v", err)
	}
	defer ak.Close()
	att, err := ak.Attest(client.AttestOpts{Nonce: l.nonce, TCGEventLog: l.log, SkipTeeAttestation: true})
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	return att
}

func (l *simLab) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(l.dir, name)
	writeFile(t, p, data)
	return p
}

func (l *simLab) writePB(t *testing.T, name string, att *pb.Attestation) string {
	t.Helper()
	b, err := proto.Marshal(att)
	if err != nil {
		t.Fatal(err)
	}
	return l.write(t, name, b)
}

func itoa(i int) string { return strconv.Itoa(i) }

// quoteIndex returns the 1-based index of the quote over bank.
func quoteIndex(t *testing.T, att *pb.Attestation, bank pcr.Alg) int {
	for i, q := range att.Quotes {
		if pcr.Alg(q.GetPcrs().GetHash()) == bank {
			return i + 1
		}
	}
	t.Fatalf("no %s quote", bank)
	return 0
}

// TestAttestationSimulator is the acceptance test of --attestation and
// --platform-parameters against real go-tpm-tools output.
func TestAttestationSimulator(t *testing.T) {
	l := newSimLab(t)
	nonce := hex.EncodeToString(l.nonce)
	t.Logf("simulator banks: %v", l.banks)
	if !slices.Contains(l.banks, pcr.SHA256) {
		t.Fatalf("the simulator has no sha256 bank: %v", l.banks)
	}

	for _, kind := range []string{"rsa", "ecc"} {
		att := l.attest(t, kind)
		if len(att.Quotes) != len(l.banks) {
			t.Fatalf("%s: %d quotes for %d banks", kind, len(att.Quotes), len(l.banks))
		}
		pbPath := l.writePB(t, kind+".pb", att)
		js, err := protojson.Marshal(att)
		if err != nil {
			t.Fatal(err)
		}
		jsonPath := l.write(t, kind+".json", js)
		// The verifier knows its devices' AKs: pin this one by Name.
		pin := []string{"--ak-name", bundleAKName(t, pbPath)}

		// Genuine: both encodings, every quote, the event log replayed
		// against every bank.
		for _, c := range [][]string{
			{"--attestation", pbPath}, {"--attestation", jsonPath}, {"--attestation", jsonPath, "--attestation-format", "json"},
			{"--attestation", pbPath, "--attestation-format", "pb"},
		} {
			code, r, failed, reasons := verifyBundle(t, append(append(c, pin...), "--nonce", nonce)...)
			if code != 0 {
				t.Fatalf("%s %v: exit %d, failed %v\n%s", kind, c, code, failed, reasons)
			}
			if len(r.Quotes) != len(l.banks) {
				t.Errorf("%s %v: %d quote reports", kind, c, len(r.Quotes))
			}
			for _, q := range r.Quotes {
				for _, ch := range q.Checks {
					if ch.Name == "event-log" && (!ch.Passed || !strings.Contains(ch.Reason, "replay to the quoted value of "+q.Bank+":0, "+q.Bank+":1, "+q.Bank+":2, "+q.Bank+":7")) {
						t.Errorf("%s quote %d (%s) event-log: %+v", kind, q.Index, q.Bank, ch)
					}
				}
			}
		}
		// The text report names every quote.
		code, out, _ := run(t, append([]string{"verify", "quote", "--attestation", pbPath, "--nonce", nonce}, pin...)...)
		if os.Getenv("GOLDENPCR_DUMP") != "" {
			t.Log(out)
		}
		if code != 0 || !strings.Contains(out, "go-tpm-tools attest.Attestation (protobuf), "+itoa(len(l.banks))) ||
			!strings.Contains(out, "quote 1 (") || !strings.Contains(out, "verified: all ") {
			t.Errorf("%s text report: exit %d\n%s", kind, code, out)
		}

		sha256Quote := quoteIndex(t, att, pcr.SHA256)
		q := func(check string) string { return "quote " + itoa(sha256Quote) + ": " + check }
		badLog := logEvents()
		badLog[3].override = map[pcr.Alg][]byte{pcr.SHA256: make([]byte, 32)}
		for _, tc := range []struct {
			name   string
			mod    func(a *pb.Attestation)
			args   []string
			failed []string
			says   string
		}{
			{name: "flipped quote byte", mod: func(a *pb.Attestation) {
				// The last byte of clockInfo.clock: the TPMS_ATTEST still
				// parses, only the signature breaks.
				m := a.Quotes[sha256Quote-1].Quote
				at := 4 + 2 + 2 + int(binary.BigEndian.Uint16(m[6:])) // magic, type, qualifiedSigner
				at += 2 + int(binary.BigEndian.Uint16(m[at:])) + 7    // extraData, clock
				m[at] ^= 1
			}, failed: []string{q("signature")}, says: "does not verify under the AK"},
			{name: "flipped signature byte", mod: func(a *pb.Attestation) {
				s := a.Quotes[sha256Quote-1].RawSig
				s[len(s)-1] ^= 1
			}, failed: []string{q("signature")}, says: "does not verify under the AK"},
			{name: "changed PCR value", mod: func(a *pb.Attestation) {
				a.Quotes[sha256Quote-1].Pcrs.Pcrs[7][0] ^= 1
			}, failed: []string{q("pcr-digest"), q("event-log")}, says: "a supplied value differs from what the TPM quoted"},
			{name: "wrong nonce", args: []string{"--nonce", nonce + "00"}, failed: func() []string {
				var f []string
				for i := range att.Quotes {
					f = append(f, "quote "+itoa(i+1)+": nonce")
				}
				return f
			}(), says: "differs from the expected nonce"},
			// The sha256 quote's replay differs; every other quote's log
			// check fails too, on the event whose digest contradicts its data.
			{name: "log with one digest changed", mod: func(a *pb.Attestation) {
				a.EventLog = buildAgileLog(l.banks, badLog)
			}, failed: func() []string {
				var f []string
				for i := range att.Quotes {
					f = append(f, "quote "+itoa(i+1)+": event-log")
				}
				return f
			}(), says: "sha256 PCR 7 replays to"},
			{name: "no quotes", mod: func(a *pb.Attestation) { a.Quotes = nil }, failed: []string{"quotes"}, says: "holds no quote"},
			{name: "AK of another key", mod: func(a *pb.Attestation) {
				// go-tpm-tools AKs are primary keys of the owner
				// hierarchy, the same for the same template: take the
				// template's key in the endorsement hierarchy instead.
				tmpl := client.AKTemplateRSA()
				if kind == "ecc" {
					tmpl = client.AKTemplateECC()
				}
				other, err := client.NewKey(l.sim, tpm2.HandleEndorsement, tmpl)
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				if a.AkPub, err = other.PublicArea().Encode(); err != nil {
					t.Fatal(err)
				}
			}, failed: func() []string {
				var f []string
				for i := range att.Quotes {
					f = append(f, "quote "+itoa(i+1)+": signature", "quote "+itoa(i+1)+": ak-name", "quote "+itoa(i+1)+": ak-trust")
				}
				return f
			}(), says: "does not verify under the AK"},
		} {
			a := proto.Clone(att).(*pb.Attestation)
			if tc.mod != nil {
				tc.mod(a)
			}
			path := l.writePB(t, kind+"-"+strings.ReplaceAll(tc.name, " ", "-")+".pb", a)
			args := append([]string{"--attestation", path, "--nonce", nonce}, pin...)
			if tc.args != nil {
				args = append(append([]string{"--attestation", path}, tc.args...), pin...)
			}
			code, _, failed, reasons := verifyBundle(t, args...)
			if code != exitMismatch || !slices.Equal(failed, tc.failed) {
				t.Errorf("%s %s: exit %d, failed %v, want 1 and %v\n%s", kind, tc.name, code, failed, tc.failed, reasons)
			}
			if !strings.Contains(reasons, tc.says) {
				t.Errorf("%s %s: reasons lack %q:\n%s", kind, tc.name, tc.says, reasons)
			}
		}

		// The same attestation as a go-attestation PlatformParameters.
		pp := platformParameters(att)
		ppPath := l.write(t, kind+"-pp.json", mustJSON(t, pp))
		if code, _, failed, reasons := verifyBundle(t, append([]string{"--platform-parameters", ppPath, "--nonce", nonce}, pin...)...); code != 0 {
			t.Fatalf("%s PlatformParameters: exit %d, %v\n%s", kind, code, failed, reasons)
		}
		for _, tc := range []struct {
			name   string
			mod    func(p *goAttestationPP)
			failed []string
			says   string
		}{
			{"changed PCR value", func(p *goAttestationPP) {
				for i := range p.PCRs {
					if p.PCRs[i].DigestAlg == crypto.SHA256 && p.PCRs[i].Index == 7 {
						p.PCRs[i].Digest = append([]byte{p.PCRs[i].Digest[0] ^ 1}, p.PCRs[i].Digest[1:]...)
					}
				}
			}, []string{"pcr-coverage", q("pcr-digest"), q("event-log")}, "not authenticated by a verified quote"},
			{"a bank's quote dropped", func(p *goAttestationPP) {
				p.Quotes = slices.Delete(slices.Clone(p.Quotes), sha256Quote-1, sha256Quote)
			}, []string{"pcr-coverage"}, "sha256:0, sha256:1"},
			{"flipped signature byte", func(p *goAttestationPP) {
				s := slices.Clone(p.Quotes[0].Signature)
				s[len(s)-1] ^= 1
				p.Quotes[0].Signature = s
			}, []string{"pcr-coverage", "quote 1: signature"}, "does not verify under the AK"},
		} {
			p := platformParameters(att)
			tc.mod(&p)
			path := l.write(t, kind+"-pp-"+strings.ReplaceAll(tc.name, " ", "-")+".json", mustJSON(t, p))
			code, _, failed, reasons := verifyBundle(t, append([]string{"--platform-parameters", path, "--nonce", nonce}, pin...)...)
			if code != exitMismatch || !slices.Equal(failed, tc.failed) {
				t.Errorf("%s PlatformParameters %s: exit %d, failed %v, want 1 and %v\n%s", kind, tc.name, code, failed, tc.failed, reasons)
			}
			if !strings.Contains(reasons, tc.says) {
				t.Errorf("%s PlatformParameters %s: reasons lack %q:\n%s", kind, tc.name, tc.says, reasons)
			}
		}
	}
}

// goAttestationPP mirrors go-attestation's attest.PlatformParameters with
// the same field names and Go types (TPMVersion is a uint8, DigestAlg a
// crypto.Hash), so encoding/json writes what go-attestation users store.
type goAttestationPP struct {
	TPMVersion uint8
	Public     []byte
	Quotes     []struct {
		Version   uint8
		Quote     []byte
		Signature []byte
	}
	PCRs []struct {
		Index     int
		Digest    []byte
		DigestAlg crypto.Hash
	}
	EventLog []byte
}

var bankHash = map[tpmpb.HashAlgo]crypto.Hash{tpmpb.HashAlgo_SHA1: crypto.SHA1, tpmpb.HashAlgo_SHA256: crypto.SHA256,
	tpmpb.HashAlgo_SHA384: crypto.SHA384, tpmpb.HashAlgo_SHA512: crypto.SHA512}

// platformParameters turns an attest.Attestation into the
// PlatformParameters go-attestation's AttestPlatform would return for
// the same TPM state: the AK's TPMT_PUBLIC, each quote with its
// TPMT_SIGNATURE, every PCR of every quoted bank, the event log.
func platformParameters(att *pb.Attestation) goAttestationPP {
	p := goAttestationPP{TPMVersion: 2, Public: att.AkPub, EventLog: att.EventLog}
	for _, q := range att.Quotes {
		p.Quotes = append(p.Quotes, struct {
			Version   uint8
			Quote     []byte
			Signature []byte
		}{2, q.Quote, q.RawSig})
		idx := make([]int, 0, len(q.Pcrs.Pcrs))
		for i := range q.Pcrs.Pcrs {
			idx = append(idx, int(i))
		}
		sort.Ints(idx)
		for _, i := range idx {
			p.PCRs = append(p.PCRs, struct {
				Index     int
				Digest    []byte
				DigestAlg crypto.Hash
			}{i, q.Pcrs.Pcrs[uint32(i)], bankHash[q.Pcrs.Hash]})
		}
	}
	return p
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttestationParsersAgree decodes one real attestation with the
// generated go-tpm-tools code and with goldenpcr's own protobuf and
// protojson readers, and checks they read the same.
func TestAttestationParsersAgree(t *testing.T) {
	l := newSimLab(t)
	att := l.attest(t, "rsa")
	att.AkCert = []byte{0x30, 0x03, 0x02, 0x01, 0x01}
	att.IntermediateCerts = [][]byte{{1}, {2, 3}}
	att.CanonicalEventLog = []byte("cel")
	bin, err := proto.Marshal(att)
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(att)
	if err != nil {
		t.Fatal(err)
	}
	checkBundleAgainstProto(t, att, bin, js)
}

// checkBundleAgainstProto compares goldenpcr's reading of bin (protobuf)
// and js (protojson) with the generated code's att.
func checkBundleAgainstProto(t *testing.T, att *pb.Attestation, bin, js []byte) {
	t.Helper()
	fromPB, err := attestation.ParseAttestation(bin)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := attestation.ParseAttestationJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*attestation.Bundle{fromPB, fromJSON} {
		if !slices.Equal(b.AKPublic, att.AkPub) || !slices.Equal(b.EventLog, att.EventLog) || !slices.Equal(b.AKCert, att.AkCert) ||
			len(b.IntermediateCerts) != len(att.IntermediateCerts) || !slices.Equal(b.Ignored, []string{"canonical_event_log"}) {
			t.Errorf("%s: AK, event log, certificates or ignored fields differ (ignored %v)", b.Format, b.Ignored)
		}
		for i, c := range att.IntermediateCerts {
			if i < len(b.IntermediateCerts) && !slices.Equal(b.IntermediateCerts[i], c) {
				t.Errorf("%s: intermediate_certs[%d] differs", b.Format, i)
			}
		}
		if len(b.Quotes) != len(att.Quotes) {
			t.Fatalf("%s: %d quotes, want %d", b.Format, len(b.Quotes), len(att.Quotes))
		}
		for i, q := range att.Quotes {
			g := b.Quotes[i]
			if !slices.Equal(g.Attest.Raw, q.Quote) || !slices.Equal(g.Signature.Marshal(), q.RawSig) || g.Bank != pcr.Alg(q.Pcrs.Hash) {
				t.Errorf("%s: quote %d differs", b.Format, i)
			}
			if g.PCRs.Len() != len(q.Pcrs.Pcrs) {
				t.Errorf("%s: quote %d has %d PCRs, want %d", b.Format, i, g.PCRs.Len(), len(q.Pcrs.Pcrs))
			}
			for k, v := range q.Pcrs.Pcrs {
				if got, _ := g.PCRs.Get(g.Bank, int(k)); !slices.Equal(got, v) {
					t.Errorf("%s: quote %d PCR %d differs", b.Format, i, k)
				}
			}
		}
	}
}

// TestWriteAttestationFixtures regenerates fixtures/quote/gotpmtools-*
// from the simulator when GOLDENPCR_WRITE_FIXTURES=1 (the committed ones
// let the tests and docs that need no simulator use real go-tpm-tools
// output).
func TestWriteAttestationFixtures(t *testing.T) {
	if os.Getenv("GOLDENPCR_WRITE_FIXTURES") == "" {
		t.Skip("a fixture generator: set GOLDENPCR_WRITE_FIXTURES=1 to regenerate")
	}
	l := newSimLab(t)
	for _, kind := range []string{"rsa", "ecc"} {
		att := l.attest(t, kind)
		bin, err := proto.Marshal(att)
		if err != nil {
			t.Fatal(err)
		}
		js, err := protojson.MarshalOptions{Multiline: true}.Marshal(att)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, qf("gotpmtools-"+kind+".pb"), bin)
		writeFile(t, qf("gotpmtools-"+kind+".json"), append(js, '\n'))
		writeFile(t, qf("goattestation-"+kind+".json"), mustJSON(t, platformParameters(att)))
	}
	writeFile(t, qf("gotpmtools-nonce.hex"), []byte(hex.EncodeToString(l.nonce)+"\n"))
}
