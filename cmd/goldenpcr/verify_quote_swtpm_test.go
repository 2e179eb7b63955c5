package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/swtpmtest"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// This file verifies quotes made by a real TPM (swtpm) with tpm2-tools,
// genuine and tampered, with goldenpcr and with tpm2_checkquote, and
// checks that both agree wherever they check the same things.

// --- a tiny crypto-agile TCG event log builder (the simulator tests use it too) ---

// logEvent is one event of a test log; digests are the bank's hash of data
// unless override says otherwise.
type logEvent struct {
	pcr      uint32
	typ      uint32
	data     []byte
	override map[pcr.Alg][]byte
}

const (
	evSeparator    = 0x4
	evAction       = 0x5
	evNoAction     = 0x3
	evDriverConfig = 0x80000001
)

// secureBootVar is the UEFI_VARIABLE_DATA of SecureBoot = value, as
// firmware logs it into PCR 7 (EV_EFI_VARIABLE_DRIVER_CONFIG).
func secureBootVar(value byte) []byte {
	le := binary.LittleEndian
	guid := []byte{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c} // EFI_GLOBAL_VARIABLE
	out := append([]byte{}, guid...)
	out = le.AppendUint64(out, 10) // UnicodeNameLength, in characters
	out = le.AppendUint64(out, 1)  // VariableDataLength
	for _, c := range "SecureBoot" {
		out = le.AppendUint16(out, uint16(c))
	}
	return append(out, value)
}

// buildAgileLog writes a crypto-agile TCG log over banks: the SHA-1
// format "Spec ID Event03" header, then one TCG_PCR_EVENT2 per event.
func buildAgileLog(banks []pcr.Alg, events []logEvent) []byte {
	var evs []*eventlog.Event
	for _, e := range events {
		ev := &eventlog.Event{PCR: e.pcr, Type: eventlog.EventType(e.typ), Data: e.data}
		for _, b := range banks {
			d := b.Sum(e.data)
			if o, ok := e.override[b]; ok {
				d = o
			}
			ev.Digests = append(ev.Digests, eventlog.Digest{Alg: b, Value: d})
		}
		evs = append(evs, ev)
	}
	return tcglogtest.Write(banks, evs)
}

// buildLog writes a test log of the swtpm's sha1 and sha256 banks.
func buildLog(events []logEvent) []byte {
	return buildAgileLog([]pcr.Alg{pcr.SHA1, pcr.SHA256}, events)
}

// bootEvents touch the quoted PCRs 0, 1, 2 and 7 (16 stays untouched);
// the last event is PCR 7's second, so a log one event short still
// touches PCR 7 and its replay differs.
func bootEvents() []logEvent {
	sep := []byte{0, 0, 0, 0}
	return []logEvent{
		{pcr: 0, typ: evAction, data: []byte("goldenpcr test: CRTM")},
		{pcr: 0, typ: evAction, data: []byte("goldenpcr test: firmware volume")},
		{pcr: 1, typ: evAction, data: []byte("goldenpcr test: platform configuration")},
		{pcr: 2, typ: evAction, data: []byte("goldenpcr test: option ROM")},
		{pcr: 7, typ: evDriverConfig, data: secureBootVar(1)},
		{pcr: 0, typ: evSeparator, data: sep},
		{pcr: 1, typ: evSeparator, data: sep},
		{pcr: 2, typ: evSeparator, data: sep},
		{pcr: 7, typ: evSeparator, data: sep},
	}
}

// --- the lab: one swtpm, its AKs and quotes, shared by the tests here ---

type quoteLab struct {
	tpm   *swtpmtest.TPM
	dir   string
	nonce string // the nonce of every "current" quote
	log   string // the event log matching the TPM's PCRs
}

const mixedSel = "sha1:0,1,2+sha256:0,7,16"

func (l *quoteLab) path(name string) string { return filepath.Join(l.dir, name) }

// run runs a tpm2-tools program and flushes transient objects: without a
// resource manager every loaded key would stay and fill the TPM.
func (l *quoteLab) run(t testing.TB, tool string, args ...string) {
	t.Helper()
	l.tpm.Run(t, tool, args...)
	l.tpm.Run(t, "tpm2_flushcontext", "-t")
}

