package deliverystore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
	"github.com/namiml/mparticle-bridge/shared/deliverystore/storetest"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// Both tables are what the Forwarder remembers deliveries in.
var (
	_ forwarder.Deliveries = (*deliverystore.Store)(nil)
	_ forwarder.Deliveries = (*storetest.Memory)(nil)
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(_ *testing.T, ttl time.Duration, now func() time.Time) storetest.Store {
		m := storetest.NewMemory(ttl, now)
		return m
	})
}

// TestDynamoDBConformance runs the contract on one table of moto's, which every subtest
// shares (each on keys of its own).
func TestDynamoDBConformance(t *testing.T) {
	cfg := testenv.Config(t)
	out, err := devstack.Provision(context.Background(), cfg, fmt.Sprintf("delconf-%d", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	storetest.Run(t, func(_ *testing.T, ttl time.Duration, now func() time.Time) storetest.Store {
		s := deliverystore.New(db, out.Names.IdempotencyTable, ttl)
		deliverystore.SetStoreClock(s, now)
		return s
	})
}
