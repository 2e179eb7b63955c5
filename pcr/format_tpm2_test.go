package pcr_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/swtpmtest"
	"github.com/goldenpcr/goldenpcr/pcr"
)

var update = flag.Bool("update", false, "rewrite fixtures/pcr from swtpm and tpm2-tools")

// tpm2Cases are the selections read from the real TPM. Their order of
// banks and spread over TPML_DIGEST lists (8 digests each) differ on
// purpose; the selection strings are what tpm2_pcrread was given.
var tpm2Cases = []struct{ name, sel string }{
	{"sha1-sha256", "sha1:0,1,7+sha256:0,7,16"},
	{"reversed", "sha256:16,0,23+sha1:7"},
	{"spanning", "sha1:0,1,2,3,4+sha256:0,1,2,3,4,5,6,7,8,9"},
	{"all-banks", "sha1:all+sha256:all+sha384:all+sha512:all"},
}

// TestTPM2Tools checks every tpm2-tools format against the real tools:
// swtpm holds PCRs extended with testEvents, tpm2_pcrread writes them as
// values and serialized and prints YAML, and goldenpcr must read back the
// values it computes itself and write the very same bytes. tpm2-tools 5.4
// has no -F marshaled, so the marshaled bytes come from the TPM itself:
// TPM2_PCR_Read responses sent with tpm2_send carry the TPML_PCR_SELECTION
// and TPML_DIGEST in wire encoding, which is what 5.8's -F marshaled writes.
func TestTPM2Tools(t *testing.T) {
	tpm := swtpmtest.Start(t, swtpmtest.Options{})
	for _, e := range testEvents {
		for _, name := range e.events {
			var parts []string
			for _, alg := range allBanks {
				parts = append(parts, fmt.Sprintf("%s=%x", alg, alg.Sum([]byte(name))))
			}
			tpm.Run(t, "tpm2_pcrextend", fmt.Sprintf("%d:%s", e.pcr, strings.Join(parts, ",")))
		}
	}
	want := expectedValues()
	dir := t.TempDir()

	for _, c := range tpm2Cases {
		t.Run(c.name, func(t *testing.T) {
			sel := mustSel(t, c.sel)
			wantSel := sel.Filter(want)
			order := make([]pcr.Alg, len(sel))
			for i, b := range sel {
				order[i] = b.Alg
			}

			valuesPath := filepath.Join(dir, c.name+".values")
			serPath := filepath.Join(dir, c.name+".serialized")
			yamlOut := tpm.Run(t, "tpm2_pcrread", c.sel, "-o", valuesPath, "-F", "values")
			tpm.Run(t, "tpm2_pcrread", c.sel, "-o", serPath, "-F", "serialized")
			files := map[pcr.Format][]byte{
				pcr.FormatValues:     mustRead(t, valuesPath),
				pcr.FormatSerialized: mustRead(t, serPath),
				pcr.FormatTPM2YAML:   yamlOut,
				pcr.FormatMarshaled:  pcrReadMarshaled(t, tpm, sel),
			}

			for f, data := range files {
				opts := pcr.ReadOptions{Selection: sel}
				if f == pcr.FormatValues {
					opts.Format = f // bare digests cannot be detected
				}
				doc, err := pcr.Parse(data, opts)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if doc.Format != f {
					t.Errorf("%s: detected as %s", f, doc.Format)
				}
				if len(doc.Sets) != 1 || !valuesEqual(doc.Sets[0], wantSel) {
					t.Errorf("%s: read\n%s\nwant\n%s", f, describe(doc.Sets[0]), describe(wantSel))
				}
				if fmt.Sprint(doc.BankOrder) != fmt.Sprint(order) {
					t.Errorf("%s: bank order %v, want %v", f, doc.BankOrder, order)
				}
				out, err := pcr.MarshalWith(f, doc.Sets, pcr.MarshalOptions{BankOrder: doc.BankOrder})
				if err != nil {
					t.Fatalf("%s: marshal: %v", f, err)
				}
				if !bytes.Equal(out, data) {
					t.Errorf("%s: goldenpcr wrote\n%s\ntpm2-tools wrote\n%s", f, hex.Dump(out), hex.Dump(data))
				}
				// The selection option must give the same bytes as the
				// document's own bank order.
				if out2, err := pcr.MarshalWith(f, []pcr.Values{want}, pcr.MarshalOptions{Selection: sel}); err != nil || !bytes.Equal(out2, data) {
					t.Errorf("%s: MarshalWith(Selection %s) differs from tpm2-tools (err %v)", f, sel, err)
				}
			}
			if *update {
				writeFixture(t, "tpm2-pcrread-"+c.name+".values", files[pcr.FormatValues])
				writeFixture(t, "tpm2-pcrread-"+c.name+".serialized", files[pcr.FormatSerialized])
				writeFixture(t, "tpm2-pcrread-"+c.name+".yaml", files[pcr.FormatTPM2YAML])
				writeFixture(t, "pcr-read-"+c.name+".marshaled", files[pcr.FormatMarshaled])
			}
		})
	}
}

