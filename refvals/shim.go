package refvals

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"fmt"

	"github.com/goldenpcr/goldenpcr/authenticode"
	"github.com/goldenpcr/goldenpcr/eventlog"
)

// Shim is what shim measures into PCR 7 as it boots: the SbatLevel it
// applies and the vendor certificate (as a MokListRT entry) it verifies
// the next loader with.
type Shim struct {
	// SbatLevel is the "previous" revocation level in shim's .sbatlevel
	// section, which shim's default policy applies and measures.
	SbatLevel []byte
	// VendorCert is the DER certificate of shim's .vendor_cert section.
	VendorCert *x509.Certificate
}

// ReadShim extracts shim's PCR 7 inputs from its binary.
func ReadShim(path string) (*Shim, error) {
	img, err := authenticode.Open(path)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	if _, ok := img.Section(".vendor_cert"); !ok {
		return nil, fmt.Errorf("%s: no .vendor_cert section: not shim", path)
	}
	vendor, err := img.SectionData(".vendor_cert")
	if err != nil {
		return nil, err
	}
	// struct cert_table: authorized size, deauthorized size, authorized
	// offset, deauthorized offset; offsets from the section start.
	if len(vendor) < 16 {
		return nil, fmt.Errorf("%s: .vendor_cert is %d bytes", path, len(vendor))
	}
	size, off := binary.LittleEndian.Uint32(vendor[0:]), binary.LittleEndian.Uint32(vendor[8:])
	if uint64(off)+uint64(size) > uint64(len(vendor)) || size == 0 {
		return nil, fmt.Errorf("%s: .vendor_cert authorized certificate [%d, +%d) out of range", path, off, size)
	}
	cert, err := x509.ParseCertificate(vendor[off : off+size])
	if err != nil {
		return nil, fmt.Errorf("%s: vendor certificate (an ESL vendor_db is not supported yet): %w", path, err)
	}
	s := &Shim{VendorCert: cert}
	if _, ok := img.Section(".sbatlevel"); ok {
		lvl, err := img.SectionData(".sbatlevel")
		if err != nil {
			return nil, err
		}
		// u32 version, then offsets (from byte 4) of the NUL-terminated
		// "previous" and "latest" levels.
		if len(lvl) < 12 {
			return nil, fmt.Errorf("%s: .sbatlevel is %d bytes", path, len(lvl))
		}
		prev := 4 + int(binary.LittleEndian.Uint32(lvl[4:]))
		if prev >= len(lvl) {
			return nil, fmt.Errorf("%s: .sbatlevel previous offset out of range", path)
		}
		end := bytes.IndexByte(lvl[prev:], 0)
		if end < 0 {
			return nil, fmt.Errorf("%s: .sbatlevel previous level is not NUL-terminated", path)
		}
		s.SbatLevel = lvl[prev : prev+end]
	}
	return s, nil
}

// sbatOriginal is the SbatLevel shim (15.5+) sets and measures when
// secure boot is off: the first revocation level, not its .sbatlevel.
const sbatOriginal = "sbat,1,2021030218\n"

// Authorities returns what shim measures into PCR 7 after firmware's db
// authority: SbatLevel, then, with secure boot on, the vendor certificate
// as a MokListRT entry when it verifies the next loader. With secure boot
// off shim verifies nothing and measures the original SbatLevel, as the
// lab's shim-nosb boot shows.
func (s *Shim) Authorities(next string, secureBoot bool) []Authority {
	if !secureBoot {
		if s.SbatLevel == nil {
			return nil
		}
		return []Authority{{Variable: Variable{eventlog.GUIDShimLock, "SbatLevel", []byte(sbatOriginal)}, Why: "shim's SBAT level with secure boot off"}}
	}
	var out []Authority
	if s.SbatLevel != nil {
		out = append(out, Authority{Variable: Variable{eventlog.GUIDShimLock, "SbatLevel", s.SbatLevel}, Why: "shim's SBAT revocation level"})
	}
	entry := append(append([]byte{}, eventlog.GUIDShimLock[:]...), s.VendorCert.Raw...)
	return append(out, Authority{Variable: Variable{eventlog.GUIDShimLock, "MokListRT", entry}, Why: "verified " + next + " with shim's vendor certificate"})
}
