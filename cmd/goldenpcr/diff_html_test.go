package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/internal/atomicfile"
	"github.com/goldenpcr/goldenpcr/internal/celtest"
	"github.com/goldenpcr/goldenpcr/internal/webdriver"
)

// A dbx update, among other changes: the bundled Ubuntu 21.04 logs.
const (
	reportExpected = "../../fixtures/tcg/ubuntu-2104-no-dbx.bin"
	reportActual   = "../../fixtures/tcg/ubuntu-2104-no-secure-boot.bin"
)

// Screenshot size: the README's image (make report-demo).
const shotWidth, shotHeight = 1280, 900

// browser starts chromedriver and a headless Chromium session, ended when
// the test is.
func browser(t *testing.T) *webdriver.Session {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): run make deps, which installs chromium and chromium-driver", err)
	}
	driverPath, err := exec.LookPath("chromedriver")
	if err != nil {
		t.Fatalf("chromedriver not found (%v): run make deps, which installs chromium and chromium-driver", err)
	}
	d, err := webdriver.Start(driverPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	s, err := d.NewSession(webdriver.Options{Binary: chromium, UserDataDir: t.TempDir(), Width: shotWidth, Height: shotHeight})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Delete(); err != nil {
			t.Errorf("delete session: %v", err)
		}
	})
	return s
}

// noConsoleErrors fails on any error the page logged: a script error, a
// resource the CSP refused, a failed load.
func noConsoleErrors(t *testing.T, s *webdriver.Session) {
	t.Helper()
	logs, err := s.BrowserLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if l.Level == "SEVERE" || l.Source == "javascript" || strings.Contains(l.Message, "Content Security Policy") {
			t.Errorf("console: %s %s: %s", l.Level, l.Source, l.Message)
		}
	}
}

// openPage loads a page and checks it loaded nothing else.
func openPage(t *testing.T, s *webdriver.Session, page string) {
	t.Helper()
	if err := s.Navigate((&url.URL{Scheme: "file", Path: page}).String()); err != nil {
		t.Fatal(err)
	}
	var loads int
	if err := s.Execute(`return performance.getEntriesByType('resource').length`, &loads); err != nil {
		t.Fatal(err)
	}
	if loads != 0 {
		t.Errorf("the page loaded %d resources; it must load none", loads)
	}
}

// words collapses white space, as the browser renders text.
func words(s string) string { return strings.Join(strings.Fields(s), " ") }

// clickAndRead clicks a step and returns the details panel's text.
func clickAndRead(t *testing.T, s *webdriver.Session, step webdriver.Element) string {
	t.Helper()
	if err := s.Click(step); err != nil {
		t.Fatal(err)
	}
	panel, err := s.Find("#details")
	if err != nil {
		t.Fatal(err)
	}
	text, err := s.Text(panel)
	if err != nil {
		t.Fatal(err)
	}
	if pressed, _, err := s.Attribute(step, "aria-pressed"); err != nil || pressed != "true" {
		t.Errorf("the clicked step is not marked selected: aria-pressed %q, %v", pressed, err)
	}
	return words(text)
}

