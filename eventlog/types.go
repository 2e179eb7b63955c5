package eventlog

import (
	"fmt"
	"strings"
)

// EventType is a TCG PC Client event type (TCG PC Client Platform Firmware
// Profile, section 10.4.1).
type EventType uint32

// Event types defined by the PC Client and EFI specifications.
const (
	EvPrebootCert            EventType = 0x00000000
	EvPostCode               EventType = 0x00000001
	EvUnused                 EventType = 0x00000002
	EvNoAction               EventType = 0x00000003
	EvSeparator              EventType = 0x00000004
	EvAction                 EventType = 0x00000005
	EvEventTag               EventType = 0x00000006
	EvSCRTMContents          EventType = 0x00000007
	EvSCRTMVersion           EventType = 0x00000008
	EvCPUMicrocode           EventType = 0x00000009
	EvPlatformConfigFlags    EventType = 0x0000000A
	EvTableOfDevices         EventType = 0x0000000B
	EvCompactHash            EventType = 0x0000000C
	EvIPL                    EventType = 0x0000000D
	EvIPLPartitionData       EventType = 0x0000000E
	EvNonhostCode            EventType = 0x0000000F
	EvNonhostConfig          EventType = 0x00000010
	EvNonhostInfo            EventType = 0x00000011
	EvOmitBootDeviceEvents   EventType = 0x00000012
	EvPostCode2              EventType = 0x00000013
	EvEFIEventBase           EventType = 0x80000000
	EvEFIVariableDriverCfg   EventType = 0x80000001
	EvEFIVariableBoot        EventType = 0x80000002
	EvEFIBootServicesApp     EventType = 0x80000003
	EvEFIBootServicesDriver  EventType = 0x80000004
	EvEFIRuntimeServicesDrv  EventType = 0x80000005
	EvEFIGPTEvent            EventType = 0x80000006
	EvEFIAction              EventType = 0x80000007
	EvEFIPlatformFirmware    EventType = 0x80000008
	EvEFIHandoffTables       EventType = 0x80000009
	EvEFIPlatformFirmware2   EventType = 0x8000000A
	EvEFIHandoffTables2      EventType = 0x8000000B
	EvEFIVariableBoot2       EventType = 0x8000000C
	EvEFIGPTEvent2           EventType = 0x8000000D
	EvEFIHCRTMEvent          EventType = 0x80000010
	EvEFIVariableAuthority   EventType = 0x800000E0
	EvEFISPDMFirmwareBlob    EventType = 0x800000E1
	EvEFISPDMFirmwareConfig  EventType = 0x800000E2
	EvEFISPDMDevicePolicy    EventType = 0x800000E3
	EvEFISPDMDeviceAuthority EventType = 0x800000E4
)

// Event types of a dynamic launch (DRTM): Intel TXT's SINIT ACM logs
// 0x401–0x4ff, tboot 0x501, the Linux Secure Launch kernel 0x502 and,
// around its measurements, the start and end tags 0x503 and 0x504.
const (
	EvTXTPCRMapping         EventType = 0x401 // logged with PCR 0xFF, never extended
	EvTXTHashStart          EventType = 0x402
	EvTXTMLEHash            EventType = 0x404
	EvTXTBIOSACRegData      EventType = 0x40a
	EvTXTCPUSCRTMStat       EventType = 0x40b
	EvTXTLCPControlHash     EventType = 0x40c
	EvTXTSTMHash            EventType = 0x40e
	EvTXTOSSINITDataCapHash EventType = 0x40f
	EvTXTSINITPubKeyHash    EventType = 0x410
	EvTXTLCPDetailsHash     EventType = 0x412
	EvTXTLCPAuthoritiesHash EventType = 0x413
	EvTXTNVInfoHash         EventType = 0x414
	EvTXTCapValue           EventType = 0x4ff
	EvTboot                 EventType = 0x501
	EvSecureLaunch          EventType = 0x502
	EvSecureLaunchStart     EventType = 0x503
	EvSecureLaunchEnd       EventType = 0x504
)

// IsDRTM reports whether t is an event type of a dynamic launch.
func (t EventType) IsDRTM() bool {
	return t >= 0x401 && t <= 0x4ff || t >= EvTboot && t <= EvSecureLaunchEnd
}

