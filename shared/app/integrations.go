package app

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/api"
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
	return api.New(api.Config{
		Store:   integrationstore.New(dynamodb.NewFromConfig(awsCfg), table),
		Secrets: secretstore.New(secretsmanager.NewFromConfig(awsCfg), getenv("SECRETS_PREFIX")),
		Logger:  log,
	}), nil
}
