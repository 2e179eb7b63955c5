package eventlog

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func node(typ, sub byte, body []byte) []byte {
	b := []byte{typ, sub}
	b = binary.LittleEndian.AppendUint16(b, uint16(4+len(body)))
	return append(b, body...)
}

func TestGUIDText(t *testing.T) {
	if got := GUIDGlobalVariable.String(); got != "8be4df61-93ca-11d2-aa0d-00e098032b8c" {
		t.Errorf("GUID text %s", got)
	}
	// On disk the first three fields are little-endian.
	if GUIDGlobalVariable[0] != 0x61 || GUIDGlobalVariable[3] != 0x8b || GUIDGlobalVariable[8] != 0xaa {
		t.Errorf("GUID layout %x", GUIDGlobalVariable[:])
	}
}

func TestDevicePathText(t *testing.T) {
	var dp []byte
	dp = append(dp, node(2, 1, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0x0a0341d0), 0))...)
	dp = append(dp, node(1, 1, []byte{1, 2})...) // function 1, device 2
	hd := binary.LittleEndian.AppendUint32(nil, 1)
	hd = binary.LittleEndian.AppendUint64(hd, 0x800)
	hd = binary.LittleEndian.AppendUint64(hd, 0x100000)
	hd = append(hd, GUIDShimLock[:]...)
	hd = append(hd, 2, 2)
	dp = append(dp, node(4, 1, hd)...)
	dp = append(dp, node(4, 4, append(utf16le(`\EFI\BOOT\BOOTX64.EFI`), 0, 0))...)
	dp = append(dp, node(0x7f, 0xff, nil)...)
	got, err := DevicePathText(dp)
	want := `PciRoot(0x0)/Pci(0x2,0x1)/HD(1,GPT,605dab50-e046-4300-abb6-3dd810dd8b23,0x800,0x100000)/\EFI\BOOT\BOOTX64.EFI`
	if err != nil || got != want {
		t.Errorf("DevicePathText = %q, %v\nwant %q", got, err, want)
	}
	if _, err := DevicePathText(dp[:len(dp)-3]); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated path: err %v", err)
	}
	bad := node(1, 1, []byte{1, 2})
	bad[2] = 2 // node length 2 < 4
	if _, err := DevicePathText(bad); err == nil || !strings.Contains(err.Error(), "length 2 out of range") {
		t.Errorf("short node: err %v", err)
	}
}

func TestDecodeMalformedPayloads(t *testing.T) {
	for _, tc := range []struct {
		typ  EventType
		data []byte
		want string
	}{
		{EvEFIVariableAuthority, []byte{1, 2, 3, 4, 5}, "payload truncated"},
		{EvEFIVariableDriverCfg, append(make([]byte, 16), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "name length"},
		{EvEFIGPTEvent, []byte("NOT GPT!........"), "GPT header signature"},
		{EvSeparator, []byte{0, 0}, "separator data is 2 bytes"},
		{EvEventTag, []byte{0xec, 0x22, 0x3b, 0x8f, 0xff, 0, 0, 0}, "tagged event data size 255"},
		{EvEFIBootServicesApp, make([]byte, 10), "payload truncated"},
	} {
		ev := &Event{Index: 3, Offset: 100, Type: tc.typ, Data: tc.data}
		p, err := Decode(ev)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "event 3 at byte offset 100") {
			t.Errorf("%v: err %v, want %q", tc.typ, err, tc.want)
		}
		if _, ok := p.(Raw); !ok {
			t.Errorf("%v: payload %T, want Raw hex", tc.typ, p)
		}
	}
}

func TestSignatureListErrors(t *testing.T) {
	sl := append([]byte{}, GUIDCertSHA256[:]...)
	sl = binary.LittleEndian.AppendUint32(sl, 28+48) // list size
	sl = binary.LittleEndian.AppendUint32(sl, 0)     // header size
	sl = binary.LittleEndian.AppendUint32(sl, 48)    // owner + SHA-256
	sl = append(sl, GUIDMicrosoftOwner[:]...)
	sl = append(sl, make([]byte, 32)...)
	lists, err := ParseSignatureLists(sl)
	if err != nil || len(lists) != 1 || len(lists[0].Signatures) != 1 || lists[0].Signatures[0].Hash != strings.Repeat("00", 32) {
		t.Fatalf("lists %+v, err %v", lists, err)
	}
	binary.LittleEndian.PutUint32(sl[16:], 1000)
	if _, err := ParseSignatureLists(sl); err == nil || !strings.Contains(err.Error(), "list size 1000 out of range") {
		t.Errorf("oversized list: %v", err)
	}
	binary.LittleEndian.PutUint32(sl[16:], 28+48)
	binary.LittleEndian.PutUint32(sl[24:], 47)
	if _, err := ParseSignatureLists(sl); err == nil || !strings.Contains(err.Error(), "signature size 47") {
		t.Errorf("bad signature size: %v", err)
	}
}
