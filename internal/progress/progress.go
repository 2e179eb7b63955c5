// Package progress prints a one-line, self-overwriting progress report on
// a terminal: what is being done, bytes done of the total, and a share.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Line is a progress line on w, redrawn at most ten times a second.
type Line struct {
	mu    sync.Mutex
	w     io.Writer
	what  string
	last  time.Time
	width int
}

// New starts a progress line describing what.
func New(w io.Writer, what string) *Line { return &Line{w: w, what: what} }

// Set reports done of total bytes (total 0 if unknown yet).
func (l *Line) Set(done, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.last) >= 100*time.Millisecond {
		l.last = now
		s := fmt.Sprintf("%s: %s", l.what, mib(done))
		if total > 0 {
			s += fmt.Sprintf(" of %s (%d%%)", mib(total), done*100/total)
		}
		l.draw(s)
	}
}

// Finish clears the line.
func (l *Line) Finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.draw("")
}

func (l *Line) draw(s string) {
	pad := max(l.width-len(s), 0)
	fmt.Fprintf(l.w, "\r%s%*s\r%s", s, pad, "", s)
	l.width = len(s)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
