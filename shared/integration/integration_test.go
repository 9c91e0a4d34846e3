package integration

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
)

func TestRoute(t *testing.T) {
	ev := &event.Event{AppID: "app", AppPlatformID: "ios-p", Type: event.SubscriptionPurchased}
	base := Integration{AppID: "app", Enabled: true, Scope: ScopePlatform, AppPlatformID: "ios-p", Events: []event.Type{event.SubscriptionPurchased}}
	with := func(f func(*Integration)) Integration { in := base; f(&in); return in }
	tests := []struct {
		name string
		in   Integration
		want bool
	}{
		{"platform scope, same platform", base, true},
		{"platform scope, other platform", with(func(i *Integration) { i.AppPlatformID = "android-p" }), false},
		{"platform scope without platform id", with(func(i *Integration) { i.AppPlatformID = "" }), false},
		{"legacy all platforms", with(func(i *Integration) { i.Scope = ScopeAllPlatforms; i.AppPlatformID = "" }), true},
		{"disabled", with(func(i *Integration) { i.Enabled = false }), false},
		{"event not selected", with(func(i *Integration) { i.Events = []event.Type{event.SubscriptionRenewed} }), false},
		{"other app", with(func(i *Integration) { i.AppID = "other" }), false},
		{"unknown scope", with(func(i *Integration) { i.Scope = "bogus" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Route([]Integration{tt.in}, ev)
			if (len(got) == 1) != tt.want {
				t.Fatalf("routed = %v, want %v", len(got) == 1, tt.want)
			}
		})
	}
	// One event may go to several integrations: a legacy one and a platform one.
	legacy := with(func(i *Integration) { i.ID = "legacy"; i.Scope = ScopeAllPlatforms })
	plat := with(func(i *Integration) { i.ID = "plat" })
	if got := Route([]Integration{legacy, plat}, ev); len(got) != 2 || got[0].ID != "legacy" || got[1].ID != "plat" {
		t.Fatalf("want both integrations in order, got %d", len(got))
	}
}

type countingLister struct {
	calls atomic.Int64
	err   error
	delay time.Duration
}

func (c *countingLister) ListByApp(_ context.Context, appID string) ([]Integration, error) {
	c.calls.Add(1)
	time.Sleep(c.delay)
	return []Integration{{AppID: appID, ID: "i"}}, c.err
}

func TestCacheOneQueryPerTTL(t *testing.T) {
	src := &countingLister{}
	c := NewCache(src, 30*time.Second)
	now := time.Unix(0, 0)
	c.cache.Now = func() time.Time { return now }
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := c.ForApp(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ForApp(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if got := src.calls.Load(); got != 2 {
		t.Fatalf("queries = %d, want 2 (one per app)", got)
	}
	now = now.Add(31 * time.Second)
	_, _ = c.ForApp(ctx, "a")
	if got := src.calls.Load(); got != 3 {
		t.Fatalf("queries after TTL = %d, want 3", got)
	}
	c.Invalidate("a")
	_, _ = c.ForApp(ctx, "a")
	if got := c.Queries(); got != 4 {
		t.Fatalf("queries after invalidate = %d, want 4", got)
	}
}

func TestCacheSharesConcurrentMisses(t *testing.T) {
	src := &countingLister{delay: 10 * time.Millisecond}
	c := NewCache(src, time.Minute)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = c.ForApp(context.Background(), "a") }()
	}
	wg.Wait()
	// Goroutines that started during the first read waited for it; later ones hit the cache.
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("concurrent misses made %d queries, want 1", got)
	}
}

func TestCacheDoesNotKeepErrors(t *testing.T) {
	src := &countingLister{err: errors.New("throttled")}
	c := NewCache(src, time.Minute)
	if _, err := c.ForApp(context.Background(), "a"); err == nil {
		t.Fatal("error not returned")
	}
	src.err = nil
	if _, err := c.ForApp(context.Background(), "a"); err != nil {
		t.Fatalf("error was cached: %v", err)
	}
	if got := src.calls.Load(); got != 2 {
		t.Fatalf("queries = %d, want 2 (the failed read is not kept)", got)
	}
}
