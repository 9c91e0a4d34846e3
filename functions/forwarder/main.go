// Command forwarder is the SQS-triggered Lambda that sends platform events to mParticle.
// It only wires things together; the logic lives in shared/forwarder.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/namiml/mparticle-bridge/shared/app"
	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"
	"github.com/namiml/mparticle-bridge/shared/logging"
)

func main() {
	ctx := context.Background()
	log := logging.New(os.Stdout, os.Getenv("LOG_LEVEL"))
	awsCfg, err := app.LambdaAWSConfig(os.Getenv)
	if err != nil {
		log.Error("load aws config", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h, err := forwarderapp.New(ctx, awsCfg, os.Getenv, log)
	if err != nil {
		log.Error("configure forwarder", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
