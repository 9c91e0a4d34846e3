package integration

import (
	"context"
	"sync"
	"time"
)

// Lister reads all integrations of one app (one DynamoDB Query in production).
type Lister interface {
	ListByApp(ctx context.Context, appID string) ([]Integration, error)
}

// Cache keeps each app's integrations for a short TTL per container, so a busy app costs
// about one Query per TTL rather than one per message. Concurrent misses share one read.
type Cache struct {
	src Lister
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*appEntry
	queries int64
}

type appEntry struct {
	ready   chan struct{}
	ins     []Integration
	err     error
	fetched time.Time
}

// NewCache wraps src with a TTL cache. A ttl of zero disables caching.
func NewCache(src Lister, ttl time.Duration) *Cache {
	return &Cache{src: src, ttl: ttl, now: time.Now, entries: map[string]*appEntry{}}
}

// ForApp returns the app's integrations. Callers must not modify the returned slice.
func (c *Cache) ForApp(ctx context.Context, appID string) ([]Integration, error) {
	c.mu.Lock()
	e, ok := c.entries[appID]
	if ok {
		select {
		case <-e.ready:
			if e.err != nil || c.now().Sub(e.fetched) >= c.ttl {
				ok = false
			}
		default:
		}
	}
	if !ok {
		e = &appEntry{ready: make(chan struct{})}
		c.entries[appID] = e
		c.queries++
		c.mu.Unlock()
		e.ins, e.err = c.src.ListByApp(ctx, appID)
		e.fetched = c.now()
		close(e.ready)
		return e.ins, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
		return e.ins, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Invalidate drops an app's cached integrations (e.g. after marking one unhealthy).
func (c *Cache) Invalidate(appID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[appID]; ok {
		select {
		case <-e.ready:
			delete(c.entries, appID)
		default:
		}
	}
}

// Queries returns how many reads the cache made of its source.
func (c *Cache) Queries() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queries
}
