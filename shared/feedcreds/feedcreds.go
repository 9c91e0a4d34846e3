// Package feedcreds reads each integration's mParticle server-to-server key and secret
// from Secrets Manager and caches them per container, so a busy feed costs about one
// secret read per TTL rather than one per message.
package feedcreds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/namiml/mparticle-bridge/shared/ttlcache"
)

// Credentials is a feed's server-to-server key and secret. Its String and GoString methods
// redact both, so a stray %v in a log line cannot leak them.
type Credentials struct {
	Key    string `json:"key"`
	Secret string `json:"secret"`
}

func (Credentials) String() string   { return "credentials{redacted}" }
func (Credentials) GoString() string { return "credentials{redacted}" }

// ErrNotFound: the secret does not exist (deleted, or never written).
var ErrNotFound = errors.New("credentials: secret not found")

// ErrMalformed: the secret exists but is not {"key","secret"} with both set.
var ErrMalformed = errors.New("credentials: secret is not a JSON object with key and secret")

// SecretsAPI is the part of Secrets Manager this package uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Parse decodes a secret string. Errors never include the value.
func Parse(s string) (Credentials, error) {
	var c Credentials
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return Credentials{}, ErrMalformed
	}
	if c.Key == "" || c.Secret == "" {
		return Credentials{}, ErrMalformed
	}
	return c, nil
}

// Cache is a per-container TTL cache of credentials by secret id and version. Concurrent
// misses for the same secret share one read.
type Cache struct {
	api   SecretsAPI
	cache *ttlcache.Cache[Credentials]
}

// NewCache returns a cache that keeps each secret for ttl.
func NewCache(api SecretsAPI, ttl time.Duration) *Cache {
	return &Cache{api: api, cache: ttlcache.New[Credentials](ttl)}
}

// Get returns the credentials stored in the secret id (a name or ARN), at versionID when
// set (the version the integration item points to), else the AWSCURRENT version.
func (c *Cache) Get(ctx context.Context, id, versionID string) (Credentials, error) {
	return c.cache.Get(ctx, id+"\x00"+versionID, func(ctx context.Context) (Credentials, error) {
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

func (c *Cache) read(ctx context.Context, id, versionID string) (Credentials, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	} else {
		// Explicit: a staged (not yet promoted) rotation must never be read.
		in.VersionStage = aws.String("AWSCURRENT")
	}
	out, err := c.api.GetSecretValue(ctx, in)
	if err != nil {
		var nf *smtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return Credentials{}, fmt.Errorf("read secret %q: %w", id, ErrNotFound)
		}
		return Credentials{}, fmt.Errorf("read secret %q: %w", id, err)
	}
	if out.SecretString == nil {
		return Credentials{}, fmt.Errorf("read secret %q: %w", id, ErrMalformed)
	}
	creds, err := Parse(*out.SecretString)
	if err != nil {
		return Credentials{}, fmt.Errorf("read secret %q: %w", id, err)
	}
	return creds, nil
}
