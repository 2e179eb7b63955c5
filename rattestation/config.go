package rattestation

import (
	"bytes"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/goldenpcr/goldenpcr/pcr"
	"github.com/goldenpcr/goldenpcr/tpmcert"
)

// AType is IdsAttestationType: which PCRs the device quotes.
type AType int32

// The attestation types, with the proto enum's numbers.
const (
	Basic    AType = 0 // PCRs 0-11
	All      AType = 1 // PCRs 0-23; rattestation aborts on it
	Advanced AType = 2 // the pcrs bitmap
)

// The PCRs CML's IMA and cmld extend, and rattestation's defaults for
// ima_pcr and container_pcr.
const (
	IMAPCR       = 10
	ContainerPCR = 11
)

// valueSize is the size of each PCR value: halg SHA256, the one bank the
// CML device quotes.
const valueSize = 32

func (a AType) String() string {
	switch a {
	case Basic:
		return "BASIC"
	case All:
		return "ALL"
	case Advanced:
		return "ADVANCED"
	}
	return "IdsAttestationType(" + strconv.Itoa(int(a)) + ")"
}

// ParseAType reads BASIC or ADVANCED (any case); ALL is refused with an
// *AllError.
func ParseAType(s string) (AType, error) {
	switch strings.ToUpper(s) {
	case "BASIC":
		return Basic, nil
	case "ADVANCED":
		return Advanced, nil
	case "ALL":
		return All, &AllError{}
	}
	return 0, fieldErr("atype", "%q: want BASIC or ADVANCED", s)
}

// Config is a RAttestationConfig: what rattestation reads from a
// rattestation.conf.
type Config struct {
	Name  string
	AType AType
	// PCRs is the pcrs bitmap of ADVANCED as ascending indices; empty for
	// BASIC.
	PCRs []int
	// Values are the expected SHA-256 values, exactly one for each PCR
	// the attestation type quotes (Quoted).
	Values map[int][]byte
	// KmodCert is kmod_sign_cert: the PEM text of the certificate that
	// signs kernel modules and IMA signatures (Write always gives PEM;
	// Parse keeps a file name as it found it, with a warning).
	KmodCert         string
	VerifyIMA        bool
	VerifyContainers bool
	IMAPCR           int // ima_pcr, 10 unless the file says otherwise
	ContainerPCR     int // container_pcr, 11 unless the file says otherwise
	// Warnings are what Parse accepted that rattestation may stumble on
	// later (a kmod_sign_cert that is no PEM text, an unused tpm_cert).
	Warnings []string
}

// Quoted returns the PCRs the attestation type quotes, ascending.
func (c *Config) Quoted() []int {
	if c.AType == Advanced {
		return slices.Clone(c.PCRs)
	}
	out := make([]int, 12)
	for i := range out {
		out[i] = i
	}
	return out
}

// check holds c to what rattestation accepts and reads as meant. The
// errors name config fields; Parse adds the lines.
func (c *Config) check() error {
	if c.Name == "" {
		return fieldErr("name", "missing or empty: the field is required")
	}
	if err := checkText("name", c.Name); err != nil {
		return err
	}
	if err := c.checkAType(); err != nil {
		return err
	}
	quoted := c.Quoted()
	var missing []int
	for _, p := range quoted {
		v, ok := c.Values[p]
		if !ok {
			missing = append(missing, p)
			continue
		}
		if len(v) != valueSize {
			return fieldErr("pcr_values", "PCR %d: value is %d bytes, want %d (halg SHA256)", p, len(v), valueSize)
		}
	}
	if len(missing) > 0 {
		return &MissingPCRError{PCRs: missing, AType: c.AType}
	}
	for _, p := range slices.Sorted(maps.Keys(c.Values)) {
		if !slices.Contains(quoted, p) {
			return fieldErr("pcr_values", "PCR %d is not quoted by atype %s (PCRs %s); rattestation needs exactly one value per quoted PCR and no other", p, c.AType, pcr.FormatPCRList(quoted))
		}
	}
	if c.KmodCert == "" {
		return fieldErr("kmod_sign_cert", "missing or empty: the field is required")
	}
	if err := checkText("kmod_sign_cert", c.KmodCert); err != nil {
		return err
	}
	for _, s := range []struct {
		field, pcrField string
		on              bool
		pcr, devicePCR  int
	}{
		{"verify_ima", "ima_pcr", c.VerifyIMA, c.IMAPCR, IMAPCR},
		{"verify_containers", "container_pcr", c.VerifyContainers, c.ContainerPCR, ContainerPCR},
	} {
		if s.pcr < 0 || s.pcr >= pcr.NumPCRs {
			return fieldErr(s.pcrField, "%d: want a PCR 0-23", s.pcr)
		}
		if !s.on {
			continue
		}
		if !slices.Contains(quoted, s.pcr) {
			return &NotQuotedError{PCR: s.pcr, Field: s.field, AType: c.AType}
		}
		if pcr.IsInitial(pcr.SHA256, s.pcr, c.Values[s.pcr]) {
			return &UnreachableError{PCR: s.pcr, Field: s.field}
		}
	}
	return nil
}

