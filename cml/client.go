package cml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// DefaultPort is tpm2d's TCP port, DefaultTimeout the time a client waits
// to connect and for each read.
const (
	DefaultPort    = "9505"
	DefaultTimeout = 10 * time.Second
)

// Address returns host:port for "HOST" or "HOST:PORT" (an IPv6 address
// in brackets), with tpm2d's port when none is given.
func Address(target string) (string, error) {
	if strings.TrimSpace(target) == "" {
		return "", errors.New("no device address given")
	}
	if ip := net.ParseIP(target); ip != nil {
		return net.JoinHostPort(target, DefaultPort), nil // a bare IPv6 address
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && strings.Contains(ae.Err, "missing port") {
			h := strings.TrimSuffix(strings.TrimPrefix(target, "["), "]")
			return net.JoinHostPort(h, DefaultPort), nil
		}
		return "", fmt.Errorf("device address %q: %w", target, err)
	}
	if host == "" || port == "" {
		return "", fmt.Errorf("device address %q: want HOST or HOST:PORT", target)
	}
	return net.JoinHostPort(host, port), nil
}

// DeviceError is a device that cannot be asked: it cannot be reached, or
// it does not answer within the timeout (Timeout is set).
type DeviceError struct {
	Addr    string
	Timeout time.Duration // set when the device did not answer in time
	// Phase is what the client was doing: "connect", "send", "read".
	Phase string
	Err   error
}

func (e *DeviceError) Error() string {
	if e.Timeout > 0 {
		msg := fmt.Sprintf("device %s: no answer within %s while waiting to %s", e.Addr, e.Timeout, e.Phase)
		if e.Phase == "read" {
			msg += " (tpm2d sends nothing when it fails: its log says why)"
		}
		return msg
	}
	return fmt.Sprintf("device %s: %s: %v", e.Addr, e.Phase, e.Err)
}

func (e *DeviceError) Unwrap() error { return e.Err }

// Exchange is one request and what came back.
type Exchange struct {
	Addr    string
	Request *Request
	// RequestFrame is the framed request as sent.
	RequestFrame []byte
	// Payload is the response frame's payload; nil when FrameErr says why
	// no frame could be read.
	Payload  []byte
	FrameErr *FrameError
	Elapsed  time.Duration
}

// deadlineReader sets a fresh read deadline before every read, so a
// device that stops sending fails after timeout, wherever it stops.
type deadlineReader struct {
	c       net.Conn
	timeout time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if err := d.c.SetReadDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.c.Read(p)
}

// Attest connects to addr (host:port), sends req and reads one response
// frame, waiting at most timeout (0: DefaultTimeout) to connect, to send
// and for every read. A device that cannot be reached or falls silent is
// a *DeviceError; a frame that cannot be read (truncated, empty, too
// large) is the device's answer, returned in Exchange.FrameErr.
func Attest(ctx context.Context, addr string, req *Request, timeout time.Duration) (*Exchange, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	payload, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	frame, err := AppendFrame(nil, payload)
	if err != nil {
		return nil, err
	}
	ex := &Exchange{Addr: addr, Request: req, RequestFrame: frame}
	start := time.Now()
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, deviceErr(addr, "connect", timeout, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return nil, deviceErr(addr, "send", timeout, err)
	}
	if _, err := conn.Write(frame); err != nil {
		return nil, deviceErr(addr, "send", timeout, err)
	}
	fr := NewFrameReader(&deadlineReader{c: conn, timeout: timeout})
	ex.Payload, err = fr.ReadFrame()
	ex.Elapsed = time.Since(start)
	var fe *FrameError
	switch {
	case err == nil:
		return ex, nil
	case ctx.Err() != nil:
		return nil, &DeviceError{Addr: addr, Phase: "read", Err: ctx.Err()}
	case isTimeout(err):
		return nil, deviceErr(addr, "read", timeout, err)
	case err == io.EOF:
		return nil, &DeviceError{Addr: addr, Phase: "read", Err: errors.New("the device closed the connection without answering (tpm2d does that when it fails: its log says why)")}
	case errors.As(err, &fe):
		ex.FrameErr = fe
		return ex, nil
	}
	return nil, deviceErr(addr, "read", timeout, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func deviceErr(addr, phase string, timeout time.Duration, err error) *DeviceError {
	e := &DeviceError{Addr: addr, Phase: phase, Err: err}
	if isTimeout(err) {
		e.Timeout = timeout
	}
	return e
}
