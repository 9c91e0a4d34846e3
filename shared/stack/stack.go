// Package stack names the deployed resources and their settings in one place, so the local
// stack, the tests and template.yaml agree (a test holds template.yaml to these values).
package stack

// DefaultName is the stack name used by samconfig.toml's default environment and locally.
const DefaultName = "nami-mparticle"

// Settings shared by template.yaml and the local stack.
const (
	// MaxReceiveCount: deliveries before SQS moves a message to the dead-letter queue. With the
	// forwarder's retry backoff (shared/forwarder, RetryBackoff: 1, 2, 4, 8, 16 minutes, then
	// every 30), a message that keeps failing is hidden for 31 min after 5 receives, 24 h 1 min
	// after 52 and 48 h 1 min after 100: a 24-hour outage of mParticle or of an AWS dependency
	// is survived twice over, or once even if half of the receives are cut short to
	// VisibilityTimeoutSeconds by a crash or a failed visibility change.
	MaxReceiveCount = 100
	// SurvivedOutageSeconds is the outage a valid event must outlast in the queue: the
	// platform's own webhooks retry for 24 hours.
	SurvivedOutageSeconds = 24 * 3600
	// FunctionTimeoutSeconds is the forwarder's timeout.
	FunctionTimeoutSeconds = 30
	// VisibilityTimeoutSeconds is at least six times the function timeout (AWS guidance for
	// SQS event sources), so a message is not redelivered while a retrying invocation runs.
	VisibilityTimeoutSeconds = 6 * FunctionTimeoutSeconds
	// BatchSize is the default event source mapping batch size.
	BatchSize = 100
	// QueueRetentionSeconds keeps an event 4 days in the events queue: longer than it can take
	// to dead-letter it (48 h of backoff plus up to MaxReceiveCount invocations), since SQS
	// deletes an expired message silently wherever it stands in its retries.
	QueueRetentionSeconds = 345600
	// DLQRetentionSeconds keeps dead letters for the SQS maximum, 14 days. A letter keeps its
	// original enqueue time, so it can be read for at least DLQRetentionSeconds -
	// QueueRetentionSeconds (10 days) after it lands.
	DLQRetentionSeconds = 1209600
	// SecretsPrefix is the secrets prefix of the stack called DefaultName (SecretsPrefixFor),
	// the default where no stack name is known.
	SecretsPrefix = DefaultName + "/"
	// StackTag is the tag key naming the stack a secret belongs to. Each function's IAM policy
	// requires it to equal its own stack name, so stacks that share an account (or a prefix)
	// cannot read or change one another's credentials.
	StackTag = "nami-mparticle:stack"
	// TableHashKey and TableRangeKey are the integrations table's key attributes (both S).
	TableHashKey  = "pk"
	TableRangeKey = "sk"
	// IdempotencyHashKey is the idempotency table's key (S); TTL attribute IdempotencyTTL.
	IdempotencyHashKey = "pk"
	IdempotencyTTL     = "expires_at"
	// IntegrationsTTL is the integrations table's TTL attribute: the per-app rate-limit window
	// items expire by it; integrations never carry it.
	IntegrationsTTL = "expires_at"
)

// Per-tenant limits of the Integrations API: the template's parameter defaults, and what the
// API applies when the variable is unset (locally).
const (
	// MaxIntegrationsPerApp (MAX_INTEGRATIONS_PER_APP) bounds one app's integrations.
	MaxIntegrationsPerApp = 20
	// AppWritesPerMinute (APP_WRITES_PER_MINUTE) bounds one app's creates, updates and deletes.
	AppWritesPerMinute = 30
	// AppCredentialWritesPerMinute (APP_CREDENTIAL_WRITES_PER_MINUTE) bounds one app's writes
	// of a key and secret, each a Secrets Manager call.
	AppCredentialWritesPerMinute = 5
)

// Environment variables the template sets and shared/app/forwarderapp and shared/app/integrationsapp read.
const (
	EnvStackName                    = "STACK_NAME"
	EnvSecretsPrefix                = "SECRETS_PREFIX"
	EnvMaxIntegrationsPerApp        = "MAX_INTEGRATIONS_PER_APP"
	EnvAppWritesPerMinute           = "APP_WRITES_PER_MINUTE"
	EnvAppCredentialWritesPerMinute = "APP_CREDENTIAL_WRITES_PER_MINUTE"
	EnvAdminScope                   = "ADMIN_SCOPE"
	EnvAdminClientID                = "ADMIN_CLIENT_ID"
	EnvEntitlementClaim             = "ENTITLEMENT_CLAIM"
	EnvEntitlementFeature           = "ENTITLEMENT_FEATURE"
	EnvMParticleBaseURL             = "MPARTICLE_BASE_URL"
)

// SecretsPrefixFor is the secrets prefix the template gives a stack called name when its
// SecretsPrefix parameter is empty: one prefix per stack, ending in "/" so that no stack's
// prefix is the start of another's (nami-mparticle/ does not match nami-mparticle-prod/...).
func SecretsPrefixFor(name string) string { return name + "/" }

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
