package integrationsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/controlcenter"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/secretstore"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

// New wires a Handler from the environment the template sets and one AWS config,
// loaded once per container by the caller. The Lambda and the local API server both use it.
//
//   - INTEGRATIONS_TABLE (required);
//   - STACK_NAME (default stack.DefaultName): the tag of the secrets the API creates, and
//     the only ones it deletes; SECRETS_PREFIX (default "<STACK_NAME>/");
//   - MAX_INTEGRATIONS_PER_APP, APP_WRITES_PER_MINUTE, APP_CREDENTIAL_WRITES_PER_MINUTE:
//     positive integers, defaults in package stack;
//   - ADMIN_SCOPE and ADMIN_CLIENT_ID: both empty (the default) turns admin access off;
//     one without the other is refused;
//   - ENTITLEMENT_CLAIM (default auth.DefaultEntitlementClaim; "none" turns plan gating off)
//     and ENTITLEMENT_FEATURE (default auth.DefaultEntitlementFeature): creating or enabling
//     an integration needs the feature in the claim. Unset gates, so a deployment that
//     forgot the variable does not give the feature away;
//   - MPARTICLE_BASE_URL: where test events go instead of mParticle's hosts (as the
//     Forwarder's uploads).
func New(awsCfg aws.Config, getenv func(string) string, log *slog.Logger) (*api.Handler, error) {
	table := getenv("INTEGRATIONS_TABLE")
	if table == "" {
		return nil, fmt.Errorf("INTEGRATIONS_TABLE is not set")
	}
	var limits controlcenter.Limits
	for _, l := range []struct {
		env  string
		def  int
		dest *int
	}{
		{stack.EnvMaxIntegrationsPerApp, stack.MaxIntegrationsPerApp, &limits.IntegrationsPerApp},
		{stack.EnvAppWritesPerMinute, stack.AppWritesPerMinute, &limits.WritesPerMinute},
		{stack.EnvAppCredentialWritesPerMinute, stack.AppCredentialWritesPerMinute, &limits.CredentialWritesPerMinute},
	} {
		n, err := positive(getenv(l.env), l.def)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.env, err)
		}
		*l.dest = n
	}
	policy, err := auth.NewPolicy(getenv(stack.EnvAdminScope), getenv(stack.EnvAdminClientID))
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", stack.EnvAdminScope, stack.EnvAdminClientID, err)
	}
	tbl := integrationstore.New(dynamodb.NewFromConfig(awsCfg), table)
	store := integrationTable{tbl}
	svc := controlcenter.New(controlcenter.Config{
		Store:    store,
		Statuses: tbl, // the Forwarder's delivery status, in the same table
		Secrets: integrationSecrets{secretstore.New(secretsmanager.NewFromConfig(awsCfg),
			getenv(stack.EnvSecretsPrefix), getenv(stack.EnvStackName))},
		Windows: store,
		NewID:   integrationstore.NewID,
		Limits:  limits,
		Logger:  log,
	})
	client, err := mparticle.New(mparticle.Options{
		BaseURL: getenv(stack.EnvMParticleBaseURL), Logger: log,
		// One request: a test reports mParticle's first answer, within the API's timeout.
		MaxAttempts: 1, RequestTimeout: testRequestTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvMParticleBaseURL, err)
	}
	tester := controlcenter.NewTester(controlcenter.TesterConfig{
		Store:       store,
		Credentials: secretstore.NewCache(secretsmanager.NewFromConfig(awsCfg), testCredentialsTTL),
		Uploader:    client,
		Health:      store.s,
		Windows:     store,
		Logger:      log,
	})
	return api.New(api.Config{Integrations: svc, Auth: policy, Logger: log,
		Tests: tester, Entitlement: entitlement(getenv)}), nil
}

// A test event's request bound (the function times out at 10 s), and how long a container
// keeps credentials it read for tests: by secret version, which never changes, so the TTL
// only bounds memory.
const (
	testRequestTimeout  = 5 * time.Second
	testCredentialsTTL  = 5 * time.Minute
	entitlementGatesOff = "none"
)

// entitlement reads the plan gating settings.
func entitlement(getenv func(string) string) auth.Entitlement {
	claim, feature := getenv(stack.EnvEntitlementClaim), getenv(stack.EnvEntitlementFeature)
	switch claim {
	case entitlementGatesOff:
		return auth.Entitlement{}
	case "":
		claim = auth.DefaultEntitlementClaim
	}
	if feature == "" {
		feature = auth.DefaultEntitlementFeature
	}
	return auth.Entitlement{Claim: claim, Feature: feature}
}

// positive reads a positive integer setting, def when unset.
func positive(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a positive integer", v)
	}
	return n, nil
}

