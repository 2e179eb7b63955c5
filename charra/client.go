package charra

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
)

// DefaultPort is CoAP's (CHARRA's attester listens there), Resource the
// attester's one resource, DefaultTimeout how long CHARRA's verifier
// waits.
const (
	DefaultPort    = "5683"
	Resource       = "/attest"
	DefaultTimeout = 30 * time.Second
	// maxResponse bounds the reassembled body: two whole logs.
	maxResponse = 2*MaxLog + 64<<10
)

// Address returns host:port for coap://HOST[:PORT] (or a bare HOST[:PORT]),
// with CoAP's port when none is given.
func Address(target string) (string, error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return "", errors.New("no attester address given")
	}
	if !strings.Contains(t, "://") {
		t = "coap://" + t
	}
	u, err := url.Parse(t)
	if err != nil {
		return "", fmt.Errorf("attester address %q: %w", target, err)
	}
	switch {
	case u.Scheme == "coaps":
		return "", fmt.Errorf("attester address %q: coaps (DTLS) is not supported yet; CHARRA's default is plain coap://", target)
	case u.Scheme != "coap":
		return "", fmt.Errorf("attester address %q: scheme %q, want coap://", target, u.Scheme)
	case u.Hostname() == "":
		return "", fmt.Errorf("attester address %q: no host", target)
	case u.Path != "" && u.Path != "/" && u.Path != Resource || u.RawQuery != "" || u.User != nil:
		return "", fmt.Errorf("attester address %q: give coap://HOST[:PORT]; the resource is always %s", target, Resource)
	}
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// AttesterError is an attester that cannot be asked: it cannot be reached,
// or it does not answer within the timeout (Timeout is set).
type AttesterError struct {
	Addr    string
	Timeout time.Duration
	Err     error
}

func (e *AttesterError) Error() string {
	if e.Timeout > 0 {
		return fmt.Sprintf("attester %s: no answer within %s (CHARRA's attester dies on a request it cannot handle and sends nothing: its log says why)", e.Addr, e.Timeout)
	}
	return fmt.Sprintf("attester %s: %v", e.Addr, e.Err)
}

func (e *AttesterError) Unwrap() error { return e.Err }

// Exchange is one request and what came back.
type Exchange struct {
	Addr    string
	Request *Request
	// RequestCBOR is the request's payload as sent.
	RequestCBOR []byte
	// Code is the response code, ContentFormat its Content-Format (-1:
	// none), Payload the reassembled body.
	Code          codes.Code
	ContentFormat int
	Payload       []byte
	Elapsed       time.Duration
}

// Attest sends req to the attester at addr (host:port) as CHARRA's
// verifier does, a confirmable FETCH /attest with Content-Format 60
// (libcoap refuses a FETCH without one), and reads the whole answer,
// block by block (Block2). timeout (0: DefaultTimeout) bounds the whole
// exchange: the attester may die and never answer.
func Attest(ctx context.Context, addr string, req *Request, timeout time.Duration) (*Exchange, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	body, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	ex := &Exchange{Addr: addr, Request: req, RequestCBOR: body, ContentFormat: -1}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := udp.Dial(addr,
		options.WithContext(ctx),
		options.WithDialer(&net.Dialer{Timeout: timeout}),
		options.WithMaxMessageSize(maxResponse),
		options.WithBlockwise(true, blockwise.SZX1024, timeout),
		options.WithErrors(func(error) {}),
	)
	if err != nil {
		return nil, &AttesterError{Addr: addr, Err: err}
	}
	defer conn.Close()
	resp, err := conn.Fetch(ctx, Resource, message.AppCBOR, bytes.NewReader(body))
	ex.Elapsed = time.Since(start)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &AttesterError{Addr: addr, Timeout: timeout, Err: err}
		}
		return nil, &AttesterError{Addr: addr, Err: err}
	}
	ex.Code = resp.Code()
	if cf, err := resp.ContentFormat(); err == nil {
		ex.ContentFormat = int(cf)
	}
	if resp.Body() != nil {
		if ex.Payload, err = resp.ReadBody(); err != nil {
			return nil, &AttesterError{Addr: addr, Err: fmt.Errorf("reading the response body: %w", err)}
		}
	}
	return ex, nil
}
