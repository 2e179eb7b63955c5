// Package webdriver drives headless Chromium through chromedriver over the
// W3C WebDriver HTTP protocol, so tests can load goldenpcr's pages (the
// diff report) in a real browser, click them, read their console and take
// screenshots. It speaks only the few commands those tests need.
package webdriver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// elementKey is the W3C name of an element reference in JSON.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// Driver is a running chromedriver.
type Driver struct {
	cmd    *exec.Cmd
	base   string
	client *http.Client
	log    *syncBuffer
	exited chan struct{}
}

// syncBuffer collects chromedriver's output for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs the chromedriver at path on a free loopback port and waits
// until it accepts sessions.
func Start(path string) (*Driver, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &Driver{
		base:   "http://127.0.0.1:" + strconv.Itoa(port),
		client: &http.Client{Timeout: 60 * time.Second},
		log:    &syncBuffer{},
		exited: make(chan struct{}),
	}
	// Without --allowed-ips chromedriver listens on loopback only.
	d.cmd = exec.Command(path, "--port="+strconv.Itoa(port))
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("chromedriver: %w", err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := d.call(http.MethodGet, "/status", nil, &st); err == nil && st.Ready {
			return d, nil
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("chromedriver exited at start: %s", strings.TrimSpace(d.log.String()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("chromedriver on port %d not ready after 20s: %s", port, strings.TrimSpace(d.log.String()))
		}
	}
}

// freePort is a loopback TCP port nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop ends chromedriver (and so any browser it still runs).
func (d *Driver) Stop() error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		return err
	}
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	return nil
}

// Error is an error a WebDriver command returned.
type Error struct {
	Command string
	Code    string // the W3C error code, e.g. "no such element"
	Message string
}

func (e *Error) Error() string {
	msg, _, _ := strings.Cut(e.Message, "\n")
	return fmt.Sprintf("webdriver %s: %s: %s", e.Command, e.Code, msg)
}

// call sends one command and decodes the response's value into out.
func (d *Driver) call(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("webdriver %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("webdriver %s %s: %w", method, path, err)
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("webdriver %s %s: HTTP %d, %q", method, path, resp.StatusCode, data)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		json.Unmarshal(env.Value, &e)
		return &Error{Command: method + " " + path, Code: e.Error, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Value, out)
}

// Options configure a new browser session.
type Options struct {
	// Binary is the browser, e.g. /usr/bin/chromium.
	Binary string
	// UserDataDir is the browser's profile directory, a fresh one per
	// session (the caller's temporary directory).
	UserDataDir string
	// Width and Height are the window size in CSS pixels.
	Width, Height int
}

// Session is one browser.
type Session struct {
	d  *Driver
	id string
}

// NewSession starts headless Chromium, recording every console message.
func (d *Driver) NewSession(o Options) (*Session, error) {
	if o.UserDataDir == "" {
		return nil, errors.New("webdriver: a session needs its own user data directory")
	}
	args := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + o.UserDataDir,
		// Nothing but the page: no first-run work, no background traffic.
		"--no-first-run", "--disable-background-networking", "--disable-extensions", "--disable-sync"}
	if o.Width > 0 && o.Height > 0 {
		args = append(args, fmt.Sprintf("--window-size=%d,%d", o.Width, o.Height))
	}
	chrome := map[string]any{"args": args}
	if o.Binary != "" {
		chrome["binary"] = o.Binary
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"goog:chromeOptions": chrome,
		"goog:loggingPrefs":  map[string]string{"browser": "ALL"},
	}}}
	var resp struct {
		SessionID string `json:"sessionId"`
	}
	if err := d.call(http.MethodPost, "/session", caps, &resp); err != nil {
		return nil, err
	}
	if resp.SessionID == "" {
		return nil, errors.New("webdriver: new session: no session id")
	}
	return &Session{d: d, id: resp.SessionID}, nil
}

func (s *Session) call(method, path string, body, out any) error {
	return s.d.call(method, "/session/"+s.id+path, body, out)
}

