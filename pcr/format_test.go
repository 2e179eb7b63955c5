package pcr_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// sampleValues is expectedValues plus an sm3_256 bank, so writers see
// every bank goldenpcr knows.
func sampleValues() pcr.Values {
	v := expectedValues()
	for i := 0; i < pcr.NumPCRs; i++ {
		v.Set(pcr.SM3256, i, pcr.SM3256.Sum([]byte{byte(i)}))
	}
	return v
}

func TestRoundTrip(t *testing.T) {
	all := sampleValues()
	multi := mustSel(t, "sha1:0-7+sha256:0-7,9,23+sha384:0+sha512:16+sm3_256:1")
	noSM3 := mustSel(t, "sha1:0-7+sha256:0-7,9,23+sha384:0+sha512:16")
	alt := noSM3.Filter(all)
	alt.Set(pcr.SHA256, 7, pcr.InitialValue(pcr.SHA256, 7, 0))
	one := func(s string) []pcr.Values { return []pcr.Values{mustSel(t, s).Filter(all)} }

	cases := []struct {
		name string
		f    pcr.Format
		sets []pcr.Values
		opts pcr.ReadOptions
	}{
		{"values", pcr.FormatValues, []pcr.Values{multi.Filter(all)}, pcr.ReadOptions{Format: pcr.FormatValues, Selection: multi}},
		{"serialized", pcr.FormatSerialized, []pcr.Values{multi.Filter(all)}, pcr.ReadOptions{}},
		{"serialized all", pcr.FormatSerialized, []pcr.Values{all}, pcr.ReadOptions{}},
		{"marshaled", pcr.FormatMarshaled, []pcr.Values{multi.Filter(all)}, pcr.ReadOptions{}},
		{"marshaled all", pcr.FormatMarshaled, []pcr.Values{all}, pcr.ReadOptions{}},
		{"tpm2-yaml", pcr.FormatTPM2YAML, []pcr.Values{multi.Filter(all)}, pcr.ReadOptions{}},
		{"json", pcr.FormatJSON, []pcr.Values{multi.Filter(all)}, pcr.ReadOptions{}},
		{"json alternatives", pcr.FormatJSON, []pcr.Values{noSM3.Filter(all), alt}, pcr.ReadOptions{}},
		{"yaml", pcr.FormatYAML, []pcr.Values{multi.Filter(all)}, pcr.ReadOptions{}},
		{"yaml alternatives", pcr.FormatYAML, []pcr.Values{noSM3.Filter(all), alt}, pcr.ReadOptions{}},
		{"charra", pcr.FormatCHARRA, []pcr.Values{noSM3.Filter(all)}, pcr.ReadOptions{}},
		{"charra alternatives", pcr.FormatCHARRA, []pcr.Values{noSM3.Filter(all), alt}, pcr.ReadOptions{}},
		{"map sha256", pcr.FormatMap, one("sha256:0,7,9"), pcr.ReadOptions{}},
		{"map sha1", pcr.FormatMap, one("sha1:23"), pcr.ReadOptions{}},
		{"map sha384", pcr.FormatMap, one("sha384:0-23"), pcr.ReadOptions{}},
		{"map sm3 by bank", pcr.FormatMap, one("sm3_256:4,5"), pcr.ReadOptions{Bank: pcr.SM3256}},
		{"evmctl sha1", pcr.FormatEvmctl, one("sha1:0-10"), pcr.ReadOptions{}},
		{"evmctl sha256", pcr.FormatEvmctl, one("sha256:all"), pcr.ReadOptions{}},
		{"evmctl sha512", pcr.FormatEvmctl, one("sha512:0-3"), pcr.ReadOptions{}},
		{"evmctl sm3 by bank", pcr.FormatEvmctl, one("sm3_256:0"), pcr.ReadOptions{Bank: pcr.SM3256}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := pcr.Marshal(c.f, c.sets)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := pcr.Parse(data, c.opts)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if doc.Format != c.f {
				t.Errorf("detected %s, want %s", doc.Format, c.f)
			}
			if !setsEqual(doc.Sets, c.sets) {
				t.Errorf("read back %d sets, first %s", len(doc.Sets), describe(doc.Sets[0]))
			}
			again, err := pcr.MarshalWith(c.f, doc.Sets, pcr.MarshalOptions{BankOrder: doc.BankOrder})
			if err != nil || !bytes.Equal(again, data) {
				t.Errorf("second marshal differs (err %v)", err)
			}
		})
	}
}

