// Package charratest is a CHARRA attester for tests: it speaks CHARRA's
// side of the TAP protocol (CoAP FETCH /attest over loopback UDP, CBOR as
// charra.md describes it, the TPMT_SIGNATURE as the raw little-endian
// tpm2-tss C struct) backed by a real swtpm. PCRs 0-9 are extended with a
// real boot-lab TCG log (fixtures/lab/grub-eventlog.bin, its digests as
// tpm2_eventlog prints them) and PCR 10 with a generated binary ima-ng list
// (internal/imagen), each event with tpm2_pcrextend; the AK is made with
// tpm2_createak (RSASSA, RSA-PSS or ECDSA); every answer is quoted by
// tpm2_quote over the requested selection with the request's nonce.
// Modes make the attester misbehave in one way each. Tests only.
package charratest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/fxamacker/cbor/v2"
	dtlsserver "github.com/plgd-dev/go-coap/v3/dtls/server"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/mux"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	"gopkg.in/yaml.v3"

	"github.com/goldenpcr/goldenpcr/charra"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/ima"
	"github.com/goldenpcr/goldenpcr/internal/imagen"
	"github.com/goldenpcr/goldenpcr/internal/swtpmtest"
	"github.com/goldenpcr/goldenpcr/internal/tcglogtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Scheme is the AK's signature scheme.
type Scheme string

// The schemes tpm2_createak makes keys for.
const (
	RSASSA Scheme = "rsassa"
	RSAPSS Scheme = "rsapss"
	ECDSA  Scheme = "ecdsa"
)

// Mode is how the attester answers.
type Mode string

// The modes: Genuine answers as CHARRA's attester does; each other mode
// differs from it in one way.
const (
	Genuine Mode = "genuine"
	// WrongNonce quotes with another nonce than the request's.
	WrongNonce Mode = "wrong-nonce"
	// NarrowSelection quotes the request's selection without its last PCR.
	NarrowSelection Mode = "narrow-selection"
	// WrongLog serves a boot log with one PCR 4 event left out.
	WrongLog Mode = "wrong-log"
	// BadSignatureSize sends the signature struct with its size field one
	// more than the signature.
	BadSignatureSize Mode = "bad-signature-size"
	// Silent reads the request and never answers, as CHARRA's attester
	// when it dies on a request.
	Silent Mode = "silent"
	// Old3mdeb answers in the 3mdeb fork's form, with the AK's public key.
	Old3mdeb Mode = "3mdeb"
	// Old3mdebWrongKey is Old3mdeb with another key's public key.
	Old3mdebWrongKey Mode = "3mdeb-wrong-key"
)

// Modes lists every misbehaving mode.
var Modes = []Mode{WrongNonce, NarrowSelection, WrongLog, BadSignatureSize, Silent, Old3mdeb, Old3mdebWrongKey}

// Attester is a simulated CHARRA attester.
type Attester struct {
	// Files a verifier is given, in Dir: the AK as TPM2B_PUBLIC (what
	// CHARRA's verifier reads), and the golden values of PCRs 0-7 and 10
	// of both banks as a CHARRA reference-pcrs.yml.
	Dir, AKPath, ReferencePath string
	Scheme                     Scheme
	// PCRs are the swtpm's values of PCRs 0-7 and 10 after the boot and
	// IMA extends.
	PCRs pcr.Values

	tpm                  *swtpmtest.TPM
	bootLog, wrongLog    []byte
	imaList              []byte
	rawPub, rawOtherPub  []byte
	mu, tpmMu            sync.Mutex
	seq, quotes          int
	lastRequest, lastRaw []byte
	lastResponse         []byte
}

// New starts swtpm with SHA-1 and SHA-256 banks (as CHARRA's swtpm
// setups have), extends the boot log and IMA list, and makes an AK of the
// scheme.
func New(t testing.TB, scheme Scheme) *Attester {
	t.Helper()
	if _, err := exec.LookPath("tpm2_eventlog"); err != nil {
		t.Fatal("tpm2_eventlog not found: install tpm2-tools (make deps)")
	}
	a := &Attester{Dir: t.TempDir(), Scheme: scheme, tpm: swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}})}
	a.extendBootLog(t)
	a.extendIMA(t)
	a.makeAK(t)
	a.writeReference(t)
	return a
}

func (a *Attester) path(name string) string { return filepath.Join(a.Dir, name) }

