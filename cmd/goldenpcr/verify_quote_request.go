package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/internal/strictjson"
	"github.com/goldenpcr/goldenpcr/pcr"
)

// Request names the inputs and policy of one verification, each input
// either as a file or inline as hex: a line of a batch file (JSON, field
// names as tagged) or the options of a single verification, which carry
// the same names. Validate checks it the same way for both.
type Request struct {
	// ID is echoed in the result, to match results with requests.
	ID string `json:"id,omitempty"`

	AK           string `json:"ak,omitempty"`
	AKHex        string `json:"ak_hex,omitempty"`
	AKName       string `json:"ak_name,omitempty"`
	Message      string `json:"message,omitempty"`
	MessageHex   string `json:"message_hex,omitempty"`
	Signature    string `json:"signature,omitempty"`
	SignatureHex string `json:"signature_hex,omitempty"`
	SigFormat    string `json:"sig_format,omitempty"`
	SigAlg       string `json:"sig_alg,omitempty"`

	PCRs       string `json:"pcrs,omitempty"`
	PCRsFormat string `json:"pcrs_format,omitempty"`
	PCRsSel    string `json:"pcrs_sel,omitempty"`
	// PCRValues are inline PCR values: {"sha256": {"0": "hex", …}, …}.
	PCRValues InlinePCRs `json:"pcr_values,omitempty"`

	Nonce     string `json:"nonce,omitempty"`
	NonceFile string `json:"nonce_file,omitempty"`
	NoNonce   bool   `json:"no_nonce,omitempty"`

	EventLog string `json:"eventlog,omitempty"`
	// MoreEventLogs are further logs of the same boot (a CEL after the
	// firmware log), from a repeated --eventlog; a batch line names one.
	MoreEventLogs  []string `json:"-"`
	Expected       string   `json:"expected,omitempty"`
	ExpectedFormat string   `json:"expected_format,omitempty"`
	ExpectedSel    string   `json:"expected_sel,omitempty"`
	// Corim is a PARSEC_TPM or TPM_ENACTTRUST CoRIM: the expected values
	// and the trusted AK (its trust anchor) at once; CorimSel is the PCR
	// selection of a TPM_ENACTTRUST CoRIM's composite digest.
	Corim    string `json:"corim,omitempty"`
	CorimSel string `json:"corim_sel,omitempty"`
	// CorimRoots are CAs a signed CoRIM's signer must chain to.
	CorimRoots []string `json:"corim_roots,omitempty"`

	AllowUnrestricted bool   `json:"allow_unrestricted,omitempty"`
	MinResetCount     uint32 `json:"min_reset_count,omitempty"`
	MinRestartCount   uint32 `json:"min_restart_count,omitempty"`
	MinClock          uint64 `json:"min_clock,omitempty"`
	MaxClock          uint64 `json:"max_clock,omitempty"`
	RequireSafe       bool   `json:"require_safe,omitempty"`

	// Who vouches for the AK: ak (the trusted key itself; for a single
	// quote also the key that verifies it), ak_name, or ak_cert chaining
	// to ak_roots; allow_untrusted_ak accepts none of them.
	AKCert           string   `json:"ak_cert,omitempty"`
	AKRoots          []string `json:"ak_roots,omitempty"`
	AKIntermediates  []string `json:"ak_intermediates,omitempty"`
	AllowUntrustedAK bool     `json:"allow_untrusted_ak,omitempty"`
	EKCert           string   `json:"ek_cert,omitempty"`
	EKRoots          []string `json:"ek_roots,omitempty"`
	EKIntermediates  []string `json:"ek_intermediates,omitempty"`
	EKPub            string   `json:"ek_pub,omitempty"`

	// RequireEventLog requires a log for a single quote; an attestation
	// needs one unless AllowMissingEventLog. UnloggedPCRs lists PCRs
	// extended outside the log ("10,11").
	RequireEventLog      bool   `json:"require_eventlog,omitempty"`
	AllowMissingEventLog bool   `json:"allow_missing_eventlog,omitempty"`
	UnloggedPCRs         string `json:"unlogged_pcrs,omitempty"`

	// A whole attestation instead of message, signature, AK and PCRs.
	Attestation        string `json:"attestation,omitempty"`
	AttestationFormat  string `json:"attestation_format,omitempty"`
	PlatformParameters string `json:"platform_parameters,omitempty"`

	// Decoded inline inputs, set by ParseBatchLine.
	AKBytes, MessageBytes, SignatureBytes, NonceBytes, AKNameBytes []byte     `json:"-"`
	Values                                                         pcr.Values `json:"-"`
}