var eventTypeNames = map[EventType]string{
	EvTXTPCRMapping:          "EV_TXT_PCR_MAPPING",
	EvTXTHashStart:           "EV_TXT_HASH_START",
	EvTXTMLEHash:             "EV_TXT_MLE_HASH",
	EvTXTBIOSACRegData:       "EV_TXT_BIOSAC_REG_DATA",
	EvTXTCPUSCRTMStat:        "EV_TXT_CPU_SCRTM_STAT",
	EvTXTLCPControlHash:      "EV_TXT_LCP_CONTROL_HASH",
	EvTXTSTMHash:             "EV_TXT_STM_HASH",
	EvTXTOSSINITDataCapHash:  "EV_TXT_OSSINITDATA_CAP_HASH",
	EvTXTSINITPubKeyHash:     "EV_TXT_SINIT_PUBKEY_HASH",
	EvTXTLCPDetailsHash:      "EV_TXT_LCP_DETAILS_HASH",
	EvTXTLCPAuthoritiesHash:  "EV_TXT_LCP_AUTHORITIES_HASH",
	EvTXTNVInfoHash:          "EV_TXT_NV_INFO_HASH",
	EvTXTCapValue:            "EV_TXT_CAP_VALUE",
	EvTboot:                  "EV_TBOOT",
	EvSecureLaunch:           "EV_SECURE_LAUNCH",
	EvSecureLaunchStart:      "EV_SECURE_LAUNCH_START",
	EvSecureLaunchEnd:        "EV_SECURE_LAUNCH_END",
	EvPrebootCert:            "EV_PREBOOT_CERT",
	EvPostCode:               "EV_POST_CODE",
	EvUnused:                 "EV_UNUSED",
	EvNoAction:               "EV_NO_ACTION",
	EvCELRecord:              "CEL_RECORD",
	EvSeparator:              "EV_SEPARATOR",
	EvAction:                 "EV_ACTION",
	EvEventTag:               "EV_EVENT_TAG",
	EvSCRTMContents:          "EV_S_CRTM_CONTENTS",
	EvSCRTMVersion:           "EV_S_CRTM_VERSION",
	EvCPUMicrocode:           "EV_CPU_MICROCODE",
	EvPlatformConfigFlags:    "EV_PLATFORM_CONFIG_FLAGS",
	EvTableOfDevices:         "EV_TABLE_OF_DEVICES",
	EvCompactHash:            "EV_COMPACT_HASH",
	EvIPL:                    "EV_IPL",
	EvIPLPartitionData:       "EV_IPL_PARTITION_DATA",
	EvNonhostCode:            "EV_NONHOST_CODE",
	EvNonhostConfig:          "EV_NONHOST_CONFIG",
	EvNonhostInfo:            "EV_NONHOST_INFO",
	EvOmitBootDeviceEvents:   "EV_OMIT_BOOT_DEVICE_EVENTS",
	EvPostCode2:              "EV_POST_CODE2",
	EvEFIEventBase:           "EV_EFI_EVENT_BASE",
	EvEFIVariableDriverCfg:   "EV_EFI_VARIABLE_DRIVER_CONFIG",
	EvEFIVariableBoot:        "EV_EFI_VARIABLE_BOOT",
	EvEFIBootServicesApp:     "EV_EFI_BOOT_SERVICES_APPLICATION",
	EvEFIBootServicesDriver:  "EV_EFI_BOOT_SERVICES_DRIVER",
	EvEFIRuntimeServicesDrv:  "EV_EFI_RUNTIME_SERVICES_DRIVER",
	EvEFIGPTEvent:            "EV_EFI_GPT_EVENT",
	EvEFIAction:              "EV_EFI_ACTION",
	EvEFIPlatformFirmware:    "EV_EFI_PLATFORM_FIRMWARE_BLOB",
	EvEFIHandoffTables:       "EV_EFI_HANDOFF_TABLES",
	EvEFIPlatformFirmware2:   "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
	EvEFIHandoffTables2:      "EV_EFI_HANDOFF_TABLES2",
	EvEFIVariableBoot2:       "EV_EFI_VARIABLE_BOOT2",
	EvEFIGPTEvent2:           "EV_EFI_GPT_EVENT2",
	EvEFIHCRTMEvent:          "EV_EFI_HCRTM_EVENT",
	EvEFIVariableAuthority:   "EV_EFI_VARIABLE_AUTHORITY",
	EvEFISPDMFirmwareBlob:    "EV_EFI_SPDM_FIRMWARE_BLOB",
	EvEFISPDMFirmwareConfig:  "EV_EFI_SPDM_FIRMWARE_CONFIG",
	EvEFISPDMDevicePolicy:    "EV_EFI_SPDM_DEVICE_POLICY",
	EvEFISPDMDeviceAuthority: "EV_EFI_SPDM_DEVICE_AUTHORITY",
}

// String returns the specification's name, or the hex value if unknown.
func (t EventType) String() string {
	if n, ok := eventTypeNames[t]; ok {
		return n
	}
	if t.IsDRTM() {
		return fmt.Sprintf("EV_TXT_0x%03x", uint32(t))
	}
	return fmt.Sprintf("EV_UNKNOWN_0x%08x", uint32(t))
}

// ParseEventType accepts a name with or without the EV_ prefix, in any case,
// or a number ("0x80000001").
func ParseEventType(s string) (EventType, error) {
	want := strings.ToUpper(strings.TrimSpace(s))
	for t, n := range eventTypeNames {
		if n == want || n == "EV_"+want {
			return t, nil
		}
	}
	var n uint32
	if _, err := fmt.Sscanf(s, "0x%x", &n); err == nil {
		return EventType(n), nil
	}
	return 0, fmt.Errorf("unknown event type %q (e.g. EV_SEPARATOR, efi_action, 0x80000001)", s)
}
