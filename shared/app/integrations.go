package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/controlcenter"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/secretstore"
)

// NewIntegrations wires a Handler from the environment the template sets (INTEGRATIONS_TABLE,
// required; SECRETS_PREFIX, default "nami-mparticle/") and one AWS config, loaded once per
// container by the caller. The Lambda and the local API server both use it.
func NewIntegrations(awsCfg aws.Config, getenv func(string) string, log *slog.Logger) (*api.Handler, error) {
	table := getenv("INTEGRATIONS_TABLE")
	if table == "" {
		return nil, fmt.Errorf("INTEGRATIONS_TABLE is not set")
	}
	svc := controlcenter.New(controlcenter.Config{
		Store:   integrationTable{integrationstore.New(dynamodb.NewFromConfig(awsCfg), table)},
		Secrets: integrationSecrets{secretstore.New(secretsmanager.NewFromConfig(awsCfg), getenv("SECRETS_PREFIX"))},
		NewID:   integrationstore.NewID,
		Logger:  log,
	})
	return api.New(api.Config{Integrations: svc, Logger: log}), nil
}

// integrationTable is the integrations table (integrationstore.Store, or its in-memory
// twin) as the control center's Store port: the table's page type, and its errors as the
// port's.
type integrationTable struct{ s table }

// table is the part of the integrations table the Integrations API uses.
type table interface {
	Create(ctx context.Context, in *integration.Integration) error
	Get(ctx context.Context, appID, id string) (integration.Integration, error)
	List(ctx context.Context, appID string, limit int, cursor string) (integrationstore.Page, error)
	Update(ctx context.Context, in *integration.Integration, expected int64) error
	Delete(ctx context.Context, appID, id string, expected int64) error
}

func (t integrationTable) Create(ctx context.Context, in *integration.Integration) error {
	return tableErr(t.s.Create(ctx, in))
}

func (t integrationTable) Get(ctx context.Context, appID, id string) (integration.Integration, error) {
	in, err := t.s.Get(ctx, appID, id)
	return in, tableErr(err)
}

func (t integrationTable) List(ctx context.Context, appID string, limit int, cursor string) (controlcenter.Page, error) {
	p, err := t.s.List(ctx, appID, limit, cursor)
	if err != nil {
		return controlcenter.Page{}, tableErr(err)
	}
	return controlcenter.Page{Items: p.Items, Next: p.Next}, nil
}

func (t integrationTable) Update(ctx context.Context, in *integration.Integration, expected int64) error {
	return tableErr(t.s.Update(ctx, in, expected))
}

func (t integrationTable) Delete(ctx context.Context, appID, id string, expected int64) error {
	return tableErr(t.s.Delete(ctx, appID, id, expected))
}

// tableErrs pairs each error of the table with the port's error for the same case.
var tableErrs = []struct{ table, port error }{
	{integrationstore.ErrNotFound, controlcenter.ErrNotFound},
	{integrationstore.ErrExists, controlcenter.ErrConflict},
	{integrationstore.ErrVersionConflict, controlcenter.ErrPreconditionFailed},
	{integrationstore.ErrBadCursor, controlcenter.ErrBadCursor},
}

// tableErr returns err matching the port's error for its case too; it keeps the table's
// text, which is logged, never shown.
func tableErr(err error) error {
	for _, e := range tableErrs {
		if errors.Is(err, e.table) {
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
	return s.s.ScheduleDelete(ctx, appID, integrationID)
}