// BatchLineError is a batch line that is not a valid request.
type BatchLineError struct {
	Msg string
}

func (e *BatchLineError) Error() string { return e.Msg }

func lineErr(format string, args ...any) error {
	return &BatchLineError{Msg: fmt.Sprintf(format, args...)}
}

// ParseBatchLine reads one batch line: a JSON object with the fields of
// Request and no others (a misspelt field must not silently drop a
// check). It decodes the inline hex fields and checks that each input is
// given at most once and that a quote's required inputs are there; files
// are not read here.
func ParseBatchLine(line []byte) (*Request, error) {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, lineErr("not a JSON object")
	}
	req := &Request{}
	text, arena, ok := fastDecodeBatchLine(trimmed, req)
	if !ok {
		*req = Request{}
		if err := decodeBatchLineJSON(trimmed, req); err != nil {
			return nil, err
		}
		text = inlineHex{[]byte(req.AKHex), []byte(req.MessageHex), []byte(req.SignatureHex), []byte(req.Nonce)}
		arena = nil
	}
	if err := req.decodeInline(text, arena); err != nil {
		return nil, err
	}
	if req.Nonce != "" && len(req.NonceBytes) == 0 {
		return nil, lineErr("nonce: empty")
	}
	if err := req.Validate(func(field string) string { return field }); err != nil {
		return nil, lineErr("%s", err)
	}
	return req, nil
}

// Bundle reports whether the request names a whole attestation.
func (req *Request) Bundle() bool { return req.Attestation != "" || req.PlatformParameters != "" }

