package corim

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/veraison/apiclient/common"
	"github.com/veraison/apiclient/provisioning"
	"github.com/veraison/apiclient/verification"
)

// Veraison's provisioning API (docs/corim.md, "Submitting").
const (
	DiscoveryPath = "/.well-known/veraison/provisioning"
	SubmitPath    = "/endorsement-provisioning/v1/submit"
	// submitEndpoint is the discovery document's name for SubmitPath.
	submitEndpoint     = "provisioning/submit"
	discoveryMediaType = "application/vnd.veraison.discovery+json"
	sessionMediaType   = "application/vnd.veraison.provisioning-session+json"
	problemMediaType   = "application/problem+json"
	// maxAnswer bounds what is read of any answer: the documents are a
	// few hundred bytes.
	maxAnswer = 1 << 20
)

// Provisioner reaches a Veraison provisioning service: Base is its URL
// (https://host:port), Client the apiclient client that carries the TLS
// configuration and the authenticator.
type Provisioner struct {
	Base   *url.URL
	Client *common.Client
}

// Submission is what happened to a submitted CoRIM.
type Submission struct {
	MediaType string `json:"media_type" yaml:"media_type"`
	// Endpoint is the submit URL the discovery document named.
	Endpoint string `json:"endpoint" yaml:"endpoint"`
	// Offered are the media types the discovery document lists.
	Offered      []string `json:"offered" yaml:"offered"`
	Version      string   `json:"verifier_version,omitempty" yaml:"verifier_version,omitempty"`
	ServiceState string   `json:"service_state,omitempty" yaml:"service_state,omitempty"`
	// Status is the provisioning session's status: "success".
	Status string `json:"status" yaml:"status"`
}

// SubmitError is a submission that did not succeed. Rejected means the
// verifier answered and refused the CoRIM (its media type is not offered,
// 415, 400, or a 200 whose session status is "failed"); otherwise it
// could not be reached, did not accept the credentials, or answered
// outside the contract.
type SubmitError struct {
	// Stage is "discovery" or "submit".
	Stage string
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Reason is Veraison's reason (a session's failure-reason, a problem's
	// detail) or what went wrong.
	Reason string
	// Accepted are the media types a 415 answer lists, or those the
	// discovery document offers when the CoRIM's is not among them.
	Accepted []string
	Rejected bool
	// Err is the transport error, when there was no answer.
	Err error
}

func (e *SubmitError) Error() string {
	s := e.Stage
	if e.Status != 0 {
		s += fmt.Sprintf(": HTTP %d", e.Status)
	}
	s += ": " + e.Reason
	if len(e.Accepted) > 0 {
		s += "; the verifier accepts " + strings.Join(e.Accepted, ", ")
	}
	return s
}

func (e *SubmitError) Unwrap() error { return e.Err }

// Discovery is the provisioning discovery document.
type Discovery = verification.DiscoveryObject

// ParseDiscovery reads a discovery document: a JSON object whose
// media-types are each a valid media type.
func ParseDiscovery(data []byte) (*Discovery, error) {
	var d Discovery
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("not a discovery document: %w", err)
	}
	for _, mt := range d.MediaTypes {
		if _, _, err := mime.ParseMediaType(mt); err != nil {
			return nil, fmt.Errorf("media type %q: %w", mt, err)
		}
	}
	return &d, nil
}

// ParseSession reads a provisioning session: status success, failed
// (with its failure-reason) or processing.
func ParseSession(data []byte) (*provisioning.SubmitSession, error) {
	var s provisioning.SubmitSession
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("not a provisioning session: %w", err)
	}
	switch s.Status {
	case common.APIStatusSuccess, common.APIStatusFailed, common.APIStatusProcessing:
		return &s, nil
	}
	return nil, fmt.Errorf("provisioning session status %q: want success, failed or processing", s.Status)
}

