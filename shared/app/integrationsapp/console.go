package integrationsapp

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/namiml/mparticle-bridge/shared/console"
)

// NewFunction is the Integrations function's whole handler: the API of
// New and, when CONSOLE_CLIENT_ID is set, the console at /console (package
// console; CONSOLE_ISSUER, CONSOLE_SCOPES, CONSOLE_TOKEN_USE, CONSOLE_REDIRECT_URI). With
// the console off, /console is an unknown path of the API (404).
func NewFunction(awsCfg aws.Config, getenv func(string) string, log *slog.Logger) (console.HandlerFunc, error) {
	h, err := New(awsCfg, getenv, log)
	if err != nil {
		return nil, err
	}
	cfg, err := console.ConfigFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c, err := console.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return console.Route(c, h.Handle), nil
}
