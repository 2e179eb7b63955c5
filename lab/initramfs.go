package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// initScript is the initramfs's /init, run by busybox sh. It loads an IMA
// policy, gives IMA a few files and programs to measure, then writes the
// firmware event log, both IMA lists and every PCR of both banks to the
// second serial port (base64 between markers), and waits: the host stops
// the VM without a TPM shutdown, so the booted PCR values stay in swtpm's
// state for the quote.
//
// Pseudo file systems are excluded first, or reading the lists and PCRs
// would itself add measurements after the fact. IMA measures regular files
// only, so devtmpfs (the serial ports) needs no rule; the initramfs itself
// is tmpfs (0x01021994) and is measured.
const initScript = `#!/bin/sh
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t securityfs securityfs /sys/kernel/security
say() { echo "goldenpcr-lab: $*"; }
say "init running on $(uname -r)"
stty -F /dev/ttyS1 raw -echo 2>/dev/null
IMA=/sys/kernel/security/ima
if [ -e $IMA/policy ]; then
	printf '%s\n' \
		'dont_measure fsmagic=0x9fa0' \
		'dont_measure fsmagic=0x62656572' \
		'dont_measure fsmagic=0x73636673' \
		'dont_measure fsmagic=0x1cd1' \
		'measure func=BPRM_CHECK mask=MAY_EXEC' \
		'measure func=FILE_CHECK mask=MAY_READ' > $IMA/policy && say "IMA policy loaded" || say "IMA policy rejected"
else
	say "no IMA policy file"
fi
# Work for IMA: files read, a script run.
cat /etc/lab/motd > /dev/null
cat /etc/lab/data.bin > /dev/null
/usr/bin/lab-hello > /dev/null
emit() {
	echo "@@BEGIN $1@@"
	if [ -r "$2" ]; then base64 < "$2"; else echo "@@MISSING@@"; fi
	echo "@@END $1@@"
}
{
	echo "@@LAB 1@@"
	emit eventlog /sys/kernel/security/tpm0/binary_bios_measurements
	emit ima.bin $IMA/binary_runtime_measurements
	emit ima.ascii $IMA/ascii_runtime_measurements
	echo "@@BEGIN pcrs@@"
	for alg in sha1 sha256; do
		for n in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23; do
			v=
			[ -r /sys/class/tpm/tpm0/pcr-$alg/$n ] && read v < /sys/class/tpm/tpm0/pcr-$alg/$n
			echo "$alg $n $v"
		done
	done
	echo "@@END pcrs@@"
	emit cmdline /proc/cmdline
	echo "@@DONE@@"
} > /dev/ttyS1
say "capture written; waiting to be stopped"
while :; do sleep 3600; done
`

// busyboxApplets are linked into /bin; the init runs nothing else.
var busyboxApplets = []string{"sh", "mount", "cat", "echo", "printf", "base64", "sleep", "stty", "uname", "ls", "dmesg", "poweroff"}

// imaFiles are what the init gives IMA to measure.
var imaFiles = map[string]string{
	"etc/lab/motd":      "goldenpcr boot lab: this file is read so IMA measures it\n",
	"usr/bin/lab-hello": "#!/bin/sh\necho hello from the goldenpcr boot lab\n",
}

func imaDataBin() []byte {
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// Initramfs builds (once per busybox and init) the lab's initramfs: an
// uncompressed newc cpio archive.
func (l *Lab) Initramfs() (string, error) {
	return l.buildInitramfs("initramfs", initScript, busyboxApplets, nil)
}

// buildInitramfs builds an initramfs with the lab's busybox, applets and
// IMA files, the init script, and extra entries (their parent directories
// listed among them or the base's). The lab's own initramfs has none, so
// its key is what it always was.
func (l *Lab) buildInitramfs(kind, script string, applets []string, extra []cpioEntry) (string, error) {
	k := newKey(kind).bytes("init", []byte(script)).add("applets", strings.Join(applets, ","))
	if err := k.file("busybox", busyboxStatic); err != nil {
		return "", err
	}
	for _, name := range sortedKeys(imaFiles) {
		k.bytes(name, []byte(imaFiles[name]))
	}
	for _, e := range extra {
		k.bytes(fmt.Sprintf("%s:%o", e.Name, e.Mode), e.Data)
	}
	dir, err := l.cached(kind, k, func(dir string) error {
		bb, err := os.ReadFile(busyboxStatic)
		if err != nil {
			return err
		}
		entries := []cpioEntry{
			{Name: "bin", Mode: sIFDIR | 0o755},
			{Name: "dev", Mode: sIFDIR | 0o755},
			{Name: "dev/console", Mode: sIFCHR | 0o600, Major: 5, Minor: 1},
			{Name: "etc", Mode: sIFDIR | 0o755},
			{Name: "etc/lab", Mode: sIFDIR | 0o755},
			{Name: "proc", Mode: sIFDIR | 0o755},
			{Name: "sys", Mode: sIFDIR | 0o755},
			{Name: "tmp", Mode: sIFDIR | 0o1777},
			{Name: "usr", Mode: sIFDIR | 0o755},
			{Name: "usr/bin", Mode: sIFDIR | 0o755},
			{Name: "init", Mode: sIFREG | 0o755, Data: []byte(script)},
			{Name: "bin/busybox", Mode: sIFREG | 0o755, Data: bb},
			{Name: "etc/lab/data.bin", Mode: sIFREG | 0o644, Data: imaDataBin()},
		}
		for _, a := range applets {
			entries = append(entries, cpioEntry{Name: "bin/" + a, Mode: sIFLNK | 0o777, Data: []byte("busybox")})
		}
		for _, name := range sortedKeys(imaFiles) {
			mode := uint32(sIFREG | 0o644)
			if strings.HasPrefix(name, "usr/bin/") {
				mode = sIFREG | 0o755
			}
			entries = append(entries, cpioEntry{Name: name, Mode: mode, Data: []byte(imaFiles[name])})
		}
		entries = append(entries, extra...)
		return os.WriteFile(filepath.Join(dir, "initrd.img"), writeCPIO(entries), 0o644)
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "initrd.img"), nil
}
