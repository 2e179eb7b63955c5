package lab

import (
	"bytes"
	"encoding/hex"
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
)

// The DRTM golden values of `refvals compute --drtm` are checked against a
// real TPM: swtpm performs the launch (swtpm_ioctl -h at locality 4, then
// the ACM's extends at locality 3 and SKL's and the kernel's at locality
// 2), with every digest of a file computed by coreutils (od, tail, head,
// truncate, sha1sum, sha256sum) and the reference logs' digests read by
// tpm2_eventlog; goldenpcr computes PCRs 17 and 18 from Debian's real
// kernel, the lab's initramfs and a command line, and they must equal
// swtpm's in both banks.

var drtmBanks = []pcr.Alg{pcr.SHA1, pcr.SHA256}

// sh runs a bash script (set -euo pipefail) in dir and returns its output.
func sh(t *testing.T, dir, script string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s", script, err, stderr)
	}
	return out
}

// toolSums hashes what a shell pipeline writes with sha1sum and sha256sum.
func toolSums(t *testing.T, dir, pipeline string, env ...string) map[pcr.Alg][]byte {
	t.Helper()
	out := map[pcr.Alg][]byte{}
	for _, alg := range drtmBanks {
		f := strings.Fields(string(sh(t, dir, pipeline+" | "+alg.String()+"sum", env...)))
		d, err := hex.DecodeString(f[0])
		if err != nil {
			t.Fatal(err)
		}
		out[alg] = d
	}
	return out
}

// launchEvent is one event of a launch: what is extended and logged.
type launchEvent struct {
	pcr      uint32
	typ      eventlog.EventType
	data     string
	digests  map[pcr.Alg][]byte
	locality int // 0: not extended (EV_NO_ACTION); 4: the hash start
}

func (e launchEvent) logged() *eventlog.Event {
	ev := &eventlog.Event{PCR: e.pcr, Type: e.typ, Data: []byte(e.data)}
	for _, alg := range drtmBanks {
		if d, ok := e.digests[alg]; ok { // tboot's fixed extend policy logs one bank
			ev.Digests = append(ev.Digests, eventlog.Digest{Alg: alg, Value: d})
		}
	}
	return ev
}

