package cml

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/goldenpcr/goldenpcr/cml/tpm2dpb"
	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmcert"
	"github.com/goldenpcr/goldenpcr/tpmstruct"
)

// AttestationType is which PCRs a request asks the device to quote.
type AttestationType = tpm2dpb.IdsAttestationType

// The attestation types: BASIC quotes PCRs 0-11, ALL 0-23 (rattestation
// aborts on it, tpm2d does not), ADVANCED the request's bitmap.
const (
	Basic    = tpm2dpb.IdsAttestationType_BASIC
	All      = tpm2dpb.IdsAttestationType_ALL
	Advanced = tpm2dpb.IdsAttestationType_ADVANCED
)

// ParseAttestationType reads BASIC, ALL or ADVANCED (any case).
func ParseAttestationType(s string) (AttestationType, error) {
	v, ok := tpm2dpb.IdsAttestationType_value[strings.ToUpper(strings.TrimSpace(s))]
	if !ok {
		return 0, fmt.Errorf("attestation type %q: want BASIC, ALL or ADVANCED", s)
	}
	return AttestationType(v), nil
}

// Nonce sizes: DefaultNonceSize is goldenpcr's, RattestationNonceSize the
// stock verifier's; a TPM takes at most MaxNonceSize bytes of
// qualifyingData (a TPM2B_DATA holds one SHA-512 digest).
const (
	DefaultNonceSize      = 32
	RattestationNonceSize = 8
	MinNonceSize          = 8
	MaxNonceSize          = 64
)

// Request is what a verifier asks tpm2d for.
type Request struct {
	AType AttestationType
	// PCRs is the ADVANCED bitmap: bit n selects PCR n, n < 24.
	PCRs uint32
	// Nonce is the qualifying data the quote must carry.
	Nonce []byte
}

// NewRequest makes a request with a fresh random nonce of nonceSize bytes.
func NewRequest(atype AttestationType, pcrs uint32, nonceSize int) (*Request, error) {
	if nonceSize < MinNonceSize || nonceSize > MaxNonceSize {
		return nil, fmt.Errorf("nonce size %d: want %d to %d bytes (a TPM takes at most %d; fewer than %d is guessable)",
			nonceSize, MinNonceSize, MaxNonceSize, MaxNonceSize, MinNonceSize)
	}
	r := &Request{AType: atype, PCRs: pcrs, Nonce: make([]byte, nonceSize)}
	if _, err := rand.Read(r.Nonce); err != nil {
		return nil, err
	}
	if _, err := r.Selection(); err != nil {
		return nil, err
	}
	return r, nil
}

// BasicPCRs and AllPCRs are the bitmaps BASIC and ALL stand for.
const (
	BasicPCRs uint32 = 1<<12 - 1
	AllPCRs   uint32 = 1<<24 - 1
)

// Bitmap returns the PCRs the request selects as a bitmap.
func (r *Request) Bitmap() (uint32, error) {
	switch r.AType {
	case Basic:
		return BasicPCRs, nil
	case All:
		return AllPCRs, nil
	case Advanced:
		switch {
		case r.PCRs == 0:
			return 0, errors.New("an ADVANCED request needs a PCR bitmap that selects at least one PCR")
		case r.PCRs&^AllPCRs != 0:
			return 0, fmt.Errorf("PCR bitmap 0x%x selects PCRs above 23", r.PCRs)
		}
		return r.PCRs, nil
	}
	return 0, fmt.Errorf("unknown attestation type %d", int32(r.AType))
}

// Selection returns the SHA-256 selection the request asks tpm2d to
// quote: the device quotes its SHA-256 bank only.
func (r *Request) Selection() (pcr.Selection, error) {
	m, err := r.Bitmap()
	if err != nil {
		return nil, err
	}
	return BitmapSelection(m), nil
}

// BitmapSelection returns the SHA-256 selection of a PCR bitmap.
func BitmapSelection(m uint32) pcr.Selection {
	var pcrs []int
	for i := 0; i < pcr.NumPCRs; i++ {
		if m&(1<<i) != 0 {
			pcrs = append(pcrs, i)
		}
	}
	return pcr.Selection{{Alg: pcr.SHA256, PCRs: pcrs}}
}

