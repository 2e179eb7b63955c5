//go:build !linux

package loadcache

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Elsewhere files are read through os.File, and no stamp is trusted: Files
// parses every time.

func statPath(string) (stamp, bool) { return stamp{}, false }

func readFile(path string, max int64) ([]byte, stamp, error) {
	data, err := readFileTo(path, max, nil)
	return data, stamp{}, err
}

func readFileTo(path string, max int64, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
}
