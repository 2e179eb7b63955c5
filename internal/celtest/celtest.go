// Package celtest makes Canonical Event Logs for tests the way their real
// writers do: systemd's /run/log/systemd/tpm2-measure.log records.
package celtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Record is one systemd measurement: a string measured into a PCR.
type Record struct {
	PCR       int
	String    string
	EventType string // "phase", "machine-id", "filesystem"…
}

// Phases returns the PCR 11 records systemd-pcrphase writes for phases.
func Phases(phases ...string) []Record {
	out := make([]Record, len(phases))
	for i, p := range phases {
		out[i] = Record{PCR: 11, String: p, EventType: "phase"}
	}
	return out
}

// SystemdLog writes records as systemd does: a JSON text sequence (RS
// before each object, LF after), no recnum, one sha256 digest of the
// string, content_type "systemd".
func SystemdLog(recs []Record) []byte {
	var b strings.Builder
	for i, r := range recs {
		d := sha256.Sum256([]byte(r.String))
		fmt.Fprintf(&b, "\x1e{\"pcr\":%d,\"digests\":[{\"hashAlg\":\"sha256\",\"digest\":\"%s\"}],\"content_type\":\"systemd\","+
			"\"content\":{\"string\":%q,\"bootId\":\"5b0c1a4cd7e8434c9d8d5d3b9c0e5d2a\",\"timestamp\":%d,\"eventType\":%q}}\n",
			r.PCR, hex.EncodeToString(d[:]), r.String, 1000000+i*1000, r.EventType)
	}
	return []byte(b.String())
}

// Lines splits a SystemdLog into its records, RS and LF included, so a
// test can drop or swap them.
func Lines(log []byte) []string {
	parts := strings.SplitAfter(string(log), "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// PCRPhases are the phases systemd-pcrphase measures into PCR 11 on a boot
// through an initrd (a subset: enough to make a history).
var PCRPhases = []string{"enter-initrd", "leave-initrd", "ready"}

// ExtendSHA256 folds the SHA-256 of each string into start, as a TPM's
// sha256 bank does with the digests systemd extends; it computes expected
// values with crypto/sha256 alone, independent of goldenpcr's replay.
func ExtendSHA256(start []byte, strs ...string) []byte {
	v := append([]byte(nil), start...)
	for _, s := range strs {
		d := sha256.Sum256([]byte(s))
		h := sha256.New()
		h.Write(v)
		h.Write(d[:])
		v = h.Sum(nil)
	}
	return v
}
