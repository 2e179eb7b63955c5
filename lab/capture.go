package lab

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// Capture is what one boot left behind, in Dir:
//
//	eventlog.bin  the kernel's binary_bios_measurements (TCG event log)
//	ima.bin       binary_runtime_measurements
//	ima.ascii     ascii_runtime_measurements
//	pcrs.yaml     every PCR of both banks as the guest read them from
//	              /sys/class/tpm/tpm0/pcr-<alg>/<n>, in tpm2_pcrread's layout
//	cmdline       the kernel's /proc/cmdline
//	console.log   the serial console, data.txt the raw capture stream
//	quote.*, ak.*, nonce  a TPM2_Quote made after the boot (see Quote)
//
// plus the artifacts booted (uki.efi, vmlinuz, initrd.img, grub.cfg,
// ovmf-vars.fd, esp.img) and lab.json describing the run.
type Capture struct {
	Variant string
	Dir     string
	// PCRs are the values the guest read, both banks.
	PCRs pcr.Values
}

// Path is the capture file name in Dir.
func (c *Capture) Path(name string) string { return filepath.Join(c.Dir, name) }

// parseStream splits the guest's serial stream into its sections: base64
// sections are decoded, the pcrs section is kept as text.
func parseStream(data []byte) (map[string][]byte, error) {
	data = bytes.ReplaceAll(data, []byte("\r"), nil)
	out := map[string][]byte{}
	var cur string
	var body bytes.Buffer
	sawDone := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "@@BEGIN ") && strings.HasSuffix(line, "@@"):
			cur = strings.TrimSuffix(strings.TrimPrefix(line, "@@BEGIN "), "@@")
			body.Reset()
		case strings.HasPrefix(line, "@@END ") && cur != "":
			name := strings.TrimSuffix(strings.TrimPrefix(line, "@@END "), "@@")
			if name != cur {
				return nil, fmt.Errorf("section %q ends as %q", cur, name)
			}
			text := body.String()
			if strings.TrimSpace(text) == "@@MISSING@@" {
				out[cur] = nil
			} else if cur == "pcrs" {
				out[cur] = []byte(text)
			} else {
				b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
				if err != nil {
					return nil, fmt.Errorf("section %s: %w", cur, err)
				}
				out[cur] = b
			}
			cur = ""
		case line == "@@DONE@@":
			sawDone = true
		case cur != "":
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if !sawDone {
		return nil, fmt.Errorf("the capture stream has no @@DONE@@ marker")
	}
	return out, nil
}

// parseGuestPCRs reads "sha256 7 HEX" lines; an empty value (a bank the
// TPM did not allocate) is left out.
func parseGuestPCRs(text []byte) (pcr.Values, error) {
	v := pcr.Values{}
	for _, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		alg, err := pcr.ParseAlg(f[0])
		if err != nil {
			return nil, err
		}
		idx, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("PCR line %q: %w", line, err)
		}
		d, err := hex.DecodeString(f[2])
		if err != nil {
			return nil, fmt.Errorf("PCR line %q: %w", line, err)
		}
		v.Set(alg, idx, d)
	}
	return v, v.Validate()
}

// collect turns a finished boot's data stream into the capture files.
func collect(run *bootRun, dir string) (*Capture, error) {
	raw, err := os.ReadFile(run.Data)
	if err != nil {
		return nil, err
	}
	sec, err := parseStream(raw)
	if err != nil {
		return nil, err
	}
	for name, file := range map[string]string{"eventlog": "eventlog.bin", "ima.bin": "ima.bin", "ima.ascii": "ima.ascii", "cmdline": "cmdline", CELLogName: CELLogName} {
		b, ok := sec[name]
		if !ok || b == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
			return nil, err
		}
	}
	vals, err := parseGuestPCRs(sec["pcrs"])
	if err != nil {
		return nil, err
	}
	y, err := pcr.Marshal(pcr.FormatTPM2YAML, []pcr.Values{vals})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pcrs.yaml"), y, 0o644); err != nil {
		return nil, err
	}
	return &Capture{Dir: dir, PCRs: vals}, nil
}

// allPCRs is the selection the quote covers: every PCR of both banks.
const allPCRs = "sha1:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23+sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23"

// makeQuote restarts swtpm on the state the boot left (volatile state
// included, no TPM2_Startup), reads the PCRs back with tpm2_pcrread into
// tpm-pcrs.yaml, and makes a quote over all of them with a fresh
// attestation key: ak.pub (TPM2B_PUBLIC), ak.pem, ak.name, nonce (hex),
// quote.msg, quote.sig, quote.pcrs (tpm2-tools serialized).
func makeQuote(state, dir string) error {
	tpm, err := startSwtpmResumed(state)
	if err != nil {
		return err
	}
	defer tpm.stop()
	out, err := tpm.tpm2(dir, "tpm2_pcrread", allPCRs)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tpm-pcrs.yaml"), out, 0o644); err != nil {
		return err
	}
	nonce := make([]byte, 20)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "nonce"), []byte(hex.EncodeToString(nonce)+"\n"), 0o644); err != nil {
		return err
	}
	steps := [][]string{
		{"tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"},
		// Without a resource manager transient objects stay loaded, and
		// swtpm has room for three.
		{"tpm2_flushcontext", "-t"},
		{"tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "rsa", "-g", "sha256", "-s", "rsassa", "-u", "ak.pub", "-n", "ak.name"},
		{"tpm2_flushcontext", "-t"},
		{"tpm2_readpublic", "-c", "ak.ctx", "-f", "pem", "-o", "ak.pem"},
		{"tpm2_flushcontext", "-t"},
		{"tpm2_quote", "-c", "ak.ctx", "-l", allPCRs, "-q", hex.EncodeToString(nonce), "-g", "sha256",
			"-m", "quote.msg", "-s", "quote.sig", "-o", "quote.pcrs"},
	}
	for _, s := range steps {
		if _, err := tpm.tpm2(dir, s[0], s[1:]...); err != nil {
			return err
		}
	}
	for _, f := range []string{"ek.ctx", "ak.ctx"} {
		os.Remove(filepath.Join(dir, f))
	}
	return nil
}
