package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goldenpcr/goldenpcr/corim"
)

// provisioningServer follows Veraison's provisioning contract
// (docs/corim.md, "Submitting"): the discovery document lists the media
// types of the active plugins; POST /endorsement-provisioning/v1/submit
// answers 401 without the credentials it requires, 400 for an empty body
// or a malformed media type, 415 with the accepted types in its Accept
// header for a media type no plugin takes, and otherwise a 200 whose
// provisioning session says success or failed with a failure-reason.
type provisioningServer struct {
	// discovered are the media types the discovery document lists;
	// accepted those the submit endpoint takes (a plugin listed but gone
	// inactive answers 415).
	discovered, accepted []string
	// user and password, when set, are required (basic auth); token is
	// the bearer token the OAuth2 endpoint hands out and then requires.
	user, password, token, clientID, clientSecret string
	// endpoint overrides the submit endpoint the discovery names.
	endpoint string
	// store refuses a CoRIM whose corim-id it already holds, as
	// Veraison's store refuses a duplicate key.
	mu     sync.Mutex
	stored map[string]bool
	posts  [][]byte
	types  []string
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
}

func session(w http.ResponseWriter, status, reason string) {
	w.Header().Set("Content-Type", "application/vnd.veraison.provisioning-session+json")
	body := map[string]any{"status": status, "expiry": time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}
	if reason != "" {
		body["failure-reason"] = reason
	}
	json.NewEncoder(w).Encode(body)
}

func (s *provisioningServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == corim.DiscoveryPath:
		endpoint := corim.SubmitPath
		if s.endpoint != "" {
			endpoint = s.endpoint
		}
		w.Header().Set("Content-Type", "application/vnd.veraison.discovery+json")
		json.NewEncoder(w).Encode(map[string]any{"media-types": s.discovered, "version": "test-0.0.2608", "service-state": "READY",
			"api-endpoints": map[string]string{"provisioning/submit": endpoint}})
	case r.Method == http.MethodPost && r.URL.Path == "/token":
		r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		if r.Form.Get("grant_type") != "password" || r.Form.Get("username") != s.user || r.Form.Get("password") != s.password ||
			id != s.clientID || secret != s.clientSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":300}`, s.token)
	case r.Method == http.MethodPost && r.URL.Path == corim.SubmitPath:
		s.submit(w, r)
	default:
		problem(w, http.StatusNotFound, "no such resource")
	}
}

