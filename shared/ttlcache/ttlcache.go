// Package ttlcache is a small per-container cache of values that expire after a TTL. It is
// what keeps a busy Forwarder at about one read per key per TTL (integrations, secrets):
// concurrent misses of one key share a single load, and failed loads are not kept.
//
// It is bounded: a warm container lives for hours and meets many tenants' keys, so a cache
// that only grew would end up holding the function's memory. A new key first clears the
// expired entries, then, while the cache is still full, evicts the entry fetched longest
// ago (with one TTL for all, the one closest to expiring anyway).
package ttlcache

import (
	"context"
	"sync"
	"time"
)

// Cache maps string keys to values of type V.
type Cache[V any] struct {
	ttl time.Duration
	max int
	// Now is the clock; tests may replace it before use.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]*entry[V]
	// order is a circular list through a sentinel, oldest first: an entry joins the back
	// when its load starts and moves there again when the load ends, so the expired entries
	// and the next to evict are at the front.
	order entry[V]
	loads int64
}

type entry[V any] struct {
	key        string
	prev, next *entry[V]
	ready      chan struct{} // closed when val/err are set
	val        V
	err        error
	fetched    time.Time
}

// New returns a cache keeping each value for ttl, and at most maxEntries of them (at least
// one). A ttl of zero disables caching.
func New[V any](ttl time.Duration, maxEntries int) *Cache[V] {
	c := &Cache[V]{ttl: ttl, max: max(maxEntries, 1), Now: time.Now, entries: map[string]*entry[V]{}}
	c.order.prev, c.order.next = &c.order, &c.order
	return c
}

// Get returns the value of key, calling load when it is absent, expired or last failed.
// Callers arriving while a load of the key is in flight wait for it instead of loading.
func (c *Cache[V]) Get(ctx context.Context, key string, load func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && settled(e) && (e.err != nil || c.expired(e, c.Now())) {
		c.unlink(e)
		ok = false
	}
	if !ok {
		e = c.insert(key)
		c.loads++
		c.mu.Unlock()
		e.val, e.err = load(ctx)
		c.settle(e)
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

// insert adds the entry of key, whose load is about to start, after making room for it.
// Called with mu held.
func (c *Cache[V]) insert(key string) *entry[V] {
	c.sweep(c.Now())
	for len(c.entries) >= c.max {
		// The oldest goes even when its load is still in flight: its waiters hold it and
		// get its value all the same; only a caller arriving later loads the key again.
		c.unlink(c.order.next)
	}
	e := &entry[V]{key: key, ready: make(chan struct{})}
	c.pushBack(e)
	c.entries[key] = e
	return e
}

// settle publishes a finished load. A value is dated and moves to the back; a failure leaves
// the cache at once (its waiters still get the error), so that it takes no room and the
// next Get loads again.
func (c *Cache[V]) settle(e *entry[V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.fetched = c.Now()
	close(e.ready)
	if c.entries[e.key] != e {
		return // evicted or invalidated while loading
	}
	if e.err != nil {
		c.unlink(e)
		return
	}
	c.detach(e)
	c.pushBack(e)
}

// sweep drops the expired entries, which sit at the front: it stops at the first fresh one,
// as every entry behind it was fetched later. Loads in flight are stepped over. Called with
// mu held.
func (c *Cache[V]) sweep(now time.Time) {
	for e := c.order.next; e != &c.order; {
		next := e.next
		switch {
		case !settled(e):
		case c.expired(e, now):
			c.unlink(e)
		default:
			return
		}
		e = next
	}
}

func (c *Cache[V]) expired(e *entry[V], now time.Time) bool { return now.Sub(e.fetched) >= c.ttl }

func settled[V any](e *entry[V]) bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// unlink removes e from the map and the list. Called with mu held.
func (c *Cache[V]) unlink(e *entry[V]) {
	delete(c.entries, e.key)
	c.detach(e)
}

func (c *Cache[V]) detach(e *entry[V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *Cache[V]) pushBack(e *entry[V]) {
	last := c.order.prev
	e.prev, e.next = last, &c.order
	last.next = e
	c.order.prev = e
}

// Invalidate drops the settled entries whose key match accepts, so the next Get loads them
// again. An entry whose load is in flight is kept: that load is already fresh.
func (c *Cache[V]) Invalidate(match func(key string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.entries {
		if match(key) && settled(e) {
			c.unlink(e)
		}
	}
}

// Loads returns how many loads the cache has started.
func (c *Cache[V]) Loads() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}
