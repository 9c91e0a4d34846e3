package secretstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/ttlcache"
)

// SecretsReader is the part of Secrets Manager the Cache uses.
type SecretsReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Cache is the Forwarder's per-container TTL cache of feed credentials by secret id and
// version, so a busy feed costs about one secret read per TTL rather than one per message.
// Concurrent misses for the same secret share one read.
type Cache struct {
	sm    SecretsReader
	cache *ttlcache.Cache[feedcreds.Credentials]
}

// maxCachedSecrets bounds the secret versions one container keeps. One takes about 350 bytes
// (0.7 MB for all), and 2,000 is what a single invocation can need at the default batch size
// (100 messages of 100 apps, each at the cap of 20 integrations), so no invocation evicts the
// secrets it is using; a miss costs one GetSecretValue.
const maxCachedSecrets = 2000

// NewCache returns a cache that keeps each secret for ttl.
func NewCache(sm SecretsReader, ttl time.Duration) *Cache {
	return &Cache{sm: sm, cache: ttlcache.New[feedcreds.Credentials](ttl, maxCachedSecrets)}
}

// Get returns the credentials stored in the secret id (a name or ARN), at versionID when
// set (the version the integration item points to), else the AWSCURRENT version. Errors
// wrap feedcreds.ErrNotFound or feedcreds.ErrMalformed when those apply.
func (c *Cache) Get(ctx context.Context, id, versionID string) (feedcreds.Credentials, error) {
	return c.cache.Get(ctx, id+"\x00"+versionID, func(ctx context.Context) (feedcreds.Credentials, error) {
		return c.read(ctx, id, versionID)
	})
}

// Invalidate drops the cached values of secret id (every version), so the next Get reads
// the secret again (after mParticle refused it: the secret may have been rotated).
func (c *Cache) Invalidate(id string) {
	prefix := id + "\x00"
	c.cache.Invalidate(func(key string) bool { return strings.HasPrefix(key, prefix) })
}

// Reads returns how many secret reads the cache has made (for tests and metrics).
func (c *Cache) Reads() int64 { return c.cache.Loads() }

func (c *Cache) read(ctx context.Context, id, versionID string) (feedcreds.Credentials, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	} else {
		// Explicit: a staged (not yet promoted) rotation must never be read.
		in.VersionStage = aws.String(StageCurrent)
	}
	out, err := c.sm.GetSecretValue(ctx, in)
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return feedcreds.Credentials{}, fmt.Errorf("read secret %q: %w", id, feedcreds.ErrNotFound)
		}
		return feedcreds.Credentials{}, fmt.Errorf("read secret %q: %w", id, err)
	}
	if out.SecretString == nil {
		return feedcreds.Credentials{}, fmt.Errorf("read secret %q: %w", id, feedcreds.ErrMalformed)
	}
	creds, err := Parse(*out.SecretString)
	if err != nil {
		return feedcreds.Credentials{}, fmt.Errorf("read secret %q: %w", id, err)
	}
	return creds, nil
}