// Validate checks that each input is given at most once, that options
// which contradict each other are not both given, and that a quote's
// required inputs are there. name turns a field's JSON name into the
// caller's word for it (a batch line's field, a command-line option), or
// "" for a field the caller has no way to give.
func (req *Request) Validate(name func(field string) string) error {
	set := func(fields ...string) string {
		for i, f := range fields {
			fields[i] = name(f)
		}
		return strings.Join(fields, ", ")
	}
	either := func(a, b string) string {
		if name(b) == "" {
			return name(a)
		}
		return name(a) + " (or " + name(b) + ")"
	}
	both := func(a, b string) error { return fmt.Errorf("give %s or %s, not both", name(a), name(b)) }
	needs := func(a, b string) error { return fmt.Errorf("%s needs %s", name(a), name(b)) }
	for _, pair := range []struct {
		a, b       string
		aSet, bSet bool
	}{
		{"ak", "ak_hex", req.AK != "", req.AKHex != ""},
		{"message", "message_hex", req.Message != "", req.MessageHex != ""},
		{"signature", "signature_hex", req.Signature != "", req.SignatureHex != ""},
		{"pcrs", "pcr_values", req.PCRs != "", req.PCRValues != nil},
		{"nonce", "nonce_file", req.Nonce != "", req.NonceFile != ""},
		{"attestation", "platform_parameters", req.Attestation != "", req.PlatformParameters != ""},
		{"require_eventlog", "allow_missing_eventlog", req.RequireEventLog, req.AllowMissingEventLog},
		{"expected", "corim", req.Expected != "", req.Corim != ""},
	} {
		if pair.aSet && pair.bSet {
			return both(pair.a, pair.b)
		}
	}
	if req.NoNonce && (req.Nonce != "" || req.NonceFile != "") {
		return fmt.Errorf("%s contradicts %s", name("no_nonce"), set("nonce", "nonce_file"))
	}
	if req.NoNonce && req.Corim != "" {
		return fmt.Errorf("%s contradicts %s: a quote appraised against a CoRIM always has its nonce checked (Veraison does not check it for TPM_ENACTTRUST; goldenpcr does)", name("no_nonce"), name("corim"))
	}
	for _, dep := range []struct {
		field, needs string
		set, has     bool
	}{
		{"pcrs_format", "pcrs", req.PCRsFormat != "", req.PCRs != ""},
		{"pcrs_sel", "pcrs", req.PCRsSel != "", req.PCRs != ""},
		{"expected_format", "expected", req.ExpectedFormat != "", req.Expected != ""},
		{"expected_sel", "expected", req.ExpectedSel != "", req.Expected != ""},
		{"attestation_format", "attestation", req.AttestationFormat != "", req.Attestation != ""},
		{"ek_roots", "ek_cert", len(req.EKRoots) > 0, req.EKCert != ""},
		{"ek_intermediates", "ek_cert", len(req.EKIntermediates) > 0, req.EKCert != ""},
		{"ek_pub", "ek_cert", req.EKPub != "", req.EKCert != ""},
		{"ak_intermediates", "ak_roots", len(req.AKIntermediates) > 0, len(req.AKRoots) > 0},
		{"corim_sel", "corim", req.CorimSel != "", req.Corim != ""},
		{"corim_roots", "corim", len(req.CorimRoots) > 0, req.Corim != ""},
	} {
		if dep.set && !dep.has {
			return needs(dep.field, dep.needs)
		}
	}
	if req.Bundle() {
		var single []string
		for _, f := range []struct {
			field string
			set   bool
		}{
			{"message", req.Message != ""}, {"message_hex", req.MessageHex != ""}, {"signature", req.Signature != ""},
			{"signature_hex", req.SignatureHex != ""}, {"pcrs", req.PCRs != ""}, {"pcr_values", req.PCRValues != nil},
			{"sig_format", req.SigFormat != ""}, {"sig_alg", req.SigAlg != ""}, {"require_eventlog", req.RequireEventLog},
		} {
			if f.set {
				single = append(single, f.field)
			}
		}
		if req.Corim != "" && (req.AK != "" || req.AKHex != "") {
			return fmt.Errorf("%s: an attestation carries its AK, and the trust anchor of %s is the key it must be; %s adds nothing", either("ak", "ak_hex"), name("corim"), either("ak", "ak_hex"))
		}
		if len(single) > 0 {
			return fmt.Errorf("%s: an attestation carries its own quotes, signatures, PCR values and event log requirement (pin its AK with %s, or give the trusted key as %s)",
				set(single...), name("ak_name"), name("ak"))
		}
		return nil
	}
	switch {
	case req.AllowMissingEventLog:
		return fmt.Errorf("%s is for attestations, which need an event log by default; a single quote needs one only with %s", name("allow_missing_eventlog"), name("require_eventlog"))
	case req.Message == "" && req.MessageHex == "" || req.Signature == "" && req.SignatureHex == "":
		return fmt.Errorf("%s and %s are required", either("message", "message_hex"), either("signature", "signature_hex"))
	}
	switch req.SigFormat {
	case "", "tss":
		if req.SigAlg != "" {
			return fmt.Errorf("%s is for %s plain: a TPMT_SIGNATURE names its own scheme and hash", name("sig_alg"), name("sig_format"))
		}
	case "plain":
		if req.SigAlg == "" {
			return fmt.Errorf("%s plain needs %s, e.g. rsassa-sha256 or ecdsa-sha256", name("sig_format"), name("sig_alg"))
		}
	default:
		return fmt.Errorf("%s %q: want tss or plain", name("sig_format"), req.SigFormat)
	}
	return nil
}

// inlineHex is the text of a request's hex-encoded inputs.
type inlineHex struct {
	ak, message, signature, nonce []byte
}

// field returns the text slot of the JSON field name, or nil for a field
// that is not hex.
func (h *inlineHex) field(name string) *[]byte {
	switch name {
	case "ak_hex":
		return &h.ak
	case "message_hex":
		return &h.message
	case "signature_hex":
		return &h.signature
	case "nonce":
		return &h.nonce
	}
	return nil
}

// decodeInline decodes the hex inputs (each may start with 0x) into
// AKBytes, MessageBytes, SignatureBytes and NonceBytes, appending to
// arena, or to one new buffer when it lacks room.
func (req *Request) decodeInline(text inlineHex, arena []byte) error {
	if need := (len(text.ak) + len(text.message) + len(text.signature) + len(text.nonce)) / 2; cap(arena)-len(arena) < need {
		arena = make([]byte, 0, need)
	}
	for _, f := range []struct {
		name string
		text []byte
		dst  *[]byte
	}{
		{"ak_hex", text.ak, &req.AKBytes}, {"message_hex", text.message, &req.MessageBytes},
		{"signature_hex", text.signature, &req.SignatureBytes}, {"nonce", text.nonce, &req.NonceBytes},
	} {
		if len(f.text) == 0 {
			continue
		}
		h := bytes.TrimPrefix(bytes.TrimPrefix(f.text, []byte("0x")), []byte("0X"))
		off := len(arena)
		arena = append(arena, make([]byte, len(h)/2)...)
		n, err := hex.Decode(arena[off:], h)
		if err != nil {
			return lineErr("%s: not hex: %v", f.name, err)
		}
		*f.dst = arena[off : off+n : off+n]
	}
	return nil
}

