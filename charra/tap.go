package charra

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// TAPVersion is the tap-spec-version CHARRA's attester requires (2.2.0).
const TAPVersion = 0x020200

// TAP information-element ids of a response (charra_tap_types.h).
const (
	IEPCRAttestation = 9 // "PCR attestation"
	IESubtypeQuote   = 4 // "TPM2_Quote"
	IEPCRLog         = 5 // "PCR log"
)

// Log identifiers the attester knows.
const (
	LogIMA     = "ima"
	LogTCGBoot = "tcg-boot"
)

// Limits of the attester's stack buffers: more overflows them (charra.md).
const (
	MaxNonce         = 64
	MaxKeyID         = 256
	MaxBanks         = 16
	MaxPCRsPerBank   = 32
	maxLogIdentifier = 15 // a 16-byte buffer with its NUL
	// DefaultKeyID is the key id CHARRA's verifier sends; the attester
	// ignores it.
	DefaultKeyID = "PK.RSA.default"
	// DefaultNonceSize is what CHARRA's verifier sends.
	DefaultNonceSize = 20
)

// LogRequest asks for one PCR log.
type LogRequest struct {
	Identifier   string
	Start, Count uint64
}

// Request is a TAP attestation request.
type Request struct {
	Hello bool
	KeyID []byte
	Nonce []byte
	// Selection is the pcr-selections in request order, which is the
	// order of the banks in the quote's pcrDigest.
	Selection pcr.Selection
	Logs      []LogRequest
}

// NewRequest makes a request with a fresh nonce of nonceSize bytes for
// sel and the logs named, as CHARRA's verifier sends it (start 1, count 0:
// the whole log).
func NewRequest(sel pcr.Selection, logs []string, nonceSize int) (*Request, error) {
	if nonceSize < 1 || nonceSize > MaxNonce {
		return nil, fmt.Errorf("a nonce of %d bytes: the attester takes 1 to %d (more crashes it)", nonceSize, MaxNonce)
	}
	r := &Request{KeyID: []byte(DefaultKeyID), Nonce: make([]byte, nonceSize), Selection: sel}
	if _, err := rand.Read(r.Nonce); err != nil {
		return nil, err
	}
	for _, l := range logs {
		r.Logs = append(r.Logs, LogRequest{Identifier: l, Start: 1})
	}
	return r, r.validate()
}

// validate refuses what would overflow the attester or what it cannot know.
func (r *Request) validate() error {
	if len(r.Nonce) > MaxNonce {
		return fmt.Errorf("nonce of %d bytes: at most %d (more crashes the attester)", len(r.Nonce), MaxNonce)
	}
	if len(r.KeyID) > MaxKeyID {
		return fmt.Errorf("key id of %d bytes: at most %d", len(r.KeyID), MaxKeyID)
	}
	if len(r.Selection) == 0 {
		return fmt.Errorf("no PCR selected")
	}
	if len(r.Selection) > MaxBanks {
		return fmt.Errorf("%d banks selected: at most %d", len(r.Selection), MaxBanks)
	}
	seen := map[pcr.Alg]bool{}
	for _, b := range r.Selection {
		switch {
		case !b.Alg.Valid():
			return fmt.Errorf("bank %s: not a hash the TPM has PCR banks of", b.Alg)
		case seen[b.Alg]:
			return fmt.Errorf("bank %s selected twice", b.Alg)
		case len(b.PCRs) == 0:
			return fmt.Errorf("bank %s: no PCR selected", b.Alg)
		case len(b.PCRs) > MaxPCRsPerBank:
			return fmt.Errorf("bank %s: %d PCRs, at most %d", b.Alg, len(b.PCRs), MaxPCRsPerBank)
		}
		seen[b.Alg] = true
		for _, i := range b.PCRs {
			if i < 0 || i >= pcr.NumPCRs {
				return fmt.Errorf("bank %s: PCR %d is not 0-23", b.Alg, i)
			}
		}
	}
	for _, l := range r.Logs {
		if l.Identifier != LogIMA && l.Identifier != LogTCGBoot {
			return fmt.Errorf("log %q: the attester knows only %q and %q", l.Identifier, LogTCGBoot, LogIMA)
		}
	}
	return nil
}

// Marshal encodes the request as CHARRA's verifier does: shortest-form
// ints, PCR lists as arrays of uints (a bstr kills the attester), log
// identifiers NUL-terminated.
func (r *Request) Marshal() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	sels := make([]any, 0, len(r.Selection))
	for _, b := range r.Selection {
		list := make([]uint32, len(b.PCRs))
		for i, p := range b.PCRs {
			list[i] = uint32(p)
		}
		sels = append(sels, []any{uint16(b.Alg), list})
	}
	logs := make([]any, 0, len(r.Logs))
	for _, l := range r.Logs {
		logs = append(logs, []any{l.Identifier + "\x00", l.Start, l.Count})
	}
	return encMode.Marshal([]any{uint64(TAPVersion), r.Hello, r.KeyID, r.Nonce, sels, logs})
}

