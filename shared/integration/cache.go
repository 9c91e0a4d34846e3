package integration

import (
	"context"
	"time"

	"github.com/namiml/mparticle-bridge/shared/ttlcache"
)

// Lister reads all integrations of one app (one DynamoDB Query in production).
type Lister interface {
	ListByApp(ctx context.Context, appID string) ([]Integration, error)
}

// Cache keeps each app's integrations for a short TTL per container, so a busy app costs
// about one Query per TTL rather than one per message. Concurrent misses share one read.
type Cache struct {
	src   Lister
	cache *ttlcache.Cache[[]Integration]
}

// maxCachedApps bounds the apps whose integrations one container keeps. An app at the cap of
// 20 integrations takes about 35 KB (1.7 KB each, measured), so even 500 such apps stay near
// 17 MB of the Forwarder's 128 MB; a typical app with one or two feeds takes 2 to 4 KB. 500 is
// five invocations' worth of distinct apps at the default batch size (100 messages: at most
// 100 apps), and a miss costs only one Query.
const maxCachedApps = 500

// NewCache wraps src with a TTL cache. A ttl of zero disables caching.
func NewCache(src Lister, ttl time.Duration) *Cache {
	return &Cache{src: src, cache: ttlcache.New[[]Integration](ttl, maxCachedApps)}
}

// ForApp returns the app's integrations. Callers must not modify the returned slice.
func (c *Cache) ForApp(ctx context.Context, appID string) ([]Integration, error) {
	return c.cache.Get(ctx, appID, func(ctx context.Context) ([]Integration, error) {
		return c.src.ListByApp(ctx, appID)
	})
}

// Invalidate drops an app's cached integrations (e.g. after marking one unhealthy).
func (c *Cache) Invalidate(appID string) {
	c.cache.Invalidate(func(key string) bool { return key == appID })
}

// Queries returns how many reads the cache made of its source.
func (c *Cache) Queries() int64 { return c.cache.Loads() }
