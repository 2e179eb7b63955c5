package refvals

import (
	"fmt"

	"github.com/goldenpcr/goldenpcr/baseline"
	"github.com/goldenpcr/goldenpcr/eventlog"
)

// PCRSecureBootPolicy is where firmware measures the secure-boot
// configuration and the authorities that verified each loaded image.
const PCRSecureBootPolicy = 7

// Variable is an EFI variable as firmware measures it.
type Variable struct {
	Vendor eventlog.GUID
	Name   string
	Data   []byte
}

// SecureBootVariables are the variables UEFI firmware measures into PCR 7
// before the separator, in the specification's order; an empty list
// (dbx unset, or every list with secure boot off) is measured as empty.
func SecureBootVariables(secureBoot bool, pk, kek, db, dbx []byte) []Variable {
	sb := []byte{0}
	if secureBoot {
		sb[0] = 1
	}
	return []Variable{
		{eventlog.GUIDGlobalVariable, "SecureBoot", sb},
		{eventlog.GUIDGlobalVariable, "PK", pk},
		{eventlog.GUIDGlobalVariable, "KEK", kek},
		{eventlog.GUIDImageSecurityDB, "db", db},
		{eventlog.GUIDImageSecurityDB, "dbx", dbx},
	}
}

// Authority is one EV_EFI_VARIABLE_AUTHORITY measurement: the db entry
// (owner GUID + certificate, as EFI_SIGNATURE_DATA) that verified an image,
// or shim's own authorities (its vendor certificate as "Shim", SbatLevel,
// MokListRT entries).
type Authority struct {
	Variable
	// ShimPadding reproduces shim before 15.3, which hashed 5 zero bytes
	// of struct padding after the variable.
	ShimPadding bool
	// Why says which image this authority verified.
	Why string
}

// DBAuthority is the authority event for a db entry: the owner GUID and
// the certificate or image hash that allowed an image.
func DBAuthority(owner eventlog.GUID, entry []byte) Variable {
	return Variable{eventlog.GUIDImageSecurityDB, "db", append(append([]byte{}, owner[:]...), entry...)}
}

// SecureBootPCR7 appends the PCR 7 measurements: each configuration
// variable, the separator, then the authorities in the order they are
// measured. Firmware measures an authority only the first time it verifies
// an image, while shim before 15.3 measured its vendor certificate for
// every image it verified, so the caller passes the list as measured.
func SecureBootPCR7(b *baseline.Builder, vars []Variable, authorities []Authority) error {
	for _, v := range vars {
		data := eventlog.EncodeVariableData(v.Vendor, v.Name, v.Data)
		if err := b.Extend(PCRSecureBootPolicy, baseline.Measurement{
			Type: "EV_EFI_VARIABLE_DRIVER_CONFIG", Description: fmt.Sprintf("%s (%d bytes)", v.Name, len(v.Data)),
			Data: data, Digest: baseline.HashOf(data),
			Provenance: baseline.Provenance{Rule: "UEFI: secure-boot variable, H(UEFI_VARIABLE_DATA)"},
		}); err != nil {
			return err
		}
	}
	if err := Separator(b, PCRSecureBootPolicy); err != nil {
		return err
	}
	for _, a := range authorities {
		data := eventlog.EncodeVariableData(a.Vendor, a.Name, a.Data)
		hashed := data
		rule := "UEFI: authority that verified an image, H(UEFI_VARIABLE_DATA)"
		if a.ShimPadding {
			hashed = append(append([]byte{}, data...), 0, 0, 0, 0, 0)
			rule = "shim < 15.3: authority, H(UEFI_VARIABLE_DATA || 5 zero bytes)"
		}
		if err := b.Extend(PCRSecureBootPolicy, baseline.Measurement{
			Type: "EV_EFI_VARIABLE_AUTHORITY", Description: a.Name + " " + a.Why, Data: data,
			Digest: baseline.HashOf(hashed), Provenance: baseline.Provenance{Rule: rule},
		}); err != nil {
			return err
		}
	}
	return nil
}

// Separator appends the EV_SEPARATOR firmware measures into PCRs 0-7:
// four zero bytes.
func Separator(b *baseline.Builder, index int) error {
	sep := []byte{0, 0, 0, 0}
	return b.Extend(index, baseline.Measurement{Type: "EV_SEPARATOR", Description: "separator", Data: sep,
		Digest: baseline.HashOf(sep), Provenance: baseline.Provenance{Rule: "UEFI: separator, H(00000000)"}})
}