// Marshal encodes the request as tpm2d reads it: code, atype, the nonce,
// and the bitmap for ADVANCED (attest_ima and attest_containers are left
// to their defaults, true, as rattestation leaves them).
func (r *Request) Marshal() ([]byte, error) {
	if _, err := r.Bitmap(); err != nil {
		return nil, err
	}
	m := &tpm2dpb.RemoteToTpm2D{
		Code:           tpm2dpb.RemoteToTpm2D_ATTESTATION_REQ.Enum(),
		Atype:          r.AType.Enum(),
		QualifyingData: r.Nonce,
	}
	if r.AType == Advanced {
		m.Pcrs = proto.Int32(int32(r.PCRs))
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// ParseRequest decodes a request, as tpm2d does (a test device uses it).
func ParseRequest(payload []byte) (*Request, error) {
	var m tpm2dpb.RemoteToTpm2D
	if err := proto.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("RemoteToTpm2d: %w", err)
	}
	if m.GetCode() != tpm2dpb.RemoteToTpm2D_ATTESTATION_REQ {
		return nil, fmt.Errorf("RemoteToTpm2d: code %d is not ATTESTATION_REQ", m.GetCode())
	}
	return &Request{AType: m.GetAtype(), PCRs: uint32(m.GetPcrs()), Nonce: m.GetQualifyingData()}, nil
}

// ResponseError is a response that cannot be decoded: not a
// Tpm2dToRemote, not an ATTESTATION_RES, or a part that is malformed.
// Field names the part ("" for the message itself).
type ResponseError struct {
	Field string
	Err   error
}

func (e *ResponseError) Error() string {
	if e.Field == "" {
		return "Tpm2dToRemote: " + e.Err.Error()
	}
	return "Tpm2dToRemote." + e.Field + ": " + e.Err.Error()
}

func (e *ResponseError) Unwrap() error { return e.Err }

// Response is a decoded Tpm2dToRemote. Parts the device left out are nil;
// the checks that need them fail.
type Response struct {
	Msg   *tpm2dpb.Tpm2DToRemote
	AType AttestationType
	// Bank is the PCR bank halg names (SHA-256 for every tpm2d).
	Bank pcr.Alg
	// Attest is the quoted TPMS_ATTEST, Signature its TPMT_SIGNATURE.
	Attest    *tpmstruct.Attest
	Signature *tpmstruct.Signature
	// Cert is the device certificate, whose key signed the quote.
	Cert *tpmcert.TPMCertificate
	// PCRNumbers are the reported PCRs in the order the device listed
	// them (ascending; DecodeResponse refuses anything else), PCRs their
	// values in Bank.
	PCRNumbers []int
	PCRs       pcr.Values
	// IMA is the raw binary_runtime_measurements, Containers the
	// container list.
	IMA        []byte
	Containers []*tpm2dpb.MlContainerEntry
}

// DecodeResponse decodes a response frame's payload and the TPM
// structures and certificate it carries. Anything malformed is a
// ResponseError naming the field (and, inside TPM structures, the byte).
func DecodeResponse(payload []byte) (*Response, error) {
	m := &tpm2dpb.Tpm2DToRemote{}
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, &ResponseError{Err: err}
	}
	if m.GetCode() != tpm2dpb.Tpm2DToRemote_ATTESTATION_RES {
		return nil, &ResponseError{Field: "code", Err: fmt.Errorf("%d is not ATTESTATION_RES", m.GetCode())}
	}
	r := &Response{Msg: m, AType: m.GetAtype(), IMA: m.GetMlImaEntry(), Containers: m.GetMlContainerEntry(), PCRs: pcr.Values{}}
	if m.Halg == nil {
		return nil, &ResponseError{Field: "halg", Err: errors.New("missing: the PCR values' hash is not named")}
	}
	bank, ok := pcr.AlgForSize(int(m.GetHalg()))
	if !ok || bank == pcr.SM3256 {
		return nil, &ResponseError{Field: "halg", Err: fmt.Errorf("%d is not a PCR size goldenpcr knows", m.GetHalg())}
	}
	r.Bank = bank
	var err error
	if q := m.GetQuoted(); len(q) > 0 {
		if r.Attest, err = tpmstruct.ParseAttest(q); err != nil {
			return nil, &ResponseError{Field: "quoted", Err: err}
		}
	}
	if s := m.GetSignature(); len(s) > 0 {
		if r.Signature, err = tpmstruct.ParseSignature(s); err != nil {
			return nil, &ResponseError{Field: "signature", Err: err}
		}
	}
	if c := m.GetCertificate(); len(c) > 0 {
		if r.Cert, err = tpmcert.ParseTPMCertificate(c); err != nil {
			return nil, &ResponseError{Field: "certificate", Err: err}
		}
	}
	last := -1
	for i, p := range m.GetPcrValues() {
		field := fmt.Sprintf("pcr_values[%d]", i)
		switch {
		case p.Number == nil:
			return nil, &ResponseError{Field: field, Err: errors.New("no PCR number")}
		case p.GetNumber() < 0 || p.GetNumber() >= pcr.NumPCRs:
			return nil, &ResponseError{Field: field, Err: fmt.Errorf("PCR %d does not exist (0-23)", p.GetNumber())}
		case int(p.GetNumber()) <= last:
			return nil, &ResponseError{Field: field, Err: fmt.Errorf("PCR %d after PCR %d: the values must be ascending, each PCR once", p.GetNumber(), last)}
		case len(p.GetValue()) != bank.Size():
			return nil, &ResponseError{Field: field, Err: fmt.Errorf("PCR %d has a %d-byte value, halg says %d", p.GetNumber(), len(p.GetValue()), bank.Size())}
		}
		last = int(p.GetNumber())
		r.PCRNumbers = append(r.PCRNumbers, last)
		r.PCRs.Set(bank, last, p.GetValue())
	}
	return r, nil
}
