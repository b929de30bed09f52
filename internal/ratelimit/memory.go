package ratelimit

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// MemoryState is the in-process State: a map, its entries dropped once
// their ttl has passed. It serves a single process (the local runner
// without Redis), and stands in for Redis while Redis is unreachable.
type MemoryState struct {
	mu  sync.Mutex
	m   map[string]memoryEntry
	now func() time.Time
}

type memoryEntry struct {
	v       []byte
	expires time.Time
}

var _ State = (*MemoryState)(nil)

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState { return NewMemoryStateAt(time.Now) }

// NewMemoryStateAt returns an empty MemoryState whose ttls run on now, for
// tests with a clock of their own.
func NewMemoryStateAt(now func() time.Time) *MemoryState {
	return &MemoryState{m: map[string]memoryEntry{}, now: now}
}

// Load implements State.
func (s *MemoryState) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(key), nil
}

// CompareAndSwap implements State.
func (s *MemoryState) CompareAndSwap(_ context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.getLocked(key)
	if (cur == nil) != (old == nil) || !bytes.Equal(cur, old) {
		return false, nil
	}
	s.m[key] = memoryEntry{bytes.Clone(value), s.now().Add(ttl)}
	return true, nil
}

func (s *MemoryState) getLocked(key string) []byte {
	e, ok := s.m[key]
	if !ok {
		return nil
	}
	if !s.now().Before(e.expires) {
		delete(s.m, key)
		return nil
	}
	return e.v
}
