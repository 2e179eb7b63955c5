package rattestation

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// goodConfig is the writer's BASIC config of the real response.
func goodConfig(t testing.TB) []byte {
	t.Helper()
	cert, _ := testCert(t)
	conf, err := Write(fixtureRef(t), Options{KmodCert: cert})
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// lineOf is the 1-based line of the first occurrence of s in conf.
func lineOf(t *testing.T, conf []byte, s string) int {
	t.Helper()
	i := bytes.Index(conf, []byte(s))
	if i < 0 {
		t.Fatalf("%q not in the config", s)
	}
	return bytes.Count(conf[:i], []byte("\n")) + 1
}

// Parse refuses what protobuf-c-text refuses and what rattestation would
// misread, with the line.
func TestParseRefuses(t *testing.T) {
	good := goodConfig(t)
	s := string(good)
	pcr4 := "  number: 4\n  value: \"e43fb3679d46dc65dead5c8e40fd9259e6418b4d307224125d8da0c7b8d4c694\"\n"
	pcr5 := "  number: 5\n  value: \"db0601db513ae7fc767050b933acbef852cb2f9fcd452280a10ee48094dee90f\"\n"
	pcr10 := "  number: 10\n  value: \"f59604d54e85c9cb2df44fd7cf51f8c1e182499f15436fecd89ccf038fd9cb85\"\n"
	replace := func(old, new string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("%q not in the config", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	kmodLine := lineOf(t, good, "kmod_sign_cert")
	cases := []struct {
		name string
		conf string
		line int
		says string
		as   func(error) bool
	}{
		{"empty file", "", 1, "empty file", nil},
		{"a # comment line", "# made by hand\n" + s, 1, "comments are not accepted", nil},
		{"a # comment after a field", replace("halg: SHA256\n", "halg: SHA256 # the bank\n"), 3, "comments are not accepted", nil},
		{"a // comment", replace("halg: SHA256\n", "halg: SHA256 // the bank\n"), 3, "comments are not accepted", nil},
		{"CRLF line endings", strings.ReplaceAll(s, "\n", "\r\n"), 1, "CRLF line endings are not accepted", nil},
		{"a , separator", replace("atype: BASIC\n", "atype: BASIC,\n"), 2, "separators are not accepted", nil},
		{"a ; separator", replace("atype: BASIC\n", "atype: BASIC;\n"), 2, "separators are not accepted", nil},
		{"a single-quoted string", replace(`name: "goldenpcr"`, `name: 'goldenpcr'`), 1, "single-quoted strings are not accepted", nil},
		{`a \x escape`, replace(`name: "goldenpcr"`, `name: "golden\x41"`), 1, `escape \x is not one protobuf-c-text knows`, nil},
		{`a \101 escape`, replace(`name: "goldenpcr"`, `name: "golden\101"`), 1, `escape \1 is not one`, nil},
		{"a wrongly cased field", replace("atype: BASIC", "Atype: BASIC"), 2, `field names are case-sensitive, write "atype"`, nil},
		{"an unknown field", replace("atype: BASIC", "attestation_type: BASIC"), 2, `unknown field "attestation_type"`, nil},
		{"an enum as a number", replace("atype: BASIC", "atype: 0"), 2, "enum values are written as bare names", nil},
		{"an enum quoted", replace("atype: BASIC", `atype: "BASIC"`), 2, "enum values are written as bare names", nil},
		{"an enum in lower case", replace("atype: BASIC", "atype: basic"), 2, "enum values are case-sensitive", nil},
		{"a hex number", replace("  number: 4\n", "  number: 0x4\n"), lineOf(t, good, "  number: 4\n"), "want a decimal integer", nil},
		{"a quoted number", replace("  number: 4\n", "  number: \"4\"\n"), lineOf(t, good, "  number: 4\n"), "want a decimal integer", nil},
		{"a fraction", replace("  number: 4\n", "  number: 4.0\n"), lineOf(t, good, "  number: 4\n"), "want a decimal integer", nil},
		{"a boolean as 1", replace("verify_ima: true", "verify_ima: 1"), lineOf(t, good, "verify_ima"), "want true or false", nil},
		{"a boolean capitalised", replace("verify_ima: true", "verify_ima: True"), lineOf(t, good, "verify_ima"), "want true or false", nil},
		{"pcr_values with a colon", replace("pcr_values {\n  number: 4", "pcr_values: {\n  number: 4"), lineOf(t, good, pcr4) - 1, "write `pcr_values {` without a colon", nil},
		{"a field set twice", replace("halg: SHA256\n", "halg: SHA256\nhalg: SHA256\n"), 4, "halg set twice (first on line 3)", nil},
		{"a number set twice in a block", replace(pcr4, pcr4+"  number: 4\n"), lineOf(t, good, pcr4) + 2, "number set twice", nil},
		{"name missing", replace("name: \"goldenpcr\"\n", ""), 0, "name: missing: the field is required", nil},
		{"kmod_sign_cert missing", s[:strings.Index(s, "kmod_sign_cert")] + "verify_ima: true\nverify_containers: true\n", 0, "kmod_sign_cert: missing", nil},
		{"a byte ≥ 0x80", replace("halg: SHA256\n", "halg: SHA256\n\xc3\xa9\n"), 4, "byte 0xc3: protobuf-c-text stops reading", nil},
		{"a NUL", replace("halg: SHA256\n", "halg: SHA256\n\x00"), 4, "byte 0x00: protobuf-c-text stops reading", nil},
		{"a lowercase 0x value", replace(`value: "e43f`, `value: "0xe43f`), lineOf(t, good, pcr4) + 1, "lowercase 0x prefix", nil},
		{"an empty value", replace(pcr4, "  number: 4\n  value: \"\"\n"), lineOf(t, good, pcr4) + 1, "PCR 4: empty value", nil},
		{"a short value", replace(`value: "e43fb3`, `value: "e43f`), lineOf(t, good, pcr4) + 1, "62 hex digits, want 64", nil},
		{"a value of another hash size", replace(`value: "e43fb3679d46dc65dead5c8e40fd9259e6418b4d307224125d8da0c7b8d4c694"`, `value: "e43fb3679d46dc65dead5c8e40fd9259e6418b4d"`), lineOf(t, good, pcr4) + 1, "40 hex digits, want 64", nil},
		{"values out of order", replace(pcr4+"}\npcr_values {\n"+pcr5, pcr5+"}\npcr_values {\n"+pcr4), lineOf(t, good, pcr4) + 4, "PCR 4 after PCR 5: values must be ascending", nil},
		{"a PCR twice", replace(pcr5, pcr4), lineOf(t, good, pcr5), "PCR 4 listed twice", nil},
		{"a block without a number", replace(pcr4, "  value: \"e43fb3679d46dc65dead5c8e40fd9259e6418b4d307224125d8da0c7b8d4c694\"\n"), lineOf(t, good, pcr4) - 1, "needs a number and a value", nil},
		{"a quoted PCR without a value", replace("pcr_values {\n"+pcr4+"}\n", ""), lineOf(t, good, "atype"), "no SHA-256 value for PCR 4, which atype BASIC quotes", isA[*MissingPCRError]},
		{"a PCR the atype does not quote", replace("kmod_sign_cert", "pcr_values {\n  number: 12\n  value: \"e43fb3679d46dc65dead5c8e40fd9259e6418b4d307224125d8da0c7b8d4c694\"\n}\nkmod_sign_cert"), kmodLine + 1, "PCR 12 is not quoted by atype BASIC", nil},
		{"atype ALL", replace("atype: BASIC", "atype: ALL"), 2, "atype ALL: rattestation aborts on it", isA[*AllError]},
		{"ADVANCED without pcrs", replace("atype: BASIC", "atype: ADVANCED"), 2, "atype ADVANCED needs a pcrs bitmap", isA[*FieldError]},
		{"pcrs with BASIC", replace("halg: SHA256\n", "halg: SHA256\npcrs: 4095\n"), 4, "applies to atype ADVANCED only", isA[*FieldError]},
		{"pcrs beyond PCR 23", replace("atype: BASIC\n", "atype: ADVANCED\npcrs: 16777216\n"), 3, "bit n selects PCR n, n < 24", isA[*FieldError]},
		{"halg SHA1", replace("halg: SHA256", "halg: SHA1"), 3, "halg SHA1: the CML device quotes its SHA-256 bank only", isA[*BankError]},
		{"PCR 10 zero with IMA on", replace(pcr10, "  number: 10\n  value: \""+strings.Repeat("0", 64)+"\"\n"), lineOf(t, good, pcr10) - 1, "PCR 10 is zero, which a device running IMA cannot reach", isA[*UnreachableError]},
		{"IMA on, PCR 10 not quoted", advancedWithout10(t, s), 0, "verify_ima checks PCR 10", isA[*NotQuotedError]},
		{"a block not closed", s[:strings.LastIndex(s, "}")], 0, "is not closed with '}'", nil},
		{"a stray }", s + "}\n", 0, "'}' closes no block", nil},
		{"a string not closed", s + "tpm_cert: \"tpm.pem\n", strings.Count(s, "\n") + 1, "string not closed", nil},
		{"a kmod_sign_cert that is broken PEM", replace(`kmod_sign_cert: "-----BEGIN CERTIFICATE-----\nMII`, `kmod_sign_cert: "-----BEGIN CERTIFICATE-----\nXXX`), kmodLine, "kmod_sign_cert", isA[*FieldError]},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.conf))
		var pe *ParseError
		if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.says)
			continue
		}
		if tc.line > 0 && pe.Line != tc.line {
			t.Errorf("%s: line %d, want %d (%v)", tc.name, pe.Line, tc.line, err)
		}
		if tc.as != nil && !tc.as(err) {
			t.Errorf("%s: %T is not the typed error", tc.name, pe.Err)
		}
	}
}

