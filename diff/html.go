package diff

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
)

//go:embed html/report.tmpl html/report.css html/report.js
var htmlFiles embed.FS

var (
	reportTmpl = template.Must(template.New("report.tmpl").ParseFS(htmlFiles, "html/report.tmpl"))
	reportCSS  = mustRead("html/report.css")
	reportJS   = mustRead("html/report.js")
	// The page's one style and one script are fixed when goldenpcr is
	// built, so the policy allows exactly them by hash: were escaping ever
	// to fail, an inline script or style injected from a log would still
	// not run ('unsafe-inline' would let it). default-src 'none' forbids
	// every load, network or file.
	reportCSP = fmt.Sprintf("default-src 'none'; script-src '%s'; style-src '%s'; base-uri 'none'; form-action 'none'",
		cspHash(reportJS), cspHash(reportCSS))
)

func mustRead(name string) string {
	b, err := htmlFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// cspHash is a CSP source expression for an inline element's content.
func cspHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}

// htmlPage is what the template renders.
type htmlPage struct {
	R *Report
	// Differing counts the PCRs that differ.
	Differing int
	CSP       string
	CSS       template.CSS
	JS        template.JS
	// Data is the report as JSON for the script, which builds the details
	// panel from it. encoding/json writes <, > and & in strings as \u003c,
	// \u003e and \u0026 (and U+2028/9 escaped), so nothing in it can end
	// its <script> element: it is inserted as is, rather than marshalled a
	// second time by the template's JS escaper (half the page's cost).
	Data template.JS
}

// WriteHTML writes r as one self-contained HTML page: a timeline of each
// PCR's extends, the differences coloured, the first divergence marked,
// and a panel with both sides of the event a reader selects, decoded. The
// page loads nothing: its style and script are inline, and its
// Content-Security-Policy forbids every other source.
func WriteHTML(w io.Writer, r *Report) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	p := htmlPage{R: r, CSP: reportCSP, CSS: template.CSS(reportCSS), JS: template.JS(reportJS), Data: template.JS(data)}
	for _, d := range r.PCRs {
		if !d.Same {
			p.Differing++
		}
	}
	// Render whole before writing, so a failure leaves no half page.
	var b bytes.Buffer
	if err := reportTmpl.Execute(&b, p); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}
