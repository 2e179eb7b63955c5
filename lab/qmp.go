package lab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmp is a minimal QEMU Machine Protocol client: enough to ask whether the
// guest still runs. QEMU is started with -action shutdown=pause, so a
// guest that powers off, reboots or panics is paused instead of QEMU
// exiting (which would shut swtpm down and lose the PCRs).
type qmp struct {
	conn net.Conn
	rd   *bufio.Reader
}

func dialQMP(path string, timeout time.Duration) (*qmp, error) {
	var conn net.Conn
	var err error
	if !waitFor(timeout, 50*time.Millisecond, func() bool {
		conn, err = net.Dial("unix", path)
		return err == nil
	}) {
		return nil, fmt.Errorf("QMP socket %s: %v", path, err)
	}
	q := &qmp{conn: conn, rd: bufio.NewReader(conn)}
	if _, err := q.read(); err != nil { // greeting
		conn.Close()
		return nil, err
	}
	if _, err := q.call("qmp_capabilities"); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) read() (map[string]json.RawMessage, error) {
	q.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := q.rd.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(line, &m)
}

// call runs a command and returns its "return" value, skipping events.
func (q *qmp) call(cmd string) (json.RawMessage, error) {
	if _, err := fmt.Fprintf(q.conn, "{\"execute\":%q}\n", cmd); err != nil {
		return nil, err
	}
	for {
		m, err := q.read()
		if err != nil {
			return nil, err
		}
		if r, ok := m["return"]; ok {
			return r, nil
		}
		if e, ok := m["error"]; ok {
			return nil, fmt.Errorf("QMP %s: %s", cmd, e)
		}
	}
}

// status is the VM's run state: "running", "shutdown", "paused", …
func (q *qmp) status() (string, error) {
	r, err := q.call("query-status")
	if err != nil {
		return "", err
	}
	var s struct {
		Status string `json:"status"`
	}
	return s.Status, json.Unmarshal(r, &s)
}

func (q *qmp) close() { q.conn.Close() }
