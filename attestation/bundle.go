// Package attestation owns the adapters from the whole attestations that
// attester libraries ship to goldenpcr's structures: go-tpm-tools'
// attest.Attestation (protobuf, read with protowire, and protojson) and
// go-attestation's PlatformParameters (encoding/json) become a Bundle of
// one AK, its quotes with their PCR values, the TCG event log and the AK
// certificate chain. Verifying a bundle is package quote's
// (quote.VerifyBundle).
package attestation

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/internal/strictjson"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
	"google.golang.org/protobuf/encoding/protowire"
)

// Bundle is a whole attestation as an attester library ships it: one AK,
// several quotes (typically one per PCR bank), their PCR values and the
// TCG event log. ParseAttestation, ParseAttestationJSON and
// ParsePlatformParameters read the go-tpm-tools and go-attestation forms;
// quote.VerifyBundle checks every quote.
type Bundle struct {
	// Format names the input, e.g. "go-tpm-tools attest.Attestation (protobuf)".
	Format string
	// AKPublic is the AK's TPMT_PUBLIC as shipped; AK is it parsed (nil
	// when the bundle carries none, which fails every signature check).
	AKPublic []byte
	AK       *tpmstruct.PublicKey
	Quotes   []BundleQuote
	// PCRs is go-attestation's flat PCR list, which the quotes together
	// must cover; nil for go-tpm-tools, whose quotes carry their own.
	PCRs pcr.Values
	// EventLog is the raw TCG event log, empty when the bundle has none.
	EventLog []byte
	// AKCert and IntermediateCerts are go-tpm-tools' optional AK
	// certificate chain (DER), checked under quote.Policy.AKCert once
	// ParseCertificates has read them.
	AKCert            []byte
	IntermediateCerts [][]byte
	AKCertificate     *tpmcert.TPMCertificate
	Intermediates     []*x509.Certificate
	// EKCert is the TPM's EK certificate when the verifier has one for
	// this device (attestations do not carry it).
	EKCert *tpmcert.TPMCertificate
	// Ignored names the parts of the bundle goldenpcr does not verify
	// (TEE attestations, the canonical event log, GCE instance info).
	Ignored []string
}

// BundleQuote is one quote of a bundle.
type BundleQuote struct {
	Attest    *tpmstruct.Attest
	Signature *tpmstruct.Signature
	// PCRs are the values shipped with this quote (go-tpm-tools' per-bank
	// PCRs message); nil when the bundle has one flat list (go-attestation).
	PCRs pcr.Values
	// Bank is the bank the bundle says the quote covers (go-tpm-tools'
	// PCRs.hash); 0 when it does not say.
	Bank pcr.Alg
}

// Size limits of bundle contents: quotes are small, event logs of real
// machines reach a few hundred kilobytes.
const (
	maxBundleQuotes = 64
	maxBundlePCRs   = maxBundleQuotes * pcr.NumPCRs
)

// --- go-tpm-tools attest.Attestation, protobuf binary ---

// pbQuote collects a tpm.Quote message as read from the wire.
type pbQuote struct {
	quote, sig []byte
	hash       uint64
	hasPCRs    bool
	// pcrs[i] is PCR i's value when present has bit i; keys past the last
	// PCR, which convert refuses, are kept apart as they are rare.
	pcrs    [pcr.NumPCRs][]byte
	present uint32
	others  map[uint32]bool
	at      int // offset of the message in the input
}

// attestationFields names the fields of attest.Attestation by number.
var attestationFields = [...]string{1: "ak_pub", 2: "quotes", 3: "event_log", 4: "instance_info", 5: "canonical_event_log",
	6: "ak_cert", 7: "intermediate_certs", 8: "sev_snp_attestation", 9: "tdx_attestation"}