// TestEvmctlLines checks the exact evmctl text, including the TPM 1.2
// sysfs variant with space-separated uppercase bytes and the sha512 line
// that must fit evmctl's 135-character fgets buffer.
func TestEvmctlLines(t *testing.T) {
	v := pcr.Values{}
	v.Set(pcr.SHA1, 0, bytes.Repeat([]byte{0xab}, 20))
	v.Set(pcr.SHA1, 1, bytes.Repeat([]byte{0x01}, 20))
	out, err := pcr.Marshal(pcr.FormatEvmctl, []pcr.Values{v})
	if err != nil {
		t.Fatal(err)
	}
	want := "PCR-00: " + strings.Repeat("ab", 20) + "\nPCR-01: " + strings.Repeat("01", 20) + "\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	sysfs := "PCR-00: " + strings.Repeat("AB ", 20) + "\nPCR-01: " + strings.Repeat("01 ", 20) + "\n"
	doc, err := pcr.Parse([]byte(sysfs), pcr.ReadOptions{})
	if err != nil || doc.Format != pcr.FormatEvmctl || !valuesEqual(doc.Sets[0], v) {
		t.Errorf("sysfs form: %v", err)
	}
	v512 := pcr.Values{}
	v512.Set(pcr.SHA512, 0, make([]byte, 64))
	out, _ = pcr.Marshal(pcr.FormatEvmctl, []pcr.Values{v512})
	if line := strings.TrimSuffix(string(out), "\n"); len(line) > 135 || !strings.HasPrefix(line, "PCR-00:0") {
		t.Errorf("sha512 line is %d chars: %q", len(line), line)
	}
}

func TestTPM2YAMLVariants(t *testing.T) {
	want := pcr.Values{}
	want.Set(pcr.SHA1, 0, append(make([]byte, 19), 3))
	want.Set(pcr.SHA256, 10, append(make([]byte, 31), 3))
	for name, text := range map[string]string{
		// The layout in tpm2_pcrread's own manual page (older tools).
		"manual": "sha1 :\n  0  : 0000000000000000000000000000000000000003\nsha256 :\n  10 : 0000000000000000000000000000000000000000000000000000000000000003\n",
		// tpm2_quote / tpm2_checkquote print the values under pcrs:.
		"quote": "quoted: ff544347\nsignature:\n  alg: rsassa\npcrs:\n  sha1:\n    0 : 0x0000000000000000000000000000000000000003\n  sha256:\n    10: 0x0000000000000000000000000000000000000000000000000000000000000003\ncalcDigest: 1234\n",
	} {
		doc, err := pcr.Parse([]byte(text), pcr.ReadOptions{Format: pcr.FormatTPM2YAML})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !valuesEqual(doc.Sets[0], want) {
			t.Errorf("%s: got %s", name, describe(doc.Sets[0]))
		}
	}
}