// tool runs a tpm2-tools program and flushes the transient objects it
// left (there is no resource manager); safe from any goroutine.
func (a *Attester) tool(name string, args ...string) ([]byte, error) {
	a.tpmMu.Lock()
	defer a.tpmMu.Unlock()
	var first []byte
	for k, argv := range [][]string{append([]string{name}, args...), {"tpm2_flushcontext", "-t"}} {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = a.tpm.Env()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
		}
		if k == 0 {
			first = out
		}
	}
	return first, nil
}

func (a *Attester) run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := a.tool(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func repoFile(t testing.TB, rel string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", rel)
}

// tpm2Eventlog is what tpm2_eventlog prints of each event.
type tpm2Eventlog struct {
	Events []struct {
		PCRIndex  int    `yaml:"PCRIndex"`
		EventType string `yaml:"EventType"`
		Digests   []struct {
			AlgorithmID string `yaml:"AlgorithmId"`
			Digest      string `yaml:"Digest"`
		} `yaml:"Digests"`
	} `yaml:"events"`
}

// extendBootLog extends every measured event of the boot-lab log into the
// swtpm, with the digests tpm2_eventlog reads from it.
func (a *Attester) extendBootLog(t testing.TB) {
	t.Helper()
	path := repoFile(t, "fixtures/lab/grub-eventlog.bin")
	var err error
	if a.bootLog, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tpm2_eventlog", path).Output()
	if err != nil {
		t.Fatalf("tpm2_eventlog %s: %v", path, err)
	}
	var el tpm2Eventlog
	if err := yaml.Unmarshal(out, &el); err != nil {
		t.Fatalf("tpm2_eventlog output: %v", err)
	}
	var extends []string
	for _, ev := range el.Events {
		if ev.EventType == "EV_NO_ACTION" {
			continue
		}
		var parts []string
		for _, d := range ev.Digests {
			parts = append(parts, d.AlgorithmID+"="+d.Digest)
		}
		extends = append(extends, fmt.Sprintf("%d:%s", ev.PCRIndex, strings.Join(parts, ",")))
	}
	if len(extends) < 10 {
		t.Fatalf("charratest: only %d events extended from %s", len(extends), path)
	}
	a.extend(t, extends)
	// The log with the last PCR 4 event left out (it measures the kernel).
	last := -1
	l, err := eventlog.ReadLog(bytes.NewReader(a.bootLog))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range l.Events {
		if ev.PCR == 4 {
			last = ev.Index
		}
	}
	a.wrongLog = tcglogtest.Edit(t, a.bootLog, func(ev *eventlog.Event) []*eventlog.Event {
		if ev.Index == last {
			return nil
		}
		return []*eventlog.Event{ev}
	})
}

// extend runs tpm2_pcrextend over the specs ("PCR:alg=hex,…"), which it
// extends in order, a few dozen per run.
func (a *Attester) extend(t testing.TB, specs []string) {
	t.Helper()
	for len(specs) > 0 {
		n := min(len(specs), 40)
		cmd := exec.Command("tpm2_pcrextend", specs[:n]...)
		cmd.Env = a.tpm.Env()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tpm2_pcrextend: %v\n%s", err, out)
		}
		specs = specs[n:]
	}
}

// readPCRs reads the PCRs of one bank with tpm2_pcrread.
func (a *Attester) readPCRs(t testing.TB, alg pcr.Alg, indexes ...int) pcr.Values {
	t.Helper()
	var sel []string
	for _, i := range indexes {
		sel = append(sel, fmt.Sprint(i))
	}
	out := a.path("pcrread.bin")
	a.run(t, "tpm2_pcrread", alg.String()+":"+strings.Join(sel, ","), "-o", out)
	data, err := os.ReadFile(out)
	if err != nil || len(data) != alg.Size()*len(indexes) {
		t.Fatalf("tpm2_pcrread: %d bytes, %v", len(data), err)
	}
	v := pcr.Values{}
	for k, i := range indexes {
		v.Set(alg, i, data[alg.Size()*k:alg.Size()*(k+1)])
	}
	return v
}

