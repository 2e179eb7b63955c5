package webdriver

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The client against the real chromedriver: a script's value, a missing
// element as the W3C error, and a driver that cannot start.
func TestSession(t *testing.T) {
	if _, err := Start("/nonexistent/chromedriver"); err == nil || !strings.Contains(err.Error(), "chromedriver") {
		t.Errorf("Start of a missing driver: %v", err)
	}
	chromium, err1 := exec.LookPath("chromium")
	path, err2 := exec.LookPath("chromedriver")
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("%v: run make deps, which installs chromium and chromium-driver", err)
	}
	d, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	s, err := d.NewSession(Options{Binary: chromium, UserDataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Delete()
	if err := s.Navigate("data:text/html,<p id=p>hello</p>"); err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := s.Execute(`return arguments[0] + arguments[1]`, &sum, 2, 3); err != nil || sum != 5 {
		t.Errorf("Execute: %d, %v", sum, err)
	}
	p, err := s.Find("#p")
	if err != nil {
		t.Fatal(err)
	}
	if text, err := s.Text(p); err != nil || text != "hello" {
		t.Errorf("Text: %q, %v", text, err)
	}
	var werr *Error
	if _, err := s.Find("#absent"); !errors.As(err, &werr) || werr.Code != "no such element" {
		t.Errorf("Find of a missing element: %v", err)
	}
}
