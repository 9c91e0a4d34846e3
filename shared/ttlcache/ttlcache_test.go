package ttlcache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGetHonoursTTLAndInvalidate(t *testing.T) {
	c := New[int](time.Minute, 100)
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
	c := New[int](0, 100)
	n := 0
	for range 3 {
		_, _ = c.Get(context.Background(), "k", func(context.Context) (int, error) { n++; return n, nil })
	}
	if n != 3 {
		t.Fatalf("loads = %d, want 3", n)
	}
}

func TestFailedLoadIsNotKept(t *testing.T) {
	c := New[int](time.Minute, 100)
	if _, err := c.Get(context.Background(), "k", func(context.Context) (int, error) { return 0, errors.New("down") }); err == nil {
		t.Fatal("error not returned")
	}
	if v, err := c.Get(context.Background(), "k", func(context.Context) (int, error) { return 7, nil }); err != nil || v != 7 {
		t.Fatalf("got %d, %v: the failure was kept", v, err)
	}
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	c := New[int](time.Minute, 100)
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
	c := New[int](time.Minute, 100)
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

// keys lists the cached keys, oldest first, after checking that the map and the list agree
// and that the bound holds.
func keys[V any](t *testing.T, c *Cache[V]) []string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for e := c.order.next; e != &c.order; e = e.next {
		if c.entries[e.key] != e || e.next.prev != e {
			t.Fatalf("list and map disagree at %q", e.key)
		}
		out = append(out, e.key)
	}
	if len(out) != len(c.entries) || len(out) > c.max {
		t.Fatalf("%d listed, %d mapped, bound %d", len(out), len(c.entries), c.max)
	}
	return out
}

func TestBoundEvictsTheOldest(t *testing.T) {
	now := time.Unix(0, 0)
	tests := []struct {
		name  string
		max   int
		gets  []string // one Get each, a second apart
		want  []string // cached afterwards, oldest first
		loads int64
	}{
		{"under the bound keeps all", 3, []string{"a", "b", "c"}, []string{"a", "b", "c"}, 3},
		{"a new key evicts the oldest", 3, []string{"a", "b", "c", "d"}, []string{"b", "c", "d"}, 4},
		{"a hit does not make a key younger", 3, []string{"a", "b", "c", "a", "d"}, []string{"b", "c", "d"}, 4},
		{"an evicted key is loaded again", 2, []string{"a", "b", "c", "a"}, []string{"c", "a"}, 4},
		{"a bound below one is one", 0, []string{"a", "b"}, []string{"b"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New[string](time.Hour, tt.max)
			clock := now
			c.Now = func() time.Time { return clock }
			for _, k := range tt.gets {
				clock = clock.Add(time.Second)
				v, err := c.Get(context.Background(), k, func(context.Context) (string, error) { return "v" + k, nil })
				if err != nil || v != "v"+k {
					t.Fatalf("Get(%s) = %q, %v", k, v, err)
				}
			}
			if got := keys(t, c); !slices.Equal(got, tt.want) {
				t.Errorf("cached %v, want %v", got, tt.want)
			}
			if c.Loads() != tt.loads {
				t.Errorf("loads = %d, want %d", c.Loads(), tt.loads)
			}
		})
	}
}

func TestExpiredEntriesAreSwept(t *testing.T) {
	c := New[int](time.Minute, 100)
	now := time.Unix(0, 0)
	c.Now = func() time.Time { return now }
	ctx := context.Background()
	one := func(context.Context) (int, error) { return 1, nil }
	for _, k := range []string{"a", "b", "c"} {
		_, _ = c.Get(ctx, k, one)
		now = now.Add(20 * time.Second)
	}
	// a was fetched 60 s ago (expired), b 40 s, c 20 s: a new key clears a only.
	_, _ = c.Get(ctx, "d", one)
	if got := keys(t, c); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("cached %v, want [b c d]", got)
	}
	now = now.Add(time.Hour)
	_, _ = c.Get(ctx, "e", one)
	if got := keys(t, c); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("cached %v after all expired, want [e]", got)
	}
	// A refreshed key moves to the back, so the sweep still stops at the first fresh entry.
	now = now.Add(30 * time.Second)
	_, _ = c.Get(ctx, "f", one)
	now = now.Add(40 * time.Second) // e expired, f fresh
	_, _ = c.Get(ctx, "e", one)     // reloaded: now behind f
	if got := keys(t, c); !slices.Equal(got, []string{"f", "e"}) {
		t.Fatalf("cached %v, want [f e]", got)
	}
}

func TestFailedLoadTakesNoRoom(t *testing.T) {
	c := New[int](time.Minute, 2)
	ctx := context.Background()
	_, _ = c.Get(ctx, "a", func(context.Context) (int, error) { return 1, nil })
	_, _ = c.Get(ctx, "b", func(context.Context) (int, error) { return 0, errors.New("down") })
	if got := keys(t, c); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("cached %v, want [a]: a failure was kept", got)
	}
	_, _ = c.Get(ctx, "c", func(context.Context) (int, error) { return 3, nil })
	if got := keys(t, c); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("cached %v, want [a c]: the failure evicted a", got)
	}
}

// A full cache still shares one load among concurrent misses of a key, and a key evicted
// while its load is in flight still answers the callers waiting on that load.
func TestBoundedCacheSharesConcurrentMisses(t *testing.T) {
	c := New[string](time.Minute, 2)
	ctx := context.Background()
	release := make(chan struct{})
	var loads sync.Map // key -> *atomic.Int64
	load := func(k string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) {
			n, _ := loads.LoadOrStore(k, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			<-release
			return "v" + k, nil
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		k := []string{"a", "b"}[i%2]
		wg.Go(func() {
			if v, err := c.Get(ctx, k, load(k)); err != nil || v != "v"+k {
				errs <- fmt.Errorf("Get(%s) = %q, %v", k, v, err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	// A third key evicts the older of a and b, whose load is still in flight; its waiters are
	// not stranded.
	wg.Go(func() {
		if v, err := c.Get(ctx, "c", func(context.Context) (string, error) { return "vc", nil }); err != nil || v != "vc" {
			errs <- fmt.Errorf("Get(c) = %q, %v", v, err)
		}
	})
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, k := range []string{"a", "b"} {
		n, _ := loads.Load(k)
		if got := n.(*atomic.Int64).Load(); got != 1 {
			t.Errorf("%s loaded %d times, want 1", k, got)
		}
	}
	// The evicted key's load, ending later, does not bring it back.
	if got := keys(t, c); len(got) != 2 || !slices.Contains(got, "c") || slices.Contains(got, "a") == slices.Contains(got, "b") {
		t.Errorf("cached %v, want c and one of a and b", got)
	}
}

// Random gets, failures, invalidations and clock steps keep the map, the list and the bound
// consistent, and every hit returns the key's latest loaded value within its TTL.
func TestBoundHoldsUnderRandomUse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := New[int](10*time.Second, 5)
	now := time.Unix(0, 0)
	c.Now = func() time.Time { return now }
	ctx := context.Background()
	for i := range 5000 {
		k := fmt.Sprintf("k%d", rng.IntN(12))
		switch rng.IntN(10) {
		case 0:
			c.Invalidate(func(key string) bool { return key == k })
		case 1:
			now = now.Add(time.Duration(rng.IntN(8)) * time.Second)
		case 2:
			_, _ = c.Get(ctx, k, func(context.Context) (int, error) { return 0, errors.New("down") })
		default:
			if _, err := c.Get(ctx, k, func(context.Context) (int, error) { return i, nil }); err != nil {
				t.Fatal(err)
			}
		}
		keys(t, c)
	}
}