// advancedWithout10 is the good config turned into ADVANCED over PCRs
// 0-9 and 11, IMA verification still on.
func advancedWithout10(t *testing.T, s string) string {
	t.Helper()
	start := strings.Index(s, "pcr_values {\n  number: 10\n")
	end := start + strings.Index(s[start:], "}\n") + 2
	s = s[:start] + s[end:]
	return strings.Replace(s, "atype: BASIC\n", fmt.Sprintf("atype: ADVANCED\npcrs: %d\n", 0xfff&^(1<<10)), 1)
}

// isA reports whether err wraps an error of type T.
func isA[T error](err error) bool {
	var e T
	return errors.As(err, &e)
}

// What protobuf-c-text accepts besides the writer's own layout reads the
// same: an uppercase 0X, uppercase hex, tabs, fields in another order, the
// escapes it knows, defaults left out; what rattestation ignores is
// accepted with a warning.
func TestParseAccepts(t *testing.T) {
	good := goodConfig(t)
	want, err := Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	hex4 := "e43fb3679d46dc65dead5c8e40fd9259e6418b4d307224125d8da0c7b8d4c694"
	variants := map[string]string{
		"0X prefix":       strings.Replace(s, `"`+hex4, `"0X`+hex4, 1),
		"uppercase hex":   strings.Replace(s, hex4, strings.ToUpper(hex4), 1),
		"tabs and blanks": strings.ReplaceAll(strings.ReplaceAll(s, "  number", "\tnumber"), "\n", " \n\n"),
		"one line":        strings.ReplaceAll(s, "\n", " "),
		"fields reordered": strings.Replace(strings.Replace(s, "name: \"goldenpcr\"\natype: BASIC\nhalg: SHA256\n", "", 1), "verify_containers: true\n",
			"verify_containers: true\nhalg: SHA256\natype: BASIC\nname: \"goldenpcr\"\n", 1),
		"defaults left out":  strings.Replace(strings.Replace(strings.Replace(s, "atype: BASIC\n", "", 1), "halg: SHA256\n", "", 1), "verify_ima: true\n", "", 1),
		"defaults spelt out": strings.Replace(s, "verify_containers: true\n", "verify_containers: true\nima_pcr: 10\ncontainer_pcr: 11\n", 1),
	}
	for name, conf := range variants {
		got, err := Parse([]byte(conf))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		a, _ := got.Marshal()
		b, _ := want.Marshal()
		if !bytes.Equal(a, b) {
			t.Errorf("%s: reads as another config:\n%s", name, a)
		}
	}
	escaped := strings.Replace(s, `name: "goldenpcr"`, `name: "a\tb\\c\"d\'e\n\060"`, 1)
	if got, err := Parse([]byte(escaped)); err != nil || got.Name != "a\tb\\c\"d'e\n0" {
		t.Errorf("escapes: %v %q", err, got.Name)
	}
	hand := strings.Replace(s, s[strings.Index(s, "kmod_sign_cert"):strings.Index(s, "verify_ima")], "kmod_sign_cert: \"/etc/cml/kmod.pem\"\ntpm_cert: \"tpm.pem\"\n", 1)
	got, err := Parse([]byte(hand))
	if err != nil || len(got.Warnings) != 2 || !strings.Contains(got.Warnings[0], "is no PEM text") || !strings.Contains(got.Warnings[1], "tpm_cert is unused") {
		t.Errorf("a hand-made config with a file name: %v %q", err, got.Warnings)
	}
}

// FuzzParse: any input either fails with a line, or reads as a config
// whose own bytes read back as the same config.
func FuzzParse(f *testing.F) {
	for _, tc := range writerCases(f) {
		conf, err := Write(tc.ref, tc.opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(conf)
	}
	good := goodConfig(f)
	f.Add(bytes.ReplaceAll(good, []byte("\n"), []byte(" ")))
	f.Add([]byte(`name: "x\0101\t\"\\" kmod_sign_cert: "f" atype: ADVANCED pcrs: 3072 pcr_values { number: 10 value: "0X` + strings.Repeat("A1", 32) + `" } pcr_values { value: "` + strings.Repeat("00", 32) + `" number: 11 } verify_containers: false ima_pcr: 10`))
	f.Add([]byte("name: 'x'\r\n# c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("a config Parse accepts does not marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("marshalled config does not read back: %v\n%s", err, out)
		}
		again, err := back.Marshal()
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("marshalled config reads back as another: %v\n%s\n---\n%s", err, out, again)
		}
	})
}
