package eventlog

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"
)

// GUID is an EFI_GUID in its on-disk mixed-endian layout.
type GUID [16]byte

// String renders the canonical 8-4-4-4-12 form.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
}

// MarshalText makes GUIDs render as strings in JSON and YAML.
func (g GUID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// ParseGUID reads the canonical text form.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	h := strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 || len(s) != 36 {
		return g, fmt.Errorf("bad GUID %q", s)
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(b[0:4]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(b[4:6]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(b[6:8]))
	copy(g[8:], b[8:])
	return g, nil
}

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// Well-known GUIDs of variable vendors and signature types.
var (
	GUIDGlobalVariable    = mustGUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
	GUIDImageSecurityDB   = mustGUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
	GUIDShimLock          = mustGUID("605dab50-e046-4300-abb6-3dd810dd8b23")
	GUIDCertX509          = mustGUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
	GUIDCertSHA256        = mustGUID("c1c41626-504c-4092-aca9-41f936934328")
	GUIDCertSHA1          = mustGUID("826ca512-cf10-4ac9-b187-be01496631bd")
	GUIDCertSHA384        = mustGUID("ff3e5307-9fd0-48c9-85f1-8ad56c701e01")
	GUIDCertSHA512        = mustGUID("093e0fae-a6c4-4f50-9f1b-d41e2b89c19a")
	GUIDCertX509SHA256    = mustGUID("3bd2a492-96c0-4079-b420-fcf98ef103ed")
	GUIDCertRSA2048       = mustGUID("3c5766e8-269c-4e34-aa14-ed776e85b3b6")
	GUIDACPI20Table       = mustGUID("8868e871-e4f1-11d3-bc22-0080c73c8881")
	GUIDACPITable         = mustGUID("eb9d2d30-2d88-11d3-9a16-0090273fc14d")
	GUIDSMBIOSTable       = mustGUID("eb9d2d31-2d88-11d3-9a16-0090273fc14d")
	GUIDSMBIOS3Table      = mustGUID("f2fd1544-9794-4a2c-992e-e5bbcf20e394")
	GUIDMicrosoftOwner    = mustGUID("77fa9abd-0359-4d32-bd60-28f4e78f784b")
	GUIDLinuxEFIInitrdDev = mustGUID("5568e427-68fc-4f3d-ac74-ca555231cc68")
)

var guidNames = map[GUID]string{
	GUIDGlobalVariable:  "EFI_GLOBAL_VARIABLE",
	GUIDImageSecurityDB: "EFI_IMAGE_SECURITY_DATABASE",
	GUIDShimLock:        "SHIM_LOCK",
	GUIDCertX509:        "EFI_CERT_X509",
	GUIDCertSHA256:      "EFI_CERT_SHA256",
	GUIDCertSHA1:        "EFI_CERT_SHA1",
	GUIDCertSHA384:      "EFI_CERT_SHA384",
	GUIDCertSHA512:      "EFI_CERT_SHA512",
	GUIDCertX509SHA256:  "EFI_CERT_X509_SHA256",
	GUIDCertRSA2048:     "EFI_CERT_RSA2048",
	GUIDACPI20Table:     "ACPI 2.0 table",
	GUIDACPITable:       "ACPI table",
	GUIDSMBIOSTable:     "SMBIOS table",
	GUIDSMBIOS3Table:    "SMBIOS3 table",
	GUIDMicrosoftOwner:  "Microsoft",
}

// Name returns the well-known name of g, or "".
func (g GUID) Name() string { return guidNames[g] }

// decodeUTF16 turns UTF-16LE bytes into a string, stopping at a NUL.
func decodeUTF16(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// looksUTF16 guesses whether b is UTF-16LE text: even length and mostly
// ASCII code units with zero high bytes.
func looksUTF16(b []byte) bool {
	if len(b) < 2 || len(b)%2 != 0 {
		return false
	}
	zeros := 0
	for i := 1; i < len(b); i += 2 {
		if b[i] == 0 {
			zeros++
		}
	}
	return zeros*10 >= (len(b)/2)*9
}

// printable reports whether b (minus trailing NULs) is printable ASCII text.
func printable(b []byte) bool {
	b = trimNULs(b)
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if (c < 0x20 || c > 0x7e) && c != '\n' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

func trimNULs(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// EncodeVariableData builds a UEFI_VARIABLE_DATA structure, the data (and,
// for PCR 7, the hashed bytes) of EFI variable events: vendor GUID, name
// length in UTF-16 characters, data length, the UTF-16LE name without NUL,
// then the data.
func EncodeVariableData(vendor GUID, name string, data []byte) []byte {
	u := utf16.Encode([]rune(name))
	out := make([]byte, 0, 32+2*len(u)+len(data))
	out = append(out, vendor[:]...)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(u)))
	out = binary.LittleEndian.AppendUint64(out, uint64(len(data)))
	for _, c := range u {
		out = binary.LittleEndian.AppendUint16(out, c)
	}
	return append(out, data...)
}