// TestTPM2Fixtures reads the captured samples without a TPM, so a parser
// change that breaks real files fails even where swtpm is not installed.
func TestTPM2Fixtures(t *testing.T) {
	want := expectedValues()
	for _, c := range tpm2Cases {
		sel := mustSel(t, c.sel)
		for _, f := range []struct {
			file   string
			format pcr.Format
		}{
			{"tpm2-pcrread-" + c.name + ".values", pcr.FormatValues},
			{"tpm2-pcrread-" + c.name + ".serialized", pcr.FormatSerialized},
			{"tpm2-pcrread-" + c.name + ".yaml", pcr.FormatTPM2YAML},
			{"pcr-read-" + c.name + ".marshaled", pcr.FormatMarshaled},
		} {
			data := readFixture(t, f.file)
			opts := pcr.ReadOptions{Selection: sel}
			if f.format == pcr.FormatValues {
				opts.Format = f.format
			}
			doc, err := pcr.Parse(data, opts)
			if err != nil {
				t.Errorf("%s: %v", f.file, err)
				continue
			}
			if doc.Format != f.format || !valuesEqual(doc.Sets[0], sel.Filter(want)) {
				t.Errorf("%s: read as %s: %s", f.file, doc.Format, describe(doc.Sets[0]))
			}
		}
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFixture(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(fixtureDir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tpmlPCRSelection encodes masks (one per bank of sel) in TPM wire format,
// written here independently of the code under test.
func tpmlPCRSelection(sel pcr.Selection, masks []uint32) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(sel)))
	for i, b := range sel {
		out = binary.BigEndian.AppendUint16(out, uint16(b.Alg))
		out = append(out, 3, byte(masks[i]), byte(masks[i]>>8), byte(masks[i]>>16))
	}
	return out
}

// pcrReadMarshaled builds what tpm2_pcrread -F marshaled (tpm2-tools 5.8)
// writes for sel: the requested TPML_PCR_SELECTION, a UINT32 count and the
// TPML_DIGEST of every TPM2_PCR_Read it takes, each read asking for the
// PCRs the previous ones did not return, as tpm2-tools does.
func pcrReadMarshaled(t *testing.T, tpm *swtpmtest.TPM, sel pcr.Selection) []byte {
	t.Helper()
	masks := make([]uint32, len(sel))
	for i, b := range sel {
		for _, p := range b.PCRs {
			masks[i] |= 1 << p
		}
	}
	requested := tpmlPCRSelection(sel, masks)
	var lists [][]byte
	for {
		rest := false
		for _, m := range masks {
			rest = rest || m != 0
		}
		if !rest {
			break
		}
		param := tpmlPCRSelection(sel, masks)
		cmd := binary.BigEndian.AppendUint16(nil, 0x8001) // TPM_ST_NO_SESSIONS
		cmd = binary.BigEndian.AppendUint32(cmd, uint32(10+len(param)))
		cmd = binary.BigEndian.AppendUint32(cmd, 0x17e) // TPM_CC_PCR_Read
		cmd = append(cmd, param...)
		respPath := filepath.Join(t.TempDir(), "resp")
		tpm.RunStdin(t, cmd, "tpm2_send", "-o", respPath)
		resp := mustRead(t, respPath)
		if len(resp) < 18 || binary.BigEndian.Uint32(resp[6:]) != 0 {
			t.Fatalf("TPM2_PCR_Read failed: % x", resp)
		}
		// tag, size, rc, pcrUpdateCounter; then pcrSelectionOut, pcrValues.
		body := resp[14:]
		n := int(binary.BigEndian.Uint32(body))
		off := 4
		got := make([]uint32, n)
		for i := 0; i < n; i++ {
			size := int(body[off+2])
			for j := 0; j < size; j++ {
				got[i] |= uint32(body[off+3+j]) << (8 * j)
			}
			off += 3 + size
		}
		if n != len(masks) {
			t.Fatalf("TPM returned %d banks, asked for %d", n, len(masks))
		}
		if len(lists) == 0 && slices.Equal(masks, got) {
			// Everything came back in one read: the TPM's echo of the
			// selection must be byte for byte what we will compare against.
			if !bytes.Equal(body[:off], requested) {
				t.Fatalf("TPM echoed selection % x, we encoded % x", body[:off], requested)
			}
		}
		progress := false
		for i := range masks {
			masks[i] &^= got[i]
			progress = progress || got[i] != 0
		}
		if !progress {
			t.Fatal("TPM2_PCR_Read returned no PCRs")
		}
		lists = append(lists, body[off:])
	}
	out := append(requested, binary.BigEndian.AppendUint32(nil, uint32(len(lists)))...)
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