func TestDetect(t *testing.T) {
	h20 := strings.Repeat("ab", 20)
	h32 := strings.Repeat("cd", 32)
	ser, _ := pcr.Marshal(pcr.FormatSerialized, []pcr.Values{mustSel(t, "sha256:0").Filter(expectedValues())})
	mar, _ := pcr.Marshal(pcr.FormatMarshaled, []pcr.Values{mustSel(t, "sha256:0").Filter(expectedValues())})
	cases := []struct {
		name string
		data string
		sel  string
		want pcr.Format
	}{
		{"json", `{"sha1": {"0": "` + h20 + `"}}`, "", pcr.FormatJSON},
		{"json array", "\n [{\"sha1\": {\"0\": \"" + h20 + "\"}}]", "", pcr.FormatJSON},
		{"json with BOM", "\ufeff{\"sha1\": {\"0\": \"" + h20 + "\"}}", "", pcr.FormatJSON},
		{"tpm2-tools 5.1", "sha1:\n  0 : 0x" + h20 + "\n", "", pcr.FormatTPM2YAML},
		{"evmctl", "PCR-00: " + h20 + "\n", "", pcr.FormatEvmctl},
		{"map", "0:" + h32 + ",7:" + h32 + "\n", "", pcr.FormatMap},
		{"charra", "---\nsha256:\n    0 : 0x" + h32 + "\n...\n", "", pcr.FormatCHARRA},
		{"yaml stream", "---\nsha256:\n  0: \"" + h32 + "\"\n", "", pcr.FormatYAML},
		{"yaml", "# reference\nsha256:\n  0: \"" + h32 + "\"\n", "", pcr.FormatYAML},
		{"tpm2_pcrread", "  sha256:\n    0 : 0x" + h32 + "\n", "", pcr.FormatTPM2YAML},
		{"unindented 0x", "sha256:\n  0 : 0x" + h32 + "\n", "", pcr.FormatTPM2YAML},
		{"tpm2_quote", "pcrs:\n  sha256:\n    0 : 0x" + h32 + "\n", "", pcr.FormatTPM2YAML},
		{"serialized", string(ser), "", pcr.FormatSerialized},
		{"marshaled", string(mar), "", pcr.FormatMarshaled},
		{"values", string(make([]byte, 52)), "sha1:0+sha256:0", pcr.FormatValues},
	}
	for _, c := range cases {
		var opts pcr.ReadOptions
		if c.sel != "" {
			opts.Selection = mustSel(t, c.sel)
		}
		got, err := pcr.Detect([]byte(c.data), opts)
		if err != nil || got != c.want {
			t.Errorf("%s: detected %q (%v), want %s", c.name, got, err, c.want)
		}
		if _, err := pcr.Parse([]byte(c.data), opts); err != nil {
			t.Errorf("%s: parse: %v", c.name, err)
		}
	}
	for name, c := range map[string]struct {
		data, sel, msg string
	}{
		"empty":           {"  \n", "", "empty PCR file"},
		"binary":          {"\x00\x01\x02", "", "a values file needs its selection"},
		"binary with sel": {"\x00\x01\x02", "sha1:0", "needs 20 bytes as values"},
		"prose":           {"hello world", "", "cannot detect"},
	} {
		var opts pcr.ReadOptions
		if c.sel != "" {
			opts.Selection = mustSel(t, c.sel)
		}
		_, err := pcr.Parse([]byte(c.data), opts)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want it to say %q", name, err, c.msg)
		}
	}
}