// newQuoteLab starts swtpm, extends its PCRs to match a small event log,
// and creates the keys every case needs.
func newQuoteLab(t testing.TB) *quoteLab {
	l := &quoteLab{tpm: swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}})}
	l.dir = l.tpm.Dir
	l.nonce = "c0ffee0123456789abcdef0123456789"
	// Extend the PCRs with the boot log's digests, so the log replays to
	// the TPM's values.
	events := bootEvents()
	for _, e := range events {
		l.run(t, "tpm2_pcrextend", fmt.Sprintf("%d:sha1=%x,sha256=%x", e.pcr, pcr.SHA1.Sum(e.data), pcr.SHA256.Sum(e.data)))
	}
	l.log = l.path("boot.log")
	writeFile(t, l.log, buildLog(events))
	writeFile(t, l.path("short.log"), buildLog(events[:len(events)-1]))
	bad := bootEvents()
	bad[4].override = map[pcr.Alg][]byte{pcr.SHA256: make([]byte, 32)} // PCR 7's first event, sha256 bank only
	writeFile(t, l.path("digest.log"), buildLog(bad))
	// Logs an attacker could hand over with a genuine quote.
	keep := func(pcrs ...uint32) []logEvent {
		var out []logEvent
		for _, e := range events {
			if slices.Contains(pcrs, e.pcr) {
				out = append(out, e)
			}
		}
		return out
	}
	writeFile(t, l.path("no-pcr7.log"), buildLog(keep(0, 1, 2)))
	writeFile(t, l.path("pcr0-only.log"), buildLog(keep(0)))
	flipped := bootEvents()
	flipped[4].override = map[pcr.Alg][]byte{pcr.SHA1: pcr.SHA1.Sum(flipped[4].data), pcr.SHA256: pcr.SHA256.Sum(flipped[4].data)}
	flipped[4].data = secureBootVar(0) // SecureBoot "disabled", the enabled digests kept
	writeFile(t, l.path("flipped-data.log"), buildLog(flipped))
	swapped := bootEvents()
	swapped[0], swapped[1] = swapped[1], swapped[0]
	writeFile(t, l.path("reordered.log"), buildLog(swapped))
	moved := bootEvents()
	moved[3].pcr = 1 // PCR 2's option ROM logged as PCR 1's
	writeFile(t, l.path("moved.log"), buildLog(moved))

	l.run(t, "tpm2_createek", "-c", l.path("ek.ctx"), "-G", "rsa", "-u", l.path("ek.pub"))
	for _, ak := range []struct{ name, alg, hash, scheme string }{
		{"rsa", "rsa", "sha256", "rsassa"},
		{"rsa2", "rsa", "sha256", "rsassa"},
		{"ecc", "ecc", "sha256", "ecdsa"},
		{"ecc2", "ecc", "sha256", "ecdsa"},
		{"ecc384", "ecc384", "sha384", "ecdsa"},
		{"rsapss", "rsa", "sha256", "rsapss"},
	} {
		l.run(t, "tpm2_createak", "-C", l.path("ek.ctx"), "-c", l.path(ak.name+".ctx"), "-G", ak.alg, "-g", ak.hash,
			"-s", ak.scheme, "-u", l.path(ak.name+".pub"), "-n", l.path(ak.name+".name"))
		l.run(t, "tpm2_readpublic", "-c", l.path(ak.name+".ctx"), "-f", "pem", "-o", l.path(ak.name+".pem"))
	}
	// A GyroidOS-CML-like quote key: unrestricted RSA sign+decrypt.
	l.run(t, "tpm2_createprimary", "-C", "o", "-G", "rsa", "-c", l.path("primary.ctx"))
	l.run(t, "tpm2_create", "-C", l.path("primary.ctx"), "-G", "rsa2048",
		"-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|decrypt",
		"-u", l.path("cml.tpub"), "-r", l.path("cml.priv"))
	l.run(t, "tpm2_load", "-C", l.path("primary.ctx"), "-u", l.path("cml.tpub"), "-r", l.path("cml.priv"), "-c", l.path("cml.ctx"))
	l.run(t, "tpm2_readpublic", "-c", l.path("cml.ctx"), "-f", "tss", "-o", l.path("cml.pub"))
	l.run(t, "tpm2_readpublic", "-c", l.path("cml.ctx"), "-f", "pem", "-o", l.path("cml.pem"))
	// An old quote, made before the verifier chose the current nonce.
	l.quote(t, "rsa", "old-rsa", mixedSel, "0badc0de", "")
	return l
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// quote makes NAME.msg, NAME.sig and NAME.pcrs with key AK.
func (l *quoteLab) quote(t testing.TB, ak, name, sel, nonce string, extra ...string) {
	t.Helper()
	hash := "sha256"
	if strings.HasSuffix(ak, "384") {
		hash = "sha384"
	}
	args := []string{"-c", l.path(ak + ".ctx"), "-q", nonce, "-l", sel, "-g", hash,
		"-m", l.path(name + ".msg"), "-s", l.path(name + ".sig"), "-o", l.path(name + ".pcrs"), "-F", "serialized"}
	for _, e := range extra {
		if e != "" {
			args = append(args, strings.Fields(e)...)
		}
	}
	l.run(t, "tpm2_quote", args...)
}

// --- cases ---

// qcase is one verification, run by goldenpcr and (unless excluded) by
// tpm2_checkquote.
type qcase struct {
	family string // row of the agreement table
	name   string
	// goldenpcr arguments after "verify quote".
	args []string
	// tpm2_checkquote arguments.
	cq []string
	// excluded says why goldenpcr and tpm2_checkquote cannot agree on this
	// case by design; both still run, and the table shows both verdicts.
	excluded string
	pass     bool
	// failed, if set, is exactly the set of checks that must fail.
	failed []string
	// cqSays, if set, is what tpm2_checkquote must print on failing, so
	// both fail for the same reason.
	cqSays string
}

