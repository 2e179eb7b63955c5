// Package diff explains why two accounts of a boot differ. It aligns, PCR
// by PCR, the events one side expects (a baseline, or a golden event log)
// with the events the other side's logs carry, by event type and decoded
// identity (variable name, GRUB command, UKI section, tag…) rather than by
// position, so one inserted event leaves the rest aligned; it names the
// first divergent event of each PCR and every other difference (changed,
// missing, extra), and hints at the cause from the decoded events: a
// firmware update, a secure-boot variable or dbx update, a new authority,
// an SBAT level, a boot order change, another boot application, a changed
// kernel command line, initrd or UKI section, a GRUB command, a known
// firmware quirk. Given the device's own PCR values, it tells a log that
// does not replay to them (truncated or tampered: its events are no
// evidence) from a boot that changed. Two baselines are compared the same
// way, the provenance of their events naming the artifact that moved a PCR.
//
// The Report is plain data; rendering it (text, JSON, YAML, HTML) is the
// caller's.
package diff
