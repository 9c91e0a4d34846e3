package secretstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

type fakeSecrets struct {
	mu     sync.Mutex
	values map[string]string
	calls  atomic.Int64
	delay  time.Duration
}

func (f *fakeSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.values[*in.SecretId]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("no such secret")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

func (f *fakeSecrets) set(id, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[id] = v
}

func TestCacheHonoursTTLAndInvalidate(t *testing.T) {
	f := &fakeSecrets{values: map[string]string{"s1": `{"key":"k1","secret":"sec1"}`}}
	c := NewCache(f, time.Minute)
	now := time.Unix(1000, 0)
	c.cache.Now = func() time.Time { return now }
	ctx := context.Background()

	for i := 0; i < 5; i++ {
		got, err := c.Get(ctx, "s1", "")
		if err != nil || got.Key != "k1" || got.Secret != "sec1" {
			t.Fatalf("get: %v %v", got.Key, err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("reads within TTL = %d, want 1", n)
	}
	f.set("s1", `{"key":"k2","secret":"sec2"}`)
	now = now.Add(59 * time.Second)
	if got, _ := c.Get(ctx, "s1", ""); got.Key != "k1" {
		t.Fatalf("value refreshed before TTL: %s", got.Key)
	}
	now = now.Add(2 * time.Second)
	if got, _ := c.Get(ctx, "s1", ""); got.Key != "k2" {
		t.Fatalf("value not refreshed after TTL: %s", got.Key)
	}
	f.set("s1", `{"key":"k3","secret":"sec3"}`)
	c.Invalidate("s1")
	if got, _ := c.Get(ctx, "s1", ""); got.Key != "k3" {
		t.Fatalf("invalidate did not force a read: %s", got.Key)
	}
	if n := f.calls.Load(); n != 3 {
		t.Fatalf("reads = %d, want 3", n)
	}
}

func TestCacheSharesConcurrentMisses(t *testing.T) {
	f := &fakeSecrets{values: map[string]string{"s": `{"key":"k","secret":"s"}`}, delay: 20 * time.Millisecond}
	c := NewCache(f, time.Minute)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Get(context.Background(), "s", ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("concurrent misses made %d reads, want 1", n)
	}
}

func TestCacheErrors(t *testing.T) {
	const secretValue = "very-secret-value"
	f := &fakeSecrets{values: map[string]string{
		"bad-json":  "not json " + secretValue,
		"no-secret": `{"key":"k","secret":""}`,
	}}
	c := NewCache(f, time.Minute)
	tests := []struct {
		id   string
		want error
	}{
		{"missing", feedcreds.ErrNotFound},
		{"bad-json", feedcreds.ErrMalformed},
		{"no-secret", feedcreds.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			_, err := c.Get(context.Background(), tt.id, "")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Fatal("error leaks the secret value")
			}
		})
	}
	// A failed read is not cached: once the secret appears it is used.
	f.set("missing", `{"key":"k","secret":"s"}`)
	if _, err := c.Get(context.Background(), "missing", ""); err != nil {
		t.Fatalf("failed read was cached: %v", err)
	}
}

func TestCacheAgainstSecretsManager(t *testing.T) {
	cfg := testenv.Config(t)
	sm := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	name := fmt.Sprintf("nami-mparticle/test/%d", time.Now().UnixNano())
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(`{"key":"mk","secret":"ms"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(sm, time.Minute)
	for _, id := range []string{name, aws.ToString(out.ARN)} {
		got, err := c.Get(ctx, id, "")
		if err != nil || got.Key != "mk" || got.Secret != "ms" {
			t.Fatalf("get %s: key=%q err=%v", id, got.Key, err)
		}
	}
	if _, err := c.Get(ctx, name+"-absent", ""); !errors.Is(err, feedcreds.ErrNotFound) {
		t.Fatalf("absent secret: %v", err)
	}
}

// A rotation staged but not yet promoted must not be read, and a pinned version is read
// exactly (the integration item names the version its credentials live in).
func TestCacheReadsCurrentOrPinnedVersion(t *testing.T) {
	cfg := testenv.Config(t)
	sm := secretsmanager.NewFromConfig(cfg)
	ctx := context.Background()
	name := fmt.Sprintf("nami-mparticle/test/v-%d", time.Now().UnixNano())
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(`{"key":"old-key","secret":"old"}`),
	}); err != nil {
		t.Fatal(err)
	}
	staged, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), SecretString: aws.String(`{"key":"new-key","secret":"new"}`),
		VersionStages: []string{"NAMI_PENDING"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(sm, time.Minute)
	if got, err := c.Get(ctx, name, ""); err != nil || got.Key != "old-key" {
		t.Fatalf("current version: key=%q err=%v, want old-key", got.Key, err)
	}
	if got, err := c.Get(ctx, name, aws.ToString(staged.VersionId)); err != nil || got.Key != "new-key" {
		t.Fatalf("pinned version: key=%q err=%v, want new-key", got.Key, err)
	}
}