// TestParseErrors checks that a bad file is refused with the problem and
// where it is.
func TestParseErrors(t *testing.T) {
	h20 := strings.Repeat("ab", 20)
	h32 := strings.Repeat("cd", 32)
	sel := mustSel(t, "sha1:0,1,7+sha256:0,7,16")
	ser := readFixture(t, "tpm2-pcrread-sha1-sha256.serialized")
	mar := readFixture(t, "pcr-read-sha1-sha256.marshaled")
	vals := readFixture(t, "tpm2-pcrread-sha1-sha256.values")
	patch := func(data []byte, off int, b ...byte) []byte {
		out := bytes.Clone(data)
		copy(out[off:], b)
		return out
	}
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

	cases := []struct {
		name    string
		f       pcr.Format
		data    []byte
		want    []string
		algErr  bool
		withSel bool
	}{
		{name: "values short", f: pcr.FormatValues, data: vals[:155], withSel: true, want: []string{"values: file is 155 bytes", "needs 156"}},
		{name: "values no selection", f: pcr.FormatValues, data: vals, want: []string{"give the selection"}},
		{name: "serialized truncated", f: pcr.FormatSerialized, data: ser[:200], want: []string{"serialized: offset 200 (0xc8): truncated"}},
		{name: "serialized header", f: pcr.FormatSerialized, data: ser[:100], want: []string{"offset 100", "truncated"}},
		{name: "serialized trailing", f: pcr.FormatSerialized, data: append(bytes.Clone(ser), 0), want: []string{"offset 668", "1 trailing bytes"}},
		{name: "serialized unknown bank", f: pcr.FormatSerialized, data: patch(ser, 4, 0x05, 0x00), algErr: true, want: []string{"offset 4 (0x4)", "unsupported hash algorithm id 0x0005"}},
		{name: "serialized digest size", f: pcr.FormatSerialized, data: patch(ser, 140, 0x20), want: []string{"offset 140", "sha1 PCR 0: digest is 32 bytes, want 20"}},
		{name: "serialized huge list count", f: pcr.FormatSerialized, data: patch(ser, 132, le32(0xffffffff)...), want: []string{"offset 132", "digest list count is 4294967295, at most 32"}},
		{name: "serialized huge digest count", f: pcr.FormatSerialized, data: patch(ser, 136, le32(0x7fffffff)...), want: []string{"offset 136", "count 2147483647, at most 8"}},
		{name: "serialized index 24", f: pcr.FormatSerialized, data: patch(ser, 6, 4, 0x83, 0, 0, 1), want: []string{"offset 4", "PCR 24"}},
		{name: "serialized too few digests", f: pcr.FormatSerialized, data: patch(ser, 136, 5), want: []string{"selection names more PCRs than the 5 digests"}},
		{name: "marshaled truncated", f: pcr.FormatMarshaled, data: mar[:len(mar)-1], want: []string{"marshaled: offset", "truncated digest"}},
		{name: "marshaled huge selection count", f: pcr.FormatMarshaled, data: patch(mar, 0, be32(0xffffffff)...), want: []string{"offset 0", "selection count is 4294967295, at most 16"}},
		{name: "marshaled huge digest count", f: pcr.FormatMarshaled, data: patch(mar, 20, be32(0xfffffff0)...), want: []string{"offset 20", "at most 8"}},
		{name: "marshaled unknown bank", f: pcr.FormatMarshaled, data: patch(mar, 4, 0x00, 0x99), algErr: true, want: []string{"offset 4", "0x0099"}},
		{name: "marshaled trailing", f: pcr.FormatMarshaled, data: append(bytes.Clone(mar), 1, 2), want: []string{"2 trailing bytes"}},
		{name: "tpm2-yaml bad hex", f: pcr.FormatTPM2YAML, data: []byte("  sha1:\n    0 : 0x" + h20[:38] + "zz\n"), want: []string{"tpm2-yaml: line 2", `bad hex digit 'z'`}},
		{name: "tpm2-yaml index 24", f: pcr.FormatTPM2YAML, data: []byte("  sha1:\n    0 : 0x" + h20 + "\n    24: 0x" + h20 + "\n"), want: []string{"line 3", "PCR index 24 out of range 0-23"}},
		{name: "tpm2-yaml size", f: pcr.FormatTPM2YAML, data: []byte("  sha256:\n    0 : 0x" + h20 + "\n"), want: []string{"line 2", "sha256 PCR 0: digest is 20 bytes, want 32"}},
		{name: "tpm2-yaml unknown bank", f: pcr.FormatTPM2YAML, data: []byte("  md5:\n    0 : 0x" + h20 + "\n"), algErr: true, want: []string{"line 1", `unsupported hash algorithm "md5"`}},
		{name: "tpm2-yaml two documents", f: pcr.FormatTPM2YAML, data: []byte("sha1:\n  0: " + h20 + "\n---\nsha1:\n  0: " + h20 + "\n"), want: []string{"line 4", "a second YAML document"}},
		{name: "yaml syntax", f: pcr.FormatYAML, data: []byte("sha256:\n  0: [\n"), want: []string{"yaml: line"}},
		{name: "yaml duplicate", f: pcr.FormatYAML, data: []byte("sha1:\n  0: " + h20 + "\n  0: " + h20 + "\n"), want: []string{"line 3", "sha1 PCR 0 given twice"}},
		{name: "yaml not a map", f: pcr.FormatYAML, data: []byte("- sha1\n"), want: []string{"line 1", "want a map of banks"}},
		{name: "charra sm3", f: pcr.FormatCHARRA, data: []byte("---\nsm3_256:\n    0 : 0x" + h32 + "\n...\n"), want: []string{"charra: line 2", "CHARRA reference files know sha1, sha256, sha384 and sha512 only"}},
		{name: "charra odd hex", f: pcr.FormatCHARRA, data: []byte("---\nsha1:\n    0 : 0x" + h20 + "\n...\n---\nsha1:\n    0 : 0x" + h20[1:] + "\n...\n"), want: []string{"line 7", "odd number of hex digits (39)"}},
		{name: "json bad hex", f: pcr.FormatJSON, data: []byte("{\n  \"sha1\": {\n    \"0\": \"xx" + h20[2:] + "\"\n  }\n}\n"), want: []string{"json: line 3", "bad hex digit 'x'"}},
		{name: "json index 24", f: pcr.FormatJSON, data: []byte("{\"sha1\": {\n\"24\": \"" + h20 + "\"}}"), want: []string{"line 2", "PCR index 24 out of range"}},
		{name: "json unknown bank", f: pcr.FormatJSON, data: []byte("{\n\"sha3\": {}}"), algErr: true, want: []string{"line 2", `"sha3"`}},
		{name: "json truncated", f: pcr.FormatJSON, data: []byte("{\"sha1\": {\"0\": \"" + h20 + "\"\n"), want: []string{"json: line 2", "unexpected end"}},
		{name: "json number", f: pcr.FormatJSON, data: []byte("{\"sha1\": {\"0\": 12}}"), want: []string{"want a hex digest string, got 12"}},
		{name: "json trailing", f: pcr.FormatJSON, data: []byte("{\"sha1\": {\"0\": \"" + h20 + "\"}}\n{}"), want: []string{"line 2", "trailing data"}},
		{name: "map odd", f: pcr.FormatMap, data: []byte("0:" + h32 + ",7:abc"), want: []string{"map: line 1, column 68", "PCR 7: odd number of hex digits"}},
		{name: "map index 24", f: pcr.FormatMap, data: []byte("24:" + h32), want: []string{"column 1", "PCR index 24 out of range"}},
		{name: "map size", f: pcr.FormatMap, data: []byte("0:" + h32 + ",1:" + h20), want: []string{"column 68", "sha256 PCR 1: digest is 20 bytes, want 32"}},
		{name: "map odd size", f: pcr.FormatMap, data: []byte("0:" + h20[:34]), want: []string{"17 bytes, which is no bank's size"}},
		{name: "map second line", f: pcr.FormatMap, data: []byte("0:" + h32 + "\n1: " + h20), want: []string{"map: line 2, column 1", "digest is 20 bytes, want 32"}},
		{name: "map empty entry", f: pcr.FormatMap, data: []byte("0:" + h32 + ",,1:" + h32), want: []string{"line 1, column 68", "empty entry"}},
		{name: "evmctl gap", f: pcr.FormatEvmctl, data: []byte("PCR-00: " + h20 + "\nPCR-02: " + h20 + "\n"), want: []string{"evmctl: line 2", "PCR-02 out of sequence", "want PCR-01"}},
		{name: "evmctl index 24", f: pcr.FormatEvmctl, data: []byte("PCR-24: " + h20 + "\n"), want: []string{"line 1", "PCR index 24 out of range"}},
		{name: "evmctl one digit", f: pcr.FormatEvmctl, data: []byte("PCR-0: " + h20 + "\n"), want: []string{"line 1", "two-digit index"}},
		{name: "evmctl bad hex", f: pcr.FormatEvmctl, data: []byte("PCR-00: " + h20 + "\nPCR-01: g" + h20[1:] + "\n"), want: []string{"line 2", "PCR-01: bad hex digit 'g'"}},
		{name: "evmctl size", f: pcr.FormatEvmctl, data: []byte("PCR-00: " + h20 + "\nPCR-01: " + h32 + "\n"), want: []string{"line 2", "sha1 PCR 1: digest is 32 bytes, want 20"}},
		{name: "no values", f: pcr.FormatJSON, data: []byte("{}"), want: []string{"json: no PCR values found"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := pcr.ReadOptions{Format: c.f}
			if c.withSel {
				opts.Selection = sel
			}
			_, err := pcr.Parse(c.data, opts)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var ae *pcr.UnsupportedAlgError
			if c.algErr != errors.As(err, &ae) {
				t.Errorf("errors.As(UnsupportedAlgError) = %v, want %v", !c.algErr, c.algErr)
			}
		})
	}
	if _, err := pcr.Parse(vals, pcr.ReadOptions{Format: pcr.FormatMap, Bank: pcr.Alg(0x99)}); err == nil {
		t.Error("unknown --bank accepted")
	}
	if _, err := pcr.Parse([]byte("0:"+h32), pcr.ReadOptions{Bank: pcr.SHA1}); err == nil || !strings.Contains(err.Error(), "bank sha1 needs 20") {
		t.Errorf("map with wrong bank: %v", err)
	}
}

