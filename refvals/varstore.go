package refvals

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/goldenpcr/goldenpcr/eventlog"
)

// edk2 variable-store layout (OVMF_VARS.fd): a firmware volume header,
// a VARIABLE_STORE_HEADER, then variables, each an authenticated variable
// header, its UTF-16 name with NUL, and its data, 4-byte aligned.
const (
	fvSignature       = "_FVH"
	varStoreHeaderLen = 28
	authVarHeaderLen  = 60
	varStartID        = 0x55AA
	varAdded          = 0x3F
	varAddedDeleting  = 0x3E // VAR_ADDED & VAR_IN_DELETED_TRANSITION: still live
)

var (
	guidAuthVarStore = mustGUID("aaf32c78-947b-439a-a180-2e144ec37792")
	// OVMF keeps the secure-boot switch in a vendor variable; the
	// SecureBoot variable itself is volatile and derived at boot.
	guidSecureBootEnable = mustGUID("f0a30bc7-af08-4556-99c4-001009c93a44")
)

func mustGUID(s string) eventlog.GUID {
	g, err := eventlog.ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// ReadVarStore returns the live variables of an edk2/OVMF variable store
// file. Errors give the byte offset.
func ReadVarStore(data []byte) ([]Variable, error) {
	if len(data) < 0x38 || string(data[0x28:0x2c]) != fvSignature {
		return nil, fmt.Errorf("byte 40: no firmware volume signature %q: not an edk2 variable store", fvSignature)
	}
	hdrLen := int(binary.LittleEndian.Uint16(data[0x30:]))
	if hdrLen+varStoreHeaderLen > len(data) {
		return nil, fmt.Errorf("byte 48: firmware volume header length %d exceeds the file", hdrLen)
	}
	store := data[hdrLen:]
	var sig eventlog.GUID
	copy(sig[:], store)
	if sig != guidAuthVarStore {
		return nil, fmt.Errorf("byte %d: variable store %s is not an authenticated variable store", hdrLen, sig)
	}
	size := int(binary.LittleEndian.Uint32(store[16:]))
	if size < varStoreHeaderLen || size > len(store) {
		return nil, fmt.Errorf("byte %d: variable store size %d out of range", hdrLen+16, size)
	}
	var vars []Variable
	for off := varStoreHeaderLen; off+authVarHeaderLen <= size; {
		h := store[off:]
		if binary.LittleEndian.Uint16(h) != varStartID {
			break // the rest of the store is unused (0xFF)
		}
		state := h[2]
		nameSize := int(binary.LittleEndian.Uint32(h[36:]))
		dataSize := int(binary.LittleEndian.Uint32(h[40:]))
		end := off + authVarHeaderLen + nameSize + dataSize
		if nameSize < 2 || nameSize%2 != 0 || end > size || end < off {
			return nil, fmt.Errorf("byte %d: variable with name size %d and data size %d runs past the store", hdrLen+off, nameSize, dataSize)
		}
		if state == varAdded || state == varAddedDeleting {
			var v Variable
			copy(v.Vendor[:], h[44:60])
			name := h[authVarHeaderLen : authVarHeaderLen+nameSize-2]
			u := make([]uint16, len(name)/2)
			for i := range u {
				u[i] = binary.LittleEndian.Uint16(name[2*i:])
			}
			v.Name = string(utf16.Decode(u))
			v.Data = append([]byte{}, h[authVarHeaderLen+nameSize:authVarHeaderLen+nameSize+dataSize]...)
			vars = append(vars, v)
		}
		off = (end + 3) &^ 3
	}
	return vars, nil
}

// SecureBootFromVarStore picks the secure-boot configuration out of a
// variable store: PK, KEK, db and dbx, and whether secure boot will be on
// (a PK is enrolled and OVMF's SecureBootEnable, if present, is set).
func SecureBootFromVarStore(vars []Variable) (secureBoot bool, pk, kek, db, dbx []byte) {
	enable := true
	for _, v := range vars {
		switch {
		case v.Vendor == eventlog.GUIDGlobalVariable && v.Name == "PK":
			pk = v.Data
		case v.Vendor == eventlog.GUIDGlobalVariable && v.Name == "KEK":
			kek = v.Data
		case v.Vendor == eventlog.GUIDImageSecurityDB && v.Name == "db":
			db = v.Data
		case v.Vendor == eventlog.GUIDImageSecurityDB && v.Name == "dbx":
			dbx = v.Data
		case v.Vendor == guidSecureBootEnable && v.Name == "SecureBootEnable":
			enable = len(v.Data) == 1 && v.Data[0] == 1
		}
	}
	return enable && len(pk) > 0, pk, kek, db, dbx
}