func (s *provisioningServer) submit(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token:
		w.Header().Set("WWW-Authenticate", `Bearer realm="veraison"`)
		problem(w, http.StatusUnauthorized, "no valid bearer token")
		return
	case s.token == "" && s.user != "":
		if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.password {
			w.Header().Set("WWW-Authenticate", `Basic realm="veraison"`)
			problem(w, http.StatusUnauthorized, "wrong or missing credentials")
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	ct := r.Header.Get("Content-Type")
	if len(body) == 0 {
		problem(w, http.StatusBadRequest, "empty body")
		return
	}
	if _, _, err := mime.ParseMediaType(ct); err != nil {
		problem(w, http.StatusBadRequest, "malformed media type: "+err.Error())
		return
	}
	if !slices.ContainsFunc(s.accepted, func(mt string) bool { return corim.SameMediaType(mt, ct) }) {
		w.Header().Set("Accept", strings.Join(s.accepted, ", "))
		problem(w, http.StatusUnsupportedMediaType, "no active plugin found for "+ct)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts = append(s.posts, body)
	s.types = append(s.types, ct)
	d, err := corim.Decode(body)
	if err != nil {
		session(w, "failed", "decoding failed: "+err.Error())
		return
	}
	_, params, _ := mime.ParseMediaType(ct)
	if params["profile"] != d.Profile {
		session(w, "failed", fmt.Sprintf("profile %q in the media type, %q in the CoRIM", params["profile"], d.Profile))
		return
	}
	if s.stored[d.ID] {
		session(w, "failed", "store operation failed: key "+d.ID+" already exists")
		return
	}
	if s.stored == nil {
		s.stored = map[string]bool{}
	}
	s.stored[d.ID] = true
	session(w, "success", "")
}

// veraisonTypes are what v0.0.2608 lists for the TPM schemes.
var veraisonTypes = []string{
	`application/rim+cbor; profile="tag:github.com/parallaxsecond,2023-03-03:tpm"`,
	`application/rim+cose; profile="tag:github.com/parallaxsecond,2023-03-03:tpm"`,
	`application/rim+cbor; profile="https://enacttrust.com/veraison/1.0.0"`,
	`application/rim+cose; profile="https://enacttrust.com/veraison/1.0.0"`,
}

// startProvisioning serves s over HTTPS; ca.pem in dir is its
// certificate, the only root a client needs.
func startProvisioning(t *testing.T, dir string, s *provisioningServer) (string, string) {
	t.Helper()
	ts := httptest.NewUnstartedServer(s)
	// The TLS tests make handshakes fail on purpose: keep them quiet.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL, writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ts.Certificate().Raw)
}

// otherCA writes a self-signed CA certificate that signed nothing.
func otherCA(t *testing.T, dir string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "another CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, filepath.Join(dir, "other-ca.pem"), "CERTIFICATE", der)
}

// TestCorimSubmit submits the golden CoRIMs to a test server that follows
// the provisioning contract, through every answer it can give.
func TestCorimSubmit(t *testing.T) {
	dir := t.TempDir()
	srv := &provisioningServer{discovered: veraisonTypes, accepted: veraisonTypes}
	url, ca := startProvisioning(t, dir, srv)
	parsec, enact := corimData+"parsec-tpm.cbor", corimData+"enacttrust.cbor"
	legacy := corimData + "enacttrust-legacy.cbor"
	submit := func(args ...string) (int, string, string) {
		return run(t, append([]string{"corim", "submit"}, args...)...)
	}

	code, out, errs := submit(parsec, "--url", url, "--ca", ca)
	want, _ := os.ReadFile(parsec)
	if code != 0 || !strings.Contains(out, "provisioned "+parsec+" to "+url+": status success") || len(srv.posts) != 1 || !bytes.Equal(srv.posts[0], want) ||
		srv.types[0] != `application/rim+cbor; profile="tag:github.com/parallaxsecond,2023-03-03:tpm"` {
		t.Fatalf("success: exit %d %s%s; posted %d, types %v", code, out, errs, len(srv.posts), srv.types)
	}
	if !strings.Contains(out, "endpoint    "+url+corim.SubmitPath) || !strings.Contains(out, "version test-0.0.2608, READY; offers 4 media type(s)") {
		t.Errorf("success report:\n%s", out)
	}

	// The same CoRIM again: Veraison answers 200 with status failed.
	code, out, errs = submit(parsec, "--url", url, "--ca", ca, "-o", "json")
	var rep struct {
		Provisioned bool
		Status      string
		Reason      string
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err, out)
	}
	if code != exitMismatch || rep.Provisioned || rep.Status != "failed" || !strings.Contains(rep.Reason, "status failed): store operation failed: key") ||
		!strings.Contains(errs, "NOT provisioned") {
		t.Errorf("200 failed: exit %d %+v %s", code, rep, errs)
	}

	// The legacy profile is not offered: refused before anything is sent.
	posts := len(srv.posts)
	code, _, errs = submit(legacy, "--url", url, "--ca", ca)
	if code != exitMismatch || !strings.Contains(errs, `the verifier does not offer application/corim-unsigned+cbor; profile="http://enacttrust.com/veraison/1.0.0"`) ||
		!strings.Contains(errs, "the verifier accepts "+veraisonTypes[0]) || len(srv.posts) != posts {
		t.Errorf("not offered: exit %d %s (posts %d → %d)", code, errs, posts, len(srv.posts))
	}

	// Listed by the discovery, but its plugin is gone: 415 lists the types.
	srv.accepted = veraisonTypes[:2]
	code, _, errs = submit(enact, "--url", url, "--ca", ca)
	if code != exitMismatch || !strings.Contains(errs, "HTTP 415: unsupported media type") || !strings.Contains(errs, "no active plugin found for") ||
		!strings.Contains(errs, "the verifier accepts "+veraisonTypes[0]+", "+veraisonTypes[1]) {
		t.Errorf("415: exit %d %s", code, errs)
	}
	srv.accepted = veraisonTypes

	// A malformed media type: 400 with the problem's detail.
	badType := `application/rim+cbor; profile="https://enacttrust.com/veraison/1.0.0`
	srv.discovered = append(slices.Clone(veraisonTypes), badType)
	code, _, errs = submit(enact, "--url", url, "--ca", ca, "--media-type", badType)
	if code != exitUsage || !strings.Contains(errs, "media type") {
		t.Errorf("malformed --media-type: exit %d %s", code, errs)
	}
	srv.discovered = veraisonTypes

	// A media type whose profile is not the CoRIM's: the server refuses
	// it with status failed.
	code, _, errs = submit(enact, "--url", url, "--ca", ca, "--media-type", veraisonTypes[0])
	if code != exitMismatch || !strings.Contains(errs, "profile \"tag:github.com/parallaxsecond,2023-03-03:tpm\" in the media type") {
		t.Errorf("profile mismatch: exit %d %s", code, errs)
	}

	// TLS: a certificate not signed by --ca, or no --ca and so the
	// system's roots, is a clear error, exit 2, before anything is sent.
	posts = len(srv.posts)
	code, _, errs = submit(enact, "--url", url, "--ca", otherCA(t, dir))
	if code != exitUsage || !strings.Contains(errs, "does not chain to --ca "+filepath.Join(dir, "other-ca.pem")) || !strings.Contains(errs, "x509") {
		t.Errorf("other CA: exit %d %s", code, errs)
	}
	code, _, errs = submit(enact, "--url", url)
	if code != exitUsage || !strings.Contains(errs, "does not chain to the system's roots") {
		t.Errorf("system roots: exit %d %s", code, errs)
	}
	if len(srv.posts) != posts {
		t.Error("a CoRIM was sent over an untrusted connection")
	}

	// Usage.
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{enact, "--url", strings.Replace(url, "https", "http", 1)}, "never sent in clear text"},
		{[]string{enact}, "--url is required"},
		{[]string{corimBase, "--url", url, "--ca", ca}, "not a CoRIM"},
		{[]string{enact, "--url", url, "--ca", corimBase}, "no PEM certificate"},
		{[]string{enact, "--url", url, "--ca", ca, "--auth", "basic", "--username", "u"}, "--auth basic needs --password-file"},
		{[]string{enact, "--url", url, "--ca", ca, "--username", "u"}, "credentials given with --auth none"},
		{[]string{enact, "--url", url, "--ca", ca, "--auth", "kerberos"}, `--auth "kerberos"`},
	} {
		if code, _, errs := submit(tc.args...); code != exitUsage || !strings.Contains(errs, tc.says) {
			t.Errorf("%v: exit %d %s, want %q", tc.args, code, errs, tc.says)
		}
	}
}

