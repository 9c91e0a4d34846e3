package integrationstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/integrationstore/storetest"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// Both tables serve what the Forwarder reads (through the integrations cache) and writes.
var (
	_ integration.Lister     = (*integrationstore.Store)(nil)
	_ integration.Lister     = (*integrationstore.Memory)(nil)
	_ forwarder.HealthMarker = (*integrationstore.Store)(nil)
	_ forwarder.HealthMarker = (*integrationstore.Memory)(nil)
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Store { return integrationstore.NewMemory() })
}

var (
	tableOnce sync.Once
	table     string
	tableErr  error
)

// TestDynamoDBConformance runs the contract on one table of moto's, which every subtest
// shares (each on app ids of its own).
func TestDynamoDBConformance(t *testing.T) {
	cfg := testenv.Config(t)
	tableOnce.Do(func() {
		var out devstack.Outputs
		out, tableErr = devstack.Provision(context.Background(), cfg, "isconf-"+uuid.NewString()[:8])
		table = out.Names.IntegrationsTable
	})
	if tableErr != nil {
		t.Fatalf("provision: %v", tableErr)
	}
	// Concurrent conditional writes are atomic on DynamoDB, not on moto unless asked.
	testenv.AtomicWrites(&cfg)
	s := integrationstore.New(dynamodb.NewFromConfig(cfg), table)
	storetest.Run(t, func(*testing.T) storetest.Store { return s })
}