// SameMediaType reports whether two media types are the same: equal
// types (case-insensitive) and equal parameters, the profile exactly.
func SameMediaType(a, b string) bool {
	ta, pa, err := mime.ParseMediaType(a)
	if err != nil {
		return false
	}
	tb, pb, err := mime.ParseMediaType(b)
	if err != nil || ta != tb || len(pa) != len(pb) {
		return false
	}
	for k, v := range pa {
		if w, ok := pb[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Submit provisions a CoRIM: it reads the discovery document first,
// refuses a media type the verifier does not offer, and posts the CoRIM
// to the submit endpoint the document names (on the same origin), then
// reads the session the verifier answers with. Anything but a session
// with status success is a *SubmitError.
func (p *Provisioner) Submit(data []byte, mediaType string) (*Submission, error) {
	if _, _, err := mime.ParseMediaType(mediaType); err != nil {
		return nil, fmt.Errorf("media type %q: %w", mediaType, err)
	}
	disc, err := p.discover()
	if err != nil {
		return nil, err
	}
	sub := &Submission{MediaType: mediaType, Offered: disc.MediaTypes, Version: disc.Version, ServiceState: disc.ServiceState}
	if sub.Offered == nil {
		sub.Offered = []string{}
	}
	if !slices.ContainsFunc(disc.MediaTypes, func(mt string) bool { return SameMediaType(mt, mediaType) }) {
		return sub, &SubmitError{Stage: "discovery", Rejected: true, Accepted: disc.MediaTypes,
			Reason: fmt.Sprintf("the verifier does not offer %s, so it has no plugin for this CoRIM (nothing was submitted)", mediaType)}
	}
	endpoint, err := p.endpoint(disc)
	if err != nil {
		return sub, err
	}
	sub.Endpoint = endpoint
	res, err := p.Client.PostResource(data, mediaType, sessionMediaType, endpoint)
	if err != nil {
		return sub, &SubmitError{Stage: "submit", Reason: err.Error(), Err: err}
	}
	body, err := readAnswer(res)
	if err != nil {
		return sub, &SubmitError{Stage: "submit", Status: res.StatusCode, Reason: err.Error(), Err: err}
	}
	switch res.StatusCode {
	case http.StatusOK:
		if ct := res.Header.Get("Content-Type"); !SameMediaType(ct, sessionMediaType) {
			return sub, &SubmitError{Stage: "submit", Status: res.StatusCode, Reason: fmt.Sprintf("the answer is %q, not a provisioning session (%s)", ct, sessionMediaType)}
		}
		s, err := ParseSession(body)
		if err != nil {
			return sub, &SubmitError{Stage: "submit", Status: res.StatusCode, Reason: err.Error()}
		}
		sub.Status = s.Status
		switch s.Status {
		case common.APIStatusSuccess:
			return sub, nil
		case common.APIStatusFailed:
			reason := "no failure-reason given"
			if s.FailureReason != nil {
				reason = *s.FailureReason
			}
			return sub, &SubmitError{Stage: "submit", Status: res.StatusCode, Rejected: true, Reason: "the verifier refused the CoRIM (status failed): " + reason}
		}
		return sub, &SubmitError{Stage: "submit", Status: res.StatusCode, Reason: fmt.Sprintf("session status %q in a 200 answer: Veraison answers synchronously, with success or failed", s.Status)}
	case http.StatusUnsupportedMediaType:
		return sub, &SubmitError{Stage: "submit", Status: res.StatusCode, Rejected: true, Accepted: acceptList(res.Header.Values("Accept")),
			Reason: "unsupported media type " + mediaType + ": " + problemDetail(res, body)}
	case http.StatusBadRequest:
		return sub, &SubmitError{Stage: "submit", Status: res.StatusCode, Rejected: true, Reason: "bad request: " + problemDetail(res, body)}
	}
	return sub, &SubmitError{Stage: "submit", Status: res.StatusCode, Reason: unexpected(res, body)}
}

// discover reads the discovery document.
func (p *Provisioner) discover() (*Discovery, error) {
	u := p.Base.JoinPath(DiscoveryPath).String()
	res, err := p.Client.GetResource(discoveryMediaType, u)
	if err != nil {
		return nil, &SubmitError{Stage: "discovery", Reason: err.Error(), Err: err}
	}
	body, err := readAnswer(res)
	if err != nil {
		return nil, &SubmitError{Stage: "discovery", Status: res.StatusCode, Reason: err.Error(), Err: err}
	}
	if res.StatusCode != http.StatusOK {
		return nil, &SubmitError{Stage: "discovery", Status: res.StatusCode, Reason: "GET " + u + ": " + unexpected(res, body)}
	}
	d, err := ParseDiscovery(body)
	if err != nil {
		return nil, &SubmitError{Stage: "discovery", Status: res.StatusCode, Reason: "GET " + u + ": " + err.Error()}
	}
	return d, nil
}

// endpoint is the submit URL the discovery document names, resolved
// against the base URL; it must stay on the base URL's origin, where the
// credentials are meant to go.
func (p *Provisioner) endpoint(d *Discovery) (string, error) {
	path, ok := d.ApiEndpoints[submitEndpoint]
	if !ok || path == "" {
		return p.Base.JoinPath(SubmitPath).String(), nil
	}
	ref, err := url.Parse(path)
	if err != nil {
		return "", &SubmitError{Stage: "discovery", Reason: fmt.Sprintf("api-endpoints %q: %v", submitEndpoint, err)}
	}
	u := p.Base.ResolveReference(ref)
	if u.Scheme != p.Base.Scheme || u.Host != p.Base.Host {
		return "", &SubmitError{Stage: "discovery", Reason: fmt.Sprintf("api-endpoints %q is %s, off %s://%s: the CoRIM and credentials go only where they were sent", submitEndpoint, u, p.Base.Scheme, p.Base.Host)}
	}
	return u.String(), nil
}

func readAnswer(res *http.Response) ([]byte, error) {
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(b) > maxAnswer {
		return nil, fmt.Errorf("the answer is larger than %d bytes", maxAnswer)
	}
	return b, nil
}

// problemDetail is a problem-details answer's detail (or title), else
// the start of the body.
func problemDetail(res *http.Response, body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if SameMediaType(res.Header.Get("Content-Type"), problemMediaType) || json.Valid(body) {
		if json.Unmarshal(body, &p) == nil {
			switch {
			case p.Detail != "":
				return p.Detail
			case p.Title != "":
				return p.Title
			}
		}
	}
	return snippet(body)
}

func unexpected(res *http.Response, body []byte) string {
	switch res.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("%s: the verifier refused the credentials (%s)", http.StatusText(res.StatusCode), problemDetail(res, body))
	}
	return fmt.Sprintf("unexpected answer %s: %s", res.Status, problemDetail(res, body))
}

func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(empty body)"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// acceptList splits Accept header values into media types, which may
// themselves contain commas only inside quoted parameters.
func acceptList(values []string) []string {
	var out []string
	for _, v := range values {
		start, quoted := 0, false
		for i := 0; i <= len(v); i++ {
			if i < len(v) && v[i] == '"' {
				quoted = !quoted
			}
			if i == len(v) || v[i] == ',' && !quoted {
				if mt := strings.TrimSpace(v[start:i]); mt != "" {
					out = append(out, mt)
				}
				start = i + 1
			}
		}
	}
	return out
}

// IsTLSVerification reports whether err is the verifier's certificate
// failing verification (not signed by a trusted CA, wrong host, expired).
func IsTLSVerification(err error) bool {
	var ce *tls.CertificateVerificationError
	return errors.As(err, &ce)
}
