package rattestation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// A config read back and written again from its own baseline is the same
// bytes, for every atype.
func TestRoundTrip(t *testing.T) {
	for _, tc := range writerCases(t) {
		conf, err := Write(tc.ref, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c, err := Parse(conf)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, conf)
		}
		if again, err := c.Marshal(); err != nil || !bytes.Equal(again, conf) {
			t.Errorf("%s: Marshal of the parsed config differs (%v)", tc.name, err)
		}
		opts := Options{Name: c.Name, AType: c.AType, PCRs: c.PCRs, KmodCert: []byte(c.KmodCert), NoIMA: !c.VerifyIMA, NoContainers: !c.VerifyContainers}
		again, err := Write(&baseline.Reference{Baseline: c.Baseline()}, opts)
		if err != nil || !bytes.Equal(again, conf) {
			t.Errorf("%s: config → baseline → config is not byte-identical (%v)\n%s\n---\n%s", tc.name, err, conf, again)
		}
		if len(c.Warnings) != 0 {
			t.Errorf("%s: warnings %v", tc.name, c.Warnings)
		}
	}
}

// The real GyroidOS response: its quote covers SHA-256 PCRs 0-11 with the
// nonce as extraData, its pcrDigest is SHA-256 of the twelve values
// returned, and a config written from those values accepts them.
func TestGyroidOSResponse(t *testing.T) {
	readHex := func(name string) []byte {
		data, err := os.ReadFile("../fixtures/cml/" + name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	att, err := tpmstruct.ParseAttest(readHex("quote.hex"))
	if err != nil {
		t.Fatal(err)
	}
	if att.Magic != tpmstruct.GeneratedValue || att.Type != tpmstruct.AttestQuote || att.Quote == nil {
		t.Fatalf("magic %#x type %s", att.Magic, att.Type)
	}
	if nonce := readHex("nonce.hex"); !bytes.Equal(att.ExtraData, nonce) {
		t.Errorf("extraData %x, nonce %x", att.ExtraData, nonce)
	}
	if sel := att.Quote.PCRSelect; len(sel) != 1 || sel[0].Hash != pcr.SHA256 || !bytes.Equal(sel[0].Select, []byte{0xff, 0x0f, 0x00}) {
		t.Fatalf("selection %+v, want sha256 PCRs 0-11", sel)
	}
	ref := fixtureRef(t)
	values := ref.Doc.Sets[0]
	if got := values.Indices(pcr.SHA256); !slices.Equal(got, span(0, 11)) {
		t.Fatalf("fixture PCRs %v", got)
	}
	h := sha256.New()
	for i := 0; i <= 11; i++ {
		h.Write(values[pcr.SHA256][i])
	}
	if d := h.Sum(nil); !bytes.Equal(d, att.Quote.PCRDigest) || !strings.HasPrefix(hex.EncodeToString(d), "e75138ab") {
		t.Errorf("pcrDigest %x, SHA-256 of the twelve values %x", att.Quote.PCRDigest, d)
	}

	cert, _ := testCert(t)
	conf, err := Write(ref, Options{KmodCert: cert, Name: "GyroidOS example device"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(conf)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 11; i++ {
		if !bytes.Equal(c.Values[i], values[pcr.SHA256][i]) {
			t.Errorf("PCR %d: config %x, response %x", i, c.Values[i], values[pcr.SHA256][i])
		}
	}
	m, err := (&baseline.Reference{Baseline: c.Baseline()}).Compare(values, nil)
	if err != nil || !m.OK || len(m.Rows) != 12 {
		t.Errorf("the imported config does not accept the response: %v %+v", err, m)
	}
}

// Each refusal gives its reason, as a typed error naming the PCR or the
// field, and never a command-line flag.
func TestWriteRefuses(t *testing.T) {
	cert, _ := testCert(t)
	ok := Options{KmodCert: cert}
	withPCR := func(b *baseline.Baseline, index int, f func(p *baseline.PCR)) *baseline.Baseline {
		for i := range b.PCRs {
			if b.PCRs[i].Index == index {
				f(&b.PCRs[i])
			}
		}
		return b
	}
	zero := hex.EncodeToString(make([]byte, 32))
	ref := func(b *baseline.Baseline) *baseline.Reference { return &baseline.Reference{Baseline: b} }
	twoSets := func(differ bool) *baseline.Reference {
		a, b := pcr.Values{}, pcr.Values{}
		for i := 0; i <= 11; i++ {
			v := sha256.Sum256([]byte{byte(i)})
			a.Set(pcr.SHA256, i, v[:])
			w := v
			if differ && i == 4 {
				w[0] ^= 1
			}
			b.Set(pcr.SHA256, i, w[:])
		}
		return &baseline.Reference{Doc: &pcr.Document{Format: pcr.FormatCHARRA, Sets: []pcr.Values{a, b}}}
	}
	cases := []struct {
		name  string
		ref   *baseline.Reference
		opts  Options
		check func(error) bool
		says  string
	}{
		{"a quoted PCR missing", ref(synthetic(span(0, 7)...)), ok,
			func(err error) bool {
				var e *MissingPCRError
				return errors.As(err, &e) && slices.Equal(e.PCRs, []int{8, 9, 10, 11})
			}, "no SHA-256 value for PCR 8-11, which atype BASIC quotes"},
		{"PCR 10 missing says how to get it", ref(synthetic(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11)), ok,
			func(err error) bool { var e *MissingPCRError; return errors.As(err, &e) }, "give its IMA golden value, or for a device without IMA turn verify_ima off"},
		{"PCR 11 missing says how to get it", ref(synthetic(span(0, 10)...)), ok,
			func(err error) bool { var e *MissingPCRError; return errors.As(err, &e) }, "give its container golden value, or for a device without containers turn verify_containers off"},
		{"a PCR with variants", ref(withPCR(synthetic(span(0, 11)...), 7, func(p *baseline.PCR) {
			p.Variants = []map[string]string{{"sha256": strings.Repeat("ab", 32)}}
		})), ok, func(err error) bool {
			var e *VariantsError
			return errors.As(err, &e) && e.PCR == 7 && e.Candidates == 2
		}, "PCR 7 has 2 acceptable SHA-256 values"},
		{"a PCR file whose alternatives differ", twoSets(true), ok,
			func(err error) bool { var e *VariantsError; return errors.As(err, &e) && e.PCR == 4 }, "PCR 4 has 2"},
		{"a PCR without SHA-256", ref(withPCR(synthetic(span(0, 11)...), 3, func(p *baseline.PCR) { delete(p.Values, "sha256") })), ok,
			func(err error) bool { var e *BankError; return errors.As(err, &e) && e.PCR == 3 }, "PCR 3 has no SHA-256 value (only sha1)"},
		{"atype ALL", ref(synthetic(span(0, 23)...)), Options{AType: All, KmodCert: cert},
			func(err error) bool { var e *AllError; return errors.As(err, &e) }, "rattestation aborts on it"},
		{"PCR 10 zero with IMA", ref(withPCR(synthetic(span(0, 11)...), 10, func(p *baseline.PCR) { p.Values["sha256"] = zero })), ok,
			func(err error) bool {
				var e *UnreachableError
				return errors.As(err, &e) && e.PCR == 10 && e.Field == "verify_ima"
			},
			"PCR 10 is zero, which a device running IMA cannot reach"},
		{"PCR 11 zero with containers", ref(withPCR(synthetic(span(0, 11)...), 11, func(p *baseline.PCR) { p.Values["sha256"] = zero })), ok,
			func(err error) bool {
				var e *UnreachableError
				return errors.As(err, &e) && e.PCR == 11 && e.Field == "verify_containers"
			},
			"PCR 11 is zero, which a device with containers cannot reach"},
		{"IMA verified but PCR 10 not quoted", ref(synthetic(span(0, 11)...)), Options{AType: Advanced, PCRs: span(0, 7), NoContainers: true, KmodCert: cert},
			func(err error) bool { var e *NotQuotedError; return errors.As(err, &e) && e.PCR == 10 }, "verify_ima checks PCR 10, which atype ADVANCED"},
		{"ADVANCED without PCRs", ref(synthetic(span(0, 11)...)), Options{AType: Advanced, KmodCert: cert},
			func(err error) bool { var e *FieldError; return errors.As(err, &e) && e.Field == "pcrs" }, "pcrs: atype ADVANCED needs"},
		{"ADVANCED PCR 24", ref(synthetic(span(0, 23)...)), Options{AType: Advanced, PCRs: []int{10, 11, 24}, KmodCert: cert},
			func(err error) bool { var e *FieldError; return errors.As(err, &e) && e.Field == "pcrs" }, "PCR 24: the bitmap holds PCRs 0-23"},
		{"BASIC with PCRs", ref(synthetic(span(0, 11)...)), Options{PCRs: []int{1}, KmodCert: cert},
			func(err error) bool { var e *FieldError; return errors.As(err, &e) && e.Field == "pcrs" }, "applies to atype ADVANCED only"},
		{"no certificate", ref(synthetic(span(0, 11)...)), Options{KmodCert: []byte("/etc/kmod.pem")},
			func(err error) bool { var e *FieldError; return errors.As(err, &e) && e.Field == "kmod_sign_cert" }, "kmod_sign_cert: not an X.509 certificate"},
		{"two certificates", ref(synthetic(span(0, 11)...)), Options{KmodCert: append(append([]byte{}, cert...), cert...)},
			func(err error) bool { var e *FieldError; return errors.As(err, &e) && e.Field == "kmod_sign_cert" }, "2 certificates"},
		{"a name with a non-ASCII byte", ref(synthetic(span(0, 11)...)), Options{Name: "Gerät", KmodCert: cert},
			func(err error) bool { var e *FieldError; return errors.As(err, &e) && e.Field == "name" }, "name: byte 0xc3"},
	}
	for _, tc := range cases {
		out, err := Write(tc.ref, tc.opts)
		if err == nil || out != nil || !tc.check(err) || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "--") {
			t.Errorf("%s: %v (%T), want %q", tc.name, err, err, tc.says)
		}
	}
	// What the refusals point to works: the switches for a device without
	// IMA or containers, identical alternatives of a PCR file.
	noIMA := synthetic(span(0, 11)...)
	withPCR(noIMA, 10, func(p *baseline.PCR) { p.Values["sha256"] = zero })
	if _, err := Write(ref(noIMA), Options{KmodCert: cert, NoIMA: true}); err != nil {
		t.Errorf("PCR 10 zero without IMA: %v", err)
	}
	if _, err := Write(ref(synthetic(span(0, 9)...)), Options{KmodCert: cert, NoIMA: true, NoContainers: true}); err != nil {
		t.Errorf("PCRs 10, 11 left out without IMA and containers: %v", err)
	}
	if _, err := Write(twoSets(false), ok); err != nil {
		t.Errorf("alternatives with equal values: %v", err)
	}
}
