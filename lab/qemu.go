package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Firmware is an OVMF build and the variable store it starts from.
type Firmware struct {
	Name string // for reports: "OVMF_CODE_4M.fd + OVMF_VARS_4M.fd"
	Code string
	Vars string
	// SecureBoot firmware needs SMM and a flash only SMM may write.
	SecureBoot bool
}

var (
	firmwarePlain    = Firmware{Name: "OVMF_CODE_4M.fd + OVMF_VARS_4M.fd", Code: ovmfCode, Vars: ovmfVars}
	firmwareSnakeoil = Firmware{Name: "OVMF_CODE_4M.snakeoil.fd + OVMF_VARS_4M.snakeoil.fd", Code: ovmfCodeSnakeoil, Vars: ovmfVarsSnakeoil, SecureBoot: true}
	firmwareMS       = Firmware{Name: "OVMF_CODE_4M.ms.fd + OVMF_VARS_4M.ms.fd", Code: ovmfCodeMS, Vars: ovmfVarsMS, SecureBoot: true}
)

// bootRun is one boot's files and outcome.
type bootRun struct {
	Dir      string // where console.log, data.txt, tpm/ and vars live
	Console  string
	Data     string
	Done     bool // the guest wrote its capture
	Exited   bool // QEMU exited on its own (poweroff, panic with -no-reboot)
	Stopped  string
	Duration time.Duration
}

// bootOptions tune boot.
type bootOptions struct {
	Timeout time.Duration
	// TimeoutOK makes reaching Timeout a normal end (a foreign UKI that
	// never writes a capture) rather than an error.
	TimeoutOK bool
	// StopOn ends the boot when the console shows one of these.
	StopOn []string
}

// boot runs QEMU with firmware, esp and a fresh copy of the pristine TPM in
// dir, until the guest's capture is complete, QEMU exits, or the timeout.
// QEMU is then killed outright, so nothing sends the TPM a shutdown, and
// swtpm saves its volatile state: dir/tpm then holds the booted PCRs.
func (l *Lab) boot(name string, fw Firmware, esp, dir string, opts bootOptions) (*bootRun, error) {
	pristine, err := l.PristineTPM()
	if err != nil {
		return nil, err
	}
	r := &bootRun{Dir: dir, Console: filepath.Join(dir, "console.log"), Data: filepath.Join(dir, "data.txt")}
	state := filepath.Join(dir, "tpm")
	if err := copyDir(pristine, state); err != nil {
		return nil, err
	}
	vars := filepath.Join(dir, "ovmf-vars.fd")
	if err := copyFile(fw.Vars, vars, 0o644); err != nil {
		return nil, err
	}
	// Unix socket paths are limited to 108 bytes; keep them short.
	sockDir, err := os.MkdirTemp("", "gpcr-lab-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(sockDir)
	absState, _ := filepath.Abs(state)
	tpm, err := startSwtpmForQEMU(absState, sockDir)
	if err != nil {
		return nil, err
	}
	defer tpm.stop()

	machine := "q35"
	var args []string
	if fw.SecureBoot {
		machine = "q35,smm=on"
		args = append(args, "-global", "driver=cfi.pflash01,property=secure,value=on")
	}
	args = append(args,
		"-nodefaults", "-no-user-config", "-display", "none",
		"-action", "reboot=shutdown,shutdown=pause",
		"-qmp", "unix:"+filepath.Join(sockDir, "qmp.sock")+",server=on,wait=off",
		"-machine", machine, "-accel", "tcg", "-m", "1024", "-smp", "1",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+fw.Code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-chardev", "socket,id=chrtpm,path="+tpm.ctrl,
		"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
		"-device", "tpm-tis,tpmdev=tpm0",
		"-drive", "if=none,id=esp,format=raw,snapshot=on,file="+esp,
		"-device", "virtio-blk-pci,drive=esp,bootindex=1",
		"-chardev", "file,id=con,path="+r.Console,
		"-serial", "chardev:con",
		"-chardev", "file,id=data,path="+r.Data,
		"-serial", "chardev:data",
	)
	if err := os.WriteFile(filepath.Join(dir, "qemu.cmdline"), []byte("qemu-system-x86_64 "+strings.Join(args, " ")+"\n"), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("qemu-system-x86_64", args...)
	var qerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qerr, &qerr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	l.logf("[%s] booting under QEMU/TCG (%s)", name, fw.Name)
	mon, err := dialQMP(filepath.Join(sockDir, "qmp.sock"), 10*time.Second)
	if err != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return nil, fmt.Errorf("[%s] %v: %s", name, err, qerr.String())
	}
	defer mon.close()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastReport := start
	var qemuErr error
loop:
	for {
		select {
		case qemuErr = <-done:
			r.Exited = true
			r.Stopped = "QEMU exited"
			break loop
		case <-tick.C:
		}
		data, _ := os.ReadFile(r.Data)
		if bytes.Contains(data, []byte("@@DONE@@")) {
			r.Done = true
			r.Stopped = "capture complete"
			break
		}
		con, _ := os.ReadFile(r.Console)
		for _, s := range opts.StopOn {
			if bytes.Contains(con, []byte(s)) {
				r.Stopped = fmt.Sprintf("console showed %q", s)
				break loop
			}
		}
		if st, err := mon.status(); err == nil && st != "running" && st != "prelaunch" {
			r.Stopped = "guest stopped (" + st + ")"
			break
		}
		if time.Since(start) > opts.Timeout {
			r.Stopped = "timeout"
			break
		}
		if time.Since(lastReport) >= 15*time.Second {
			lastReport = time.Now()
			l.logf("[%s] %3.0fs: %s", name, time.Since(start).Seconds(), lastLine(con))
		}
	}
	r.Duration = time.Since(start)
	if !r.Exited {
		// SIGKILL: QEMU must not get to tell swtpm anything.
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	l.logf("[%s] stopped after %.1fs: %s", name, r.Duration.Seconds(), r.Stopped)
	if r.Exited && qemuErr != nil && !r.Done {
		tpm.stop()
		return r, fmt.Errorf("[%s] QEMU failed: %v: %s\nconsole:\n%s", name, qemuErr, qerr.String(), tail(r.Console, 3000))
	}
	if err := tpm.saveVolatile(); err != nil {
		return r, fmt.Errorf("[%s] saving the TPM state: %w", name, err)
	}
	if r.Stopped == "timeout" && !opts.TimeoutOK {
		return r, fmt.Errorf("[%s] no capture within %s; console:\n%s", name, opts.Timeout, tail(r.Console, 3000))
	}
	return r, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	s := strings.TrimSpace(lines[len(lines)-1])
	if s == "" {
		return "(no console output yet)"
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