// integrationTable is the integrations table (integrationstore.Store, or its in-memory
// twin) as the control center's Store and Windows ports: the table's page and counter
// types, and its errors as the port's.
type integrationTable struct{ s table }

// table is the part of the integrations table the Integrations API uses.
type table interface {
	CreateWithin(ctx context.Context, in *integration.Integration, max int) error
	Count(ctx context.Context, appID string) (int, error)
	Get(ctx context.Context, appID, id string) (integration.Integration, error)
	List(ctx context.Context, appID string, limit int, cursor string) (integrationstore.Page, error)
	Update(ctx context.Context, in *integration.Integration, expected int64) error
	Delete(ctx context.Context, appID, id string, expected int64) error
	CleanupPending(ctx context.Context, appID, id string) (bool, error)
	CleanupDone(ctx context.Context, appID, id string) error
	TakeWindow(ctx context.Context, appID string, start, end time.Time, counters []integrationstore.WindowCounter) (string, error)
	SetHealth(ctx context.Context, appID, id, health, lastError string, at time.Time) error
}

func (t integrationTable) Create(ctx context.Context, in *integration.Integration, max int) error {
	return portErr(t.s.CreateWithin(ctx, in, max))
}

func (t integrationTable) Count(ctx context.Context, appID string) (int, error) {
	return t.s.Count(ctx, appID)
}

func (t integrationTable) CleanupPending(ctx context.Context, appID, id string) (bool, error) {
	return t.s.CleanupPending(ctx, appID, id)
}

func (t integrationTable) CleanupDone(ctx context.Context, appID, id string) error {
	return t.s.CleanupDone(ctx, appID, id)
}

func (t integrationTable) Take(ctx context.Context, appID string, start, end time.Time, quotas []controlcenter.Quota) (string, error) {
	counters := make([]integrationstore.WindowCounter, len(quotas))
	for i, q := range quotas {
		counters[i] = integrationstore.WindowCounter{Name: q.Name, Max: q.Max}
	}
	return t.s.TakeWindow(ctx, appID, start, end, counters)
}

func (t integrationTable) Get(ctx context.Context, appID, id string) (integration.Integration, error) {
	in, err := t.s.Get(ctx, appID, id)
	return in, portErr(err)
}

func (t integrationTable) List(ctx context.Context, appID string, limit int, cursor string) (controlcenter.Page, error) {
	p, err := t.s.List(ctx, appID, limit, cursor)
	if err != nil {
		return controlcenter.Page{}, portErr(err)
	}
	return controlcenter.Page{Items: p.Items, Next: p.Next}, nil
}

func (t integrationTable) Update(ctx context.Context, in *integration.Integration, expected int64) error {
	return portErr(t.s.Update(ctx, in, expected))
}

func (t integrationTable) Delete(ctx context.Context, appID, id string, expected int64) error {
	return portErr(t.s.Delete(ctx, appID, id, expected))
}

// portErrs pairs each error of the table and the secret store with the port's error for
// the same case.
var portErrs = []struct{ store, port error }{
	{integrationstore.ErrNotFound, controlcenter.ErrNotFound},
	{integrationstore.ErrExists, controlcenter.ErrConflict},
	{integrationstore.ErrVersionConflict, controlcenter.ErrPreconditionFailed},
	{integrationstore.ErrBadCursor, controlcenter.ErrBadCursor},
	{integrationstore.ErrLimitReached, controlcenter.ErrIntegrationLimit},
	{secretstore.ErrNotThisStack, controlcenter.ErrSecretNotOwned},
}

// portErr returns err matching the port's error for its case too; it keeps the original
// text, which is logged, never shown.
func portErr(err error) error {
	for _, e := range portErrs {
		if errors.Is(err, e.store) {
			return fmt.Errorf("%w: %w", e.port, err)
		}
	}
	return err
}

// integrationSecrets is the secret store as the control center's Secrets port.
type integrationSecrets struct{ s *secretstore.Store }

func (s integrationSecrets) Create(ctx context.Context, appID, integrationID string, c feedcreds.Credentials) (controlcenter.SecretRef, error) {
	ref, err := s.s.Create(ctx, appID, integrationID, c)
	return controlcenter.SecretRef{ID: ref.ARN, VersionID: ref.VersionID}, err
}

func (s integrationSecrets) Stage(ctx context.Context, secretID string, c feedcreds.Credentials) (string, error) {
	return s.s.Stage(ctx, secretID, c)
}

func (s integrationSecrets) Promote(ctx context.Context, secretID, versionID string) error {
	return s.s.Promote(ctx, secretID, versionID)
}

func (s integrationSecrets) ScheduleDelete(ctx context.Context, appID, integrationID string) error {
	return portErr(s.s.ScheduleDelete(ctx, appID, integrationID))
}
