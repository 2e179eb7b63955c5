package loadcache

import (
	"fmt"
	"os"
	"syscall"
)

// On Linux a file is read with plain system calls: os.Open would also try
// to register it with the poller and give it a finalizer, a fifth of the
// cost of reading a small file.

func stampOf(st *syscall.Stat_t) stamp {
	return stamp{dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
}

// statPath is the stamp of the file at path.
func statPath(path string) (stamp, bool) {
	var sys syscall.Stat_t
	if err := syscall.Stat(path, &sys); err != nil {
		return stamp{}, false
	}
	return stampOf(&sys), true
}

func readFile(path string, max int64) ([]byte, stamp, error) {
	fd, err := open(path)
	if err != nil {
		return nil, stamp{}, err
	}
	defer syscall.Close(fd)
	var sys syscall.Stat_t
	if _, err := retry(func() (int, error) { return 0, syscall.Fstat(fd, &sys) }); err != nil {
		return nil, stamp{}, fmt.Errorf("%s: %w", path, &os.PathError{Op: "stat", Path: path, Err: err})
	}
	st := stampOf(&sys)
	size := st.size
	if sys.Mode&syscall.S_IFMT != syscall.S_IFREG || size > max {
		// Not a regular file (a pipe, a device) or too large as it stands:
		// read up to the limit and let what arrives decide.
		size = 512
	}
	// One byte more than the file holds shows it ended (or grew).
	data, err := readAll(fd, path, make([]byte, 0, min(size, max)+1), max)
	return data, st, err
}

func readFileTo(path string, max int64, buf []byte) ([]byte, error) {
	fd, err := open(path)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	return readAll(fd, path, buf[:0], max)
}

func open(path string) (int, error) {
	fd, err := retry(func() (int, error) { return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0) })
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// readAll appends what is left of the file to buf, refusing more than max
// bytes in all.
func readAll(fd int, path string, buf []byte, max int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := retry(func() (int, error) { return syscall.Read(fd, buf[len(buf):cap(buf)]) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, &os.PathError{Op: "read", Path: path, Err: err})
		}
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
		}
		if n == 0 {
			return buf, nil
		}
	}
}

// retry calls a system call again while a signal interrupts it.
func retry(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != syscall.EINTR {
			return n, err
		}
	}
}
