package eventlog

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Payload is the typed meaning of an event's data. Summary is the one-line
// text form `eventlog show` prints.
type Payload interface {
	Summary() string
}

// DecodeError reports event data that does not have its type's layout. The
// log itself still parses: the error is about this one payload.
type DecodeError struct {
	Index  int
	Offset int64 // offset of the event
	Err    error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("event %d at byte offset %d: %v", e.Index, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decode interprets the event's data by its type. Unknown types and data
// that does not decode give a Raw payload; the error says why.
func Decode(ev *Event) (Payload, error) {
	p, err := decode(ev)
	if err != nil {
		return Raw{Hex: hex.EncodeToString(ev.Data)}, &DecodeError{Index: ev.Index, Offset: ev.Offset, Err: err}
	}
	return p, nil
}

func decode(ev *Event) (Payload, error) {
	data := ev.Data
	switch ev.Type {
	case EvCELRecord:
		if ev.CEL == nil {
			return nil, fmt.Errorf("CEL_RECORD event without CEL content")
		}
		return ev.CEL, nil
	case EvNoAction:
		return decodeNoAction(data)
	case EvSeparator:
		if len(data) != 4 {
			return nil, fmt.Errorf("separator data is %d bytes, want 4", len(data))
		}
		v := binary.LittleEndian.Uint32(data)
		return Separator{Value: v, Error: v != 0}, nil
	case EvEFIAction, EvAction, EvOmitBootDeviceEvents, EvCompactHash, EvNonhostInfo, EvSCRTMVersion, EvIPL, EvPostCode, EvPostCode2:
		if (ev.Type == EvPostCode || ev.Type == EvPostCode2) && !printable(data) && len(data) == 16 {
			d := decoder{buf: data}
			return Blob{Base: d.u64(), Length: d.u64()}, nil
		}
		return textPayload(data), nil
	case EvEFIVariableDriverCfg, EvEFIVariableBoot, EvEFIVariableBoot2, EvEFIVariableAuthority:
		return decodeVariable(ev.Type, data)
	case EvEFIBootServicesApp, EvEFIBootServicesDriver, EvEFIRuntimeServicesDrv:
		return decodeImageLoad(data)
	case EvEFIGPTEvent, EvEFIGPTEvent2:
		return decodeGPT(data)
	case EvEventTag:
		return decodeTagged(data)
	case EvEFIHandoffTables:
		return decodeHandoff(data, false)
	case EvEFIHandoffTables2:
		return decodeHandoff(data, true)
	case EvEFIPlatformFirmware:
		d := decoder{buf: data}
		b := Blob{Base: d.u64(), Length: d.u64()}
		return b, d.err
	case EvEFIPlatformFirmware2:
		d := decoder{buf: data}
		desc := d.bytes(int(d.u8()))
		b := Blob{Description: string(trimNULs(desc)), Base: d.u64(), Length: d.u64()}
		return b, d.err
	}
	if printable(data) {
		return textPayload(data), nil
	}
	return Raw{Hex: hex.EncodeToString(data)}, nil
}

// Raw is data goldenpcr shows as hex.
type Raw struct {
	Hex string `json:"hex" yaml:"hex"`
}

func (r Raw) Summary() string {
	if len(r.Hex) > 64 {
		return r.Hex[:64] + "…"
	}
	return r.Hex
}

// Text is a string payload: EFI actions, GRUB's EV_IPL commands,
// systemd's UTF-16 EV_IPL descriptions, S-CRTM versions.
type Text struct {
	Text     string `json:"text" yaml:"text"`
	Encoding string `json:"encoding" yaml:"encoding"` // ascii or utf-16le
}

func (t Text) Summary() string { return fmt.Sprintf("%q", t.Text) }

func textPayload(b []byte) Payload {
	switch {
	case printable(b):
		return Text{Text: string(trimNULs(b)), Encoding: "ascii"}
	case looksUTF16(b):
		return Text{Text: decodeUTF16(b), Encoding: "utf-16le"}
	}
	return Raw{Hex: hex.EncodeToString(b)}
}

// Separator is an EV_SEPARATOR; Value 0xFFFFFFFF marks an error.
type Separator struct {
	Value uint32 `json:"value" yaml:"value"`
	Error bool   `json:"error" yaml:"error"`
}

func (s Separator) Summary() string {
	if s.Error {
		return fmt.Sprintf("separator 0x%08x (error)", s.Value)
	}
	return "separator"
}

// SpecIDPayload is the crypto-agile log header.
type SpecIDPayload struct {
	Signature     string     `json:"signature" yaml:"signature"`
	PlatformClass uint32     `json:"platform_class" yaml:"platform_class"`
	SpecVersion   string     `json:"spec_version" yaml:"spec_version"`
	UintnSize     uint8      `json:"uintn_size" yaml:"uintn_size"`
	Algorithms    []BankInfo `json:"algorithms" yaml:"algorithms"`
	VendorInfo    string     `json:"vendor_info,omitempty" yaml:"vendor_info,omitempty"`
}

// BankInfo names a bank of the Spec ID header.
type BankInfo struct {
	Algorithm string `json:"algorithm" yaml:"algorithm"`
	ID        uint16 `json:"id" yaml:"id"`
	Size      uint16 `json:"digest_size" yaml:"digest_size"`
}

func (s SpecIDPayload) Summary() string {
	names := make([]string, len(s.Algorithms))
	for i, a := range s.Algorithms {
		names[i] = a.Algorithm
	}
	return fmt.Sprintf("%s: banks %s, spec %s", s.Signature, strings.Join(names, ","), s.SpecVersion)
}

// StartupLocality is the EV_NO_ACTION event giving PCR 0's start locality.
type StartupLocality struct {
	Locality uint8 `json:"locality" yaml:"locality"`
}

func (s StartupLocality) Summary() string { return fmt.Sprintf("StartupLocality %d", s.Locality) }

// NoAction is another EV_NO_ACTION event: an SP800-155 reference manifest
// or NV index record, identified by its signature.
type NoAction struct {
	Signature string `json:"signature" yaml:"signature"`
	// SP800-155 Event fields, when the signature is "SP800-155 Event".
	PlatformManufacturerID uint32 `json:"platform_manufacturer_id,omitempty" yaml:"platform_manufacturer_id,omitempty"`
	ReferenceManifestGUID  *GUID  `json:"reference_manifest_guid,omitempty" yaml:"reference_manifest_guid,omitempty"`
	PlatformManufacturer   string `json:"platform_manufacturer,omitempty" yaml:"platform_manufacturer,omitempty"`
	PlatformModel          string `json:"platform_model,omitempty" yaml:"platform_model,omitempty"`
	PlatformVersion        string `json:"platform_version,omitempty" yaml:"platform_version,omitempty"`
	FirmwareManufacturer   string `json:"firmware_manufacturer,omitempty" yaml:"firmware_manufacturer,omitempty"`
	FirmwareManufacturerID uint32 `json:"firmware_manufacturer_id,omitempty" yaml:"firmware_manufacturer_id,omitempty"`
	FirmwareVersion        string `json:"firmware_version,omitempty" yaml:"firmware_version,omitempty"`
	Data                   string `json:"data,omitempty" yaml:"data,omitempty"`
}

func (n NoAction) Summary() string {
	if n.PlatformManufacturer != "" || n.FirmwareVersion != "" {
		return fmt.Sprintf("%s: %s %s %s, firmware %s %s", n.Signature, n.PlatformManufacturer, n.PlatformModel, n.PlatformVersion, n.FirmwareManufacturer, n.FirmwareVersion)
	}
	return n.Signature
}

func decodeNoAction(data []byte) (Payload, error) {
	if bytes.HasPrefix(data, specID03) {
		s, err := parseSpecID(data)
		if err != nil {
			return nil, err
		}
		p := SpecIDPayload{
			Signature:     s.Signature,
			PlatformClass: s.PlatformClass,
			SpecVersion:   fmt.Sprintf("%d.%d errata %d", s.SpecVersionMajor, s.SpecVersionMinor, s.SpecErrata),
			UintnSize:     s.UintnSize,
			VendorInfo:    hex.EncodeToString(s.VendorInfo),
		}
		for _, a := range s.Algorithms {
			p.Algorithms = append(p.Algorithms, BankInfo{Algorithm: a.Alg.String(), ID: uint16(a.Alg), Size: a.Size})
		}
		return p, nil
	}
	if len(data) == len(startupLocalitySig)+1 && bytes.HasPrefix(data, startupLocalitySig) {
		return StartupLocality{Locality: data[len(data)-1]}, nil
	}
	if len(data) < 16 {
		return Raw{Hex: hex.EncodeToString(data)}, nil
	}
	n := NoAction{Signature: string(trimNULs(data[:16]))}
	if n.Signature != "SP800-155 Event" {
		n.Data = hex.EncodeToString(data[16:])
		return n, nil
	}
	d := decoder{buf: data, off: 16}
	n.PlatformManufacturerID = d.u32()
	g := d.guid()
	n.ReferenceManifestGUID = &g
	str := func() string { return string(trimNULs(d.bytes(int(d.u8())))) }
	n.PlatformManufacturer = str()
	n.PlatformModel = str()
	n.PlatformVersion = str()
	n.FirmwareManufacturer = str()
	n.FirmwareManufacturerID = d.u32()
	n.FirmwareVersion = str()
	return n, d.err
}

// Variable is a UEFI_VARIABLE_DATA event (PCR 1 and 7 variables, and
// EV_EFI_VARIABLE_AUTHORITY) with its contents decoded by variable.
type Variable struct {
	VendorGUID GUID   `json:"vendor_guid" yaml:"vendor_guid"`
	Vendor     string `json:"vendor,omitempty" yaml:"vendor,omitempty"`
	Name       string `json:"name" yaml:"name"`
	DataSize   int    `json:"data_size" yaml:"data_size"`
	// SecureBoot, for the SecureBoot and similar one-byte flag variables.
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	// SignatureLists, for PK, KEK, db, dbx, MokList…
	SignatureLists []SignatureList `json:"signature_lists,omitempty" yaml:"signature_lists,omitempty"`
	// Authority, for EV_EFI_VARIABLE_AUTHORITY: the db entry that verified an image.
	Authority *SignatureData `json:"authority,omitempty" yaml:"authority,omitempty"`
	// BootOrder, for the BootOrder variable.
	BootOrder []string `json:"boot_order,omitempty" yaml:"boot_order,omitempty"`
	// LoadOption, for Boot#### variables.
	LoadOption *LoadOption `json:"load_option,omitempty" yaml:"load_option,omitempty"`
	// Text, for variables holding a string (shim's SbatLevel).
	Text string `json:"text,omitempty" yaml:"text,omitempty"`
	// Data holds contents not decoded further, as hex.
	Data string `json:"data,omitempty" yaml:"data,omitempty"`
	// VariableData is the raw variable contents; not rendered.
	VariableData []byte `json:"-" yaml:"-"`
	// DecodeNote says why contents could not be decoded further.
	DecodeNote string `json:"decode_note,omitempty" yaml:"decode_note,omitempty"`
}

// LoadOption is a decoded EFI_LOAD_OPTION (Boot####).
type LoadOption struct {
	Attributes   uint32 `json:"attributes" yaml:"attributes"`
	Description  string `json:"description" yaml:"description"`
	DevicePath   string `json:"device_path" yaml:"device_path"`
	OptionalData string `json:"optional_data,omitempty" yaml:"optional_data,omitempty"`
}

func (v Variable) Summary() string {
	var detail string
	switch {
	case v.Enabled != nil:
		detail = pick(*v.Enabled, "enabled", "disabled")
	case v.Authority != nil:
		detail = "authority " + v.Authority.summary()
	case v.SignatureLists != nil:
		n := 0
		for _, l := range v.SignatureLists {
			n += len(l.Signatures)
		}
		detail = fmt.Sprintf("%d signature list(s), %d entries", len(v.SignatureLists), n)
	case v.BootOrder != nil:
		detail = strings.Join(v.BootOrder, ",")
	case v.LoadOption != nil:
		detail = fmt.Sprintf("%q %s", v.LoadOption.Description, v.LoadOption.DevicePath)
	case v.Text != "":
		detail = fmt.Sprintf("%q", v.Text)
	case v.DataSize == 0:
		detail = "empty"
	default:
		detail = fmt.Sprintf("%d bytes", v.DataSize)
	}
	return fmt.Sprintf("%s = %s", v.Name, detail)
}

func (s *SignatureData) summary() string {
	if s.Certificate != nil {
		if s.Certificate.Subject != "" {
			return s.Certificate.Subject
		}
		return "certificate sha256:" + s.Certificate.SHA256
	}
	if s.Hash != "" {
		return "hash " + s.Hash
	}
	return s.Data
}

func decodeVariable(t EventType, data []byte) (Payload, error) {
	d := decoder{buf: data}
	v := Variable{VendorGUID: d.guid()}
	v.Vendor = v.VendorGUID.Name()
	nameLen := d.u64()
	dataLen := d.u64()
	if d.err != nil {
		return nil, d.err
	}
	if nameLen > uint64(d.remaining())/2 {
		return nil, fmt.Errorf("variable name length %d characters exceeds the %d bytes left", nameLen, d.remaining())
	}
	v.Name = decodeUTF16(d.bytes(int(nameLen) * 2))
	if dataLen > uint64(d.remaining()) {
		return nil, fmt.Errorf("variable %s: data length %d exceeds the %d bytes left", v.Name, dataLen, d.remaining())
	}
	contents := d.bytes(int(dataLen))
	v.DataSize = len(contents)
	v.VariableData = contents
	decodeVariableContents(t, &v, contents)
	return v, nil
}

func decodeVariableContents(t EventType, v *Variable, b []byte) {
	if len(b) == 0 {
		return
	}
	note := func(err error) {
		v.DecodeNote = err.Error()
		v.Data = hex.EncodeToString(b)
	}
	switch {
	case t == EvEFIVariableAuthority:
		if v.Name == "SbatLevel" || printable(b) {
			v.Text = string(trimNULs(b))
			return
		}
		if len(b) < 16 {
			note(fmt.Errorf("authority data is %d bytes, too short for EFI_SIGNATURE_DATA", len(b)))
			return
		}
		// Firmware logs the EFI_SIGNATURE_DATA that verified the image; shim
		// logs its bare vendor certificate, which carries no owner GUID.
		sd := signatureData(GUIDCertX509, GUID(b[:16]), b[16:])
		if sd.Certificate.ParseError != "" {
			if c := certInfo(b); c.ParseError == "" {
				sd = SignatureData{Certificate: c}
			}
		}
		v.Authority = &sd
	case isFlagVariable(v.Name) && len(b) == 1:
		on := b[0] == 1
		v.Enabled = &on
	case isSignatureDB(v.Name):
		lists, err := ParseSignatureLists(b)
		if err != nil {
			note(err)
			return
		}
		v.SignatureLists = lists
	case v.Name == "BootOrder" || v.Name == "DriverOrder":
		if len(b)%2 != 0 {
			note(fmt.Errorf("%s has odd length %d", v.Name, len(b)))
			return
		}
		v.BootOrder = []string{}
		for i := 0; i+1 < len(b); i += 2 {
			v.BootOrder = append(v.BootOrder, fmt.Sprintf("Boot%04X", binary.LittleEndian.Uint16(b[i:])))
		}
	case isLoadOptionName(v.Name):
		lo, err := parseLoadOption(b)
		if err != nil {
			note(err)
			return
		}
		v.LoadOption = lo
	case printable(b):
		v.Text = string(trimNULs(b))
	default:
		v.Data = hex.EncodeToString(b)
	}
}

func isFlagVariable(name string) bool {
	switch name {
	case "SecureBoot", "SetupMode", "AuditMode", "DeployedMode", "MokSBState":
		return true
	}
	return false
}

func isSignatureDB(name string) bool {
	switch name {
	case "PK", "KEK", "db", "dbx", "dbt", "dbr", "MokList", "MokListX", "MokListRT", "MokListXRT", "MokListTrusted":
		return true
	}
	return false
}

func isLoadOptionName(name string) bool {
	if len(name) != 8 {
		return false
	}
	for _, p := range []string{"Boot", "Driver", "SysPrep"} {
		if strings.HasPrefix(name, p) && len(name) == len(p)+4 {
			_, err := hex.DecodeString(name[len(p):])
			return err == nil
		}
	}
	return false
}

func parseLoadOption(b []byte) (*LoadOption, error) {
	d := decoder{buf: b}
	lo := &LoadOption{Attributes: d.u32()}
	fpLen := int(d.u16())
	if d.err != nil {
		return nil, d.err
	}
	// The description is a NUL-terminated UTF-16 string.
	start := d.off
	end := -1
	for i := start; i+1 < len(b); i += 2 {
		if b[i] == 0 && b[i+1] == 0 {
			end = i
			break
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("load option description at byte %d has no NUL terminator", start)
	}
	lo.Description = decodeUTF16(b[start:end])
	d.off = end + 2
	fp := d.take(fpLen, "device path")
	if d.err != nil {
		return nil, d.err
	}
	text, err := DevicePathText(fp)
	if err != nil {
		return nil, err
	}
	lo.DevicePath = text
	lo.OptionalData = hex.EncodeToString(d.rest())
	return lo, nil
}

// ImageLoad is a UEFI_IMAGE_LOAD_EVENT: a PE image the firmware loaded.
type ImageLoad struct {
	Location        uint64 `json:"location" yaml:"location"`
	Length          uint64 `json:"length" yaml:"length"`
	LinkTimeAddress uint64 `json:"link_time_address" yaml:"link_time_address"`
	DevicePath      string `json:"device_path" yaml:"device_path"`
}

func (i ImageLoad) Summary() string {
	if i.DevicePath == "" {
		return fmt.Sprintf("image at 0x%x, %d bytes", i.Location, i.Length)
	}
	return i.DevicePath
}

func decodeImageLoad(data []byte) (Payload, error) {
	d := decoder{buf: data}
	il := ImageLoad{Location: d.u64(), Length: d.u64(), LinkTimeAddress: d.u64()}
	n := d.length("device path length")
	dp := d.take(n, "device path")
	if d.err != nil {
		return nil, d.err
	}
	text, err := DevicePathText(dp)
	il.DevicePath = text
	return il, err
}

// GPT is a UEFI_GPT_DATA event: the disk's partition table header and its
// non-empty entries.
type GPT struct {
	DiskGUID   GUID        `json:"disk_guid" yaml:"disk_guid"`
	Partitions []Partition `json:"partitions" yaml:"partitions"`
}

// Partition is one GPT entry.
type Partition struct {
	TypeGUID   GUID   `json:"type_guid" yaml:"type_guid"`
	UniqueGUID GUID   `json:"unique_guid" yaml:"unique_guid"`
	StartLBA   uint64 `json:"start_lba" yaml:"start_lba"`
	EndLBA     uint64 `json:"end_lba" yaml:"end_lba"`
	Attributes uint64 `json:"attributes" yaml:"attributes"`
	Name       string `json:"name" yaml:"name"`
}

func (g GPT) Summary() string {
	return fmt.Sprintf("GPT disk %s, %d partitions", g.DiskGUID, len(g.Partitions))
}

func decodeGPT(data []byte) (Payload, error) {
	d := decoder{buf: data}
	sig := d.bytes(8)
	if d.err == nil && string(sig) != "EFI PART" {
		return nil, fmt.Errorf("GPT header signature %q, want \"EFI PART\"", sig)
	}
	d.u32() // revision
	hdrSize := d.u32()
	if d.err == nil && (hdrSize < 92 || int(hdrSize) > len(data)) {
		return nil, fmt.Errorf("GPT header size %d out of range 92-%d", hdrSize, len(data))
	}
	d.off = 56
	g := GPT{DiskGUID: d.guid()}
	d.u64() // partition entry LBA
	d.u32() // number of entries in the table
	entrySize := d.u32()
	d.off = int(hdrSize)
	count := d.u64()
	if d.err != nil {
		return nil, d.err
	}
	if entrySize < 128 || count > uint64(d.remaining())/uint64(entrySize) {
		return nil, fmt.Errorf("GPT: %d partitions of %d bytes do not fit in the %d bytes left", count, entrySize, d.remaining())
	}
	for i := uint64(0); i < count; i++ {
		e := d.bytes(int(entrySize))
		ed := decoder{buf: e}
		p := Partition{TypeGUID: ed.guid(), UniqueGUID: ed.guid(), StartLBA: ed.u64(), EndLBA: ed.u64(), Attributes: ed.u64()}
		p.Name = decodeUTF16(ed.bytes(72))
		g.Partitions = append(g.Partitions, p)
	}
	return g, d.err
}

// Tagged is an EV_EVENT_TAG (TCG_PCClientTaggedEvent), as the Linux EFI
// stub logs for the initrd and the kernel command line.
type Tagged struct {
	ID   uint32 `json:"id" yaml:"id"`
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	Text string `json:"text,omitempty" yaml:"text,omitempty"`
	Data string `json:"data,omitempty" yaml:"data,omitempty"`
}

// Tagged event ids the Linux EFI stub uses.
const (
	TagLinuxInitrd      = 0x8F3B22EC
	TagLinuxLoadOptions = 0x8F3B22ED
)

func (t Tagged) Summary() string {
	s := fmt.Sprintf("tag 0x%08x", t.ID)
	if t.Name != "" {
		s += " (" + t.Name + ")"
	}
	if t.Text != "" {
		s += fmt.Sprintf(" %q", t.Text)
	}
	return s
}

func decodeTagged(data []byte) (Payload, error) {
	d := decoder{buf: data}
	t := Tagged{ID: d.u32()}
	n := d.u32()
	if d.err == nil && uint64(n) > uint64(d.remaining()) {
		return nil, fmt.Errorf("tagged event data size %d exceeds the %d bytes left", n, d.remaining())
	}
	body := d.bytes(int(n))
	switch t.ID {
	case TagLinuxInitrd:
		t.Name = "Linux initrd"
	case TagLinuxLoadOptions:
		t.Name = "LOADED_IMAGE::LoadOptions"
	}
	if printable(body) {
		t.Text = string(trimNULs(body))
	} else {
		t.Data = hex.EncodeToString(body)
	}
	return t, d.err
}

// Handoff is an EV_EFI_HANDOFF_TABLES(2) event: configuration tables
// (ACPI, SMBIOS) the firmware hands to the OS.
type Handoff struct {
	Description string         `json:"description,omitempty" yaml:"description,omitempty"`
	Tables      []HandoffTable `json:"tables" yaml:"tables"`
}

// HandoffTable is one vendor table pointer.
type HandoffTable struct {
	GUID    GUID   `json:"guid" yaml:"guid"`
	Name    string `json:"name,omitempty" yaml:"name,omitempty"`
	Address uint64 `json:"address" yaml:"address"`
}

func (h Handoff) Summary() string {
	names := make([]string, len(h.Tables))
	for i, t := range h.Tables {
		names[i] = pick(t.Name != "", t.Name, t.GUID.String())
	}
	s := strings.Join(names, ", ")
	if h.Description != "" {
		s = h.Description + ": " + s
	}
	return s
}

func decodeHandoff(data []byte, v2 bool) (Payload, error) {
	d := decoder{buf: data}
	var h Handoff
	if v2 {
		h.Description = string(trimNULs(d.bytes(int(d.u8()))))
	}
	n := d.u64()
	if d.err == nil && n > uint64(d.remaining())/24 {
		return nil, fmt.Errorf("%d handoff tables do not fit in the %d bytes left", n, d.remaining())
	}
	for i := uint64(0); i < n; i++ {
		g := d.guid()
		h.Tables = append(h.Tables, HandoffTable{GUID: g, Name: g.Name(), Address: d.u64()})
	}
	return h, d.err
}

// Blob is a firmware blob reference (EV_EFI_PLATFORM_FIRMWARE_BLOB(2), and
// POST codes that carry a blob): where it was in memory, not its contents.
type Blob struct {
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	Base        uint64 `json:"base" yaml:"base"`
	Length      uint64 `json:"length" yaml:"length"`
}

func (b Blob) Summary() string {
	s := fmt.Sprintf("blob at 0x%x, %d bytes", b.Base, b.Length)
	if b.Description != "" {
		s = fmt.Sprintf("%q ", b.Description) + s
	}
	return s
}
