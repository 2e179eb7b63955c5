// Package loopback finds and probes TCP ports on 127.0.0.1 for the
// servers tests and the boot lab start (swtpm, a simulated tpm2d).
package loopback

import (
	"errors"
	"net"
	"strconv"
	"time"
)

// FreePortPair finds a loopback port P with P+1 free too: the swtpm TCTI
// always looks for the control channel on the next port.
func FreePortPair() (int, error) {
	for i := 0; i < 50; i++ {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l1.Addr().(*net.TCPAddr).Port
		if port >= 65535 {
			l1.Close()
			continue
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		l1.Close()
		if err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free pair of adjacent loopback ports")
}

// Listen listens on a free loopback port, for a test server (a
// simulated device) that needs no second port.
func Listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// Listening reports whether something accepts connections on port.
func Listening(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
