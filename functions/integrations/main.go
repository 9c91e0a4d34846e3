// Command integrations is the Integrations API Lambda: API Gateway HTTP API (JWT authorizer)
// events in, shared/api behind them. It only wires things together. Configuration comes
// from the environment: INTEGRATIONS_TABLE (required), SECRETS_PREFIX, LOG_LEVEL, and the
// console's CONSOLE_* (it is served at /console when CONSOLE_CLIENT_ID is set).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/namiml/mparticle-bridge/shared/app/integrationsapp"
	"github.com/namiml/mparticle-bridge/shared/logging"
)

func main() {
	log := logging.New(os.Stdout, os.Getenv("LOG_LEVEL"))
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("load aws config", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h, err := integrationsapp.NewFunction(awsCfg, os.Getenv, log)
	if err != nil {
		log.Error("configure integrations api", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h)
}