// ParseRequest decodes a request as CHARRA's attester does, with its
// limits enforced rather than overflowed; a NUL ending an identifier is
// dropped.
func ParseRequest(data []byte) (*Request, error) {
	d := dec{msg: "request"}
	top, err := d.top(data)
	if err != nil {
		return nil, err
	}
	f, err := d.array(top, "request", 6)
	if err != nil {
		return nil, err
	}
	v, err := d.uint(f[0], "tap-spec-version")
	if err != nil {
		return nil, err
	}
	if v != TAPVersion {
		return nil, d.errf("tap-spec-version", f[0].off, "0x%06x, the attester requires 0x%06x", v, TAPVersion)
	}
	r := &Request{}
	if r.Hello, err = d.bool(f[1], "hello"); err != nil {
		return nil, err
	}
	if r.KeyID, err = d.bytes(f[2], "key-id", MaxKeyID); err != nil {
		return nil, err
	}
	if r.Nonce, err = d.bytes(f[3], "nonce", MaxNonce); err != nil {
		return nil, err
	}
	banks, err := d.array(f[4], "pcr-selections", -1)
	if err != nil {
		return nil, err
	}
	if len(banks) > MaxBanks {
		return nil, d.errf("pcr-selections", f[4].off, "%d banks, at most %d", len(banks), MaxBanks)
	}
	for _, b := range banks {
		pair, err := d.array(b, "pcr-selection", 2)
		if err != nil {
			return nil, err
		}
		id, err := d.uint(pair[0], "tcg-hash-alg-id")
		if err != nil {
			return nil, err
		}
		alg := pcr.Alg(id)
		if id > 0xffff || !alg.Valid() {
			return nil, d.errf("tcg-hash-alg-id", pair[0].off, "0x%x is not a PCR bank's hash", id)
		}
		list, err := d.array(pair[1], "pcrs", -1)
		if err != nil {
			return nil, err
		}
		if len(list) > MaxPCRsPerBank {
			return nil, d.errf("pcrs", pair[1].off, "%d PCRs, at most %d", len(list), MaxPCRsPerBank)
		}
		bs := pcr.BankSelection{Alg: alg}
		for _, it := range list {
			i, err := d.uint(it, "pcr")
			if err != nil {
				return nil, err
			}
			if i >= pcr.NumPCRs {
				return nil, d.errf("pcr", it.off, "PCR %d is not 0-23", i)
			}
			bs.PCRs = append(bs.PCRs, int(i))
		}
		r.Selection = append(r.Selection, bs)
	}
	logs, err := d.array(f[5], "pcr-logs", -1)
	if err != nil {
		return nil, err
	}
	for _, l := range logs {
		triple, err := d.array(l, "pcr-log", 3)
		if err != nil {
			return nil, err
		}
		id, err := d.text(triple[0], "identifier", maxLogIdentifier+1)
		if err != nil {
			return nil, err
		}
		lr := LogRequest{Identifier: strings.TrimSuffix(id, "\x00")}
		if lr.Start, err = d.uint(triple[1], "start"); err != nil {
			return nil, err
		}
		if lr.Count, err = d.uint(triple[2], "count"); err != nil {
			return nil, err
		}
		r.Logs = append(r.Logs, lr)
	}
	return r, nil
}

// QuoteSelection is the selection the attester asks its TPM to quote:
// each bank's PCRs as a bitmap, so order and duplicates inside a bank do
// not matter.
func (r *Request) QuoteSelection() pcr.Selection {
	var out pcr.Selection
	for _, b := range r.Selection {
		list := slices.Clone(b.PCRs)
		slices.Sort(list)
		out = append(out, pcr.BankSelection{Alg: b.Alg, PCRs: slices.Compact(list)})
	}
	return out
}

// Form is the shape of a response.
type Form string

// The response forms: CHARRA's since 2024, and the 3mdeb fork's of 2020,
// which carries the AK's public key.
const (
	FormTAP   Form = "tap"
	Form3mdeb Form = "3mdeb"
)

// Log is one PCR log of a response.
type Log struct {
	Identifier   string
	Start, Count uint64
	Content      []byte
	// Offset is where the content starts in the response.
	Offset int
}

// Response is an attester's answer.
type Response struct {
	Form Form
	// AttestData is the TPM-marshalled TPMS_ATTEST, Attest its parse.
	AttestData []byte
	Attest     *tpmstruct.Attest
	// SignatureData is the raw C-struct TPMT_SIGNATURE, Signature its parse.
	SignatureData []byte
	Signature     *tpmstruct.Signature
	// PublicKeyData and PublicKey: the 3mdeb form's AK public key.
	PublicKeyData []byte
	PublicKey     *tpmstruct.PublicKey
	Logs          []Log
}