// checkAType refuses ALL, unknown types, a pcrs bitmap with BASIC and an
// ADVANCED one that names no PCR or one beyond 23.
func (c *Config) checkAType() error {
	switch c.AType {
	case Basic:
		if len(c.PCRs) > 0 {
			return fieldErr("pcrs", "applies to atype ADVANCED only; BASIC quotes PCRs 0-11")
		}
	case Advanced:
		if len(c.PCRs) == 0 {
			return fieldErr("pcrs", "atype ADVANCED needs a pcrs bitmap naming at least one PCR (without it rattestation fails at verification)")
		}
		for i, p := range c.PCRs {
			if p < 0 || p >= pcr.NumPCRs {
				return fieldErr("pcrs", "PCR %d: the bitmap holds PCRs 0-23", p)
			}
			if i > 0 && p <= c.PCRs[i-1] {
				return fieldErr("pcrs", "PCRs must be ascending and unique")
			}
		}
	case All:
		return &AllError{}
	default:
		return fieldErr("atype", "%s: want BASIC or ADVANCED", c.AType)
	}
	return nil
}

// checkText refuses what a string field cannot carry: protobuf-c-text
// stops reading at a NUL or a byte ≥ 0x80, and other control bytes than
// LF, CR and tab have no escape it knows.
func checkText(field, s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f {
			return fieldErr(field, "byte 0x%02x at offset %d: only printable ASCII, tab and newlines can be written", c, i)
		}
	}
	return nil
}

// Marshal writes c as protobuf-c-text reads it: fields in field-number
// order, one per line, LF endings, ASCII only, enum values as bare names,
// numbers in decimal, `pcr_values {` blocks in ascending PCR order with
// bare lowercase hex, and strings with \n, \t, \r, \" and \\ escapes
// only. It refuses (typed errors naming the field or PCR) a config
// rattestation would reject or misread.
func (c *Config) Marshal() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "name: %s\n", quoteString(c.Name))
	fmt.Fprintf(&b, "atype: %s\n", c.AType)
	b.WriteString("halg: SHA256\n")
	if c.AType == Advanced {
		fmt.Fprintf(&b, "pcrs: %d\n", bitmap(c.PCRs))
	}
	for _, p := range c.Quoted() {
		fmt.Fprintf(&b, "pcr_values {\n  number: %d\n  value: \"%s\"\n}\n", p, hex.EncodeToString(c.Values[p]))
	}
	fmt.Fprintf(&b, "kmod_sign_cert: %s\n", quoteString(c.KmodCert))
	fmt.Fprintf(&b, "verify_ima: %t\n", c.VerifyIMA)
	if c.IMAPCR != IMAPCR {
		fmt.Fprintf(&b, "ima_pcr: %d\n", c.IMAPCR)
	}
	fmt.Fprintf(&b, "verify_containers: %t\n", c.VerifyContainers)
	if c.ContainerPCR != ContainerPCR {
		fmt.Fprintf(&b, "container_pcr: %d\n", c.ContainerPCR)
	}
	return b.Bytes(), nil
}

// bitmap is the pcrs field: bit n for PCR n.
func bitmap(pcrs []int) int32 {
	var m int32
	for _, p := range pcrs {
		m |= 1 << p
	}
	return m
}

// quoteString writes s as a protobuf-c-text string; checkText has refused what
// it cannot carry.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// CertificatePEM returns the PEM text of the one X.509 certificate in
// data (PEM or DER), as kmod_sign_cert carries it: a CERTIFICATE block
// with LF line endings and nothing around it.
func CertificatePEM(data []byte) (string, error) {
	certs, err := tpmcert.ParseCertificates(data)
	switch {
	case err != nil:
		return "", fieldErr("kmod_sign_cert", "not an X.509 certificate: %v", err)
	case len(certs) > 1:
		return "", fieldErr("kmod_sign_cert", "%d certificates; give the one that signs kernel modules and IMA signatures", len(certs))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw})), nil
}

// FileNameError refuses a config file name rattestation does not read.
type FileNameError struct{ Name string }

func (e *FileNameError) Error() string {
	return fmt.Sprintf("%s: rattestation reads a config only from a file whose name ends in .conf", e.Name)
}

// CheckFileName refuses a file name rattestation would not read as a
// config: it must end in ".conf".
func CheckFileName(name string) error {
	if !strings.HasSuffix(name, ".conf") {
		return &FileNameError{Name: name}
	}
	return nil
}
