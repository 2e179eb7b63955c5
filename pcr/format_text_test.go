package pcr_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// textFixtures are the text samples in fixtures/pcr, written by goldenpcr
// from expectedValues; the test keeps the writers' output stable and the
// readers able to read it.
func textFixtures(t testing.TB) map[string]struct {
	f    pcr.Format
	sets []pcr.Values
	opts pcr.ReadOptions
} {
	all := expectedValues()
	sel := mustSel(t, "sha1:0-9+sha256:0-9").Filter(all)
	ref := mustSel(t, "sha256:0-9").Filter(all)
	alt := mustSel(t, "sha256:0-9").Filter(all)
	alt.Set(pcr.SHA256, 7, pcr.InitialValue(pcr.SHA256, 7, 0))
	type fx = struct {
		f    pcr.Format
		sets []pcr.Values
		opts pcr.ReadOptions
	}
	return map[string]fx{
		"goldenpcr-sha1-sha256.json":    {pcr.FormatJSON, []pcr.Values{sel}, pcr.ReadOptions{}},
		"goldenpcr-sha1-sha256.yaml":    {pcr.FormatYAML, []pcr.Values{sel}, pcr.ReadOptions{}},
		"goldenpcr-alternatives.json":   {pcr.FormatJSON, []pcr.Values{ref, alt}, pcr.ReadOptions{}},
		"goldenpcr-alternatives.yaml":   {pcr.FormatYAML, []pcr.Values{ref, alt}, pcr.ReadOptions{}},
		"charra-reference-pcrs.yml":     {pcr.FormatCHARRA, []pcr.Values{ref, alt}, pcr.ReadOptions{}},
		"go-tpm-remote-attestation.map": {pcr.FormatMap, []pcr.Values{mustSel(t, "sha256:0,7,9").Filter(all)}, pcr.ReadOptions{}},
		"evmctl-sha1.pcrs":              {pcr.FormatEvmctl, []pcr.Values{mustSel(t, "sha1:0-10").Filter(all)}, pcr.ReadOptions{}},
		"evmctl-sha256.pcrs":            {pcr.FormatEvmctl, []pcr.Values{mustSel(t, "sha256:0-10").Filter(all)}, pcr.ReadOptions{}},
	}
}

