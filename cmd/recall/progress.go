package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress display modes (--progress).
const (
	progressAuto  = "auto"  // bar on a terminal, plain lines otherwise
	progressBar   = "bar"   // one line redrawn in place
	progressPlain = "plain" // a line every few seconds, for logs and CI
	progressNone  = "none"
)

// progressMode resolves --progress for output w: auto becomes bar when w is
// a terminal and plain when it is a file or pipe, where carriage returns
// would make a mess.
func progressMode(flag string, w io.Writer) (string, error) {
	switch flag {
	case progressAuto:
		if isTerminal(w) {
			return progressBar, nil
		}
		return progressPlain, nil
	case progressBar, progressPlain, progressNone:
		return flag, nil
	}
	return "", fmt.Errorf("--progress=%q: want auto, bar, plain or none", flag)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress shows how far a long operation is: a bar redrawn ten times a
// second on a terminal, or a plain line every few seconds elsewhere. Add is
// safe to call from many goroutines; drawing happens on its own goroutine so
// the work never waits on the terminal.
type progress struct {
	w     io.Writer
	mode  string
	label string
	total int64 // 0 when unknown
	every time.Duration
	extra func() string // optional suffix (errors so far, say)

	n     atomic.Int64
	start time.Time
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// startProgress starts drawing. total may be 0 when the amount of work is
// not known ahead (a scan).
func startProgress(w io.Writer, mode, label string, total int64, extra func() string) *progress {
	p := &progress{w: w, mode: mode, label: label, total: total, extra: extra,
		start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	switch mode {
	case progressBar:
		p.every = 100 * time.Millisecond
	case progressPlain:
		p.every = 2 * time.Second
	default:
		close(p.done)
		return p
	}
	go p.loop()
	return p
}

// Add counts n more units done.
func (p *progress) Add(n int64) { p.n.Add(n) }

// Set records that n units are done in all.
func (p *progress) Set(n int64) { p.n.Store(n) }

func (p *progress) loop() {
	defer close(p.done)
	t := time.NewTicker(p.every)
	defer t.Stop()
	last := int64(-1)
	for {
		select {
		case <-p.stop:
			p.draw(true)
			return
		case <-t.C:
			if n := p.n.Load(); p.mode == progressBar || n != last {
				p.draw(false)
				last = n
			}
		}
	}
}

// Finish draws the final state and ends the line. It is safe to call more
// than once.
func (p *progress) Finish() {
	p.once.Do(func() {
		if p.mode == progressBar || p.mode == progressPlain {
			close(p.stop)
		}
	})
	<-p.done
}

func (p *progress) draw(final bool) {
	n := p.n.Load()
	el := time.Since(p.start)
	var b strings.Builder
	if p.mode == progressBar {
		b.WriteString("\r\x1b[K")
	}
	fmt.Fprintf(&b, "%-10s ", p.label)
	if p.total > 0 {
		frac := min(float64(n)/float64(p.total), 1)
		if p.mode == progressBar {
			const width = 30
			fill := int(frac * width)
			b.WriteString("[" + strings.Repeat("#", fill) + strings.Repeat("-", width-fill) + "] ")
		}
		fmt.Fprintf(&b, "%d/%d %3.0f%%", n, p.total, frac*100)
	} else {
		fmt.Fprintf(&b, "%d", n)
	}
	if secs := el.Seconds(); secs > 0 {
		fmt.Fprintf(&b, "  %.0f/s", float64(n)/secs)
	}
	if !final && p.total > 0 && n > 0 && n < p.total {
		eta := time.Duration(float64(el) / float64(n) * float64(p.total-n))
		fmt.Fprintf(&b, "  eta %s", eta.Round(time.Second))
	}
	if final {
		fmt.Fprintf(&b, "  in %s", el.Round(time.Millisecond))
	}
	if p.extra != nil {
		if s := p.extra(); s != "" {
			b.WriteString("  " + s)
		}
	}
	if p.mode == progressPlain || final {
		b.WriteString("\n")
	}
	io.WriteString(p.w, b.String())
}
