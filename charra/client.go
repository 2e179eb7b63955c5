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

	piondtls "github.com/pion/dtls/v3"
	coapdtls "github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// DefaultPort is CoAP's (CHARRA's attester listens there), DefaultDTLSPort
// CoAP over DTLS's, Resource the attester's one resource, DefaultTimeout
// how long CHARRA's verifier waits.
const (
	DefaultPort     = "5683"
	DefaultDTLSPort = "5684"
	Resource        = "/attest"
	DefaultTimeout  = 30 * time.Second
	// maxResponse bounds the reassembled body: two whole logs.
	maxResponse = 2*MaxLog + 64<<10
)

// Target is an attester to ask: its host:port, and for coaps:// the DTLS
// pre-shared key.
type Target struct {
	Addr string
	// DTLS says the attester speaks CoAP over DTLS (coaps://).
	DTLS bool
	// PSK is the pre-shared key for DTLS; it must be set exactly when
	// DTLS is.
	PSK *PSK
}

// PSK is a DTLS pre-shared key as CHARRA's tinydtls uses it: cipher suite
// TLS_PSK_WITH_AES_128_CCM_8, the key the bytes of its configuration
// value (CHARRA ships "CHARRA DTLS Key"), the identity its verifier sends
// ("CHARRA Verifier"). CHARRA's raw-public-key mode is not supported.
type PSK struct {
	Identity, Key []byte
}

// DefaultPSKIdentity is the identity CHARRA's verifier sends.
const DefaultPSKIdentity = "CHARRA Verifier"

// ParseTarget reads coap://HOST[:PORT], coaps://HOST[:PORT] or a bare
// HOST[:PORT] (plain CoAP), with the scheme's port when none is given.
func ParseTarget(target string) (Target, error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return Target{}, errors.New("no attester address given")
	}
	if !strings.Contains(t, "://") {
		t = "coap://" + t
	}
	u, err := url.Parse(t)
	if err != nil {
		return Target{}, fmt.Errorf("attester address %q: %w", target, err)
	}
	switch {
	case u.Scheme != "coap" && u.Scheme != "coaps":
		return Target{}, fmt.Errorf("attester address %q: scheme %q, want coap:// or coaps://", target, u.Scheme)
	case u.Hostname() == "":
		return Target{}, fmt.Errorf("attester address %q: no host", target)
	case u.Path != "" && u.Path != "/" && u.Path != Resource || u.RawQuery != "" || u.User != nil:
		return Target{}, fmt.Errorf("attester address %q: give coap://HOST[:PORT]; the resource is always %s", target, Resource)
	}
	tg := Target{DTLS: u.Scheme == "coaps"}
	port := u.Port()
	switch {
	case port == "" && tg.DTLS:
		port = DefaultDTLSPort
	case port == "":
		port = DefaultPort
	}
	tg.Addr = net.JoinHostPort(u.Hostname(), port)
	return tg, nil
}

// dtlsConfig is CHARRA's DTLS: PSK, TLS_PSK_WITH_AES_128_CCM_8 alone.
func (p *PSK) dtlsConfig(server bool) *piondtls.Config {
	cfg := &piondtls.Config{
		PSK:          func([]byte) ([]byte, error) { return p.Key, nil },
		CipherSuites: []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_CCM_8},
	}
	if !server {
		cfg.PSKIdentityHint = p.Identity // a client's hint is the identity it sends
	}
	return cfg
}

// DTLSServerConfig is the DTLS configuration an attester with this key
// serves, with CHARRA's identity hint. For test attesters.
func (p *PSK) DTLSServerConfig() *piondtls.Config {
	cfg := p.dtlsConfig(true)
	cfg.PSKIdentityHint = []byte("CHARRA Attester")
	return cfg
}

// AttesterError is an attester that cannot be asked: it cannot be reached,
// or it does not answer within the timeout (Timeout is set).
type AttesterError struct {
	Addr    string
	Timeout time.Duration
	// Handshake: the DTLS handshake did not complete.
	Handshake bool
	Err       error
}

func (e *AttesterError) Error() string {
	if e.Handshake && e.Timeout > 0 {
		return fmt.Sprintf("attester %s: no DTLS handshake within %s: the pre-shared key or identity is not the attester's, or it does not speak DTLS there", e.Addr, e.Timeout)
	}
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

// Attest sends req to the attester as CHARRA's verifier does, a
// confirmable FETCH /attest with Content-Format 60 (libcoap refuses a
// FETCH without one), and reads the whole answer, block by block (Block2);
// over DTLS when the target says so, the handshake done first. timeout
// (0: DefaultTimeout) bounds the whole exchange, handshake included: the
// attester may die and never answer.
func Attest(ctx context.Context, target Target, req *Request, timeout time.Duration) (*Exchange, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	addr := target.Addr
	switch {
	case target.DTLS && target.PSK == nil:
		return nil, fmt.Errorf("attester %s: coaps (DTLS) needs a pre-shared key", addr)
	case !target.DTLS && target.PSK != nil:
		return nil, fmt.Errorf("attester %s: a DTLS pre-shared key goes with coaps://, not plain coap://", addr)
	case target.PSK != nil && len(target.PSK.Key) == 0:
		return nil, fmt.Errorf("attester %s: the DTLS pre-shared key is empty", addr)
	}
	body, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	ex := &Exchange{Addr: addr, Request: req, RequestCBOR: body, ContentFormat: -1}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	timedOut := func(err error) *AttesterError {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &AttesterError{Addr: addr, Timeout: timeout, Err: err}
		}
		return &AttesterError{Addr: addr, Err: err}
	}
	opts := []udp.Option{
		options.WithContext(ctx),
		options.WithMaxMessageSize(maxResponse),
		options.WithBlockwise(true, blockwise.SZX1024, timeout),
		options.WithErrors(func(error) {}),
	}
	var conn *udpclient.Conn
	if target.DTLS {
		conn, err = dialDTLS(ctx, addr, target.PSK, opts)
		if err != nil {
			ae := timedOut(err)
			ae.Handshake = true
			return nil, ae
		}
	} else {
		conn, err = udp.Dial(addr, append(opts, options.WithDialer(&net.Dialer{Timeout: timeout}))...)
		if err != nil {
			return nil, &AttesterError{Addr: addr, Err: err}
		}
	}
	defer conn.Close()
	resp, err := conn.Fetch(ctx, Resource, message.AppCBOR, bytes.NewReader(body))
	ex.Elapsed = time.Since(start)
	if err != nil {
		return nil, timedOut(err)
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

// dialDTLS does the DTLS handshake within ctx, so a silent attester or a
// wrong key fails in time and by name, then speaks CoAP over it.
func dialDTLS(ctx context.Context, addr string, psk *PSK, opts []udp.Option) (*udpclient.Conn, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, err
	}
	dc, err := piondtls.Client(pc, raddr, psk.dtlsConfig(false)) //nolint:staticcheck // the Config form keeps the PSK callback in one place
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("DTLS: %w", err)
	}
	if err := dc.HandshakeContext(ctx); err != nil {
		dc.Close()
		pc.Close()
		return nil, fmt.Errorf("DTLS handshake (PSK identity %q): %w", psk.Identity, err)
	}
	return coapdtls.Client(dc, append(opts, options.WithCloseSocket())...), nil
}
