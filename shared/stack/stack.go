// Package stack names the deployed resources and their settings in one place, so the local
// stack, the tests and template.yaml agree (a test holds template.yaml to these values).
package stack

// DefaultName is the stack name used by samconfig.toml's default environment and locally.
const DefaultName = "nami-mparticle"

// Settings shared by template.yaml and the local stack.
const (
	// MaxReceiveCount: deliveries before SQS moves a message to the dead-letter queue.
	MaxReceiveCount = 5
	// FunctionTimeoutSeconds is the forwarder's timeout.
	FunctionTimeoutSeconds = 30
	// VisibilityTimeoutSeconds is at least six times the function timeout (AWS guidance for
	// SQS event sources), so a message is not redelivered while a retrying invocation runs.
	VisibilityTimeoutSeconds = 6 * FunctionTimeoutSeconds
	// BatchSize is the default event source mapping batch size.
	BatchSize = 100
	// DLQRetentionSeconds keeps dead letters for the SQS maximum, 14 days.
	DLQRetentionSeconds = 1209600
	// SecretsPrefix is the product's name prefix for integration secrets.
	SecretsPrefix = "nami-mparticle/"
	// TableHashKey and TableRangeKey are the integrations table's key attributes (both S).
	TableHashKey  = "pk"
	TableRangeKey = "sk"
	// IdempotencyHashKey is the idempotency table's key (S); TTL attribute IdempotencyTTL.
	IdempotencyHashKey = "pk"
	IdempotencyTTL     = "expires_at"
)

// Names are the physical names of a stack's resources.
type Names struct {
	IntegrationsTable string
	IdempotencyTable  string
	Queue             string
	DeadLetterQueue   string
}

// NamesFor returns the resource names template.yaml gives a stack called name.
func NamesFor(name string) Names {
	return Names{
		IntegrationsTable: name + "-integrations",
		IdempotencyTable:  name + "-deliveries",
		Queue:             name + "-events",
		DeadLetterQueue:   name + "-events-dlq",
	}
}
