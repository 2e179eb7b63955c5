package ima

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Policy holds reference values for IMA entries: the digests each file
// may have, paths to ignore, and the keys and buffers that may be
// measured. It is what a keylime runtime policy says; a sha256sum-style
// list fills only Digests.
type Policy struct {
	// Digests maps an absolute path to the hex digests it may have.
	Digests map[string][]string
	// Excludes are regular expressions; a path one matches from its start
	// (Python's re.match, as keylime applies them) is not checked.
	Excludes []string
	// Keyrings maps a keyring name to the digests of keys that may be
	// loaded onto it (ima-buf entries whose buffer is a key).
	Keyrings map[string][]string
	// IgnoredKeyrings are keyrings whose key loads are not checked ("*":
	// all of them).
	IgnoredKeyrings []string
	// IMABuf maps an ima-buf entry name to the digests its buffer may have.
	IMABuf map[string][]string
	// LogHashAlg is keylime's "ima.log_hash_alg", the template hash
	// algorithm (informational).
	LogHashAlg string
	// Format is "keylime" or "sha256sum".
	Format string

	exclude *regexp.Regexp
}

// PolicyError reports a malformed policy with the line or JSON key.
type PolicyError struct {
	Line int
	Msg  string
}

func (e *PolicyError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// ParsePolicy reads a keylime runtime policy (JSON) or a checksum list in
// sha256sum format ("HEX  /path", one per line), detecting which.
func ParsePolicy(data []byte) (*Policy, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return ParseKeylimePolicy(data)
	}
	return ParseChecksumList(data)
}

// keylimePolicy is the runtime policy document (keylime/ima/types.py).
type keylimePolicy struct {
	Meta *struct {
		Version   int    `json:"version"`
		Generator int    `json:"generator"`
		Timestamp string `json:"timestamp"`
	} `json:"meta"`
	Release  int                 `json:"release"`
	Digests  map[string][]string `json:"digests"`
	Excludes []string            `json:"excludes"`
	Keyrings map[string][]string `json:"keyrings"`
	IMA      *struct {
		IgnoredKeyrings []string        `json:"ignored_keyrings"`
		LogHashAlg      string          `json:"log_hash_alg"`
		DMPolicy        json.RawMessage `json:"dm_policy"`
	} `json:"ima"`
	IMABuf           map[string][]string `json:"ima-buf"`
	VerificationKeys string              `json:"verification-keys"`
}

// KeylimePolicyVersion is the runtime policy format version written and
// accepted (keylime's RUNTIME_POLICY_CURRENT_VERSION).
const KeylimePolicyVersion = 1

// ParseKeylimePolicy reads a keylime runtime policy. Device-mapper
// policies (ima.dm_policy) are not evaluated; a policy that has one is
// accepted and the field reported as ignored by the caller.
func ParseKeylimePolicy(data []byte) (*Policy, error) {
	var kp keylimePolicy
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&kp); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			return nil, &PolicyError{Line: 1 + bytes.Count(data[:se.Offset], []byte("\n")), Msg: "keylime runtime policy: " + se.Error()}
		}
		return nil, &PolicyError{Msg: "keylime runtime policy: " + err.Error()}
	}
	if kp.Meta == nil || kp.Digests == nil {
		return nil, &PolicyError{Msg: `keylime runtime policy: "meta" and "digests" are required`}
	}
	if kp.Meta.Version != KeylimePolicyVersion {
		return nil, &PolicyError{Msg: fmt.Sprintf("keylime runtime policy: meta.version %d, goldenpcr reads version %d", kp.Meta.Version, KeylimePolicyVersion)}
	}
	p := &Policy{Format: "keylime", Digests: map[string][]string{}, Keyrings: map[string][]string{}, IMABuf: map[string][]string{}, Excludes: kp.Excludes}
	norm := func(what string, m map[string][]string, dst map[string][]string) error {
		for k, list := range m {
			for _, d := range list {
				d = strings.ToLower(d)
				if _, err := hex.DecodeString(d); err != nil || d == "" {
					return &PolicyError{Msg: fmt.Sprintf("keylime runtime policy: %s[%q]: %q is not a hex digest", what, k, d)}
				}
				dst[k] = append(dst[k], d)
			}
		}
		return nil
	}
	if err := norm("digests", kp.Digests, p.Digests); err != nil {
		return nil, err
	}
	if err := norm("keyrings", kp.Keyrings, p.Keyrings); err != nil {
		return nil, err
	}
	if err := norm("ima-buf", kp.IMABuf, p.IMABuf); err != nil {
		return nil, err
	}
	if kp.IMA != nil {
		p.IgnoredKeyrings = kp.IMA.IgnoredKeyrings
		p.LogHashAlg = kp.IMA.LogHashAlg
	}
	if err := p.compileExcludes(); err != nil {
		return nil, err
	}
	return p, nil
}

