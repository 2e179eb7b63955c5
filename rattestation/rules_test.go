package rattestation

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// These tests hold the writer's output to each parser rule the spec lists
// (protobuf-c-text as GyroidOS's rattestation uses it), checked on the
// bytes with a reading of their own, not with Parse.

// line is a line of a config with the depth it is at (1 inside
// pcr_values).
type line struct {
	no    int
	depth int
	text  string
}

func lines(t *testing.T, conf []byte) []line {
	t.Helper()
	var out []line
	depth := 0
	for i, l := range strings.Split(strings.TrimSuffix(string(conf), "\n"), "\n") {
		s := strings.TrimSpace(l)
		if s == "}" {
			depth--
			continue
		}
		out = append(out, line{no: i + 1, depth: depth, text: s})
		if strings.HasSuffix(s, "{") {
			depth++
		}
	}
	if depth != 0 {
		t.Errorf("braces do not balance")
	}
	return out
}

// field splits "name: value" or "name {".
func field(l line) (name, value string, block bool) {
	if n, ok := strings.CutSuffix(l.text, " {"); ok {
		return n, "", true
	}
	name, value, _ = strings.Cut(l.text, ": ")
	return name, value, false
}

// unquote undoes the escapes of a string as protobuf-c-text does, for
// the ones the writer may use.
func unquote(t *testing.T, v string) string {
	t.Helper()
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		t.Fatalf("not a double-quoted string: %.40s", v)
	}
	r := strings.NewReplacer(`\n`, "\n", `\"`, `"`, `\\`, `\`, `\t`, "\t", `\r`, "\r")
	return r.Replace(v[1 : len(v)-1])
}

func TestWriterFollowsParserRules(t *testing.T) {
	topFields := []string{"name", "atype", "halg", "pcrs", "pcr_values", "kmod_sign_cert", "tpm_cert", "verify_ima", "ima_pcr", "verify_containers", "container_pcr"}
	pcrFields := []string{"number", "value"}
	ints := map[string]bool{"pcrs": true, "number": true, "ima_pcr": true, "container_pcr": true}
	bools := map[string]bool{"verify_ima": true, "verify_containers": true}
	decimal := regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)
	for _, tc := range writerCases(t) {
		conf, err := Write(tc.ref, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ls := lines(t, conf)
		rule := func(name string, f func(t *testing.T)) { t.Run(tc.name+"/"+name, f) }
		rule("the file is not empty", func(t *testing.T) {
			if len(bytes.TrimSpace(conf)) == 0 {
				t.Error("empty")
			}
		})
		rule("ASCII only, no NUL", func(t *testing.T) {
			for i, c := range conf {
				if c != '\n' && (c < 0x20 || c >= 0x7f) {
					t.Fatalf("byte 0x%02x at offset %d", c, i)
				}
			}
		})
		rule("LF line endings, not CRLF", func(t *testing.T) {
			if bytes.ContainsRune(conf, '\r') || !bytes.HasSuffix(conf, []byte("\n")) {
				t.Error("CR present or no final LF")
			}
		})
		rule("no comments: no # anywhere", func(t *testing.T) {
			if bytes.ContainsRune(conf, '#') {
				t.Error("# present")
			}
		})
		rule("no , or ; separators", func(t *testing.T) {
			if bytes.ContainsAny(conf, ",;") {
				t.Error("separator present")
			}
		})
		rule("no single quotes", func(t *testing.T) {
			if bytes.ContainsRune(conf, '\'') {
				t.Error("single quote present")
			}
		})
		rule(`no \x or octal escapes: only \n \" \\`, func(t *testing.T) {
			for i := 0; i < len(conf); i++ {
				if conf[i] != '\\' {
					continue
				}
				if i+1 >= len(conf) || !strings.ContainsRune(`n"\`, rune(conf[i+1])) {
					t.Fatalf("escape %q at offset %d", conf[i:min(i+4, len(conf))], i)
				}
				i++
			}
		})
		rule("field names known and cased as in the .proto", func(t *testing.T) {
			for _, l := range ls {
				name, _, _ := field(l)
				known := topFields
				if l.depth == 1 {
					known = pcrFields
				}
				if !slices.Contains(known, name) {
					t.Errorf("line %d: field %q", l.no, name)
				}
			}
		})
		rule("enum values as bare names", func(t *testing.T) {
			for _, l := range ls {
				switch name, v, _ := field(l); name {
				case "atype":
					if v != "BASIC" && v != "ADVANCED" {
						t.Errorf("line %d: atype %q", l.no, v)
					}
				case "halg":
					if v != "SHA256" {
						t.Errorf("line %d: halg %q", l.no, v)
					}
				}
			}
		})
		rule("numbers in decimal", func(t *testing.T) {
			for _, l := range ls {
				if name, v, _ := field(l); ints[name] && !decimal.MatchString(v) {
					t.Errorf("line %d: %s %q", l.no, name, v)
				}
			}
		})
		rule("booleans true or false", func(t *testing.T) {
			for _, l := range ls {
				if name, v, _ := field(l); bools[name] && v != "true" && v != "false" {
					t.Errorf("line %d: %s %q", l.no, name, v)
				}
			}
		})
		rule("a sub-message is `pcr_values {` without a colon", func(t *testing.T) {
			for _, l := range ls {
				if strings.Contains(l.text, "pcr_values") && l.text != "pcr_values {" {
					t.Errorf("line %d: %q", l.no, l.text)
				}
				if name, _, block := field(l); block != (name == "pcr_values") {
					t.Errorf("line %d: %q", l.no, l.text)
				}
			}
		})
		rule("no field set twice", func(t *testing.T) {
			top, block := map[string]int{}, map[string]int{}
			for _, l := range ls {
				name, _, _ := field(l)
				switch {
				case name == "pcr_values":
					block = map[string]int{} // repeated: a new block
				case l.depth == 0:
					if top[name]++; top[name] > 1 {
						t.Errorf("line %d: %s set twice", l.no, name)
					}
				default:
					if block[name]++; block[name] > 1 {
						t.Errorf("line %d: %s twice in one pcr_values", l.no, name)
					}
				}
			}
		})
		rule("name and kmod_sign_cert are present", func(t *testing.T) {
			for _, want := range []string{"name", "kmod_sign_cert"} {
				if !slices.ContainsFunc(ls, func(l line) bool { n, v, _ := field(l); return n == want && l.depth == 0 && len(v) > 2 }) {
					t.Errorf("no %s", want)
				}
			}
		})
		rule("atype ALL is never written", func(t *testing.T) {
			if bytes.Contains(conf, []byte("atype: ALL")) {
				t.Error("ALL")
			}
		})
		var numbers []int
		for _, l := range ls {
			if n, v, _ := field(l); n == "number" {
				i, _ := strconv.Atoi(v)
				numbers = append(numbers, i)
			}
		}
		quoted := span(0, 11)
		if tc.opts.AType == Advanced {
			quoted = tc.opts.PCRs
		}
		rule("values ascending, exactly one per quoted PCR", func(t *testing.T) {
			if !slices.Equal(numbers, quoted) {
				t.Errorf("numbers %v, quoted %v", numbers, quoted)
			}
		})
		rule("PCR values: bare hex of 2×halg digits, never a lowercase 0x", func(t *testing.T) {
			hex64 := regexp.MustCompile(`^"[0-9a-f]{64}"$`)
			n := 0
			for _, l := range ls {
				if name, v, _ := field(l); name == "value" {
					n++
					if !hex64.MatchString(v) {
						t.Errorf("line %d: value %s", l.no, v)
					}
				}
			}
			if n != len(quoted) {
				t.Errorf("%d values for %d PCRs", n, len(quoted))
			}
		})
		rule("ADVANCED carries the pcrs bitmap, BASIC none", func(t *testing.T) {
			var pcrs []string
			for _, l := range ls {
				if n, v, _ := field(l); n == "pcrs" {
					pcrs = append(pcrs, v)
				}
			}
			want := 0
			for _, p := range quoted {
				want |= 1 << p
			}
			switch {
			case tc.opts.AType == Basic && len(pcrs) != 0:
				t.Errorf("BASIC with pcrs %v", pcrs)
			case tc.opts.AType == Advanced && (len(pcrs) != 1 || pcrs[0] != strconv.Itoa(want)):
				t.Errorf("pcrs %v, want %d", pcrs, want)
			}
		})
		rule("kmod_sign_cert is the certificate's PEM text with \\n escapes", func(t *testing.T) {
			for _, l := range ls {
				if n, v, _ := field(l); n == "kmod_sign_cert" {
					text := unquote(t, v)
					blk, rest := pem.Decode([]byte(text))
					if blk == nil || len(rest) != 0 || blk.Type != "CERTIFICATE" {
						t.Fatalf("not one PEM certificate: %.80q", text)
					}
					want, _ := pem.Decode(tc.opts.KmodCert)
					if _, err := x509.ParseCertificate(blk.Bytes); err != nil || !bytes.Equal(blk.Bytes, want.Bytes) {
						t.Errorf("not the given certificate: %v", err)
					}
					return
				}
			}
			t.Error("no kmod_sign_cert")
		})
		rule("IMA and container switches as the device needs", func(t *testing.T) {
			for _, want := range []string{"verify_ima: " + strconv.FormatBool(!tc.opts.NoIMA), "verify_containers: " + strconv.FormatBool(!tc.opts.NoContainers)} {
				if !slices.ContainsFunc(ls, func(l line) bool { return l.text == want }) {
					t.Errorf("no %q", want)
				}
			}
		})
	}
}

// The file name must end in .conf, or rattestation does not read it.
func TestCheckFileName(t *testing.T) {
	for name, ok := range map[string]bool{"rattestation.conf": true, "/etc/cml/device-a.conf": true, "rattestation.cfg": false, "rattestation.conf.bak": false, "conf": false} {
		if err := CheckFileName(name); (err == nil) != ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}
