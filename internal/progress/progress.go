// Package progress reports the progress of long work: Line prints a
// one-line, self-overwriting report on a terminal (what is being done,
// bytes done of the total, and a share), and Poll samples work that counts
// its own progress.
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

// Poll calls report ten times a second, from a goroutine of its own, until
// the function it returns is called; that function returns once report
// is no longer running, so the work may print its final state after it,
// and may be called again.
func Poll(report func()) (stop func()) {
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				report()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-stopped
	}
}
