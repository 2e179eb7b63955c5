package refvals

import (
	"fmt"

	"github.com/goldenpcr/goldenpcr/baseline"
)

// PCRSystemIdentity is where systemd-pcrextend (systemd-pcrphase before
// 255) measures the machine ID and file systems.
const PCRSystemIdentity = 15

// machineIDWord is the string systemd-pcrextend --machine-id measures:
// "machine-id:" and the ID as /etc/machine-id holds it, 32 lowercase hex
// digits, no newline (seen in the lab's real boot, systemd 257).
func machineIDWord(id string) string { return "machine-id:" + id }

// validMachineID reports whether id is a machine ID as systemd writes it
// to /etc/machine-id: 32 lowercase hexadecimal characters. An uppercase or
// UUID-formatted ID would be measured as another string, so it is refused.
func validMachineID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// MachineIDPCR15 appends systemd-pcrextend --machine-id's measurement of
// the machine ID into PCR 15. It measures only on a boot through
// systemd-stub, as the phases are.
func MachineIDPCR15(b *baseline.Builder, id string) error {
	if !validMachineID(id) {
		return fmt.Errorf("machine ID %q: want 32 lowercase hexadecimal characters, as /etc/machine-id holds it", id)
	}
	word := machineIDWord(id)
	return b.Extend(PCRSystemIdentity, baseline.Measurement{Type: "EV_IPL", Description: word,
		Digest: baseline.HashOf([]byte(word)), Provenance: baseline.Provenance{Rule: "systemd-pcrextend --machine-id: machine ID"}})
}
