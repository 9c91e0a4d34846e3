package ttlcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGetHonoursTTLAndInvalidate(t *testing.T) {
	c := New[int](time.Minute)
	now := time.Unix(0, 0)
	c.Now = func() time.Time { return now }
	var loads atomic.Int64
	load := func(context.Context) (int, error) { return int(loads.Add(1)), nil }
	ctx := context.Background()
	for range 5 {
		if v, _ := c.Get(ctx, "a", load); v != 1 {
			t.Fatalf("got %d within TTL, want the first load", v)
		}
	}
	now = now.Add(time.Minute)
	if v, _ := c.Get(ctx, "a", load); v != 2 {
		t.Fatalf("got %d after TTL, want a new load", v)
	}
	c.Invalidate(func(k string) bool { return k == "a" })
	if v, _ := c.Get(ctx, "a", load); v != 3 {
		t.Fatalf("got %d after invalidate, want a new load", v)
	}
	if c.Loads() != 3 {
		t.Fatalf("loads = %d, want 3", c.Loads())
	}
}

func TestZeroTTLAlwaysLoads(t *testing.T) {
	c := New[int](0)
	n := 0
	for range 3 {
		_, _ = c.Get(context.Background(), "k", func(context.Context) (int, error) { n++; return n, nil })
	}
	if n != 3 {
		t.Fatalf("loads = %d, want 3", n)
	}
}

func TestFailedLoadIsNotKept(t *testing.T) {
	c := New[int](time.Minute)
	if _, err := c.Get(context.Background(), "k", func(context.Context) (int, error) { return 0, errors.New("down") }); err == nil {
		t.Fatal("error not returned")
	}
	if v, err := c.Get(context.Background(), "k", func(context.Context) (int, error) { return 7, nil }); err != nil || v != 7 {
		t.Fatalf("got %d, %v: the failure was kept", v, err)
	}
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	c := New[int](time.Minute)
	release := make(chan struct{})
	var loads atomic.Int64
	load := func(context.Context) (int, error) { loads.Add(1); <-release; return 1, nil }
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = c.Get(context.Background(), "k", load) }()
	}
	// Whether a goroutine arrives during the load (waits) or after (cache hit), it never loads.
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("loads = %d, want 1", loads.Load())
	}
}

func TestWaiterGivesUpWithItsContext(t *testing.T) {
	c := New[int](time.Minute)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	go func() {
		_, _ = c.Get(context.Background(), "k", func(context.Context) (int, error) { close(started); <-release; return 1, nil })
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Get(ctx, "k", func(context.Context) (int, error) { t.Error("second load"); return 0, nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