// TestCorimSubmitAuth: basic auth and OAuth2 bearer tokens, refused
// without or with wrong credentials (exit 2, the 401 reported).
func TestCorimSubmitAuth(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	writeFile(t, pw, []byte("s3cret\n"))
	wrong := filepath.Join(dir, "wrong")
	writeFile(t, wrong, []byte("guess"))
	secret := filepath.Join(dir, "client-secret")
	writeFile(t, secret, []byte("client-s3cret"))
	enact := corimData + "enacttrust.cbor"

	srv := &provisioningServer{discovered: veraisonTypes, accepted: veraisonTypes, user: "provisioner", password: "s3cret"}
	url, ca := startProvisioning(t, dir, srv)
	code, _, errs := run(t, "corim", "submit", enact, "--url", url, "--ca", ca)
	if code != exitUsage || !strings.Contains(errs, "HTTP 401: Unauthorized: the verifier refused the credentials (wrong or missing credentials)") {
		t.Errorf("no credentials: exit %d %s", code, errs)
	}
	code, _, errs = run(t, "corim", "submit", enact, "--url", url, "--ca", ca, "--auth", "basic", "--username", "provisioner", "--password-file", wrong)
	if code != exitUsage || !strings.Contains(errs, "HTTP 401") {
		t.Errorf("wrong password: exit %d %s", code, errs)
	}
	code, out, errs := run(t, "corim", "submit", enact, "--url", url, "--ca", ca, "--auth", "basic", "--username", "provisioner", "--password-file", pw)
	if code != 0 || !strings.Contains(out, "status success") {
		t.Errorf("basic: exit %d %s%s", code, out, errs)
	}

	dir2 := t.TempDir()
	osrv := &provisioningServer{discovered: veraisonTypes, accepted: veraisonTypes, user: "provisioner", password: "s3cret",
		token: "tok-123", clientID: "goldenpcr", clientSecret: "client-s3cret"}
	ourl, oca := startProvisioning(t, dir2, osrv)
	oauth := []string{"corim", "submit", enact, "--url", ourl, "--ca", oca, "--auth", "oauth2", "--token-url", ourl + "/token",
		"--client-id", "goldenpcr", "--client-secret-file", secret, "--username", "provisioner"}
	code, out, errs = run(t, append(oauth, "--password-file", pw)...)
	if code != 0 || !strings.Contains(out, "status success") {
		t.Errorf("oauth2: exit %d %s%s", code, out, errs)
	}
	code, _, errs = run(t, append(oauth, "--password-file", wrong)...)
	if code != exitUsage || !strings.Contains(errs, "invalid_grant") {
		t.Errorf("oauth2 wrong password: exit %d %s", code, errs)
	}
	code, _, errs = run(t, "corim", "submit", enact, "--url", ourl, "--ca", oca)
	if code != exitUsage || !strings.Contains(errs, "HTTP 401") {
		t.Errorf("oauth2 server without a token: exit %d %s", code, errs)
	}
}

// TestCorimSubmitEndpoint: the discovery document names the submit
// endpoint; one off the --url origin is refused, the credentials never
// sent there.
func TestCorimSubmitEndpoint(t *testing.T) {
	dir := t.TempDir()
	srv := &provisioningServer{discovered: veraisonTypes, accepted: veraisonTypes, endpoint: "https://elsewhere.example/submit"}
	url, ca := startProvisioning(t, dir, srv)
	code, _, errs := run(t, "corim", "submit", corimData+"enacttrust.cbor", "--url", url, "--ca", ca)
	if code != exitUsage || !strings.Contains(errs, "off "+url) {
		t.Errorf("foreign endpoint: exit %d %s", code, errs)
	}
	srv.endpoint = "/nowhere"
	code, _, errs = run(t, "corim", "submit", corimData+"enacttrust.cbor", "--url", url, "--ca", ca)
	if code != exitUsage || !strings.Contains(errs, "HTTP 404") {
		t.Errorf("endpoint answering 404: exit %d %s", code, errs)
	}
}
