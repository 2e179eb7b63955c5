package eventlog

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// DevicePathText renders an EFI device path in the UEFI specification's
// text form ("PciRoot(0x0)/Pci(0x1,0x1)/…/\EFI\BOOT\BOOTX64.EFI"). Nodes it
// does not know are shown generically as Path(type,subtype,hex).
func DevicePathText(b []byte) (string, error) {
	var parts []string
	off := 0
	for off < len(b) {
		if len(b)-off < 4 {
			return strings.Join(parts, "/"), fmt.Errorf("device path truncated at byte %d: node header needs 4 bytes, %d left", off, len(b)-off)
		}
		typ, sub := b[off], b[off+1]
		n := int(binary.LittleEndian.Uint16(b[off+2:]))
		if n < 4 || n > len(b)-off {
			return strings.Join(parts, "/"), fmt.Errorf("device path node at byte %d: length %d out of range 4-%d", off, n, len(b)-off)
		}
		body := b[off+4 : off+n]
		off += n
		if typ == 0x7f {
			if sub == 0xff {
				break // end of the whole path
			}
			parts = append(parts, ",") // end of one instance
			continue
		}
		parts = append(parts, nodeText(typ, sub, body))
	}
	return strings.ReplaceAll(strings.Join(parts, "/"), "/,/", ","), nil
}

func nodeText(typ, sub byte, b []byte) string {
	d := decoder{buf: b}
	var s string
	switch {
	case typ == 1 && sub == 1:
		fn, dev := d.u8(), d.u8()
		s = fmt.Sprintf("Pci(0x%x,0x%x)", dev, fn)
	case typ == 1 && sub == 3:
		mt, start, end := d.u32(), d.u64(), d.u64()
		s = fmt.Sprintf("MemoryMapped(0x%x,0x%x,0x%x)", mt, start, end)
	case typ == 1 && sub == 4:
		s = vendorText("VenHw", &d)
	case typ == 2 && sub == 1:
		hid, uid := d.u32(), d.u32()
		switch hid {
		case 0x0a0341d0:
			s = fmt.Sprintf("PciRoot(0x%x)", uid)
		case 0x0a0841d0:
			s = fmt.Sprintf("PcieRoot(0x%x)", uid)
		default:
			if hid&0xffff == 0x41d0 {
				s = fmt.Sprintf("Acpi(PNP%04X,0x%x)", hid>>16, uid)
			} else {
				s = fmt.Sprintf("Acpi(0x%08x,0x%x)", hid, uid)
			}
		}
	case typ == 3 && sub == 1:
		ps, sm, lun := d.u8(), d.u8(), d.u16()
		s = fmt.Sprintf("Ata(%s,%s,0x%x)", pick(ps == 0, "Primary", "Secondary"), pick(sm == 0, "Master", "Slave"), lun)
	case typ == 3 && sub == 2:
		pun, lun := d.u16(), d.u16()
		s = fmt.Sprintf("Scsi(0x%x,0x%x)", pun, lun)
	case typ == 3 && sub == 5:
		port, iface := d.u8(), d.u8()
		s = fmt.Sprintf("USB(0x%x,0x%x)", port, iface)
	case typ == 3 && sub == 10:
		s = vendorText("VenMsg", &d)
	case typ == 3 && sub == 11:
		mac, ift := d.bytes(32), d.u8()
		if d.err == nil {
			s = fmt.Sprintf("MAC(%s,0x%x)", hex.EncodeToString(mac[:6]), ift)
		}
	case typ == 3 && sub == 17:
		s = fmt.Sprintf("Unit(0x%x)", d.u8())
	case typ == 3 && sub == 18:
		port, mult, lun := d.u16(), d.u16(), d.u16()
		s = fmt.Sprintf("Sata(0x%x,0x%x,0x%x)", port, mult, lun)
	case typ == 3 && sub == 23:
		nsid, eui := d.u32(), d.bytes(8)
		if d.err == nil {
			s = fmt.Sprintf("NVMe(0x%x,%s)", nsid, strings.ToUpper(hex.EncodeToString(eui)))
		}
	case typ == 3 && sub == 24:
		s = fmt.Sprintf("Uri(%s)", trimNULs(b))
	case typ == 4 && sub == 1:
		num, start, size, sig, _, sigType := d.u32(), d.u64(), d.u64(), d.bytes(16), d.u8(), d.u8()
		if d.err != nil {
			break
		}
		switch sigType {
		case 2:
			s = fmt.Sprintf("HD(%d,GPT,%s,0x%x,0x%x)", num, GUID(sig), start, size)
		case 1:
			s = fmt.Sprintf("HD(%d,MBR,0x%08x,0x%x,0x%x)", num, binary.LittleEndian.Uint32(sig), start, size)
		default:
			s = fmt.Sprintf("HD(%d,%d,0,0x%x,0x%x)", num, sigType, start, size)
		}
	case typ == 4 && sub == 2:
		entry, start, size := d.u32(), d.u64(), d.u64()
		s = fmt.Sprintf("CDROM(0x%x,0x%x,0x%x)", entry, start, size)
	case typ == 4 && sub == 3:
		s = vendorText("VenMedia", &d)
	case typ == 4 && sub == 4:
		s = decodeUTF16(b)
	case typ == 4 && sub == 6:
		if g := d.bytes(16); d.err == nil {
			s = fmt.Sprintf("FvFile(%s)", GUID(g))
		}
	case typ == 4 && sub == 7:
		if g := d.bytes(16); d.err == nil {
			s = fmt.Sprintf("Fv(%s)", GUID(g))
		}
	case typ == 4 && sub == 8:
		_, start, end := d.u32(), d.u64(), d.u64()
		s = fmt.Sprintf("Offset(0x%x,0x%x)", start, end)
	case typ == 5 && sub == 1:
		dt, flags := d.u16(), d.u16()
		s = fmt.Sprintf("BBS(0x%x,%s,0x%x)", dt, trimNULs(d.rest()), flags)
	}
	if s == "" || d.err != nil {
		return fmt.Sprintf("Path(%d,%d,%s)", typ, sub, hex.EncodeToString(b))
	}
	return s
}

func vendorText(kind string, d *decoder) string {
	g := d.bytes(16)
	if d.err != nil {
		return ""
	}
	if rest := d.rest(); len(rest) > 0 {
		return fmt.Sprintf("%s(%s,%s)", kind, GUID(g), hex.EncodeToString(rest))
	}
	return fmt.Sprintf("%s(%s)", kind, GUID(g))
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}
