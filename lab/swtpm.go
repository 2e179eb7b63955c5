package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/goldenpcr/goldenpcr/internal/loopback"
)

// tpmBanks are the PCR banks the lab's TPM allocates: both, so the captures
// can check goldenpcr's replay of each.
const tpmBanks = "sha1,sha256"

// PristineTPM makes (once per swtpm version) a manufactured TPM state:
// swtpm_setup with both banks and an EK certificate. Each boot starts from a
// copy, so every boot sees the same EK and a TPM that was never started.
func (l *Lab) PristineTPM() (string, error) {
	ver, err := run("", nil, "swtpm", "--version")
	if err != nil {
		return "", err
	}
	k := newDownloadKey("tpm").bytes("swtpm", ver).add("banks", tpmBanks)
	return l.cached("tpm", k, func(dir string) error {
		l.logf("manufacturing a TPM (swtpm_setup --pcr-banks %s --create-ek-cert)", tpmBanks)
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		_, err = run("", nil, "swtpm_setup", "--tpm2", "--tpmstate", abs, "--pcr-banks", tpmBanks,
			"--create-ek-cert", "--overwrite")
		if err != nil {
			// An EK certificate needs swtpm's local CA; without a usable
			// one, fall back to a TPM without certificates.
			l.logf("swtpm_setup with certificates failed (%v); retrying without", err)
			_, err = run("", nil, "swtpm_setup", "--tpm2", "--tpmstate", abs, "--pcr-banks", tpmBanks, "--overwrite")
		}
		return err
	})
}

// copyDir copies the regular files of src into dst.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// swtpmProc is a running swtpm.
type swtpmProc struct {
	cmd  *exec.Cmd
	done chan error
	// ctrl is the control socket's path (unix socket mode for QEMU).
	ctrl string
	// tcti and port (the command channel's) are set in TCP mode.
	tcti string
	port int
	log  string
}

// startSwtpmForQEMU starts swtpm on state with a unix control socket, the
// way QEMU's tpm-emulator backend expects it: QEMU sends CMD_INIT and the
// firmware sends TPM2_Startup.
func startSwtpmForQEMU(state, sockDir string) (*swtpmProc, error) {
	ctrl := filepath.Join(sockDir, "swtpm.sock")
	logPath := filepath.Join(state, "..", "swtpm.log")
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+state,
		"--ctrl", "type=unixio,path="+ctrl,
		"--log", "file="+logPath+",level=1")
	p, err := startProc(cmd, logPath)
	if err != nil {
		return nil, err
	}
	p.ctrl = ctrl
	if !waitFor(10*time.Second, 20*time.Millisecond, func() bool {
		_, err := os.Stat(ctrl)
		return err == nil || p.exited()
	}) || p.exited() {
		p.stop()
		return nil, fmt.Errorf("swtpm did not create %s: %s", ctrl, p.logTail())
	}
	return p, nil
}

// startSwtpmResumed starts swtpm on a state whose volatile part was saved
// after a boot, over TCP for tpm2-tools, without TPM2_Startup: with
// not-need-init swtpm loads the saved volatile state, so the PCRs hold the
// booted values, and must not be started again (Startup(CLEAR) would reset
// them).
func startSwtpmResumed(state string) (*swtpmProc, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := loopback.FreePortPair()
		if err != nil {
			return nil, err
		}
		logPath := filepath.Join(state, "..", "swtpm-resumed.log")
		cmd := exec.Command("swtpm", "socket", "--tpm2",
			"--tpmstate", "dir="+state,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
			"--flags", "not-need-init",
			"--log", "file="+logPath+",level=1")
		p, err := startProc(cmd, logPath)
		if err != nil {
			return nil, err
		}
		p.tcti, p.port = fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", port), port
		if waitFor(10*time.Second, 20*time.Millisecond, func() bool {
			return p.exited() || (loopback.Listening(port) && loopback.Listening(port+1))
		}) && !p.exited() {
			return p, nil
		}
		lastErr = fmt.Errorf("swtpm on port %d: %s", port, p.logTail())
		p.stop()
	}
	return nil, lastErr
}

func startProc(cmd *exec.Cmd, logPath string) (*swtpmProc, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &swtpmProc{cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

func (p *swtpmProc) exited() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

func (p *swtpmProc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop ends this swtpm (only it): SIGTERM, then SIGKILL.
func (p *swtpmProc) stop() {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
	}
}

// saveVolatile asks swtpm, once QEMU has gone without shutting the TPM
// down, to write its volatile state (PCRs included) to the state directory
// and exit.
func (p *swtpmProc) saveVolatile() error {
	if p.exited() {
		return fmt.Errorf("swtpm exited when QEMU stopped: %s", p.logTail())
	}
	if _, err := run("", nil, "swtpm_ioctl", "--unix", p.ctrl, "-v"); err != nil {
		return err
	}
	if _, err := run("", nil, "swtpm_ioctl", "--unix", p.ctrl, "-s"); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		p.stop()
		return errors.New("swtpm did not exit after CMD_SHUTDOWN")
	}
}

// tpm2 runs a tpm2-tools program against the resumed swtpm.
func (p *swtpmProc) tpm2(dir string, tool string, args ...string) ([]byte, error) {
	return run(dir, []string{"TPM2TOOLS_TCTI=" + p.tcti}, tool, args...)
}
