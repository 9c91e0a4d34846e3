// Package storetest is the contract of the delivery table: what every implementation
// (deliverystore.Store on DynamoDB, deliverystore.Memory) does, as one suite that each
// implementation's tests run, so that a test using the in-memory table proves something
// about the real one.
package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
)

// Store is the delivery table as the Forwarder uses it.
type Store interface {
	Delivered(ctx context.Context, keys []string) (map[string]bool, error)
	Record(ctx context.Context, keys []string) error
}

// fakeClock is the time a store under test reads.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// NewStore returns a store keeping records for ttl and reading the time from now. Every
// subtest works on keys of its own, so the stores may share one table.
type NewStore func(t *testing.T, ttl time.Duration, now func() time.Time) Store

// ttl is the retention the suite's stores are made with.
const ttl = 72 * time.Hour

// Run runs the contract against the stores newStore returns.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store, clock *fakeClock)
	}{
		{"nothing is delivered until recorded", nothingRecorded},
		{"recorded keys are delivered, the others not", recordedAreDelivered},
		{"a repeated key is one key", repeatedKeys},
		{"recording again is harmless", recordTwice},
		{"lists longer than one DynamoDB batch", largeLists},
		{"a record counts until its ttl and not after, deleted or not", expiry},
		{"recording again extends the ttl", recordExtends},
		{"empty lists", emptyLists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Now().Truncate(time.Second)}
			tt.run(t, newStore(t, ttl, clock.Now), clock)
		})
	}
}

var ctx = context.Background()

// keys returns n keys no other subtest uses.
func keys(n int) []string {
	ev := uuid.NewString()
	out := make([]string, n)
	for i := range out {
		out[i] = deliverystore.Key(fmt.Sprintf("%s-%03d", ev, i), "integration-1")
	}
	return out
}

func delivered(t *testing.T, s Store, ks []string) map[string]bool {
	t.Helper()
	got, err := s.Delivered(ctx, ks)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func record(t *testing.T, s Store, ks []string) {
	t.Helper()
	if err := s.Record(ctx, ks); err != nil {
		t.Fatal(err)
	}
}

// expect fails unless exactly want of ks are delivered.
func expect(t *testing.T, s Store, ks, want []string) {
	t.Helper()
	got := delivered(t, s, ks)
	for k, v := range got {
		if !v {
			t.Errorf("Delivered holds %s as false: absent keys are left out", k)
		}
	}
	if g := slices.Sorted(maps.Keys(got)); !slices.Equal(g, slices.Sorted(slices.Values(want))) {
		t.Fatalf("delivered %v, want %v", g, want)
	}
}

func nothingRecorded(t *testing.T, s Store, _ *fakeClock) {
	expect(t, s, keys(3), nil)
}

func recordedAreDelivered(t *testing.T, s Store, _ *fakeClock) {
	ks := keys(4)
	record(t, s, ks[:2])
	expect(t, s, ks, ks[:2])
	// One event's delivery to another integration is another delivery.
	ev := uuid.NewString()
	record(t, s, []string{deliverystore.Key(ev, "integration-1")})
	expect(t, s, []string{deliverystore.Key(ev, "integration-2")}, nil)
}

func repeatedKeys(t *testing.T, s Store, _ *fakeClock) {
	ks := keys(2)
	record(t, s, []string{ks[0], ks[0]})
	expect(t, s, []string{ks[0], ks[1], ks[0]}, ks[:1])
}

func recordTwice(t *testing.T, s Store, _ *fakeClock) {
	ks := keys(2)
	record(t, s, ks)
	record(t, s, ks)
	expect(t, s, ks, ks)
}

// DynamoDB reads at most 100 keys and writes 25 per call: the store splits longer lists.
func largeLists(t *testing.T, s Store, _ *fakeClock) {
	ks := keys(130)
	record(t, s, ks[:60])
	expect(t, s, ks, ks[:60])
}

// DynamoDB deletes expired items up to days late: the store itself ignores them.
func expiry(t *testing.T, s Store, clock *fakeClock) {
	ks := keys(2)
	record(t, s, ks[:1])
	clock.Advance(ttl)
	expect(t, s, ks, ks[:1])
	clock.Advance(2 * time.Second)
	expect(t, s, ks, nil)
}

func recordExtends(t *testing.T, s Store, clock *fakeClock) {
	ks := keys(1)
	record(t, s, ks)
	clock.Advance(ttl / 2)
	record(t, s, ks)
	clock.Advance(ttl/2 + 2*time.Second)
	expect(t, s, ks, ks)
}

func emptyLists(t *testing.T, s Store, _ *fakeClock) {
	record(t, s, nil)
	if got := delivered(t, s, nil); len(got) != 0 {
		t.Fatalf("Delivered(nil) = %v", got)
	}
}
