package testenv

import (
	"bytes"
	"strings"
	"sync"
)

// syncBuffer collects a child server's output (redis-server, dynalite) for
// the error a failed start reports: the child's writer goroutines and the
// test read it concurrently. It keeps the first 64 KiB, enough to explain a
// failure without holding a chatty server's whole log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

// String is the output so far, trimmed for an error message.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}

// Buffer collects output that many goroutines write and a test reads while
// they do: a logger's records, a child process's standard output. Unlike
// the start-up buffer above it keeps everything and trims nothing, since
// tests look for exact lines in it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