// decodeBatchLineJSON decodes a line with encoding/json, the reference
// semantics: unknown fields rejected, one value per line.
func decodeBatchLineJSON(line []byte, req *Request) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return lineErr("invalid JSON: %v", err)
		}
		return lineErr("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return lineErr("trailing data after the JSON object")
	}
	return rejectEmptyValues(line)
}

// rejectEmptyValues refuses a field given twice (encoding/json would
// keep the last, matching names case-insensitively) and a field whose
// value is "", null, [], {} or a list holding "": an empty value switches
// its check off as the field's absence does, where a script with an unset
// variable meant to set it.
func rejectEmptyValues(line []byte) error {
	err := strictjson.Members(line, true, func(key string, v json.RawMessage) error {
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return err
		}
		switch t := compact.String(); {
		case t == `""` || t == "null" || t == "[]" || t == "{}":
			return fmt.Errorf("%s: empty value", key)
		case strings.HasPrefix(t, "["):
			var items []json.RawMessage
			if json.Unmarshal(compact.Bytes(), &items) == nil && slices.ContainsFunc(items, func(m json.RawMessage) bool { return string(m) == `""` }) {
				return fmt.Errorf("%s: empty value in the list", key)
			}
		}
		return nil
	})
	if err != nil {
		return lineErr("%v", err)
	}
	return nil
}

// InlinePCRs are PCR values written inline in a batch line, as
// {"sha256": {"0": "hex", "7": "hex"}, "sha1": {…}}: banks by name (any
// name pcr.ParseAlg reads), PCR indices as decimal strings, values as hex
// of the bank's digest size. Decoding checks all of that.
type InlinePCRs pcr.Values

// UnmarshalJSON decodes and checks the values; null leaves them unset.
func (v *InlinePCRs) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var m map[string]map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return lineErr("pcr_values: want {\"bank\": {\"index\": \"hex\"}}: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	out := pcr.Values{}
	for bank, vals := range m {
		for k, h := range vals {
			if err := addInlinePCR(out, bank, k, h); err != nil {
				return err
			}
		}
	}
	if out.Len() == 0 {
		return lineErr("pcr_values: no values")
	}
	*v = InlinePCRs(out)
	return nil
}

// addInlinePCR checks and adds one inline value.
func addInlinePCR(v pcr.Values, bank, index, value string) error {
	alg, err := pcr.ParseAlg(bank)
	if err != nil {
		return lineErr("pcr_values: %v", err)
	}
	i, err := strconv.Atoi(index)
	if err != nil || i < 0 || i >= pcr.NumPCRs || strconv.Itoa(i) != index {
		return lineErr("pcr_values.%s: PCR %q is not 0-%d", bank, index, pcr.NumPCRs-1)
	}
	d, err := hex.DecodeString(value)
	if err != nil {
		return lineErr("pcr_values.%s.%s: not hex: %v", bank, index, err)
	}
	if len(d) != alg.Size() {
		return lineErr("pcr_values.%s.%s: %d bytes, want %d", bank, index, len(d), alg.Size())
	}
	if _, dup := v.Get(alg, i); dup {
		return lineErr("pcr_values: %s PCR %d given twice", alg, i)
	}
	v.Set(alg, i, d)
	return nil
}

// MarshalJSON writes the values back in the inline form.
func (v InlinePCRs) MarshalJSON() ([]byte, error) {
	m := map[string]map[string]string{}
	for _, a := range pcr.Values(v).Algs() {
		m[a.String()] = map[string]string{}
		for _, i := range pcr.Values(v).Indices(a) {
			m[a.String()][strconv.Itoa(i)] = hex.EncodeToString(v[a][i])
		}
	}
	return json.Marshal(m)
}