// The report of a real comparison, opened in headless Chromium with
// JavaScript on: every PCR's first divergence, clicked, shows both sides
// and its hints in the details panel; arrow keys walk the timeline; the
// console stays clean. GOLDENPCR_REPORT_SCREENSHOT=FILE saves the
// screenshot (make report-demo: docs/diff-report.png).
func TestDiffHTMLInChromium(t *testing.T) {
	page := filepath.Join(t.TempDir(), "report.html")
	code, out, errs := run(t, "diff", reportExpected, reportActual, "--html", page, "-o", "json")
	if code != exitMismatch {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		PCRs []struct {
			Index int `json:"pcr"`
			First int `json:"first_divergence"`
			Steps []struct {
				Expected, Actual *struct{ Summary string }
				Hints            []struct{ Cause, Detail string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v", err)
	}
	var want []string // each first divergence's summary and first hint
	for _, p := range rep.PCRs {
		if p.First < 0 {
			continue
		}
		st := p.Steps[p.First]
		e := st.Actual
		if e == nil {
			e = st.Expected
		}
		w := words(e.Summary)
		if len(st.Hints) > 0 {
			w += "\x00" + words(st.Hints[0].Cause+": "+st.Hints[0].Detail)
		}
		want = append(want, w)
	}

	s := browser(t)
	openPage(t, s, page)
	firsts, err := s.FindAll("button.step.first")
	if err != nil {
		t.Fatal(err)
	}
	if len(firsts) != len(want) || len(want) == 0 {
		t.Fatalf("%d first-divergence steps on the page, the report has %d", len(firsts), len(want))
	}
	var dbx webdriver.Element
	for i, b := range firsts {
		text := clickAndRead(t, s, b)
		for _, w := range strings.Split(want[i], "\x00") {
			if !strings.Contains(text, w) {
				t.Errorf("first divergence %d: the details lack %q:\n%s", i, w, text)
			}
		}
		if strings.Contains(text, "dbx update") {
			dbx = b
		}
	}
	if dbx == "" {
		t.Fatal("no first divergence shows the dbx update")
	}
	text := clickAndRead(t, s, dbx)
	for _, w := range []string{"PCR 7", "first divergence", "expected", "dbx = empty", "actual", "dbx = 4 signature list(s), 186 entries", "sha256", "decoded", "Canonical Ltd. Secure Boot Signing"} {
		if !strings.Contains(text, w) {
			t.Errorf("PCR 7's dbx step: the details lack %q", w)
		}
	}
	// Down from the dbx step: the next event of PCR 7's timeline.
	if err := s.SendKeys(dbx, "\ue015"); err != nil {
		t.Fatal(err)
	}
	var heading string
	if err := s.Execute(`return document.querySelector('#details h2').textContent`, &heading); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(heading, "PCR 7, event 6 of") {
		t.Errorf("after ArrowDown the details show %q", heading)
	}
	clickAndRead(t, s, dbx)
	noConsoleErrors(t, s)

	// The dbx step's section at the top, the panel beside it.
	if err := s.SetViewport(shotWidth, shotHeight); err != nil {
		t.Fatal(err)
	}
	if err := s.Execute(`document.getElementById('pcr-7').scrollIntoView()`, nil); err != nil {
		t.Fatal(err)
	}
	shot, err := s.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != shotWidth || b.Dy() != shotHeight {
		t.Errorf("screenshot is %v", b)
	}
	if dst := os.Getenv("GOLDENPCR_REPORT_SCREENSHOT"); dst != "" {
		if err := atomicfile.Write(dst, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", dst, len(shot))
	}
}

// A log's events are text on the page, never markup: summaries and a log
// named like script and image tags show as written, run nothing, and the
// console stays clean.
func TestDiffHTMLHostileLogInChromium(t *testing.T) {
	dir := t.TempDir()
	tags := []string{`</script><script>document.title='pwned'</script>`, `<img src=x onerror=document.title='pwned'>`}
	exp := filepath.Join(dir, tags[1]+".log")
	act := filepath.Join(dir, "actual.log")
	os.WriteFile(exp, celtest.SystemdLog(celtest.Phases("enter-initrd", tags[1], "ready")), 0o644)
	os.WriteFile(act, celtest.SystemdLog(celtest.Phases("enter-initrd", tags[0], "ready")), 0o644)
	page := filepath.Join(dir, "report.html")
	if code, _, errs := run(t, "diff", exp, act, "--html", page); code != exitMismatch {
		t.Fatalf("exit %d: %s", code, errs)
	}

	s := browser(t)
	openPage(t, s, page)
	step, err := s.Find("button.step.first")
	if err != nil {
		t.Fatal(err)
	}
	text := clickAndRead(t, s, step)
	for _, w := range tags {
		if !strings.Contains(text, w) {
			t.Errorf("the details do not show %q as text:\n%s", w, text)
		}
	}
	var got struct {
		Title   string `json:"title"`
		Scripts int    `json:"scripts"`
		Images  int    `json:"images"`
	}
	if err := s.Execute(`return {title: document.title, scripts: document.scripts.length, images: document.images.length}`, &got); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got.Title, "pwned") && !strings.Contains(got.Title, tags[1]) || got.Scripts != 2 || got.Images != 0 {
		t.Errorf("log data became markup: %+v", got)
	}
	noConsoleErrors(t, s)
}

// --html writes atomically and never over an input or a link.
func TestDiffHTMLOutputSafety(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "actual.bin")
	data, err := os.ReadFile(reportActual)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(input, data, 0o644)
	link := filepath.Join(dir, "link.html")
	os.Symlink(filepath.Join(dir, "elsewhere.html"), link)
	for _, dst := range []string{input, link, dir, "-"} {
		code, _, errs := run(t, "diff", reportExpected, input, "--html", dst)
		if code != exitUsage || !strings.Contains(errs, "--html: ") {
			t.Errorf("--html %s: exit %d, %s", dst, code, errs)
		}
	}
	if got, _ := os.ReadFile(input); !bytes.Equal(got, data) {
		t.Error("--html overwrote its input")
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere.html")); err == nil {
		t.Error("--html wrote through a link")
	}
	// Same logs: exit 0, and the page says so.
	page := filepath.Join(dir, "same.html")
	if code, _, errs := run(t, "diff", reportExpected, reportExpected, "--html", page); code != exitOK {
		t.Fatalf("same logs: exit %d, %s", code, errs)
	}
	if got, _ := os.ReadFile(page); !strings.Contains(string(got), "every PCR is as expected") {
		t.Errorf("the page of equal logs does not say so")
	}
}