// ParseAttestation reads a go-tpm-tools attest.Attestation in protobuf
// binary encoding (proto/attest.proto: ak_pub = 1 TPMT_PUBLIC, quotes = 2
// tpm.Quote {quote = 1 TPMS_ATTEST, raw_sig = 2 TPMT_SIGNATURE, pcrs = 3
// PCRs {hash = 1, map<uint32, bytes> pcrs = 2}}, event_log = 3, ak_cert =
// 6, intermediate_certs = 7; the TEE attestations, canonical event log
// and instance info are noted and skipped). The Bundle's byte slices, the
// event log among them, share data's memory: a batch of attestations
// costs no copy of their logs. data must not change after.
func ParseAttestation(data []byte) (*Bundle, error) {
	r := &pbReader{data: data, msg: "attest.Attestation"}
	var akPub, log, akCert []byte
	var inter [][]byte
	var quotes []*pbQuote
	ignored := map[string]bool{}
	for !r.done() {
		num, wt, at, err := r.tag()
		if err != nil {
			return nil, err
		}
		name := ""
		if int(num) < len(attestationFields) {
			name = attestationFields[num]
		}
		if name == "" {
			if err := r.skip(num, wt, at, 0); err != nil {
				return nil, err
			}
			continue
		}
		if err := r.expect(name, num, wt, protowire.BytesType, at); err != nil {
			return nil, err
		}
		b, start, err := r.bytesField(name)
		if err != nil {
			return nil, err
		}
		switch num {
		case 1:
			akPub = b
		case 2:
			if len(quotes) == maxBundleQuotes {
				return nil, r.fail(at, "more than %d quotes", maxBundleQuotes)
			}
			q := &pbQuote{at: start}
			if err := q.parse(b, start); err != nil {
				return nil, err
			}
			quotes = append(quotes, q)
		case 3:
			log = b
		case 6:
			akCert = b
		case 7:
			inter = append(inter, b)
		default:
			ignored[name] = true
		}
	}
	bd := &Bundle{Format: "go-tpm-tools attest.Attestation (protobuf)", EventLog: nonEmpty(log), AKCert: nonEmpty(akCert), IntermediateCerts: inter}
	for _, n := range []string{"instance_info", "canonical_event_log", "sev_snp_attestation", "tdx_attestation"} {
		if ignored[n] {
			bd.Ignored = append(bd.Ignored, n)
		}
	}
	if err := bd.setAK(akPub, "ak_pub"); err != nil {
		return nil, err
	}
	for i, q := range quotes {
		bq, err := q.convert(i, "quotes")
		if err != nil {
			return nil, err
		}
		bd.Quotes = append(bd.Quotes, bq)
	}
	return bd, nil
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// parse reads a tpm.Quote message, merging into q as protobuf does when
// a message field occurs more than once.
func (q *pbQuote) parse(data []byte, base int) error {
	r := &pbReader{data: data, base: base, msg: "tpm.Quote"}
	for !r.done() {
		num, wt, at, err := r.tag()
		if err != nil {
			return err
		}
		if num < 1 || num > 3 {
			if err := r.skip(num, wt, at, 0); err != nil {
				return err
			}
			continue
		}
		name := [...]string{"", "quote", "raw_sig", "pcrs"}[num]
		if err := r.expect(name, num, wt, protowire.BytesType, at); err != nil {
			return err
		}
		b, start, err := r.bytesField(name)
		if err != nil {
			return err
		}
		switch num {
		case 1:
			q.quote = b
		case 2:
			q.sig = b
		case 3:
			q.hasPCRs = true
			if err := q.parsePCRs(b, base+start); err != nil {
				return err
			}
		}
	}
	return nil
}

// parsePCRs reads a tpm.PCRs message: hash = 1 (enum HashAlgo, whose
// values are TPM_ALG_IDs), map<uint32, bytes> pcrs = 2.
func (q *pbQuote) parsePCRs(data []byte, base int) error {
	r := &pbReader{data: data, base: base, msg: "tpm.PCRs"}
	for !r.done() {
		num, wt, at, err := r.tag()
		if err != nil {
			return err
		}
		switch num {
		case 1:
			if err := r.expect("hash", num, wt, protowire.VarintType, at); err != nil {
				return err
			}
			if q.hash, err = r.varint("hash"); err != nil {
				return err
			}
		case 2:
			if err := r.expect("pcrs", num, wt, protowire.BytesType, at); err != nil {
				return err
			}
			b, start, err := r.bytesField("pcrs")
			if err != nil {
				return err
			}
			k, v, err := parseMapEntry(b, base+start)
			if err != nil {
				return err
			}
			if !q.hasPCR(k) && bits.OnesCount32(q.present)+len(q.others) == maxBundlePCRs {
				return r.fail(at, "more than %d PCR values", maxBundlePCRs)
			}
			q.setPCR(k, v)
		default:
			if err := r.skip(num, wt, at, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

func (q *pbQuote) hasPCR(k uint32) bool {
	if k < pcr.NumPCRs {
		return q.present&(1<<k) != 0
	}
	return q.others[k]
}

// setPCR records PCR k's value; a later value of the same PCR replaces
// an earlier one, as in a protobuf map.
func (q *pbQuote) setPCR(k uint32, v []byte) {
	if k < pcr.NumPCRs {
		q.pcrs[k] = v
		q.present |= 1 << k
		return
	}
	if q.others == nil {
		q.others = map[uint32]bool{}
	}
	q.others[k] = true
}

// parseMapEntry reads one map<uint32, bytes> entry: key = 1, value = 2.
func parseMapEntry(data []byte, base int) (uint32, []byte, error) {
	r := &pbReader{data: data, base: base, msg: "tpm.PCRs.PcrsEntry"}
	var key uint32
	var val []byte
	for !r.done() {
		num, wt, at, err := r.tag()
		if err != nil {
			return 0, nil, err
		}
		switch num {
		case 1:
			if err := r.expect("key", num, wt, protowire.VarintType, at); err != nil {
				return 0, nil, err
			}
			v, err := r.varint("key")
			if err != nil {
				return 0, nil, err
			}
			key = uint32(v) // protobuf truncates a uint32 field's varint
		case 2:
			if err := r.expect("value", num, wt, protowire.BytesType, at); err != nil {
				return 0, nil, err
			}
			if val, _, err = r.bytesField("value"); err != nil {
				return 0, nil, err
			}
		default:
			if err := r.skip(num, wt, at, 0); err != nil {
				return 0, nil, err
			}
		}
	}
	return key, val, nil
}

// convert parses the TPM structures of a quote read from a bundle.
func (q *pbQuote) convert(i int, field string) (BundleQuote, error) {
	var bq BundleQuote
	var err error
	where := func() string { return fmt.Sprintf("%s[%d]", field, i) } // for errors only
	if len(q.quote) == 0 {
		return bq, fmt.Errorf("%s: no quote (TPMS_ATTEST)", where())
	}
	if bq.Attest, err = tpmstruct.ParseAttest(q.quote); err != nil {
		return bq, fmt.Errorf("%s.quote: %w", where(), err)
	}
	if len(q.sig) > 0 {
		if bq.Signature, err = tpmstruct.ParseSignature(q.sig); err != nil {
			return bq, fmt.Errorf("%s.raw_sig: %w", where(), err)
		}
	}
	if !q.hasPCRs {
		return bq, nil
	}
	if q.hash > 0xffff {
		return bq, fmt.Errorf("%s.pcrs.hash: %d is no TPM_ALG_ID", where(), q.hash)
	}
	bq.Bank = pcr.Alg(q.hash)
	if !bq.Bank.Valid() {
		return bq, fmt.Errorf("%s.pcrs.hash: %w", where(), &pcr.UnsupportedAlgError{ID: uint16(q.hash)})
	}
	vals := make(map[int][]byte, bits.OnesCount32(q.present))
	bq.PCRs = pcr.Values{bq.Bank: vals}
	// In index order, so the first bad value reported is always the same.
	for k, v := range q.pcrs {
		if q.present&(1<<k) == 0 {
			continue
		}
		if len(v) != bq.Bank.Size() {
			return bq, fmt.Errorf("%s.pcrs: %s PCR %d is %d bytes, want %d", where(), bq.Bank, k, len(v), bq.Bank.Size())
		}
		vals[k] = v
	}
	if len(q.others) > 0 {
		return bq, fmt.Errorf("%s.pcrs: PCR %d is out of range 0-%d", where(), slices.Min(slices.Collect(maps.Keys(q.others))), pcr.NumPCRs-1)
	}
	return bq, nil
}

// setAK parses the bundle's TPMT_PUBLIC; an empty one leaves AK nil.
func (b *Bundle) setAK(raw []byte, field string) error {
	if len(raw) == 0 {
		return nil
	}
	b.AKPublic = append([]byte{}, raw...)
	t, err := tpmstruct.ParseTPMTPublic(b.AKPublic)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if b.AK, err = tpmstruct.FromTPM(t, "TPMT_PUBLIC"); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

// --- go-tpm-tools attest.Attestation, protojson ---

// pjObject decodes a protojson object, mapping each key (the lowerCamel
// JSON name or the .proto field name, as protojson accepts both) to its
// .proto name, and rejecting keys the message does not have, as
// protojson does.
func pjObject(raw json.RawMessage, msg string, fields ...string) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if err := strictjson.Members(raw, false, func(k string, v json.RawMessage) error { m[k] = v; return nil }); err != nil {
		return nil, fmt.Errorf("%s: %w", msg, err)
	}
	names := map[string]string{}
	for _, f := range fields {
		names[f] = f
		names[lowerCamel(f)] = f
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]json.RawMessage, len(m))
	for _, k := range keys {
		v := m[k]
		f, ok := names[k]
		if !ok {
			return nil, fmt.Errorf("%s: unknown field %q (fields: %s)", msg, k, strings.Join(fields, ", "))
		}
		if _, dup := out[f]; dup {
			return nil, fmt.Errorf("%s: field %s given twice", msg, f)
		}
		if string(v) != "null" { // null is the default value
			out[f] = v
		}
	}
	return out, nil
}

func lowerCamel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// pjBytes decodes a protojson bytes field: base64, standard or URL-safe,
// padded or not.
func pjBytes(raw json.RawMessage, field string) ([]byte, error) {
	if raw == nil {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: want a base64 string: %w", field, err)
	}
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return b, nil
}

// hashAlgoNames are tpm.HashAlgo's enum value names.
var hashAlgoNames = map[string]uint64{"HASH_INVALID": 0, "SHA1": 0x4, "SHA256": 0xb, "SHA384": 0xc, "SHA512": 0xd}

// ParseAttestationJSON reads a go-tpm-tools attest.Attestation in
// protojson encoding (protojson.Marshal): the fields of ParseAttestation
// under their JSON names (akPub, quotes[].rawSig, quotes[].pcrs.hash as
// "SHA256" or 11, quotes[].pcrs.pcrs as {"0": base64, …}, eventLog, …) or
// their .proto names.
func ParseAttestationJSON(data []byte) (*Bundle, error) {
	top, err := pjObject(data, "attest.Attestation", "ak_pub", "quotes", "event_log", "instance_info", "canonical_event_log",
		"ak_cert", "intermediate_certs", "sev_snp_attestation", "tdx_attestation")
	if err != nil {
		return nil, err
	}
	bd := &Bundle{Format: "go-tpm-tools attest.Attestation (protojson)"}
	for _, n := range []string{"instance_info", "canonical_event_log", "sev_snp_attestation", "tdx_attestation"} {
		if _, ok := top[n]; ok {
			bd.Ignored = append(bd.Ignored, n)
		}
	}
	akPub, err := pjBytes(top["ak_pub"], "ak_pub")
	if err != nil {
		return nil, err
	}
	if bd.EventLog, err = pjBytes(top["event_log"], "event_log"); err != nil {
		return nil, err
	}
	if bd.AKCert, err = pjBytes(top["ak_cert"], "ak_cert"); err != nil {
		return nil, err
	}
	if raw, ok := top["intermediate_certs"]; ok {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("intermediate_certs: %w", err)
		}
		for i, c := range list {
			b, err := pjBytes(c, fmt.Sprintf("intermediate_certs[%d]", i))
			if err != nil {
				return nil, err
			}
			bd.IntermediateCerts = append(bd.IntermediateCerts, b)
		}
	}
	if err := bd.setAK(akPub, "ak_pub"); err != nil {
		return nil, err
	}
	var quotes []json.RawMessage
	if raw, ok := top["quotes"]; ok {
		if err := json.Unmarshal(raw, &quotes); err != nil {
			return nil, fmt.Errorf("quotes: %w", err)
		}
	}
	if len(quotes) > maxBundleQuotes {
		return nil, fmt.Errorf("quotes: more than %d", maxBundleQuotes)
	}
	for i, raw := range quotes {
		q, err := pjQuote(raw, i)
		if err != nil {
			return nil, err
		}
		bq, err := q.convert(i, "quotes")
		if err != nil {
			return nil, err
		}
		bd.Quotes = append(bd.Quotes, bq)
	}
	return bd, nil
}

func pjQuote(raw json.RawMessage, i int) (*pbQuote, error) {
	where := fmt.Sprintf("quotes[%d]", i)
	f, err := pjObject(raw, where+" (tpm.Quote)", "quote", "raw_sig", "pcrs")
	if err != nil {
		return nil, err
	}
	q := &pbQuote{}
	if q.quote, err = pjBytes(f["quote"], where+".quote"); err != nil {
		return nil, err
	}
	if q.sig, err = pjBytes(f["raw_sig"], where+".raw_sig"); err != nil {
		return nil, err
	}
	praw, ok := f["pcrs"]
	if !ok {
		return q, nil
	}
	q.hasPCRs = true
	pf, err := pjObject(praw, where+".pcrs (tpm.PCRs)", "hash", "pcrs")
	if err != nil {
		return nil, err
	}
	if h, ok := pf["hash"]; ok {
		var name string
		if json.Unmarshal(h, &name) == nil {
			v, known := hashAlgoNames[name]
			if !known {
				return nil, fmt.Errorf("%s.pcrs.hash: %q is not a tpm.HashAlgo name (SHA1, SHA256, SHA384, SHA512)", where, name)
			}
			q.hash = v
		} else if err := json.Unmarshal(h, &q.hash); err != nil {
			return nil, fmt.Errorf("%s.pcrs.hash: want a tpm.HashAlgo name or number: %w", where, err)
		}
	}
	if m, ok := pf["pcrs"]; ok {
		entries := map[string]json.RawMessage{}
		if err := strictjson.Members(m, false, func(k string, v json.RawMessage) error { entries[k] = v; return nil }); err != nil {
			return nil, fmt.Errorf("%s.pcrs.pcrs: %w", where, err)
		}
		if len(entries) > maxBundlePCRs {
			return nil, fmt.Errorf("%s.pcrs.pcrs: more than %d PCR values", where, maxBundlePCRs)
		}
		for k, v := range entries {
			idx, err := strconv.ParseUint(k, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s.pcrs.pcrs: key %q is not a uint32", where, k)
			}
			b, err := pjBytes(v, fmt.Sprintf("%s.pcrs.pcrs[%s]", where, k))
			if err != nil {
				return nil, err
			}
			q.setPCR(uint32(idx), b)
		}
	}
	return q, nil
}

// --- go-attestation PlatformParameters, encoding/json ---

// ppJSON mirrors go-attestation's attest.PlatformParameters as
// encoding/json writes it: []byte as padded standard base64, TPMVersion
// 2 for TPM 2.0, PCR DigestAlg as a Go crypto.Hash number.
type ppJSON struct {
	TPMVersion int
	Public     []byte
	Quotes     []struct {
		Version   int
		Quote     []byte
		Signature []byte
	}
	PCRs []struct {
		Index     int
		Digest    []byte
		DigestAlg int
	}
	EventLog []byte
}

// bankOfCryptoHash maps a Go crypto.Hash number, as go-attestation writes
// DigestAlg, to its PCR bank.
func bankOfCryptoHash(h int) (pcr.Alg, bool) {
	for _, a := range pcr.KnownAlgs {
		if ch, ok := a.CryptoHash(); ok && int(ch) == h {
			return a, true
		}
	}
	return 0, false
}

// ParsePlatformParameters reads go-attestation's PlatformParameters as
// JSON (encoding/json of attest.PlatformParameters, what
// tpm.AttestPlatform returns): TPMVersion, Public (the AK's TPMT_PUBLIC),
// Quotes [{Version, Quote (TPMS_ATTEST), Signature (TPMT_SIGNATURE)}],
// PCRs [{Index, Digest, DigestAlg}] and EventLog. Only TPM 2.0 is read.
func ParsePlatformParameters(data []byte) (*Bundle, error) {
	var pp ppJSON
	if err := json.Unmarshal(data, &pp); err != nil {
		return nil, fmt.Errorf("PlatformParameters: %w", err)
	}
	// encoding/json keeps the last of a field given twice.
	if err := strictjson.NoDuplicateKeys(data); err != nil {
		return nil, fmt.Errorf("PlatformParameters: %w", err)
	}
	if pp.TPMVersion != 2 {
		return nil, fmt.Errorf("PlatformParameters: TPMVersion %d; goldenpcr verifies TPM 2.0 (TPMVersion 2) quotes only", pp.TPMVersion)
	}
	if len(pp.Quotes) > maxBundleQuotes {
		return nil, fmt.Errorf("PlatformParameters: more than %d quotes", maxBundleQuotes)
	}
	bd := &Bundle{Format: "go-attestation PlatformParameters (JSON)", EventLog: pp.EventLog}
	if len(pp.Public) == 0 {
		return nil, errors.New("PlatformParameters: no Public (the AK's TPMT_PUBLIC)")
	}
	if err := bd.setAK(pp.Public, "PlatformParameters.Public"); err != nil {
		return nil, err
	}
	for i, q := range pp.Quotes {
		if q.Version != 2 {
			return nil, fmt.Errorf("PlatformParameters.Quotes[%d]: Version %d, want 2 (TPM 2.0)", i, q.Version)
		}
		pq := &pbQuote{quote: q.Quote, sig: q.Signature}
		bq, err := pq.convert(i, "PlatformParameters.Quotes")
		if err != nil {
			return nil, err
		}
		bd.Quotes = append(bd.Quotes, bq)
	}
	if len(pp.PCRs) > maxBundlePCRs {
		return nil, fmt.Errorf("PlatformParameters: more than %d PCRs", maxBundlePCRs)
	}
	bd.PCRs = pcr.Values{}
	for i, p := range pp.PCRs {
		bank, ok := bankOfCryptoHash(p.DigestAlg)
		if !ok {
			return nil, fmt.Errorf("PlatformParameters.PCRs[%d]: DigestAlg %d is not crypto.SHA1 (3), SHA256 (5), SHA384 (6) or SHA512 (7)", i, p.DigestAlg)
		}
		if p.Index < 0 || p.Index >= pcr.NumPCRs {
			return nil, fmt.Errorf("PlatformParameters.PCRs[%d]: Index %d is out of range 0-%d", i, p.Index, pcr.NumPCRs-1)
		}
		if len(p.Digest) != bank.Size() {
			return nil, fmt.Errorf("PlatformParameters.PCRs[%d]: %s PCR %d is %d bytes, want %d", i, bank, p.Index, len(p.Digest), bank.Size())
		}
		if old, dup := bd.PCRs.Get(bank, p.Index); dup && string(old) != string(p.Digest) {
			return nil, fmt.Errorf("PlatformParameters.PCRs[%d]: %s PCR %d is listed twice with different values", i, bank, p.Index)
		}
		bd.PCRs.Set(bank, p.Index, p.Digest)
	}
	return bd, nil
}

// ParseCertificates parses AKCert and IntermediateCerts into
// AKCertificate and Intermediates.
func (b *Bundle) ParseCertificates() error {
	if len(b.AKCert) > 0 {
		c, err := tpmcert.ParseTPMCertificate(b.AKCert)
		if err != nil {
			return fmt.Errorf("ak_cert: %w", err)
		}
		b.AKCertificate = c
	}
	b.Intermediates = b.Intermediates[:0]
	for i, der := range b.IntermediateCerts {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("intermediate_certs[%d]: %w", i, err)
		}
		b.Intermediates = append(b.Intermediates, c)
	}
	return nil
}
