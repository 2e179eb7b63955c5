// Package swtpmtest gives tests a real TPM 2.0 to talk to: it starts swtpm
// on a free loopback port with its state in t.TempDir(), returns the TCTI
// string tpm2-tools need, runs those tools against it, and stops swtpm when
// the test ends.
//
// It fails the test, rather than skipping it, when swtpm or tpm2-tools are
// missing: goldenpcr's format and quote tests are only worth something
// against the real tools, and a silent skip would hide that they never ran.
package swtpmtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/internal/loopback"
)

// Options configures Start.
type Options struct {
	// Banks lists the PCR banks to allocate ("sha1", "sha256", …) with
	// swtpm_setup. Empty keeps a fresh swtpm's default, which for swtpm
	// 0.7 is sha1, sha256, sha384 and sha512, and saves swtpm_setup's
	// start-up time.
	Banks []string
}

// TPM is a running swtpm.
type TPM struct {
	// TCTI is the value for TPM2TOOLS_TCTI or -T, e.g.
	// "swtpm:host=127.0.0.1,port=40123". The control channel listens on
	// Port+1, where the swtpm TCTI expects it.
	TCTI string
	Port int
	// Dir holds the TPM state and swtpm.log.
	Dir string

	cmd  *exec.Cmd
	done chan error
}

// Start starts swtpm and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts Options) *TPM {
	t.Helper()
	swtpm := lookTool(t, "swtpm", "swtpm")
	// Not t.TempDir: it keeps a comma of the test's name, which swtpm's
	// "dir=…" option would split on.
	dir, err := os.MkdirTemp("", "swtpmtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after swtpm stops: cleanups run last-registered first
	if len(opts.Banks) > 0 {
		setup := lookTool(t, "swtpm_setup", "swtpm-tools")
		// An empty config keeps swtpm_setup from reading the system one,
		// which would create certificates we do not need.
		conf := filepath.Join(dir, "swtpm_setup.conf")
		if err := os.WriteFile(conf, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(setup, "--tpm2", "--tpmstate", dir, "--config", conf,
			"--pcr-banks", strings.Join(opts.Banks, ",")).CombinedOutput()
		if err != nil {
			t.Fatalf("swtpm_setup: %v\n%s", err, out)
		}
	}
	// Another process may take a port between our probe and swtpm's bind;
	// swtpm then exits and we try other ports.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := loopback.FreePortPair()
		if err != nil {
			t.Fatalf("swtpmtest: %v", err)
		}
		tpm, err := launch(swtpm, dir, port)
		if err == nil {
			t.Cleanup(tpm.stop)
			return tpm
		}
		lastErr = err
	}
	t.Fatalf("swtpmtest: could not start swtpm: %v", lastErr)
	return nil
}

func lookTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: this test needs a real TPM peer; install the %s package", name, pkg)
	}
	return p
}