// Delete ends the session and its browser.
func (s *Session) Delete() error {
	return s.call(http.MethodDelete, "", nil, nil)
}

// Navigate loads url and waits for it to load.
func (s *Session) Navigate(url string) error {
	return s.call(http.MethodPost, "/url", map[string]string{"url": url}, nil)
}

// Element is a reference to an element of the current page.
type Element string

// Find returns the first element matching a CSS selector.
func (s *Session) Find(css string) (Element, error) {
	var ref map[string]string
	if err := s.call(http.MethodPost, "/element", map[string]string{"using": "css selector", "value": css}, &ref); err != nil {
		return "", err
	}
	return Element(ref[elementKey]), nil
}

// FindAll returns every element matching a CSS selector, in document
// order.
func (s *Session) FindAll(css string) ([]Element, error) {
	var refs []map[string]string
	if err := s.call(http.MethodPost, "/elements", map[string]string{"using": "css selector", "value": css}, &refs); err != nil {
		return nil, err
	}
	out := make([]Element, len(refs))
	for i, r := range refs {
		out[i] = Element(r[elementKey])
	}
	return out, nil
}

// Click scrolls e into view and clicks it as a user would.
func (s *Session) Click(e Element) error {
	return s.call(http.MethodPost, "/element/"+string(e)+"/click", map[string]any{}, nil)
}

// SendKeys types text into e; WebDriver's private-use characters are
// keys (ArrowDown is "\ue015").
func (s *Session) SendKeys(e Element, text string) error {
	return s.call(http.MethodPost, "/element/"+string(e)+"/value", map[string]string{"text": text}, nil)
}

// Text is e's rendered text.
func (s *Session) Text(e Element) (string, error) {
	var t string
	err := s.call(http.MethodGet, "/element/"+string(e)+"/text", nil, &t)
	return t, err
}

// Attribute is e's attribute name, and whether it has it.
func (s *Session) Attribute(e Element, name string) (string, bool, error) {
	var v *string
	if err := s.call(http.MethodGet, "/element/"+string(e)+"/attribute/"+name, nil, &v); err != nil {
		return "", false, err
	}
	if v == nil {
		return "", false, nil
	}
	return *v, true, nil
}

// Execute runs script in the page (a function body; args are its
// arguments) and decodes what it returns into out.
func (s *Session) Execute(script string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return s.call(http.MethodPost, "/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// LogEntry is one message of the browser's console.
type LogEntry struct {
	Level   string `json:"level"` // SEVERE, WARNING, INFO…
	Source  string `json:"source"`
	Message string `json:"message"`
}

// BrowserLog returns the console messages since the last call.
// chromedriver serves the legacy log command as POST .../se/log.
func (s *Session) BrowserLog() ([]LogEntry, error) {
	var out []LogEntry
	err := s.call(http.MethodPost, "/se/log", map[string]string{"type": "browser"}, &out)
	return out, err
}

// Screenshot is the viewport as PNG.
func (s *Session) Screenshot() ([]byte, error) {
	var b64 string
	if err := s.call(http.MethodGet, "/screenshot", nil, &b64); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(b64)
}

// SetWindowSize resizes the browser window (outer size, in CSS pixels).
func (s *Session) SetWindowSize(width, height int) error {
	return s.call(http.MethodPost, "/window/rect", map[string]int{"width": width, "height": height}, nil)
}

// SetViewport resizes the window so that the page's viewport is width by
// height: a headless window's frame still takes some of its size.
func (s *Session) SetViewport(width, height int) error {
	var inner struct{ W, H int }
	if err := s.Execute(`return {W: window.innerWidth, H: window.innerHeight}`, &inner); err != nil {
		return err
	}
	var outer struct{ W, H int }
	if err := s.Execute(`return {W: window.outerWidth, H: window.outerHeight}`, &outer); err != nil {
		return err
	}
	return s.SetWindowSize(width+outer.W-inner.W, height+outer.H-inner.H)
}