func (l *quoteLab) gArgs(ak, name string, extra ...string) []string {
	return append([]string{"--ak", l.path(ak + ".pub"), "-m", l.path(name + ".msg"), "-s", l.path(name + ".sig"),
		"--pcrs", l.path(name + ".pcrs"), "--nonce", l.nonce}, extra...)
}

func (l *quoteLab) cqArgs(ak, name string, extra ...string) []string {
	hash := "sha256"
	if strings.HasSuffix(ak, "384") {
		hash = "sha384"
	}
	return append([]string{"-u", l.path(ak + ".pem"), "-m", l.path(name + ".msg"), "-s", l.path(name + ".sig"),
		"-f", l.path(name + ".pcrs"), "-F", "serialized", "-g", hash, "-q", l.nonce}, extra...)
}

// variant copies NAME's quote files to NEW, changing one through mod.
func (l *quoteLab) variant(t *testing.T, name, newName string, mod func(msg, sig, pcrs []byte) ([]byte, []byte, []byte)) {
	t.Helper()
	read := func(ext string) []byte {
		b, err := os.ReadFile(l.path(name + ext))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	msg, sig, pcrs := mod(read(".msg"), read(".sig"), read(".pcrs"))
	writeFile(t, l.path(newName+".msg"), msg)
	writeFile(t, l.path(newName+".sig"), sig)
	writeFile(t, l.path(newName+".pcrs"), pcrs)
}

func flipByte(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x01
	return c
}

// rewritePCRs parses a serialized PCR file, lets mod change the values
// and the selection, and writes it back in that selection's order.
func rewritePCRs(t *testing.T, data []byte, sel string, mod func(v pcr.Values) string) []byte {
	t.Helper()
	doc, err := pcr.Parse(data, pcr.ReadOptions{Format: pcr.FormatSerialized})
	if err != nil {
		t.Fatal(err)
	}
	v := doc.Sets[0]
	if s := mod(v); s != "" {
		sel = s
	}
	ps, err := pcr.ParseSelection(sel)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pcr.MarshalWith(pcr.FormatSerialized, []pcr.Values{v}, pcr.MarshalOptions{Selection: ps})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// buildCases makes the quotes and lists every case.
func (l *quoteLab) buildCases(t *testing.T) []qcase {
	var cases []qcase
	add := func(c qcase) { cases = append(cases, c) }
	tamperFailed := func(checks ...string) []string { return checks }

	for _, ak := range []string{"rsa", "ecc"} {
		// Genuine quotes over the sha1 bank, the sha256 bank and both.
		for _, sel := range []string{"sha1:0,1,2", "sha256:0,7,16", mixedSel} {
			name := fmt.Sprintf("%s-%s", ak, strings.NewReplacer(":", "", ",", "", "+", "-").Replace(sel))
			l.quote(t, ak, name, sel, l.nonce)
			add(qcase{family: "genuine " + ak, name: name, args: l.gArgs(ak, name), cq: l.cqArgs(ak, name), pass: true})
		}
		q := ak + "-q" // the mixed-selection quote the tampering starts from
		l.quote(t, ak, q, mixedSel, l.nonce)
		add(qcase{family: "genuine " + ak + " + event log", name: q + " log", args: l.gArgs(ak, q, "--eventlog", l.log),
			cq: l.cqArgs(ak, q, "-e", l.log), pass: true})

		msg, _ := os.ReadFile(l.path(q + ".msg"))
		for i := range msg {
			// Every byte of the RSA quote; the ECC quote has the same
			// layout, so a sample of it keeps the suite fast.
			if ak == "ecc" && i%7 != 0 && i != len(msg)-1 {
				continue
			}
			n := fmt.Sprintf("%s-msg%03d", ak, i)
			l.variant(t, q, n, func(m, s, p []byte) ([]byte, []byte, []byte) { return flipByte(m, i), s, p })
			add(qcase{family: "flipped message byte (" + ak + ")", name: n, args: l.gArgs(ak, n), cq: l.cqArgs(ak, n)})
		}
		// The last byte of clockInfo.clock: only the signature breaks.
		a, err := tpmstruct.ParseAttest(msg)
		if err != nil {
			t.Fatal(err)
		}
		clockEnd := 4 + 2 + 2 + len(a.QualifiedSigner) + 2 + len(a.ExtraData) + 7
		n := ak + "-msgclock"
		l.variant(t, q, n, func(m, s, p []byte) ([]byte, []byte, []byte) { return flipByte(m, clockEnd), s, p })
		add(qcase{family: "flipped message byte (" + ak + ")", name: n, args: l.gArgs(ak, n), cq: l.cqArgs(ak, n),
			failed: tamperFailed("signature")})

		sig, _ := os.ReadFile(l.path(q + ".sig"))
		for i := 0; i < len(sig); i++ {
			if i >= 8 && i%16 != 0 && i != len(sig)-1 {
				continue // every header byte, then a sample of the body
			}
			n := fmt.Sprintf("%s-sig%03d", ak, i)
			l.variant(t, q, n, func(m, s, p []byte) ([]byte, []byte, []byte) { return m, flipByte(s, i), p })
			c := qcase{family: "flipped signature byte (" + ak + ")", name: n, args: l.gArgs(ak, n), cq: l.cqArgs(ak, n)}
			if i == len(sig)-1 {
				c.failed = tamperFailed("signature")
			}
			add(c)
		}

		add(qcase{family: "wrong nonce", name: ak + " wrong nonce",
			args: append(l.gArgs(ak, q)[:8], "--nonce", "c0ffee0123456789abcdef012345678a"),
			cq:   append(l.cqArgs(ak, q)[:12], "-q", "c0ffee0123456789abcdef012345678a"), failed: tamperFailed("nonce"), cqSays: "Error validating nonce from quote"})

		for _, ref := range []struct {
			bank pcr.Alg
			idx  int
		}{{pcr.SHA1, 0}, {pcr.SHA1, 1}, {pcr.SHA1, 2}, {pcr.SHA256, 0}, {pcr.SHA256, 7}, {pcr.SHA256, 16}} {
			n := fmt.Sprintf("%s-pcr-%s-%d", ak, ref.bank, ref.idx)
			l.variant(t, q, n, func(m, s, p []byte) ([]byte, []byte, []byte) {
				return m, s, rewritePCRs(t, p, mixedSel, func(v pcr.Values) string {
					v[ref.bank][ref.idx] = flipByte(v[ref.bank][ref.idx], 5)
					return ""
				})
			})
			add(qcase{family: "one PCR value changed", name: n, args: l.gArgs(ak, n), cq: l.cqArgs(ak, n), failed: tamperFailed("pcr-digest"),
				cqSays: "Error validating PCR composite against signed message"})
		}
		n = ak + "-pcr-fewer"
		l.variant(t, q, n, func(m, s, p []byte) ([]byte, []byte, []byte) {
			return m, s, rewritePCRs(t, p, mixedSel, func(v pcr.Values) string {
				delete(v[pcr.SHA256], 16)
				return "sha1:0,1,2+sha256:0,7"
			})
		})
		add(qcase{family: "PCR selection differs", name: n, args: l.gArgs(ak, n), cq: l.cqArgs(ak, n), failed: tamperFailed("pcr-selection", "pcr-digest")})
		n = ak + "-pcr-more"
		l.variant(t, q, n, func(m, s, p []byte) ([]byte, []byte, []byte) {
			return m, s, rewritePCRs(t, p, mixedSel, func(v pcr.Values) string {
				v.Set(pcr.SHA256, 8, make([]byte, 32)) // PCR 8's real value
				return "sha1:0,1,2+sha256:0,7,8,16"
			})
		})
		// goldenpcr: only the selection check fails (the digest over the
		// quote's own selection still matches); tpm2_checkquote hashes the
		// file's selection, so its digest check fails.
		add(qcase{family: "PCR selection differs", name: n, args: l.gArgs(ak, n), cq: l.cqArgs(ak, n), failed: tamperFailed("pcr-selection")})

		other := ak + "2"
		n = ak + "-other-ak"
		l.quote(t, other, n, mixedSel, l.nonce)
		add(qcase{family: "quote signed by another AK", name: n, args: l.gArgs(ak, n), cq: l.cqArgs(ak, n), failed: tamperFailed("signature"),
			cqSays: "Error validating signed message with public key provided"})

		add(qcase{family: "event log one event short", name: ak + " short log", args: l.gArgs(ak, q, "--eventlog", l.path("short.log")),
			cq: l.cqArgs(ak, q, "-e", l.path("short.log")), failed: tamperFailed("event-log"), cqSays: "Eventlog and quote PCR mismatch"})
		add(qcase{family: "event log digest changed", name: ak + " changed digest", args: l.gArgs(ak, q, "--eventlog", l.path("digest.log")),
			cq: l.cqArgs(ak, q, "-e", l.path("digest.log")), failed: tamperFailed("event-log"), cqSays: "Eventlog and quote PCR mismatch"})

		// Plain signatures (tpm2_quote -f plain): raw RSA, DER ECDSA.
		n = ak + "-plain"
		l.quote(t, ak, n, mixedSel, l.nonce, "-f plain")
		alg := map[string]string{"rsa": "rsassa-sha256", "ecc": "ecdsa-sha256"}[ak]
		add(qcase{family: "genuine plain signature", name: n, args: l.gArgs(ak, n, "--sig-format", "plain", "--sig-alg", alg),
			cq: l.cqArgs(ak, n), pass: true})
		add(qcase{family: "plain signature, wrong scheme", name: n + " wrong scheme",
			args:     l.gArgs(ak, n, "--sig-format", "plain", "--sig-alg", map[string]string{"rsa": "rsapss-sha256", "ecc": "ecdsa-sha384"}[ak]),
			cq:       l.cqArgs(ak, n),
			excluded: "tpm2_checkquote takes the scheme from the key, not from an option",
			// A wrong hash also breaks pcrDigest, which the TPM computes with the signing hash.
			failed: map[string][]string{"rsa": {"signature"}, "ecc": {"signature", "pcr-digest"}}[ak]})
	}

	// Event logs that do not explain a genuine quote, and ways to say
	// which PCRs the log need not explain.
	for _, c := range []struct{ family, log, cqSays string }{
		{"event log without PCR 7's events", "no-pcr7.log", "Eventlog and quote PCR mismatch"},
		{"event log keeping only PCR 0's events", "pcr0-only.log", "Eventlog and quote PCR mismatch"},
		{"event log with two events reordered", "reordered.log", "Eventlog and quote PCR mismatch"},
		{"event log with an event moved to another PCR", "moved.log", "Eventlog and quote PCR mismatch"},
	} {
		add(qcase{family: c.family, name: "rsa " + c.log, args: l.gArgs("rsa", "rsa-q", "--eventlog", l.path(c.log)),
			cq: l.cqArgs("rsa", "rsa-q", "-e", l.path(c.log)), failed: []string{"event-log"}, cqSays: c.cqSays})
	}
	add(qcase{family: "event data changed, digests kept", name: "rsa flipped SecureBoot", args: l.gArgs("rsa", "rsa-q", "--eventlog", l.path("flipped-data.log")),
		cq: l.cqArgs("rsa", "rsa-q", "-e", l.path("flipped-data.log")), failed: []string{"event-log"},
		excluded: "tpm2_checkquote replays digests and never checks an event's data against them"})
	add(qcase{family: "PCRs declared outside the log", name: "rsa no-pcr7 unlogged", args: l.gArgs("rsa", "rsa-q", "--eventlog", l.path("no-pcr7.log"), "--unlogged-pcrs", "7"),
		cq: l.cqArgs("rsa", "rsa-q", "-e", l.path("no-pcr7.log")), pass: true,
		excluded: "tpm2_checkquote cannot be told that a PCR is extended outside the log"})
	add(qcase{family: "PCRs the expected values explain", name: "rsa no-pcr7 expected", args: l.gArgs("rsa", "rsa-q", "--eventlog", l.path("no-pcr7.log"), "--expected", l.path("rsa-q.pcrs")),
		cq: l.cqArgs("rsa", "rsa-q", "-e", l.path("no-pcr7.log")), pass: true,
		excluded: "tpm2_checkquote has no expected values"})
	add(qcase{family: "event log required, none given", name: "rsa require-eventlog", args: l.gArgs("rsa", "rsa-q", "--require-eventlog"),
		cq: l.cqArgs("rsa", "rsa-q"), failed: []string{"event-log"}, excluded: "tpm2_checkquote cannot require an event log"})
	n := "rsa-pcr-swapped"
	l.variant(t, "rsa-q", n, func(m, s, p []byte) ([]byte, []byte, []byte) {
		return m, s, rewritePCRs(t, p, mixedSel, func(v pcr.Values) string {
			v[pcr.SHA1][1], v[pcr.SHA1][2] = v[pcr.SHA1][2], v[pcr.SHA1][1]
			return ""
		})
	})
	add(qcase{family: "two PCR values swapped", name: n, args: l.gArgs("rsa", n), cq: l.cqArgs("rsa", n), failed: []string{"pcr-digest"},
		cqSays: "Error validating PCR composite against signed message"})
	// swtpm signs a quote over no PCR at all (tpm2_quote -l sha256:none):
	// genuine, fresh, and saying nothing about the platform. Its empty
	// PCR file is refused as input here (exit 2); inside an attestation
	// the pcr-selection check fails it (TestQuoteOverNoPCR).
	l.quote(t, "rsa", "rsa-none", "sha256:none", l.nonce)
	add(qcase{family: "quote over no PCR", name: "rsa-none", args: l.gArgs("rsa", "rsa-none"), cq: l.cqArgs("rsa", "rsa-none"),
		excluded: "tpm2_checkquote accepts a quote that selects no PCR"})

	// An old quote presented with the current nonce.
	add(qcase{family: "old quote, new nonce", name: "old-rsa", args: l.gArgs("rsa", "old-rsa"), cq: l.cqArgs("rsa", "old-rsa"), failed: []string{"nonce"}})

	// ECC P-384 with SHA-384: pcrDigest is SHA-384 too.
	l.quote(t, "ecc384", "ecc384-q", mixedSel, l.nonce)
	add(qcase{family: "genuine ecc384", name: "ecc384-q", args: l.gArgs("ecc384", "ecc384-q"), cq: l.cqArgs("ecc384", "ecc384-q"), pass: true})

	// Cases tpm2_checkquote cannot judge by design.
	l.quote(t, "rsapss", "rsapss-q", mixedSel, l.nonce, "--scheme rsapss")
	add(qcase{family: "genuine rsapss", name: "rsapss-q", args: l.gArgs("rsapss", "rsapss-q"), cq: l.cqArgs("rsapss", "rsapss-q"), pass: true,
		excluded: "tpm2_checkquote 5.4 verifies every RSA signature with PKCS#1 v1.5 padding, so it rejects genuine RSASSA-PSS quotes"})
	add(qcase{family: "PEM AK (attributes unknown)", name: "rsa pem", args: append(l.gArgs("rsa", "rsa-q")[2:], "--ak", l.path("rsa.pem")), cq: l.cqArgs("rsa", "rsa-q"),
		excluded: "tpm2_checkquote does not check AK attributes", failed: []string{"ak-attributes"}})
	add(qcase{family: "PEM AK, --allow-unrestricted", name: "rsa pem allowed", args: append(l.gArgs("rsa", "rsa-q")[2:], "--ak", l.path("rsa.pem"), "--allow-unrestricted"), cq: l.cqArgs("rsa", "rsa-q"),
		excluded: "tpm2_checkquote does not check AK attributes", pass: true})
	l.quote(t, "cml", "cml-q", "sha256:0,1,2,3,4,5,6,7,8,9,10,11", l.nonce)
	add(qcase{family: "unrestricted AK (CML-like)", name: "cml-q", args: l.gArgs("cml", "cml-q"), cq: l.cqArgs("cml", "cml-q"),
		excluded: "tpm2_checkquote does not check AK attributes", failed: []string{"ak-attributes"}})
	add(qcase{family: "unrestricted AK, --allow-unrestricted", name: "cml-q allowed", args: l.gArgs("cml", "cml-q", "--allow-unrestricted"), cq: l.cqArgs("cml", "cml-q"),
		excluded: "tpm2_checkquote does not check AK attributes", pass: true})
	add(qcase{family: "AK name", name: "rsa ak-name", args: l.gArgs("rsa", "rsa-q", "--ak-name", l.path("rsa.name")), cq: l.cqArgs("rsa", "rsa-q"), pass: true,
		excluded: "tpm2_checkquote has no AK name check"})
	add(qcase{family: "AK name of another key", name: "rsa ak-name other", args: l.gArgs("rsa", "rsa-q", "--ak-name", l.path("rsa2.name")), cq: l.cqArgs("rsa", "rsa-q"),
		excluded: "tpm2_checkquote has no AK name check", failed: []string{"ak-name"}})
	add(qcase{family: "freshness policy", name: "min-reset-count", args: l.gArgs("rsa", "rsa-q", "--min-reset-count", "1000"), cq: l.cqArgs("rsa", "rsa-q"),
		excluded: "tpm2_checkquote has no freshness policy", failed: []string{"clock"}})
	// Without -q tpm2_checkquote requires an empty extraData, so it too
	// rejects a quote made with a nonce; it has no way to skip the check.
	add(qcase{family: "no nonce given", name: "no nonce", args: l.gArgs("rsa", "rsa-q")[:8], cq: l.cqArgs("rsa", "rsa-q")[:12],
		failed: []string{"nonce"}})
	add(qcase{family: "--no-nonce", name: "no-nonce", args: append(l.gArgs("rsa", "rsa-q")[:8], "--no-nonce"), cq: l.cqArgs("rsa", "rsa-q")[:12], pass: true,
		excluded: "tpm2_checkquote cannot skip the nonce check (without -q it requires an empty extraData)"})
	return cases
}

// goldenpcrVerdict runs the case in-process; it returns whether the quote
// verified and the failed checks.
func goldenpcrVerdict(t *testing.T, c qcase) (bool, int, []string, string) {
	t.Helper()
	code, out, errs := run(t, append([]string{"verify", "quote", "-o", "json"}, c.args...)...)
	if code == exitUsage {
		return false, code, nil, errs
	}
	var rep struct {
		Verified bool
		Checks   []struct {
			Name    string
			Passed  bool
			Skipped bool
			Reason  string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%s: %v\n%s", c.name, err, out)
	}
	var failed []string
	var reasons []string
	for _, ch := range rep.Checks {
		if !ch.Passed && !ch.Skipped {
			failed = append(failed, ch.Name)
			reasons = append(reasons, ch.Name+": "+ch.Reason)
		}
	}
	if rep.Verified != (code == 0) || rep.Verified != (len(failed) == 0) {
		t.Errorf("%s: exit %d, verified %v, failed %v", c.name, code, rep.Verified, failed)
	}
	return rep.Verified, code, failed, strings.Join(reasons, "\n")
}

func checkquoteVerdict(t *testing.T, args []string) (bool, string) {
	cmd := exec.Command("tpm2_checkquote", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("tpm2_checkquote: %v", err)
	}
	return err == nil, stderr.String()
}

// TestQuoteSwtpm runs the suites that need quotes from a real TPM, all
// against one swtpm (key generation is the slow part).
func TestQuoteSwtpm(t *testing.T) {
	l := newQuoteLab(t)
	cases := l.buildCases(t)
	t.Run("Agreement", func(t *testing.T) { testQuoteAgreement(t, cases) })
	t.Run("Modes", func(t *testing.T) { testQuoteModes(t, cases) })
	t.Run("NoPCR", func(t *testing.T) { testQuoteOverNoPCR(t, l) })
	t.Run("Reasons", func(t *testing.T) { testQuoteReasons(t, l) })
	t.Run("ValuesAndExpected", func(t *testing.T) { testQuoteValuesAndExpected(t, l) })
	// Last: it extends PCR 11, which no other subtest quotes.
	t.Run("CELPhases", func(t *testing.T) { testQuoteCELPhases(t, l) })
	// A dynamic launch resets PCRs 17–22, which no other subtest quotes.
	t.Run("DRTM", func(t *testing.T) { testQuoteDRTM(t, l) })
}

// testQuoteAgreement verifies every case with goldenpcr, asserts the
// expected verdict and failing checks, runs tpm2_checkquote on the same
// files and asserts that both agree, and logs the agreement table.
func testQuoteAgreement(t *testing.T, cases []qcase) {
	if _, err := exec.LookPath("tpm2_checkquote"); err != nil {
		t.Fatal("tpm2_checkquote not found: install tpm2-tools")
	}
	type row struct {
		cases, gPass, cqPass, agree int
		excluded                    string
	}
	table := map[string]*row{}
	var order []string
	for _, c := range cases {
		ok, code, failed, reasons := goldenpcrVerdict(t, c)
		if ok != c.pass {
			t.Errorf("%s: goldenpcr verified=%v (exit %d), want %v\n%s", c.name, ok, code, c.pass, reasons)
		}
		if !c.pass && code == exitOK {
			t.Errorf("%s: tampered quote exits 0", c.name)
		}
		if c.failed != nil && !slices.Equal(failed, c.failed) {
			t.Errorf("%s: failed checks %v, want %v\n%s", c.name, failed, c.failed, reasons)
		}
		if code == exitMismatch && !c.pass && c.failed == nil && !slices.Contains(failed, "signature") {
			t.Errorf("%s: tampered evidence but the signature check passed: %v", c.name, failed)
		}
		r := table[c.family]
		if r == nil {
			r = &row{excluded: c.excluded}
			table[c.family] = r
			order = append(order, c.family)
		}
		r.cases++
		if ok {
			r.gPass++
		}
		cqOK, cqErr := checkquoteVerdict(t, c.cq)
		if cqOK {
			r.cqPass++
		}
		if c.cqSays != "" && !strings.Contains(cqErr, c.cqSays) {
			t.Errorf("%s: tpm2_checkquote does not say %q:\n%s", c.name, c.cqSays, cqErr)
		}
		if cqOK == ok {
			r.agree++
		} else if c.excluded == "" {
			t.Errorf("%s: goldenpcr verified=%v, tpm2_checkquote %v\ngoldenpcr: %s\ntpm2_checkquote: %s", c.name, ok, cqOK, reasons, cqErr)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-40s %5s %9s %9s %s\n", "case", "n", "goldenpcr", "checkquote", "agreement")
	for _, f := range order {
		r := table[f]
		verdict := func(pass int) string {
			switch pass {
			case r.cases:
				return "pass"
			case 0:
				return "fail"
			}
			return fmt.Sprintf("%d pass", pass)
		}
		agree := fmt.Sprintf("%d/%d agree", r.agree, r.cases)
		if r.excluded != "" {
			agree = "excluded: " + r.excluded
		}
		fmt.Fprintf(&b, "%-40s %5d %9s %10s  %s\n", f, r.cases, verdict(r.gPass), verdict(r.cqPass), agree)
	}
	t.Log(b.String())
}

// testQuoteOverNoPCR: swtpm's genuine quote over no PCR (tpm2_quote -l
// sha256:none), inside a go-tpm-tools attestation with its AK pinned,
// fails the pcr-selection check: it says nothing about the platform.
func testQuoteOverNoPCR(t *testing.T, l *quoteLab) {
	read := func(name string) []byte {
		b, err := os.ReadFile(l.path(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	att := l.path("none-att.json")
	writeFile(t, att, []byte(jsonLine(t, map[string]any{"akPub": read("rsa.pub")[2:], "eventLog": read("boot.log"),
		"quotes": []map[string]any{{"quote": read("rsa-none.msg"), "rawSig": read("rsa-none.sig"), "pcrs": map[string]any{"hash": 11, "pcrs": map[string]any{}}}}})))
	code, _, failed, reasons := verifyBundle(t, "--attestation", att, "--nonce", l.nonce, "--ak-name", l.path("rsa.name"))
	if code != exitMismatch || !slices.Contains(failed, "quote 1: pcr-selection") || !strings.Contains(reasons, "the quote selects no PCR") ||
		slices.Contains(failed, "quote 1: signature") {
		t.Errorf("quote over no PCR: exit %d, failed %v\n%s", code, failed, reasons)
	}
}

// testQuoteReasons checks what the text report says for tampering cases:
// each names its own cause.
func testQuoteReasons(t *testing.T, l *quoteLab) {
	q := "rsa-reasons"
	l.quote(t, "rsa", q, mixedSel, l.nonce)
	for _, c := range []struct {
		name  string
		args  []string
		check string
		want  []string
	}{
		{"short log", l.gArgs("rsa", q, "--eventlog", l.path("short.log")), "event-log",
			[]string{"✗ event-log", "sha256 PCR 7 replays to", "last extended by event #5"}},
		{"changed digest", l.gArgs("rsa", q, "--eventlog", l.path("digest.log")), "event-log",
			[]string{"sha256 PCR 7 replays to", "last extended by event #9"}},
		{"good log", l.gArgs("rsa", q, "--eventlog", l.log), "event-log",
			[]string{"✓ event-log", "replay to the quoted value of sha1:0, sha1:1, sha1:2, sha256:0, sha256:7; sha256:16 not in the log"}},
		{"wrong nonce", append(l.gArgs("rsa", q)[:8], "--nonce", "00"), "nonce",
			[]string{"✗ nonce", "extraData " + l.nonce + " differs from the expected nonce 00"}},
		{"no AK", l.gArgs("rsa", q)[2:], "signature",
			[]string{"✗ signature", "no AK public key given"}},
	} {
		code, out, errs := run(t, append([]string{"verify", "quote"}, c.args...)...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q (exit %d, %s):\n%s", c.name, w, code, errs, out)
			}
		}
	}
}

// testQuoteValuesAndExpected: a tpm2_quote -F values file takes its
// selection from the quote; --expected compares with the quoted values.
func testQuoteValuesAndExpected(t *testing.T, l *quoteLab) {
	l.run(t, "tpm2_quote", "-c", l.path("ecc.ctx"), "-q", l.nonce, "-l", mixedSel, "-g", "sha256",
		"-m", l.path("vals.msg"), "-s", l.path("vals.sig"), "-o", l.path("vals.bin"), "-F", "values")
	base := []string{"verify", "quote", "--ak", l.path("ecc.pub"), "-m", l.path("vals.msg"), "-s", l.path("vals.sig"),
		"--pcrs", l.path("vals.bin"), "--pcrs-format", "values", "--nonce", l.nonce}
	if code, out, errs := run(t, base...); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	// The TPM's own PCRs, as tpm2_pcrread prints them, are the expected
	// values; change PCR 7 and only that PCR differs.
	pcrread := l.tpm.Run(t, "tpm2_pcrread", mixedSel)
	writeFile(t, l.path("expected.yaml"), pcrread)
	code, out, _ := run(t, append(base, "--expected", l.path("expected.yaml"))...)
	if code != 0 || !strings.Contains(out, "✓ expected-pcrs  all 6 expected PCRs equal the quoted values") {
		t.Errorf("expected values from tpm2_pcrread: exit %d\n%s", code, out)
	}
	doc, err := pcr.Parse(pcrread, pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc.Sets[0][pcr.SHA256][7] = flipByte(doc.Sets[0][pcr.SHA256][7], 0)
	bad, err := pcr.Marshal(pcr.FormatJSON, doc.Sets)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, l.path("expected-bad.json"), bad)
	code, out, _ = run(t, append(base, "--expected", l.path("expected-bad.json"))...)
	if code != exitMismatch || !strings.Contains(out, "✗ expected-pcrs  1 of 6 expected PCRs differ: sha256:7 mismatch") {
		t.Errorf("changed expected PCR 7: exit %d\n%s", code, out)
	}
	// A goldenpcr baseline as --expected: the changed PCR 7 fails on its
	// own, and passes once the TPM's value is an accepted variant.
	good, err := pcr.Parse(pcrread, pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sets []pcr.Values
		code int
		want string
	}{
		{"baseline", good.Sets, exitOK, "✓ expected-pcrs  all 6 expected PCRs equal the quoted values"},
		{"baseline-bad", doc.Sets, exitMismatch, "✗ expected-pcrs  1 of 6 expected PCRs differ: sha256:7 mismatch"},
		{"baseline-variant", []pcr.Values{doc.Sets[0], good.Sets[0]}, exitOK, "✓ expected-pcrs  all 6 expected PCRs equal the quoted values (1 by an accepted variant)"},
	} {
		y, err := yaml.Marshal(baseline.FromValues(tc.sets, "tpm2_pcrread"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, l.path(tc.name+".yaml"), y)
		code, out, _ = run(t, append(base, "--expected", l.path(tc.name+".yaml"))...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q\n%s", tc.name, code, tc.code, tc.want, out)
		}
	}
}
