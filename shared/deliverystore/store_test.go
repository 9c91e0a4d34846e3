package deliverystore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// countingDB counts the batch calls made, to hold the store to batching.
type countingDB struct {
	DynamoDB
	gets, writes atomic.Int64
}

func (c *countingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.gets.Add(1)
	return c.DynamoDB.BatchGetItem(ctx, in, o...)
}

func (c *countingDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.writes.Add(1)
	return c.DynamoDB.BatchWriteItem(ctx, in, o...)
}

func TestStoreRecordsAndFindsDeliveries(t *testing.T) {
	cfg := testenv.Config(t)
	ctx := context.Background()
	out, err := devstack.Provision(ctx, cfg, fmt.Sprintf("deliv-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	db := &countingDB{DynamoDB: dynamodb.NewFromConfig(cfg)}
	s := New(db, out.Names.IdempotencyTable, 72*time.Hour)

	var keys []string
	for i := 0; i < 130; i++ {
		keys = append(keys, Key(fmt.Sprintf("ev-%03d", i), "integ"))
	}
	if err := s.Record(ctx, keys[:60]); err != nil {
		t.Fatal(err)
	}
	if got := db.writes.Load(); got != 3 {
		t.Errorf("60 records took %d batch writes, want 3", got)
	}
	seen, err := s.Delivered(ctx, append(keys, keys[0])) // a repeated key is asked once
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 60 {
		t.Fatalf("found %d delivered, want 60", len(seen))
	}
	for _, k := range keys[:60] {
		if !seen[k] {
			t.Fatalf("%s not found", k)
		}
	}
	if got := db.gets.Load(); got != 2 {
		t.Errorf("130 lookups took %d batch gets, want 2", got)
	}

	// A record past its TTL does not count, even before DynamoDB deletes it.
	s.now = func() time.Time { return time.Now().Add(73 * time.Hour) }
	seen, err = s.Delivered(ctx, keys[:60])
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 0 {
		t.Fatalf("expired records counted: %d", len(seen))
	}
}
