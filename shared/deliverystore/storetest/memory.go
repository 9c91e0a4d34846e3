package storetest

import (
	"context"
	"sync"
	"time"
)

// Memory is the delivery table held in memory, for tests that run without AWS. Its records
// expire as deliverystore.Store's do (to the second, ttl after they were written); Run holds
// the two to one contract. Safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	expires map[string]int64 // key → Unix second it expires at
}

// NewMemory returns an empty in-memory table keeping records for ttl, on the clock now
// (time.Now when nil).
func NewMemory(ttl time.Duration, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{ttl: ttl, now: now, expires: map[string]int64{}}
}

// Delivered returns the subset of keys recorded as delivered and not expired.
func (m *Memory) Delivered(_ context.Context, keys []string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().Unix()
	seen := make(map[string]bool)
	for _, k := range keys {
		if exp, ok := m.expires[k]; ok && exp >= now {
			seen[k] = true
		}
	}
	return seen, nil
}

// Record marks keys as delivered until now + ttl.
func (m *Memory) Record(_ context.Context, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp := m.now().Add(m.ttl).Unix()
	for _, k := range keys {
		m.expires[k] = exp
	}
	return nil
}