func TestMarshalErrors(t *testing.T) {
	all := expectedValues()
	two := mustSel(t, "sha1:0+sha256:0").Filter(all)
	gap := mustSel(t, "sha256:0,2").Filter(all)
	for name, c := range map[string]struct {
		f    pcr.Format
		sets []pcr.Values
		opts pcr.MarshalOptions
		msg  string
	}{
		"map two banks":     {pcr.FormatMap, []pcr.Values{two}, pcr.MarshalOptions{}, "map holds one bank, not 2 (sha1, sha256)"},
		"evmctl two banks":  {pcr.FormatEvmctl, []pcr.Values{two}, pcr.MarshalOptions{}, "evmctl holds one bank"},
		"evmctl gap":        {pcr.FormatEvmctl, []pcr.Values{gap}, pcr.MarshalOptions{}, "sha256 PCR 1 is missing"},
		"serialized alts":   {pcr.FormatSerialized, []pcr.Values{two, two}, pcr.MarshalOptions{}, "not 2 alternatives"},
		"tpm2-yaml alts":    {pcr.FormatTPM2YAML, []pcr.Values{two, two}, pcr.MarshalOptions{}, "not 2 alternatives"},
		"missing selected":  {pcr.FormatValues, []pcr.Values{two}, pcr.MarshalOptions{Selection: mustSel(t, "sha1:0,1")}, "no value for selected PCR sha1:1"},
		"empty":             {pcr.FormatJSON, []pcr.Values{{}}, pcr.MarshalOptions{}, "no PCR values to write"},
		"no sets":           {pcr.FormatJSON, nil, pcr.MarshalOptions{}, "no PCR values to write"},
		"unknown format":    {pcr.Format("xml"), []pcr.Values{two}, pcr.MarshalOptions{}, `unknown PCR file format "xml"`},
		"charra sm3":        {pcr.FormatCHARRA, []pcr.Values{mustSel(t, "sm3_256:0").Filter(sampleValues())}, pcr.MarshalOptions{}, "CHARRA reference files know"},
		"invalid values":    {pcr.FormatJSON, []pcr.Values{{pcr.SHA1: {0: []byte{1}}}}, pcr.MarshalOptions{}, "value is 1 bytes, want 20"},
		"out of range":      {pcr.FormatJSON, []pcr.Values{{pcr.SHA1: {24: make([]byte, 20)}}}, pcr.MarshalOptions{}, "PCR index 24 out of range"},
		"too many digests?": {pcr.FormatMarshaled, []pcr.Values{two}, pcr.MarshalOptions{Selection: mustSel(t, "sha1:0")}, ""},
	} {
		_, err := pcr.MarshalWith(c.f, c.sets, c.opts)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want it to say %q", name, err, c.msg)
		}
	}
}