// sysfsTPM12 renders v's sha1 bank the way a TPM 1.2 kernel driver prints
// /sys/class/tpm/tpm0/device/pcrs: "PCR-00: AB CD … " per line.
func sysfsTPM12(v pcr.Values) []byte {
	var b bytes.Buffer
	for _, i := range v.Indices(pcr.SHA1) {
		fmt.Fprintf(&b, "PCR-%02d: ", i)
		for _, c := range v[pcr.SHA1][i] {
			fmt.Fprintf(&b, "%02X ", c)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestTextFixtures(t *testing.T) {
	for name, c := range textFixtures(t) {
		out, err := pcr.Marshal(c.f, c.sets)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if *update {
			writeFixture(t, name, out)
		}
		data := readFixture(t, name)
		if !bytes.Equal(out, data) {
			t.Errorf("%s: writer output changed:\n%s", name, out)
		}
		doc, err := pcr.Parse(data, c.opts)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if doc.Format != c.f || !setsEqual(doc.Sets, c.sets) {
			t.Errorf("%s: read as %s, %d sets", name, doc.Format, len(doc.Sets))
		}
	}
	sysfs := mustSel(t, "sha1:all").Filter(expectedValues())
	if *update {
		writeFixture(t, "sysfs-tpm12-style.pcrs", sysfsTPM12(sysfs))
	}
	doc, err := pcr.Parse(readFixture(t, "sysfs-tpm12-style.pcrs"), pcr.ReadOptions{})
	if err != nil || doc.Format != pcr.FormatEvmctl || !valuesEqual(doc.Sets[0], sysfs) {
		t.Errorf("sysfs-tpm12-style.pcrs: %v", err)
	}
}

// imaNG returns one entry of an IMA binary measurement list with the
// ima-ng template, and its template data. The layout is the kernel's
// (host-endian u32 fields): pcr, SHA-1 template digest, template name,
// template data; the ima-ng data is "sha256:\0"+file digest and the
// NUL-terminated path, each with a u32 length.
func imaNG(path string, content []byte) (entry, templateData []byte) {
	le := binary.LittleEndian
	dng := append([]byte("sha256:\x00"), pcr.SHA256.Sum(content)...)
	nng := append([]byte(path), 0)
	templateData = le.AppendUint32(nil, uint32(len(dng)))
	templateData = append(templateData, dng...)
	templateData = le.AppendUint32(templateData, uint32(len(nng)))
	templateData = append(templateData, nng...)
	entry = le.AppendUint32(nil, 10)
	entry = append(entry, pcr.SHA1.Sum(templateData)...)
	entry = le.AppendUint32(entry, 6)
	entry = append(entry, "ima-ng"...)
	entry = le.AppendUint32(entry, uint32(len(templateData)))
	entry = append(entry, templateData...)
	return entry, templateData
}

// TestEvmctlAgrees feeds files goldenpcr wrote to the real
// "evmctl ima_measurement --pcrs BANK,FILE", which must accept PCR 10 as
// the aggregate of a small IMA list, and reject it once it is changed.
func TestEvmctlAgrees(t *testing.T) {
	evmctl, err := exec.LookPath("evmctl")
	if err != nil {
		t.Fatal("evmctl not found: this test needs the real tool; install the ima-evm-utils package")
	}
	dir := t.TempDir()
	var list []byte
	v := pcr.Values{}
	for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
		for i := 0; i < 10; i++ {
			v.Set(alg, i, make([]byte, alg.Size()))
		}
		v.Set(alg, 10, make([]byte, alg.Size()))
	}
	for _, f := range []struct{ path, content string }{{"/usr/bin/a", "a"}, {"/usr/lib/b.so", "bb"}, {"/etc/c", "ccc"}} {
		entry, data := imaNG(f.path, []byte(f.content))
		list = append(list, entry...)
		// SHA-1 bank: the template digest; SHA-256 bank: the template data
		// hashed with the bank's algorithm, as kernels since 5.11 extend.
		cur, _ := v.Get(pcr.SHA1, 10)
		v.Set(pcr.SHA1, 10, pcr.Extend(pcr.SHA1, cur, pcr.SHA1.Sum(data)))
		cur, _ = v.Get(pcr.SHA256, 10)
		v.Set(pcr.SHA256, 10, pcr.Extend(pcr.SHA256, cur, pcr.SHA256.Sum(data)))
	}
	listPath := filepath.Join(dir, "binary_runtime_measurements")
	if err := os.WriteFile(listPath, list, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(v pcr.Values) (string, error) {
		var args []string
		for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
			out, err := pcr.Marshal(pcr.FormatEvmctl, []pcr.Values{{alg: v[alg]}})
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, alg.String()+".pcrs")
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--pcrs", alg.String()+","+p)
		}
		args = append([]string{"-v", "ima_measurement"}, append(args, listPath)...)
		out, err := exec.Command(evmctl, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run(v); err != nil {
		t.Fatalf("evmctl rejected goldenpcr's PCR files: %v\n%s", err, out)
	} else if !strings.Contains(out, "sha256 PCR-10: succeed") || !strings.Contains(out, "sha1 PCR-10: succeed") {
		t.Errorf("evmctl did not match both banks:\n%s", out)
	}
	bad := pcr.Values{pcr.SHA1: map[int][]byte{}, pcr.SHA256: map[int][]byte{}}
	for _, alg := range []pcr.Alg{pcr.SHA1, pcr.SHA256} {
		for i, d := range v[alg] {
			bad.Set(alg, i, d)
		}
		bad.Set(alg, 10, alg.Sum([]byte("tampered")))
	}
	if out, err := run(bad); err == nil {
		t.Errorf("evmctl accepted a wrong PCR 10:\n%s", out)
	}
}
