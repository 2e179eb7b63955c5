package lab

import (
	"bytes"
	"fmt"
	"sort"
)

// cpioEntry is one member of a newc ("070701") archive, the format the
// kernel unpacks an initramfs from.
type cpioEntry struct {
	Name  string // without a leading slash
	Mode  uint32 // type and permission bits, e.g. 0o100755
	Data  []byte // file contents or symlink target
	Major uint32 // device numbers of a device node
	Minor uint32
}

const (
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
	sIFCHR = 0o020000
)

// writeCPIO writes entries in name order, every timestamp and owner zero,
// so the same entries always give the same archive.
func writeCPIO(entries []cpioEntry) []byte {
	sorted := append([]cpioEntry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	add := func(ino int, e cpioEntry) {
		nlink := 1
		if e.Mode&0o170000 == sIFDIR {
			nlink = 2
		}
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.Mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.Major, e.Minor, len(e.Name)+1, 0)
		b.WriteString(e.Name)
		b.WriteByte(0)
		pad()
		b.Write(e.Data)
		pad()
	}
	for i, e := range sorted {
		add(i+1, e)
	}
	add(0, cpioEntry{Name: "TRAILER!!!"})
	return b.Bytes()
}