func launch(swtpm, dir string, port int) (*TPM, error) {
	logPath := filepath.Join(dir, "swtpm.log")
	cmd := exec.Command(swtpm, "socket", "--tpm2",
		"--tpmstate", "dir="+dir,
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
		"--flags", "not-need-init,startup-clear",
		"--log", "file="+logPath+",truncate")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	tpm := &TPM{
		TCTI: fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", port),
		Port: port,
		Dir:  dir,
		cmd:  cmd,
		done: make(chan error, 1),
	}
	go func() { tpm.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-tpm.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("swtpm exited (%v): %s%s", err, stderr.String(), log)
		default:
		}
		if loopback.Listening(port) && loopback.Listening(port+1) {
			return tpm, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	tpm.stop()
	return nil, errors.New("swtpm did not listen within 10s")
}

// stop ends this swtpm process (and only it): SIGTERM, then SIGKILL.
func (p *TPM) stop() {
	if p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Env returns the environment for a tpm2-tools process talking to p.
func (p *TPM) Env() []string {
	return append(os.Environ(), "TPM2TOOLS_TCTI="+p.TCTI)
}

// Run runs a tpm2-tools program against p and returns its stdout; any
// failure fails the test with the tool's stderr.
func (p *TPM) Run(t testing.TB, tool string, args ...string) []byte {
	t.Helper()
	return p.RunStdin(t, nil, tool, args...)
}

// RunStdin is Run with stdin, e.g. a raw command for tpm2_send.
func (p *TPM) RunStdin(t testing.TB, stdin []byte, tool string, args ...string) []byte {
	t.Helper()
	path := lookTool(t, tool, "tpm2-tools")
	cmd := exec.Command(path, args...)
	cmd.Env = p.Env()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// ioctl runs swtpm_ioctl on p's control channel.
func (p *TPM) ioctl(t testing.TB, stdin []byte, args ...string) {
	t.Helper()
	path := lookTool(t, "swtpm_ioctl", "swtpm-tools")
	cmd := exec.Command(path, append([]string{"--tcp", fmt.Sprintf("127.0.0.1:%d", p.Port+1)}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swtpm_ioctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// HashStart performs a dynamic launch's _TPM_Hash_Start, _TPM_Hash_Data
// (data) and _TPM_Hash_End at locality 4 (swtpm_ioctl -h): PCRs 17–22
// reset to zero, then PCR 17 is extended with the hash of data in every
// bank.
func (p *TPM) HashStart(t testing.TB, data []byte) {
	t.Helper()
	p.ioctl(t, data, "-h", "-")
}

// ExtendAt extends PCR index of bank alg (a TPM_ALG_ID) with digest,
// sending TPM2_PCR_Extend at the given locality over swtpm's own socket:
// tpm2-tools' swtpm TCTI sets locality 0 for its commands, and PCRs 17–22
// refuse extends from locality 0. The TPM computes the new value.
func (p *TPM) ExtendAt(t testing.TB, locality int, index uint32, alg uint16, digest []byte) {
	t.Helper()
	p.ioctl(t, nil, "-l", fmt.Sprint(locality))
	// TPM2_PCR_Extend: TPM_ST_SESSIONS, size, TPM_CC_PCR_Extend, the PCR
	// handle, a password session (TPM_RS_PW, no nonce, no auth), one
	// TPMT_HA.
	auth := []byte{0x40, 0, 0, 0x09, 0, 0, 0, 0, 0}
	body := binary.BigEndian.AppendUint32(nil, index)
	body = binary.BigEndian.AppendUint32(body, uint32(len(auth)))
	body = append(body, auth...)
	body = binary.BigEndian.AppendUint32(body, 1)
	body = binary.BigEndian.AppendUint16(body, alg)
	body = append(body, digest...)
	cmd := binary.BigEndian.AppendUint16(nil, 0x8002)
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(10+len(body)))
	cmd = binary.BigEndian.AppendUint32(cmd, 0x182)
	cmd = append(cmd, body...)
	conn := p.Open(t)
	defer conn.Close()
	if _, err := conn.Write(cmd); err != nil {
		t.Fatal(err)
	}
	rsp, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if rc := binary.BigEndian.Uint32(rsp[6:10]); rc != 0 {
		t.Fatalf("TPM2_PCR_Extend of PCR %d at locality %d: response code 0x%x (%x)", index, locality, rc, rsp)
	}
}

// Open connects to p's command channel (Dial), failing t if it cannot.
func (p *TPM) Open(t testing.TB) io.ReadWriteCloser {
	t.Helper()
	rw, err := Dial(p.Port)
	if err != nil {
		t.Fatal(err)
	}
	return rw
}

// Dial connects to the command channel of a swtpm serving TCP on loopback
// port as go-tpm and go-tpm-tools want a TPM: each Write sends a whole
// command and reads its whole response, which the following Reads return.
// swtpm serves one client at a time, so close it before running a
// tpm2-tools program against the same swtpm.
func Dial(port int) (io.ReadWriteCloser, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{c: c}, nil
}

type conn struct {
	c    net.Conn
	resp bytes.Buffer
}

func (s *conn) Write(p []byte) (int, error) {
	s.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.c.Write(p); err != nil {
		return 0, err
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(s.c, hdr); err != nil {
		return 0, err
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > 1<<20 {
		return 0, fmt.Errorf("swtpm: response size %d", size)
	}
	body := make([]byte, size-10)
	if _, err := io.ReadFull(s.c, body); err != nil {
		return 0, err
	}
	s.resp.Reset()
	s.resp.Write(hdr)
	s.resp.Write(body)
	return len(p), nil
}

func (s *conn) Read(p []byte) (int, error) { return s.resp.Read(p) }
func (s *conn) Close() error               { return s.c.Close() }