func TestMatch(t *testing.T) {
	all := expectedValues()
	sel := mustSel(t, "sha256:0,7,9")
	good := sel.Filter(all)
	bad := sel.Filter(all)
	bad.Set(pcr.SHA256, 7, make([]byte, 32))
	worse := sel.Filter(all)
	worse.Set(pcr.SHA256, 0, make([]byte, 32))
	worse.Set(pcr.SHA256, 7, make([]byte, 32))

	doc := &pcr.Document{Format: pcr.FormatCHARRA, Sets: []pcr.Values{worse, bad, good}}
	if i, rows, ok := doc.Match(all); !ok || i != 2 || len(rows) != 3 {
		t.Errorf("Match = %d, %d rows, %v; want alternative 2", i, len(rows), ok)
	}
	got := sel.Filter(all)
	got.Set(pcr.SHA256, 9, make([]byte, 32)) // matches none; bad is closest
	doc = &pcr.Document{Sets: []pcr.Values{worse, bad}}
	i, rows, ok := doc.Match(got)
	if ok || i != 1 {
		t.Errorf("Match = %d, %v; want closest alternative 1", i, ok)
	}
	mismatches := 0
	for _, r := range rows {
		if r.Status != pcr.Match {
			mismatches++
		}
	}
	if mismatches != 2 {
		t.Errorf("closest alternative has %d bad rows, want 2", mismatches)
	}
	// A PCR the alternative names and got lacks fails closed.
	if _, _, ok := (&pcr.Document{Sets: []pcr.Values{good}}).Match(mustSel(t, "sha256:0").Filter(all)); ok {
		t.Error("missing PCR matched")
	}
	if i, _, ok := (&pcr.Document{}).Match(all); ok || i != -1 {
		t.Errorf("empty document: %d, %v", i, ok)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]pcr.Format{
		"values": pcr.FormatValues, "Serialized": pcr.FormatSerialized, "marshalled": pcr.FormatMarshaled,
		"tpm2-yaml": pcr.FormatTPM2YAML, "evmctl": pcr.FormatEvmctl, "json": pcr.FormatJSON,
		"yml": pcr.FormatYAML, "map": pcr.FormatMap, "charra": pcr.FormatCHARRA,
	} {
		if got, err := pcr.ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if doc, err := pcr.Parse([]byte("sha1:\n  0: "+strings.Repeat("00", 20)+"\n"), pcr.ReadOptions{Format: "yml"}); err != nil || doc.Format != pcr.FormatYAML {
		t.Errorf("Parse with format alias yml: %v", err)
	}
	if _, err := pcr.ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "known: tpm2-yaml, values") {
		t.Errorf("ParseFormat(xml): %v", err)
	}
	for _, fi := range pcr.Formats {
		if got, err := pcr.ParseFormat(string(fi.Format)); err != nil || got != fi.Format {
			t.Errorf("Formats lists %q, which ParseFormat does not read", fi.Format)
		}
	}
}
