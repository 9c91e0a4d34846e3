// Package ttlcache is a small per-container cache of values that expire after a TTL. It is
// what keeps a busy Forwarder at about one read per key per TTL (integrations, secrets):
// concurrent misses of one key share a single load, and failed loads are not kept.
package ttlcache

import (
	"context"
	"sync"
	"time"
)

// Cache maps string keys to values of type V.
type Cache[V any] struct {
	ttl time.Duration
	// Now is the clock; tests may replace it before use.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]*entry[V]
	loads   int64
}

type entry[V any] struct {
	ready   chan struct{} // closed when val/err are set
	val     V
	err     error
	fetched time.Time
}

// New returns a cache keeping each value for ttl; a ttl of zero disables caching.
func New[V any](ttl time.Duration) *Cache[V] {
	return &Cache[V]{ttl: ttl, Now: time.Now, entries: map[string]*entry[V]{}}
}

// Get returns the value of key, calling load when it is absent, expired or last failed.
// Callers arriving while a load of the key is in flight wait for it instead of loading.
func (c *Cache[V]) Get(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		select {
		case <-e.ready:
			if e.err != nil || c.Now().Sub(e.fetched) >= c.ttl {
				ok = false
			}
		default: // a load is in flight: wait for it below
		}
	}
	if !ok {
		e = &entry[V]{ready: make(chan struct{})}
		c.entries[key] = e
		c.loads++
		c.mu.Unlock()
		e.val, e.err = load(ctx)
		e.fetched = c.Now()
		close(e.ready)
		return e.val, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e.val, e.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// Invalidate drops the settled entries whose key match accepts, so the next Get loads them
// again. An entry whose load is in flight is kept: that load is already fresh.
func (c *Cache[V]) Invalidate(match func(key string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.entries {
		if !match(key) {
			continue
		}
		select {
		case <-e.ready:
			delete(c.entries, key)
		default:
		}
	}
}

// Loads returns how many loads the cache has started.
func (c *Cache[V]) Loads() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}