// ParseChecksumList reads "HEX  PATH" lines as sha256sum (or sha1sum,
// sha512sum…) writes them: a '*' before the path marks binary mode, and a
// line starting with '\' has "\\" and "\n" escapes in its path. Blank lines
// and '#' comments are skipped.
func ParseChecksumList(data []byte) (*Policy, error) {
	p := &Policy{Format: "sha256sum", Digests: map[string][]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		escaped := strings.HasPrefix(line, `\`)
		if escaped {
			line = line[1:]
		}
		sum, path, ok := strings.Cut(line, " ")
		if !ok || len(path) < 2 || (path[0] != ' ' && path[0] != '*') {
			return nil, &PolicyError{Line: n, Msg: fmt.Sprintf("want \"HEX  PATH\" as sha256sum writes it, got %q", truncateString(line, 40))}
		}
		path = path[1:]
		sum = strings.ToLower(sum)
		if _, err := hex.DecodeString(sum); err != nil || len(sum) < 32 {
			return nil, &PolicyError{Line: n, Msg: fmt.Sprintf("%q is not a hex digest", truncateString(sum, 24))}
		}
		if escaped {
			path = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(path)
		}
		if !slices.Contains(p.Digests[path], sum) {
			p.Digests[path] = append(p.Digests[path], sum)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &PolicyError{Msg: err.Error()}
	}
	if len(p.Digests) == 0 {
		return nil, &PolicyError{Msg: "no checksum lines"}
	}
	return p, nil
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (p *Policy) compileExcludes() error {
	if len(p.Excludes) == 0 {
		p.exclude = nil
		return nil
	}
	for _, e := range p.Excludes {
		if _, err := regexp.Compile(e); err != nil {
			return &PolicyError{Msg: fmt.Sprintf("exclude %q: %v", e, err)}
		}
	}
	re, err := regexp.Compile("^(?:" + strings.Join(p.Excludes, "|") + ")")
	if err != nil {
		return &PolicyError{Msg: err.Error()}
	}
	p.exclude = re
	return nil
}

// Excluded reports whether path matches an exclude pattern.
func (p *Policy) Excluded(path string) bool {
	return p.exclude != nil && p.exclude.MatchString(path)
}

// Merge adds another policy's values (a policy read from several files).
func (p *Policy) Merge(o *Policy) error {
	add := func(dst *map[string][]string, src map[string][]string) {
		if *dst == nil {
			*dst = map[string][]string{}
		}
		for k, list := range src {
			for _, d := range list {
				if !slices.Contains((*dst)[k], d) {
					(*dst)[k] = append((*dst)[k], d)
				}
			}
		}
	}
	add(&p.Digests, o.Digests)
	add(&p.Keyrings, o.Keyrings)
	add(&p.IMABuf, o.IMABuf)
	p.Excludes = append(p.Excludes, o.Excludes...)
	p.IgnoredKeyrings = append(p.IgnoredKeyrings, o.IgnoredKeyrings...)
	if p.LogHashAlg == "" {
		p.LogHashAlg = o.LogHashAlg
	}
	return p.compileExcludes()
}

// FindingKind classifies a policy check failure.
type FindingKind string

// Finding kinds.
const (
	// FindingUnknown: the path is not in the policy (nor excluded, nor
	// validly signed).
	FindingUnknown FindingKind = "unknown-file"
	// FindingWrongDigest: the path is in the policy with other digests.
	FindingWrongDigest FindingKind = "wrong-digest"
	// FindingUnsigned: signatures are required and the entry has none, or
	// one by a key not given.
	FindingUnsigned FindingKind = "unsigned"
	// FindingBadSignature: a signature that does not verify, or is
	// malformed.
	FindingBadSignature FindingKind = "bad-signature"
)

// Finding is one entry that fails the policy.
type Finding struct {
	EntryRef `yaml:",inline"`
	Kind     FindingKind `json:"kind" yaml:"kind"`
	Template string      `json:"template" yaml:"template"`
	Digest   string      `json:"digest,omitempty" yaml:"digest,omitempty"`
	Expected []string    `json:"expected,omitempty" yaml:"expected,omitempty"`
	Detail   string      `json:"detail,omitempty" yaml:"detail,omitempty"`
}

// PolicyReport counts how every entry fared.
type PolicyReport struct {
	Entries      int       `json:"entries" yaml:"entries"`
	Allowlisted  int       `json:"allowlisted" yaml:"allowlisted"`
	Signed       int       `json:"signed" yaml:"signed"`
	Excluded     int       `json:"excluded" yaml:"excluded"`
	Violations   int       `json:"violations" yaml:"violations"`
	BootAggr     int       `json:"boot_aggregate" yaml:"boot_aggregate"`
	KeysLoaded   int       `json:"keys_loaded" yaml:"keys_loaded"`
	IgnoredKeys  int       `json:"keys_ignored" yaml:"keys_ignored"`
	Failed       int       `json:"failed" yaml:"failed"`
	Findings     []Finding `json:"findings" yaml:"findings"`
	MoreFindings int       `json:"more_findings,omitempty" yaml:"more_findings,omitempty"`
}

// OK reports whether no entry failed.
func (r *PolicyReport) OK() bool { return r.Failed == 0 }

// Checker checks entries against a policy and signing keys, the way
// keylime's verifier does: a valid signature accepts a file whatever the
// policy says, otherwise its digest must be one the policy lists for its
// path; excluded paths and violations are skipped; keys measured onto a
// keyring (ima-buf) whose digest the policy allows are added to the
// keyring for later signatures.
type Checker struct {
	// Policy may be nil: then only signatures are checked, and every file
	// must carry a valid one.
	Policy *Policy
	// Keys verify signatures; nil checks none until the list loads an
	// allowed key onto a keyring.
	Keys *Keyring
	// RequireSignatures fails every file entry without a valid signature,
	// even one the policy allows.
	RequireSignatures bool
	// MaxFindings bounds the findings listed (0: 1000); Failed stays exact.
	MaxFindings int

	report PolicyReport
}

// Check checks one entry.
func (c *Checker) Check(e *Entry) {
	r := &c.report
	r.Entries++
	if e.Violation() {
		r.Violations++
		return
	}
	ev, err := e.Decode()
	if err != nil {
		c.fail(e, nil, FindingUnknown, nil, err.Error())
		return
	}
	path := ev.Path
	if path == BootAggregateName && e.Index == 0 {
		// Checked against PCRs 0-9 by the replay, unless the policy lists it.
		if c.Policy == nil || c.Policy.Digests[path] == nil {
			r.BootAggr++
			return
		}
	}
	if c.Policy != nil && c.Policy.Excluded(path) {
		r.Excluded++
		return
	}
	digest := ""
	if ev.Digest != nil {
		digest = hex.EncodeToString(ev.Digest.Value)
	}
	if ev.Buffer != nil || (e.Template != nil && slices.Contains(e.Template.Fields, FieldBuf)) {
		c.checkBuffer(e, ev, digest)
		return
	}
	sig := SigResult{Status: SigMissing}
	if (len(ev.Signature) > 0 || len(ev.Modsig) > 0) && c.Keys != nil {
		sig = c.Keys.VerifyEntry(ev)
	}
	switch sig.Status {
	case SigGood:
		r.Signed++
		return
	case SigBad, SigMalformed:
		c.fail(e, ev, FindingBadSignature, nil, sigDetail(sig))
		return
	}
	if c.RequireSignatures || c.Policy == nil {
		detail := "no signature"
		if len(ev.Signature) > 0 || len(ev.Modsig) > 0 {
			detail = sigDetail(sig)
		}
		c.fail(e, ev, FindingUnsigned, nil, detail)
		return
	}
	allowed, ok := c.Policy.Digests[path]
	switch {
	case !ok:
		c.fail(e, ev, FindingUnknown, nil, "")
	case slices.Contains(allowed, digest):
		r.Allowlisted++
	default:
		c.fail(e, ev, FindingWrongDigest, allowed, "")
	}
}

// checkBuffer handles ima-buf entries: keys loaded onto keyrings are
// checked against the policy's keyrings (and added to the keyring when
// allowed), other buffers against its ima-buf section.
func (c *Checker) checkBuffer(e *Entry, ev *Event, digest string) {
	r := &c.report
	name := ev.Path
	var tmp Keyring
	isKey := len(ev.Buffer) > 0 && tmp.add(ev.Buffer, "", name) == nil
	if isKey {
		if c.Policy != nil && (slices.Contains(c.Policy.IgnoredKeyrings, "*") || slices.Contains(c.Policy.IgnoredKeyrings, name)) {
			r.IgnoredKeys++
			return
		}
		var allowed []string
		if c.Policy != nil {
			allowed = c.Policy.Keyrings[name]
		}
		if !slices.Contains(allowed, digest) {
			kind := FindingUnknown
			if allowed != nil {
				kind = FindingWrongDigest
			}
			c.fail(e, ev, kind, allowed, "key loaded onto keyring "+name)
			return
		}
		if c.Keys == nil {
			c.Keys = &Keyring{}
		}
		c.Keys.Keys = append(c.Keys.Keys, tmp.Keys...)
		r.KeysLoaded++
		return
	}
	var allowed []string
	var ok bool
	if c.Policy != nil {
		allowed, ok = c.Policy.IMABuf[name]
		if !ok {
			allowed, ok = c.Policy.Digests[name]
		}
	}
	switch {
	case !ok:
		c.fail(e, ev, FindingUnknown, nil, "buffer "+name)
	case slices.Contains(allowed, digest):
		r.Allowlisted++
	default:
		c.fail(e, ev, FindingWrongDigest, allowed, "buffer "+name)
	}
}

func sigDetail(s SigResult) string {
	d := string(s.Status)
	if s.KeyID != "" {
		d += " (key id " + s.KeyID + ")"
	}
	if s.Reason != "" {
		d += ": " + s.Reason
	}
	return d
}

func (c *Checker) fail(e *Entry, ev *Event, kind FindingKind, expected []string, detail string) {
	r := &c.report
	r.Failed++
	max := c.MaxFindings
	if max == 0 {
		max = 1000
	}
	if len(r.Findings) >= max {
		r.MoreFindings++
		return
	}
	f := Finding{EntryRef: refOf(e), Kind: kind, Template: e.TemplateName, Expected: expected, Detail: detail}
	if ev != nil && ev.Digest != nil {
		f.Digest = ev.Digest.Algo.String() + ":" + hex.EncodeToString(ev.Digest.Value)
	}
	r.Findings = append(r.Findings, f)
}

// Report returns the outcome so far.
func (c *Checker) Report() *PolicyReport {
	r := c.report
	r.Findings = slices.Clone(r.Findings)
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	return &r
}
