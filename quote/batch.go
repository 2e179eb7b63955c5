package quote

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
)

// BatchRequest is one line of a `goldenpcr verify quote --batch` file: a
// JSON object naming the inputs of one verification, each either as a
// file (resolved against the batch file's folder when relative) or
// inline as hex. It mirrors the single-quote options; see docs/verify.md.
type BatchRequest struct {
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

	Nonce   string `json:"nonce,omitempty"`
	NoNonce bool   `json:"no_nonce,omitempty"`

	EventLog       string `json:"eventlog,omitempty"`
	Expected       string `json:"expected,omitempty"`
	ExpectedFormat string `json:"expected_format,omitempty"`
	ExpectedSel    string `json:"expected_sel,omitempty"`

	AllowUnrestricted bool   `json:"allow_unrestricted,omitempty"`
	MinResetCount     uint32 `json:"min_reset_count,omitempty"`
	MinRestartCount   uint32 `json:"min_restart_count,omitempty"`
	MinClock          uint64 `json:"min_clock,omitempty"`
	MaxClock          uint64 `json:"max_clock,omitempty"`
	RequireSafe       bool   `json:"require_safe,omitempty"`

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
// BatchRequest and no others (a misspelt field must not silently drop a
// check). It decodes the inline hex fields and checks that each input is
// given at most once and that a quote's required inputs are there; files
// are not read here.
func ParseBatchLine(line []byte) (*BatchRequest, error) {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, lineErr("not a JSON object")
	}
	req := &BatchRequest{}
	text, arena, ok := fastDecodeBatchLine(trimmed, req)
	if !ok {
		*req = BatchRequest{}
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
	if req.NoNonce && req.Nonce != "" {
		return nil, lineErr("no_nonce contradicts nonce")
	}
	for _, pair := range [][3]string{
		{"ak", req.AK, req.AKHex}, {"message", req.Message, req.MessageHex}, {"signature", req.Signature, req.SignatureHex},
	} {
		if pair[1] != "" && pair[2] != "" {
			return nil, lineErr("give %s or %s_hex, not both", pair[0], pair[0])
		}
	}
	if req.PCRs != "" && req.PCRValues != nil {
		return nil, lineErr("give pcrs or pcr_values, not both")
	}
	bundle := req.Attestation != "" || req.PlatformParameters != ""
	single := req.Message != "" || req.MessageHex != "" || req.Signature != "" || req.SignatureHex != "" ||
		req.AK != "" || req.AKHex != "" || req.PCRs != "" || req.PCRValues != nil || req.SigFormat != "" || req.SigAlg != ""
	switch {
	case req.Attestation != "" && req.PlatformParameters != "":
		return nil, lineErr("give attestation or platform_parameters, not both")
	case bundle && single:
		return nil, lineErr("an attestation carries its own message, signature, AK and PCRs: drop those fields")
	case !bundle && (req.Message == "" && req.MessageHex == "" || req.Signature == "" && req.SignatureHex == ""):
		return nil, lineErr("message (or message_hex) and signature (or signature_hex) are required")
	case req.AttestationFormat != "" && req.Attestation == "":
		return nil, lineErr("attestation_format without attestation")
	}
	return req, nil
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
func (req *BatchRequest) decodeInline(text inlineHex, arena []byte) error {
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
func decodeBatchLineJSON(line []byte, req *BatchRequest) error {
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