// extendIMA writes a binary ima-ng list whose boot_aggregate is over the
// swtpm's PCRs 0-9 and extends PCR 10 with each entry as a 5.8+ kernel
// does: each bank with its own hash of the template data, all ones for a
// violation.
func (a *Attester) extendIMA(t testing.TB) {
	t.Helper()
	boot := a.readPCRs(t, pcr.SHA256, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	var list bytes.Buffer
	res, err := imagen.Write(&list, imagen.Options{Template: "ima-ng", N: 300, BootPCRs: boot, Banks: []pcr.Alg{pcr.SHA1, pcr.SHA256}, Violations: []int{77}})
	if err != nil {
		t.Fatal(err)
	}
	a.imaList = list.Bytes()
	rd, err := ima.NewBinaryReader(bytes.NewReader(a.imaList), nil)
	if err != nil {
		t.Fatal(err)
	}
	var extends []string
	for {
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s1, s256 := sha1.Sum(e.Data), sha256.Sum256(e.Data)
		d1, d256 := hex.EncodeToString(s1[:]), hex.EncodeToString(s256[:])
		if e.Violation() {
			d1, d256 = strings.Repeat("ff", 20), strings.Repeat("ff", 32)
		}
		extends = append(extends, fmt.Sprintf("%d:sha1=%s,sha256=%s", charra.IMAPCR, d1, d256))
	}
	a.extend(t, extends)
	got := a.readPCRs(t, pcr.SHA256, charra.IMAPCR)
	if want, _ := res.PerBank.Get(pcr.SHA256, charra.IMAPCR); !bytes.Equal(got[pcr.SHA256][charra.IMAPCR], want) {
		t.Fatalf("charratest: PCR 10 extended to %x, imagen says %x", got[pcr.SHA256][charra.IMAPCR], want)
	}
}

// makeAK makes an EK and an AK under it with tpm2_createak, and a second
// AK whose key the wrong-key mode names.
func (a *Attester) makeAK(t testing.TB) {
	t.Helper()
	g := map[Scheme]string{RSASSA: "rsa", RSAPSS: "rsa", ECDSA: "ecc"}[a.Scheme]
	if g == "" {
		t.Fatalf("charratest: unknown scheme %q", a.Scheme)
	}
	a.run(t, "tpm2_createek", "-c", a.path("ek.ctx"), "-G", "rsa", "-u", a.path("ek.pub"))
	a.AKPath = a.path("ak.pub")
	a.run(t, "tpm2_createak", "-C", a.path("ek.ctx"), "-c", a.path("ak.ctx"), "-G", g, "-g", "sha256", "-s", string(a.Scheme),
		"-u", a.AKPath, "-n", a.path("ak.name"))
	a.run(t, "tpm2_createak", "-C", a.path("ek.ctx"), "-c", a.path("other.ctx"), "-G", g, "-g", "sha256", "-s", string(a.Scheme),
		"-u", a.path("other.pub"), "-n", a.path("other.name"))
	for dst, name := range map[*[]byte]string{&a.rawPub: "ak.pub", &a.rawOtherPub: "other.pub"} {
		tss, err := os.ReadFile(a.path(name))
		if err != nil {
			t.Fatal(err)
		}
		if *dst, err = rawPublic(tss); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// writeReference writes the swtpm's PCRs 0-7 and 10 (the selection
// CHARRA's verifier asks for by default) of both banks as a CHARRA
// reference-pcrs.yml.
func (a *Attester) writeReference(t testing.TB) {
	t.Helper()
	list := []int{0, 1, 2, 3, 4, 5, 6, 7, 10}
	a.PCRs = a.readPCRs(t, pcr.SHA256, list...)
	for i, v := range a.readPCRs(t, pcr.SHA1, list...)[pcr.SHA1] {
		a.PCRs.Set(pcr.SHA1, i, v)
	}
	b, err := pcr.Marshal(pcr.FormatCHARRA, []pcr.Values{a.PCRs})
	if err != nil {
		t.Fatal(err)
	}
	a.ReferencePath = a.path("reference-pcrs.yml")
	if err := os.WriteFile(a.ReferencePath, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Quotes counts the quotes made: one per request, however many blocks
// its answer takes.
func (a *Attester) Quotes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.quotes
}

// Last returns the last request payload, response payload and raw
// signature struct.
func (a *Attester) Last() (request, response, rawSignature []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastRequest, a.lastResponse, a.lastRaw
}

// Serve answers on a fresh loopback UDP port in mode until t ends, and
// returns coap://127.0.0.1:PORT.
func (a *Attester) Serve(t testing.TB, mode Mode) string {
	t.Helper()
	l, err := coapnet.NewListenUDP("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s := udp.NewServer(options.WithMux(a.router(t, mode, done)), options.WithErrors(func(error) {}), options.WithMaxMessageSize(charra.MaxLog))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Serve(l) }()
	t.Cleanup(func() {
		close(done)
		s.Stop()
		l.Close()
		wg.Wait()
	})
	return "coap://" + l.LocalAddr().(*net.UDPAddr).String()
}

// ServeDTLS is Serve over DTLS with a pre-shared key, as CHARRA's
// attester with use-dtls-psk (TLS_PSK_WITH_AES_128_CCM_8, identity hint
// "CHARRA Attester", one key for every identity); it returns
// coaps://127.0.0.1:PORT.
func (a *Attester) ServeDTLS(t testing.TB, mode Mode, psk *charra.PSK) string {
	t.Helper()
	l, err := coapnet.NewDTLSListener("udp4", "127.0.0.1:0", psk.DTLSServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s := dtlsserver.New(options.WithMux(a.router(t, mode, done)), options.WithErrors(func(error) {}), options.WithMaxMessageSize(charra.MaxLog))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Serve(l) }()
	t.Cleanup(func() {
		close(done)
		s.Stop()
		l.Close()
		wg.Wait()
	})
	return "coaps://" + l.Addr().(*net.UDPAddr).String()
}

// router routes /attest to handle in mode.
func (a *Attester) router(t testing.TB, mode Mode, done <-chan struct{}) *mux.Router {
	r := mux.NewRouter()
	if err := r.Handle(charra.Resource, mux.HandlerFunc(func(w mux.ResponseWriter, req *mux.Message) {
		if err := a.handle(w, req, mode, done); err != nil {
			t.Logf("charratest attester (%s): %v", mode, err)
		}
	})); err != nil {
		t.Fatal(err)
	}
	return r
}

// handle answers one FETCH as CHARRA's coap_attest_handler does; an error
// answers nothing (the real attester dies).
func (a *Attester) handle(w mux.ResponseWriter, req *mux.Message, mode Mode, done <-chan struct{}) error {
	if req.Code() != codes.FETCH {
		return w.SetResponse(codes.MethodNotAllowed, message.TextPlain, nil)
	}
	if _, err := req.ContentFormat(); err != nil {
		return w.SetResponse(codes.UnsupportedMediaType, message.TextPlain, nil)
	}
	var body []byte
	if req.Body() != nil {
		var err error
		if body, err = req.ReadBody(); err != nil {
			return err
		}
	}
	tr, err := charra.ParseRequest(body)
	if err != nil {
		return err
	}
	if mode == Silent {
		<-done
		return nil
	}
	resp, err := a.response(tr, mode)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.lastRequest, a.lastResponse = body, resp
	a.mu.Unlock()
	return w.SetResponse(codes.Content, message.AppCBOR, bytes.NewReader(resp))
}

// response quotes and encodes the answer to r.
func (a *Attester) response(r *charra.Request, mode Mode) ([]byte, error) {
	var banks []string
	sel := r.QuoteSelection()
	if mode == NarrowSelection {
		last := &sel[len(sel)-1]
		last.PCRs = last.PCRs[:len(last.PCRs)-1]
	}
	for _, b := range sel {
		var list []string
		for _, i := range b.PCRs {
			list = append(list, fmt.Sprint(i))
		}
		if len(list) > 0 {
			banks = append(banks, b.Alg.String()+":"+strings.Join(list, ","))
		}
	}
	nonce := bytes.Clone(r.Nonce)
	if mode == WrongNonce {
		nonce[0] ^= 0x01
	}
	a.mu.Lock()
	a.seq++
	a.quotes++
	n := a.seq
	a.mu.Unlock()
	msg, sig := a.path(fmt.Sprintf("q%d.msg", n)), a.path(fmt.Sprintf("q%d.sig", n))
	if _, err := a.tool("tpm2_quote", "-c", a.path("ak.ctx"), "-q", hex.EncodeToString(nonce), "-l", strings.Join(banks, "+"), "-g", "sha256", "--scheme", string(a.Scheme), "-m", msg, "-s", sig); err != nil {
		return nil, err
	}
	attest, err := os.ReadFile(msg)
	if err != nil {
		return nil, err
	}
	tss, err := os.ReadFile(sig)
	if err != nil {
		return nil, err
	}
	raw, err := rawSignature(tss)
	if err != nil {
		return nil, err
	}
	if mode == BadSignatureSize {
		binary.LittleEndian.PutUint16(raw[4:], binary.LittleEndian.Uint16(raw[4:])+1)
	}
	a.mu.Lock()
	a.lastRaw = raw
	a.mu.Unlock()
	switch mode {
	case Old3mdeb:
		return cbor.Marshal([]any{attest, raw, a.rawPub})
	case Old3mdebWrongKey:
		return cbor.Marshal([]any{attest, raw, a.rawOtherPub})
	}
	logs := []any{}
	for _, l := range r.Logs {
		var content []byte
		start, count := uint64(1), uint64(0)
		switch {
		case l.Identifier == charra.LogTCGBoot && mode == WrongLog:
			content = a.wrongLog
		case l.Identifier == charra.LogTCGBoot:
			content = a.bootLog
		case l.Identifier == charra.LogIMA:
			content = a.imaList
		default:
			start = 0
		}
		if l.Start == 0 {
			content, start = nil, 1
		}
		logs = append(logs, []any{uint64(charra.IEPCRLog), l.Identifier, start, count, append([]byte{}, content...)})
	}
	return cbor.Marshal([]any{[]any{uint64(charra.IEPCRAttestation), uint64(charra.IESubtypeQuote), attest, raw}, logs})
}

// rawSignature lays out the TPM-marshalled (big-endian) TPMT_SIGNATURE
// tpm2_quote wrote as the tpm2-tss C struct the attester memcpys: 518
// bytes, little-endian u16s, each buffer in its full-size slot.
func rawSignature(tss []byte) ([]byte, error) {
	rd := bytes.NewReader(tss)
	var alg, hash uint16
	binary.Read(rd, binary.BigEndian, &alg)
	binary.Read(rd, binary.BigEndian, &hash)
	raw := make([]byte, 518)
	binary.LittleEndian.PutUint16(raw[0:], alg)
	binary.LittleEndian.PutUint16(raw[2:], hash)
	tpm2b := func() ([]byte, error) {
		var n uint16
		if err := binary.Read(rd, binary.BigEndian, &n); err != nil {
			return nil, err
		}
		b := make([]byte, n)
		_, err := io.ReadFull(rd, b)
		return b, err
	}
	put := func(off int, b []byte) {
		binary.LittleEndian.PutUint16(raw[off:], uint16(len(b)))
		copy(raw[off+2:], b)
	}
	switch alg {
	case 0x0014, 0x0016:
		s, err := tpm2b()
		if err != nil {
			return nil, err
		}
		put(4, s)
	case 0x0018:
		r, err := tpm2b()
		if err != nil {
			return nil, err
		}
		s, err := tpm2b()
		if err != nil {
			return nil, err
		}
		put(4, r)
		put(134, s)
	default:
		return nil, fmt.Errorf("tpm2_quote signature scheme 0x%04x", alg)
	}
	return raw, nil
}

// rawPublic lays out a TPM-marshalled TPM2B_PUBLIC (tpm2_createak -u) as
// the 616-byte tpm2-tss C struct the 3mdeb fork sends (offsets measured
// with gcc against the tpm2-tss headers).
func rawPublic(tss []byte) ([]byte, error) {
	rd := bytes.NewReader(tss)
	u16 := func() uint16 { var v uint16; binary.Read(rd, binary.BigEndian, &v); return v }
	raw := make([]byte, 616)
	le := func(off int, v uint16) { binary.LittleEndian.PutUint16(raw[off:], v) }
	tpm2b := func(off int) {
		n := u16()
		le(off, n)
		io.ReadFull(rd, raw[off+2:off+2+int(n)])
	}
	le(0, u16())
	typ := u16()
	le(4, typ)
	le(6, u16())
	var attrs uint32
	binary.Read(rd, binary.BigEndian, &attrs)
	binary.LittleEndian.PutUint32(raw[8:], attrs)
	tpm2b(12)
	sym := u16()
	le(80, sym)
	if sym != 0x0010 {
		le(82, u16())
		le(84, u16())
	}
	scheme := u16()
	le(86, scheme)
	if scheme != 0x0010 {
		le(88, u16())
	}
	switch typ {
	case 0x0001:
		le(92, u16())
		var exp uint32
		binary.Read(rd, binary.BigEndian, &exp)
		binary.LittleEndian.PutUint32(raw[96:], exp)
		tpm2b(100)
	case 0x0023:
		le(92, u16())
		kdf := u16()
		le(94, kdf)
		if kdf != 0x0010 {
			le(96, u16())
		}
		tpm2b(100)
		tpm2b(230)
	default:
		return nil, fmt.Errorf("key type 0x%04x", typ)
	}
	if rd.Len() != 0 {
		return nil, fmt.Errorf("%d bytes left over", rd.Len())
	}
	return raw, nil
}