// drtmLog writes a Secure Launch buffer: the events, then a zeroed tail.
func drtmLog(t *testing.T, path string, events []launchEvent) {
	t.Helper()
	var evs []*eventlog.Event
	for _, e := range events {
		evs = append(evs, e.logged())
	}
	if err := os.WriteFile(path, append(tcglogtest.Write(drtmBanks, evs), make([]byte, 4096)...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// launch performs the events on tpm; the first must be the hash start,
// whose data is the file hashStart.
func launch(t *testing.T, tpm *swtpmtest.TPM, hashStart string, events []launchEvent) {
	t.Helper()
	data, err := os.ReadFile(hashStart)
	if err != nil {
		t.Fatal(err)
	}
	tpm.HashStart(t, data)
	for _, e := range events[1:] {
		if e.locality == 0 {
			continue
		}
		for _, alg := range drtmBanks {
			if d, ok := e.digests[alg]; ok {
				tpm.ExtendAt(t, e.locality, e.pcr, uint16(alg), d)
			}
		}
	}
}

// readPCRs reads PCRs 17 and 18 of both banks with tpm2_pcrread.
func readPCRs(t *testing.T, tpm *swtpmtest.TPM) pcr.Values {
	t.Helper()
	doc, err := pcr.Parse(tpm.Run(t, "tpm2_pcrread", "sha1:17,18+sha256:17,18"), pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return doc.Sets[0]
}

// refDigests reads each event's digests from a DRTM log with tpm2_eventlog.
func refDigests(t *testing.T, path string) []map[pcr.Alg][]byte {
	t.Helper()
	out, err := exec.Command("tpm2_eventlog", path).Output()
	if err != nil {
		t.Fatalf("tpm2_eventlog %s: %v", path, err)
	}
	var doc struct {
		Events []struct {
			Digests []struct {
				AlgorithmId string `yaml:"AlgorithmId"`
				Digest      string `yaml:"Digest"`
			} `yaml:"Digests"`
		} `yaml:"events"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("tpm2_eventlog %s: %v", path, err)
	}
	var digests []map[pcr.Alg][]byte
	for _, ev := range doc.Events {
		m := map[pcr.Alg][]byte{}
		for _, d := range ev.Digests {
			alg, err := pcr.ParseAlg(d.AlgorithmId)
			if err != nil {
				continue
			}
			m[alg], _ = hex.DecodeString(d.Digest)
		}
		digests = append(digests, m)
	}
	return digests
}

// goldenMatches computes the baseline with the CLI and compares it with
// swtpm's PCRs 17 and 18; it returns the baseline's path.
func goldenMatches(t *testing.T, dir string, got pcr.Values, args ...string) string {
	t.Helper()
	bin := goldenpcrBinary(t)
	out := filepath.Join(dir, "golden.yaml")
	os.Remove(out)
	cmd := exec.Command(bin, append([]string{"refvals", "compute", "-O", out}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goldenpcr refvals compute %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := baseline.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Evaluate(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.PCRs) != 2 || !res.OK {
		t.Fatalf("golden values do not equal swtpm's PCRs 17 and 18: %+v\n%s", res.PCRs, data)
	}
	return out
}

// replayAgainst runs eventlog replay LOG --against BASELINE and returns its
// exit code and output.
func replayAgainst(t *testing.T, log, golden string) (int, string) {
	t.Helper()
	cmd := exec.Command(goldenpcrBinary(t), "eventlog", "replay", log, "--pcr", "17,18", "--against", golden)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// drtmArtifacts are the launch's files: Debian's kernel, the lab's
// initramfs, a GRUB-style command line, and their coreutils digests.
type drtmArtifacts struct {
	dir, kernel, initrd, cmdline string
	mle, initrdSum, cmdlineSum   map[pcr.Alg][]byte
}

func newDRTMArtifacts(t *testing.T, l *Lab) *drtmArtifacts {
	k, err := l.Kernel()
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := l.Initramfs()
	if err != nil {
		t.Fatal(err)
	}
	a := &drtmArtifacts{dir: t.TempDir(), kernel: k.Vmlinuz, initrd: initrd,
		cmdline: "BOOT_IMAGE=/vmlinuz console=ttyS0 slaunch=intel_txt ro quiet"}
	env := []string{"K=" + a.kernel, "CMD=" + a.cmdline}
	// The protected-mode kernel: the bzImage after (setup_sects+1)·512
	// bytes, a setup_sects of 0 meaning 4.
	a.mle = toolSums(t, a.dir, `s=$(od -An -tu1 -j497 -N1 "$K"); s=$((s)); [ "$s" -eq 0 ] && s=4; tail -c +$(( (s+1)*512 + 1 )) "$K"`, env...)
	// The command line zero-padded to the kernel's cmdline_size (u32 at
	// 0x238).
	a.cmdlineSum = toolSums(t, a.dir, `n=$(od -An -tu4 -j568 -N4 "$K"); printf '%s' "$CMD" > cmdline.bin; truncate -s $((n)) cmdline.bin; cat cmdline.bin`, env...)
	a.initrdSum = toolSums(t, a.dir, `cat "$I"`, "I="+a.initrd)
	return a
}

func TestDRTMGoldenValuesSecureLaunch(t *testing.T) {
	l := requireLab(t)
	a := newDRTMArtifacts(t, l)
	dir := a.dir
	// The platform's files: what the ACM measures of itself and the
	// platform, and the per-boot policy entries of three launches.
	for name, content := range map[string]string{
		"sinit.bin": "SINIT ACM hash 0123456789abcdef0123456789abcd\x01\x00\x00\x00", "biosac": "BIOS ACM registers",
		"scrtm": "S-CRTM status", "lcp": "LCP control", "pubkey": "SINIT public key modulus", "auth": "LCP authorities",
		"slrt-1": "SLR table, launch 1", "slrt-2": "SLR table, launch 2", "params-1": "boot params, launch 1",
		"params-2": "boot params, launch 2", "params-3": "boot params, launch 3", "memmap-1": "memory map, launch 1",
		"memmap-2": "memory map, launch 2", "other-kernel": "an earlier kernel", "other-cmdline": "an earlier command line",
		"other-initrd": "an earlier initrd",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(name string) map[pcr.Alg][]byte { return toolSums(t, dir, "cat "+name) }
	tag := toolSums(t, dir, "printf ''")
	events := func(mle, slrt, params, cmdline, memmap, initrd map[pcr.Alg][]byte) []launchEvent {
		return []launchEvent{
			{17, eventlog.EvTXTHashStart, "", sum("sinit.bin"), 4},
			{17, eventlog.EvTXTBIOSACRegData, "", sum("biosac"), 3},
			{17, eventlog.EvTXTCPUSCRTMStat, "", sum("scrtm"), 3},
			{17, eventlog.EvTXTLCPControlHash, "", sum("lcp"), 3},
			{17, eventlog.EvTXTMLEHash, "", mle, 3},
			{18, eventlog.EvTXTSINITPubKeyHash, "", sum("pubkey"), 3},
			{18, eventlog.EvTXTCPUSCRTMStat, "", sum("scrtm"), 3},
			{18, eventlog.EvTXTLCPAuthoritiesHash, "", sum("auth"), 3},
			{17, eventlog.EvNoAction, "", tag, 0},
			{18, eventlog.EvSecureLaunch, "Measured SLR Table", slrt, 2},
			{18, eventlog.EvSecureLaunch, "Measured boot parameters", params, 2},
			{18, eventlog.EvSecureLaunch, "Measured Kernel command line", cmdline, 2},
			{18, eventlog.EvSecureLaunch, "Measured EFI memory map", memmap, 2},
			{17, eventlog.EvSecureLaunch, "Measured Kernel initrd", initrd, 2},
			{17, eventlog.EvNoAction, "", tag, 0},
		}
	}
	// Two earlier launches of another kernel on the platform are the
	// reference logs.
	drtmLog(t, filepath.Join(dir, "ref-1.log"), events(sum("other-kernel"), sum("slrt-1"), sum("params-1"), sum("other-cmdline"), sum("memmap-1"), sum("other-initrd")))
	drtmLog(t, filepath.Join(dir, "ref-2.log"), events(sum("other-kernel"), sum("slrt-2"), sum("params-2"), sum("other-cmdline"), sum("memmap-2"), sum("other-initrd")))
	// The launch of the build's artifacts: SLRT and boot params as in the
	// second reference launch, the memory map as in the first.
	device := events(a.mle, sum("slrt-2"), sum("params-2"), a.cmdlineSum, sum("memmap-1"), a.initrdSum)
	tpm := swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}})
	launch(t, tpm, filepath.Join(dir, "sinit.bin"), device)
	got := readPCRs(t, tpm)
	drtmLog(t, filepath.Join(dir, "device.log"), device)

	args := []string{"--drtm", "secure-launch", "--drtm-kernel", a.kernel, "--drtm-initrd", a.initrd, "--drtm-cmdline", a.cmdline,
		"--drtm-reference-log", filepath.Join(dir, "ref-1.log"), "--drtm-reference-log", filepath.Join(dir, "ref-2.log")}
	golden := goldenMatches(t, dir, got, args...)
	data, _ := os.ReadFile(golden)
	for _, want := range []string{"Measured boot parameters", "has no golden value", "drtm-reference-log"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("baseline lacks %q:\n%s", want, data)
		}
	}
	if code, out := replayAgainst(t, filepath.Join(dir, "device.log"), golden); code != 0 {
		t.Errorf("device log against the golden values: exit %d\n%s", code, out)
	}
	// The CHARRA reference file holds the variants as documents; one of
	// them is the TPM's.
	charra := filepath.Join(dir, "reference-pcrs.yml")
	if msg, err := exec.Command(goldenpcrBinary(t), append([]string{"refvals", "compute", "-o", "charra", "-O", charra}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("-o charra: %v\n%s", err, msg)
	}
	doc, err := pcr.ReadFile(charra, pcr.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := doc.Match(got); !ok || doc.Format != pcr.FormatCHARRA || len(doc.Sets) != 8 {
		t.Errorf("CHARRA file (%s, %d documents) holds no set equal to swtpm's PCRs", doc.Format, len(doc.Sets))
	}

	// A log with an event removed, changed or two swapped fails, and
	// goldenpcr diff names the event.
	for name, c := range map[string]struct {
		evs        []launchEvent
		pcr, event string
	}{
		"removed": {append(append([]launchEvent{}, device[:11]...), device[12:]...), "18", "Measured Kernel command line"},
		"changed": {append(append(append([]launchEvent{}, device[:13]...), launchEvent{17, eventlog.EvSecureLaunch, "Measured Kernel initrd", sum("other-initrd"), 2}), device[14:]...), "17", "Measured Kernel initrd"},
		"swapped": {append(append(append([]launchEvent{}, device[:10]...), device[11], device[10]), device[12:]...), "18", "Measured"},
	} {
		path := filepath.Join(dir, name+".log")
		drtmLog(t, path, c.evs)
		if code, out := replayAgainst(t, path, golden); code != 1 || !strings.Contains(out, c.pcr+"  mismatch  last extended by event #") {
			t.Errorf("%s event: exit %d\n%s", name, code, out)
		}
		out, err := exec.Command(goldenpcrBinary(t), "diff", golden, path).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "PCR "+c.pcr) || !strings.Contains(string(out), c.event) {
			t.Errorf("%s event: goldenpcr diff: %v\n%s", name, err, out)
		}
	}
	// A launch with boot params no reference log shows fails PCR 18 alone:
	// the allow-list is what the reference logs saw.
	other := events(a.mle, sum("slrt-2"), sum("params-3"), a.cmdlineSum, sum("memmap-1"), a.initrdSum)
	tpm2 := swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}})
	launch(t, tpm2, filepath.Join(dir, "sinit.bin"), other)
	b, err := baseline.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Evaluate(readPCRs(t, tpm2))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || !res.PCRs[0].Matched || res.PCRs[1].Matched {
		t.Errorf("unseen boot params: want PCR 17 matched and PCR 18 not: %+v", res.PCRs)
	}
	// Golden values of another kernel do not match the TPM's PCR 17.
	changed := filepath.Join(dir, "kernel-changed")
	sh(t, dir, `cp "$K" "$C"; printf 'x' | dd of="$C" bs=1 seek=$(( $(stat -c %s "$C") - 100 )) conv=notrunc status=none`, "K="+a.kernel, "C="+changed)
	cmd := exec.Command(goldenpcrBinary(t), append([]string{"refvals", "compute", "-O", filepath.Join(dir, "changed.yaml"), "--drtm-kernel", changed}, args[:2]...)...)
	cmd.Args = append(cmd.Args, args[4:]...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if code, out := replayAgainst(t, filepath.Join(dir, "device.log"), filepath.Join(dir, "changed.yaml")); code != 1 || !strings.Contains(out, "17") {
		t.Errorf("another kernel's golden values: exit %d\n%s", code, out)
	}
}

// TestDRTMGoldenValuesSKINIT takes a real TrenchBoot SKL launch's log
// (fixtures/drtm, AMD, v0.5.3-rc1) as the reference: its SLR table and
// boot params are the per-boot events, and the SLB, the DLME and the
// command line are the build's.
func TestDRTMGoldenValuesSKINIT(t *testing.T) {
	l := requireLab(t)
	a := newDRTMArtifacts(t, l)
	dir := a.dir
	ref, err := filepath.Abs("../fixtures/drtm/skl-linux-v0.5.3-rc1.bin")
	if err != nil {
		t.Fatal(err)
	}
	refSums := refDigests(t, ref) // event 0 is the Spec ID event
	// An SLB: u16 entry point, u16 length, then code; SKINIT hashes the
	// first length bytes only.
	sh(t, dir, `{ printf '\x00\x01\xf0\xef'; head -c 70000 /dev/urandom; } > skl.bin`)
	sh(t, dir, `n=$(od -An -tu2 -j2 -N2 skl.bin); head -c $((n)) skl.bin > slb-measured.bin`)
	slb := toolSums(t, dir, "cat slb-measured.bin")
	const entry = 0x1d2c0
	entrySum := toolSums(t, dir, `printf '\xc0\xd2\x01\x00'`)
	tag := toolSums(t, dir, "printf ''")
	device := []launchEvent{
		{17, eventlog.EvSecureLaunch, "SKINIT", slb, 4},
		{17, eventlog.EvSecureLaunch, "DLME entry offset", entrySum, 2},
		{17, eventlog.EvSecureLaunch, "DLME", a.mle, 2},
		{17, eventlog.EvNoAction, "", tag, 0},
		{18, eventlog.EvSecureLaunch, "Measured SLR Table", refSums[5], 2},
		{18, eventlog.EvSecureLaunch, "Measured boot parameters", refSums[6], 2},
		{18, eventlog.EvSecureLaunch, "Measured Kernel command line", a.cmdlineSum, 2},
		{17, eventlog.EvNoAction, "", tag, 0},
	}
	tpm := swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}})
	launch(t, tpm, filepath.Join(dir, "slb-measured.bin"), device)
	got := readPCRs(t, tpm)
	golden := goldenMatches(t, dir, got, "--drtm", "skinit", "--drtm-slb", filepath.Join(dir, "skl.bin"), "--drtm-kernel", a.kernel,
		"--drtm-dlme-entry", fmt.Sprintf("%#x", entry), "--drtm-cmdline", a.cmdline, "--drtm-reference-log", ref)
	drtmLog(t, filepath.Join(dir, "device.log"), device)
	if code, out := replayAgainst(t, filepath.Join(dir, "device.log"), golden); code != 0 {
		t.Errorf("device log against the golden values: exit %d\n%s", code, out)
	}
	// The reference log itself, another kernel and SLB, does not match.
	if code, out := replayAgainst(t, ref, golden); code != 1 {
		t.Errorf("reference log against the golden values: exit %d\n%s", code, out)
	}
}

// TestDRTMGoldenValuesTboot launches tboot (Debian's tboot.gz) on swtpm:
// the ACM's extends at locality 3 with the MLE hash tboot's own
// lcp2_mlehash computes, then tboot's at locality 2, its policy made by
// tb_polgen and every digest computed by openssl and coreutils. With
// tboot's default extpol=sha256 its measurements extend the SHA-256 bank
// alone; with extpol=embedded and the details/authorities mapping both
// banks, the initrd as module 1 in PCR 17.
func TestDRTMGoldenValuesTboot(t *testing.T) {
	l := requireLab(t)
	a := newDRTMArtifacts(t, l)
	dir := a.dir
	const tboot, tbootCmdline = "/boot/tboot.gz", "/boot/tboot.gz logging=serial,memory"
	kernelCmdline := "/vmlinuz root=/dev/vda ro console=ttyS0"
	for name, content := range map[string]string{
		"sinit.bin": "SINIT ACM hash 0123456789abcdef0123456789abcd\x01\x00\x00\x00", "biosac": "BIOS ACM registers",
		"scrtm": "S-CRTM status", "pubkey": "SINIT public key modulus", "other": "an earlier launch's",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(name string) map[pcr.Alg][]byte { return toolSums(t, dir, "cat "+name) }
	mle := map[pcr.Alg][]byte{}
	for _, alg := range drtmBanks {
		out := sh(t, dir, `/usr/sbin/lcp2_mlehash --create --cmdline "$C" --alg `+alg.String()+` `+tboot, "C="+tbootCmdline)
		mle[alg], _ = hex.DecodeString(strings.Join(strings.Fields(string(out)), ""))
	}
	only := func(alg pcr.Alg, d map[pcr.Alg][]byte) map[pcr.Alg][]byte { return map[pcr.Alg][]byte{alg: d[alg]} }
	env := []string{"K=" + a.kernel, "KC=" + kernelCmdline, "I=" + a.initrd}
	// tboot's module hash: H(H(command line) ‖ H(file)), in each bank.
	modSum := func(file, cmdline string) map[pcr.Alg][]byte {
		out := map[pcr.Alg][]byte{}
		for _, alg := range drtmBanks {
			out[alg] = toolSums(t, dir, `{ printf '%s' "$MC" | openssl dgst -`+alg.String()+` -binary; openssl dgst -`+alg.String()+` -binary "$MF"; }`, "MF="+file, "MC="+cmdline)[alg]
		}
		return out
	}
	for _, c := range []struct {
		name, extpol string
		da           bool
	}{{"extpol=sha256", "sha256", false}, {"extpol=embedded, details/authorities mapping", "embedded", true}} {
		t.Run(c.name, func(t *testing.T) {
			pol := filepath.Join(dir, "policy-"+c.extpol)
			sh(t, dir, `rm -f "$P"
/usr/sbin/tb_polgen --create --type nonfatal --alg sha256 --ctrl 0x1 "$P"
/usr/sbin/tb_polgen --add --num 0 --pcr none --hash image --cmdline "$KC" --image "$K" "$P"
/usr/sbin/tb_polgen --add --num any --pcr 17 --hash any "$P"`, append(env, "P="+pol)...)
			// The policy's measurement: policy_control, then its SHA-256.
			polSum := toolSums(t, dir, `{ printf '\001\000\000\000'; openssl dgst -sha256 -binary "$P"; }`, "P="+pol)
			mod0, mod1 := modSum(a.kernel, kernelCmdline), modSum(a.initrd, "/initrd.img")
			otherSum := sum("other")
			tbootEvents := func(policy, m0, m1 map[pcr.Alg][]byte) []launchEvent {
				ev := func(index uint32, d map[pcr.Alg][]byte) launchEvent {
					if !c.da {
						d = only(pcr.SHA256, d)
					}
					return launchEvent{index, eventlog.EvTboot, "", d, 2}
				}
				if !c.da {
					return []launchEvent{ev(17, policy), ev(18, m0)}
				}
				return []launchEvent{ev(17, policy), ev(18, policy), ev(17, m0), ev(17, m1)}
			}
			events := func(mle, policy, m0, m1 map[pcr.Alg][]byte) []launchEvent {
				return append([]launchEvent{
					{17, eventlog.EvTXTHashStart, "", sum("sinit.bin"), 4},
					{17, eventlog.EvTXTBIOSACRegData, "", sum("biosac"), 3},
					{17, eventlog.EvTXTCPUSCRTMStat, "", sum("scrtm"), 3},
					{17, eventlog.EvTXTMLEHash, "", mle, 3},
					{18, eventlog.EvTXTSINITPubKeyHash, "", sum("pubkey"), 3},
					{18, eventlog.EvTXTCPUSCRTMStat, "", sum("scrtm"), 3},
				}, tbootEvents(policy, m0, m1)...)
			}
			ref := filepath.Join(dir, "ref-"+c.extpol+".log")
			drtmLog(t, ref, events(otherSum, otherSum, otherSum, otherSum))
			device := events(mle, polSum, mod0, mod1)
			tpm := swtpmtest.Start(t, swtpmtest.Options{Banks: []string{"sha1", "sha256"}})
			launch(t, tpm, filepath.Join(dir, "sinit.bin"), device)
			got := readPCRs(t, tpm)
			deviceLog := filepath.Join(dir, "device-"+c.extpol+".log")
			drtmLog(t, deviceLog, device)

			args := []string{"--drtm", "tboot", "--drtm-tboot", tboot, "--drtm-tboot-cmdline", tbootCmdline, "--drtm-tboot-policy", pol,
				"--drtm-tboot-extpol", c.extpol, "--drtm-kernel", a.kernel, "--drtm-cmdline", kernelCmdline, "--drtm-reference-log", ref}
			if c.da {
				args = append(args, "--drtm-tboot-da", "--drtm-initrd", a.initrd, "--drtm-initrd-cmdline", "/initrd.img")
			}
			golden := goldenMatches(t, dir, got, args...)
			if code, out := replayAgainst(t, deviceLog, golden); code != 0 {
				t.Errorf("device log against the golden values: exit %d\n%s", code, out)
			}
			// Another tboot command line or kernel gives another PCR 17 or 18.
			last := len(device) - 1
			changed := slices.Clone(device)
			changed[last].digests = map[pcr.Alg][]byte{}
			for alg := range device[last].digests {
				changed[last].digests[alg] = otherSum[alg]
			}
			changedLog := filepath.Join(dir, "changed-"+c.extpol+".log")
			drtmLog(t, changedLog, changed)
			if code, out := replayAgainst(t, changedLog, golden); code != 1 || !strings.Contains(out, fmt.Sprintf("%d  mismatch  last extended by event #%d", device[last].pcr, last+1)) { // #0 is the Spec ID event
				t.Errorf("a changed module measurement: exit %d\n%s", code, out)
			}
			otherCmd := slices.Clone(args)
			otherCmd[slices.Index(otherCmd, "--drtm-tboot-cmdline")+1] = "/boot/tboot.gz logging=vga"
			other := filepath.Join(dir, "other.yaml")
			if msg, err := exec.Command(goldenpcrBinary(t), append([]string{"refvals", "compute", "-O", other}, otherCmd...)...).CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, msg)
			}
			if code, out := replayAgainst(t, deviceLog, other); code != 1 || !strings.Contains(out, "17  mismatch") {
				t.Errorf("golden values for another tboot command line: exit %d\n%s", code, out)
			}
		})
	}
}
