package diff_test

import (
	"bytes"
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/goldenpcr/goldenpcr/diff"
	"github.com/goldenpcr/goldenpcr/eventlog"
	"github.com/goldenpcr/goldenpcr/internal/celtest"
)

// Hostile strings a log can carry in an event: each would run a script if
// the page put it in unescaped.
var hostile = []string{
	`</script><script>document.title='pwned'</script>`,
	`<img src=x onerror=document.title='pwned'>`,
}

// HostileReport compares two systemd logs whose PCR 11 phases differ by
// strings that are markup, so a test can render it.
func hostileReport(t *testing.T) *diff.Report {
	t.Helper()
	side := func(name string, phases ...string) *diff.Side {
		l, err := eventlog.ReadLog(bytes.NewReader(celtest.SystemdLog(celtest.Phases(phases...))))
		if err != nil {
			t.Fatal(err)
		}
		l.Name = name
		s, err := diff.FromLogs(name, []*eventlog.Log{l})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := side(hostile[1], "enter-initrd", hostile[1], "ready")
	act := side("actual.log", "enter-initrd", hostile[0], "ready")
	r, err := diff.Compare(exp, act, diff.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Differs {
		t.Fatal("the logs do not differ")
	}
	return r
}

// Event data and names from logs reach the page only escaped: the page
// has its own two script elements and no other markup from the logs, and
// the report the script reads still holds the strings as they were.
func TestHTMLEscapesLogData(t *testing.T) {
	var b bytes.Buffer
	if err := diff.WriteHTML(&b, hostileReport(t)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if n := strings.Count(strings.ToLower(page), "<script"); n != 2 {
		t.Errorf("%d <script elements, want the page's 2", n)
	}
	for _, bad := range []string{"<img", "pwned'</script>"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	m := regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no report data element")
	}
	// The fields the page's script reads (Decoded is an interface).
	var r struct {
		Expected struct{ Name string }
		PCRs     []struct {
			Steps []struct{ Actual *struct{ Summary string } }
		}
	}
	if err := json.Unmarshal([]byte(m[1]), &r); err != nil {
		t.Fatalf("report data: %v", err)
	}
	var summaries []string
	for _, p := range r.PCRs {
		for _, s := range p.Steps {
			if s.Actual != nil {
				summaries = append(summaries, s.Actual.Summary)
			}
		}
	}
	if r.Expected.Name != hostile[1] || !strings.Contains(strings.Join(summaries, "\n"), hostile[0]) {
		t.Errorf("the report data lost the strings: %q, %q", r.Expected.Name, summaries)
	}
	if !strings.Contains(page, "&lt;/script&gt;&lt;script&gt;") {
		t.Error("the timeline does not show the summary as text")
	}
}

// The policy allows exactly the page's style and script, by hash: a page
// whose hashes are stale would run without its script.
func TestHTMLPolicy(t *testing.T) {
	var b bytes.Buffer
	if err := diff.WriteHTML(&b, hostileReport(t)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	csp := regexp.MustCompile(`http-equiv="Content-Security-Policy" content="([^"]*)"`).FindStringSubmatch(page)
	if csp == nil {
		t.Fatal("no Content-Security-Policy")
	}
	policy := html.UnescapeString(csp[1])
	if !strings.HasPrefix(policy, "default-src 'none';") || strings.Contains(policy, "unsafe") {
		t.Errorf("policy %q", policy)
	}
	for _, kind := range []string{"script", "style"} {
		if !regexp.MustCompile(kind + `-src 'sha256-[A-Za-z0-9+/]{43}='`).MatchString(policy) {
			t.Errorf("policy %q has no %s hash", policy, kind)
		}
	}
}
