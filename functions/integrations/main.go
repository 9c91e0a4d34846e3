// Command integrations is the Integrations API Lambda: API Gateway HTTP API (JWT authorizer)
// events in, shared/api behind them. Configuration comes from the environment:
// INTEGRATIONS_TABLE (required), SECRETS_PREFIX (default "nami-mparticle/"), LOG_LEVEL.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/secretstore"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level(os.Getenv("LOG_LEVEL"))}))
	h, err := build(context.Background(), log)
	if err != nil {
		log.Error("startup failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// build wires the handler once per cold start, so every invocation reuses the clients.
func build(ctx context.Context, log *slog.Logger) (*api.Handler, error) {
	table := os.Getenv("INTEGRATIONS_TABLE")
	if table == "" {
		return nil, fmt.Errorf("INTEGRATIONS_TABLE is not set")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return api.New(api.Config{
		Store:   integrationstore.New(dynamodb.NewFromConfig(cfg), table),
		Secrets: secretstore.New(secretsmanager.NewFromConfig(cfg), os.Getenv("SECRETS_PREFIX")),
		Logger:  log,
	}), nil
}

func level(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