// Log returns the log with the identifier, if the response has one.
func (r *Response) Log(id string) (*Log, bool) {
	for i := range r.Logs {
		if r.Logs[i].Identifier == id {
			return &r.Logs[i], true
		}
	}
	return nil, false
}

// Size limits of response fields: sizeof(TPM2B_ATTEST) bounds the quote;
// logs are whole files (a real IMA list is a few hundred KB).
const (
	maxAttest = 2 + 1024
	MaxLog    = 64 << 20
)

// ParseResponse decodes a response: the TAP form [[9, 4, attestation-data,
// tpm2-signature], [* [5, identifier, start, count, content]]] or the
// 3mdeb form [attestation-data, tpm2-signature, tpm2-public-key]. The
// quote, the raw signature and the public key are parsed too; any error
// names the field and its byte offset.
func ParseResponse(data []byte) (*Response, error) {
	d := dec{msg: "response"}
	top, err := d.top(data)
	if err != nil {
		return nil, err
	}
	f, err := d.array(top, "response", -1)
	if err != nil {
		return nil, err
	}
	r := &Response{}
	var attest, sig, pub item
	switch len(f) {
	case 2:
		r.Form = FormTAP
		ie, err := d.array(f[0], "attestation", 4)
		if err != nil {
			return nil, err
		}
		id, err := d.uint(ie[0], "attestation IE id")
		if err != nil {
			return nil, err
		}
		if id != IEPCRAttestation {
			return nil, d.errf("attestation IE id", ie[0].off, "%d, want %d (PCR attestation)", id, IEPCRAttestation)
		}
		sub, err := d.uint(ie[1], "attestation IE subtype")
		if err != nil {
			return nil, err
		}
		if sub != IESubtypeQuote {
			return nil, d.errf("attestation IE subtype", ie[1].off, "%d, want %d (TPM2_Quote)", sub, IESubtypeQuote)
		}
		attest, sig = ie[2], ie[3]
		logs, err := d.array(f[1], "pcr-logs", -1)
		if err != nil {
			return nil, err
		}
		for _, it := range logs {
			l, err := d.log(it)
			if err != nil {
				return nil, err
			}
			r.Logs = append(r.Logs, l)
		}
	case 3:
		r.Form = Form3mdeb
		attest, sig, pub = f[0], f[1], f[2]
	default:
		return nil, d.errf("response", 0, "an array of %d items, want 2 (CHARRA's TAP response) or 3 (the 3mdeb fork's)", len(f))
	}
	if r.AttestData, err = d.bytes(attest, "attestation-data", maxAttest); err != nil {
		return nil, err
	}
	if r.Attest, err = tpmstruct.ParseAttest(r.AttestData); err != nil {
		return nil, d.errf("attestation-data", contentOffset(attest), "TPMS_ATTEST: %v", err)
	}
	if r.SignatureData, err = d.bytes(sig, "tpm2-signature", RawSignatureSize); err != nil {
		return nil, err
	}
	if r.Signature, err = ParseRawSignature(r.SignatureData); err != nil {
		return nil, d.errf("tpm2-signature", contentOffset(sig), "%v", err)
	}
	if r.Form == Form3mdeb {
		if r.PublicKeyData, err = d.bytes(pub, "tpm2-public-key", 4096); err != nil {
			return nil, err
		}
		if r.PublicKey, err = ParseRawPublic(r.PublicKeyData); err != nil {
			return nil, d.errf("tpm2-public-key", contentOffset(pub), "%v", err)
		}
	}
	return r, nil
}

func (d dec) log(it item) (Log, error) {
	f, err := d.array(it, "pcr-log", 5)
	if err != nil {
		return Log{}, err
	}
	id, err := d.uint(f[0], "pcr-log IE id")
	if err != nil {
		return Log{}, err
	}
	if id != IEPCRLog {
		return Log{}, d.errf("pcr-log IE id", f[0].off, "%d, want %d (PCR log)", id, IEPCRLog)
	}
	var l Log
	if l.Identifier, err = d.text(f[1], "identifier", maxLogIdentifier+1); err != nil {
		return Log{}, err
	}
	if l.Start, err = d.uint(f[2], "start"); err != nil {
		return Log{}, err
	}
	if l.Count, err = d.uint(f[3], "count"); err != nil {
		return Log{}, err
	}
	if l.Content, err = d.bytes(f[4], "content", MaxLog); err != nil {
		return Log{}, err
	}
	l.Offset = contentOffset(f[4])
	return l, nil
}

// contentOffset is where a bstr's bytes start: after its head.
func contentOffset(it item) int {
	if len(it.raw) == 0 {
		return it.off
	}
	switch ai := it.raw[0] & 0x1f; {
	case ai < 24:
		return it.off + 1
	case ai == 24:
		return it.off + 2
	case ai == 25:
		return it.off + 3
	case ai == 26:
		return it.off + 5
	default:
		return it.off + 9
	}
}
