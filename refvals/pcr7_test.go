package refvals

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// pcr7Inputs decodes the variables and authorities a log's PCR 7 events
// carry, as the calculator's inputs; ok is false if PCR 7 holds events of
// other kinds or no separator (a fragment of a log, not a boot).
func pcr7Inputs(t *testing.T, data []byte) (vars []Variable, auths []Authority, ok bool) {
	t.Helper()
	rd, err := eventlog.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	separated := false
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return vars, auths, separated
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.PCR != PCRSecureBootPolicy {
			continue
		}
		switch ev.Type {
		case eventlog.EvSeparator:
			separated = true
			continue
		case eventlog.EvEFIVariableDriverCfg, eventlog.EvEFIVariableAuthority:
		default:
			return nil, nil, false
		}
		p, err := eventlog.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		v := p.(eventlog.Variable)
		in := Variable{Vendor: v.VendorGUID, Name: v.Name, Data: bytes.Clone(v.VariableData)}
		if ev.Type == eventlog.EvEFIVariableDriverCfg {
			vars = append(vars, in)
			continue
		}
		c := eventlog.CheckDigest(ev)
		auths = append(auths, Authority{Variable: in, ShimPadding: strings.Contains(c.Quirk, "shim")})
	}
}

// The PCR 7 rule, fed the variable contents and authorities decoded from
// real firmware logs, reproduces the PCR 7 those logs replay to, in every
// bank; among them the two secure-boot logs with certificates.
func TestSecureBootPCR7FromRealLogs(t *testing.T) {
	files, _ := filepath.Glob("../fixtures/tcg*/*.bin")
	checked := map[string]bool{}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		replay, err := eventlog.ReplayLog(bytes.NewReader(data), nil)
		if err != nil || !replay.Touched(PCRSecureBootPolicy) {
			continue
		}
		vars, auths, ok := pcr7Inputs(t, data)
		if !ok {
			continue
		}
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			b := baseline.NewBuilder(replay.Banks...)
			if err := SecureBootPCR7(b, vars, auths); err != nil {
				t.Fatal(err)
			}
			got, err := b.Baseline().Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, alg := range replay.Banks {
				want, _ := replay.Values.Get(alg, PCRSecureBootPolicy)
				if g, _ := got.Get(alg, PCRSecureBootPolicy); !bytes.Equal(g, want) {
					t.Errorf("%s PCR 7 = %x, log replays to %x", alg, g, want)
				}
			}
		})
		checked[name] = true
	}
	for _, must := range []string{"sb_cert_eventlog.bin", "keylime-binary_bios_measurements-secureboot.bin", "rhel8-uefi.bin", "cos-85-amd-sev.bin"} {
		if !checked[must] {
			t.Errorf("%s was not checked", must)
		}
	}
	t.Logf("PCR 7 reproduced for %d logs", len(checked))
}

func TestStandardVariablesAndDBAuthority(t *testing.T) {
	vars := SecureBootVariables(true, []byte("pk"), nil, []byte("db"), nil)
	if len(vars) != 5 || vars[0].Data[0] != 1 || vars[3].Vendor != eventlog.GUIDImageSecurityDB || vars[2].Data != nil {
		t.Fatalf("variables %+v", vars)
	}
	a := DBAuthority(eventlog.GUIDMicrosoftOwner, []byte{0x30, 0x82})
	if a.Name != "db" || !bytes.Equal(a.Data[:16], eventlog.GUIDMicrosoftOwner[:]) || len(a.Data) != 18 {
		t.Errorf("authority %+v", a)
	}
	b := baseline.NewBuilder(pcr.SHA256)
	if err := SecureBootPCR7(b, vars, []Authority{{Variable: a}}); err != nil {
		t.Fatal(err)
	}
	evs := b.Baseline().PCRs[0].Events
	if len(evs) != 5+1+1 || evs[5].Type != "EV_SEPARATOR" || evs[6].Type != "EV_EFI_VARIABLE_AUTHORITY" {
		t.Errorf("events %+v", evs)
	}
}
