// Package testenv starts the local AWS stand-in (moto server) for tests. A test that needs
// AWS calls Moto(t): it starts one server per test binary or fails loudly, never skips.
package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/namiml/mparticle-bridge/shared/devtools/repo"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
)

// Region is the region every local test uses.
const Region = "us-east-1"

var (
	once     sync.Once
	endpoint string
	startErr error
)

// Moto returns the endpoint URL of a moto server for this test binary. It reuses
// AWS_ENDPOINT_URL_TEST when set (a server started by the caller), otherwise starts
// moto_server from MOTO_SERVER, the project's .venv, or PATH.
func Moto(t testing.TB) string {
	t.Helper()
	once.Do(func() { endpoint, startErr = start() })
	if startErr != nil {
		t.Fatalf("moto server is required and could not be started (run `make test`, which installs it): %v", startErr)
	}
	return endpoint
}

// Config returns an AWS config pointed at the test moto server with fake credentials.
func Config(t testing.TB) aws.Config {
	t.Helper()
	ep := Moto(t)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(ep),
	)
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	return cfg
}

func start() (string, error) {
	if ep := os.Getenv("AWS_ENDPOINT_URL_TEST"); ep != "" {
		if !motoproc.Ready(context.Background(), ep) {
			return "", fmt.Errorf("AWS_ENDPOINT_URL_TEST=%s does not answer as moto", ep)
		}
		return ep, nil
	}
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	bin, err := motoproc.Find(root)
	if err != nil {
		return "", err
	}
	port, err := motoproc.FreePort()
	if err != nil {
		return "", err
	}
	var out io.Writer // discarded
	if os.Getenv("MOTO_VERBOSE") != "" {
		out = os.Stderr
	}
	// Never stopped: it dies with the test binary (motoproc sets Pdeathsig).
	srv, err := motoproc.Start(context.Background(), bin, port, out)
	if err != nil {
		return "", err
	}
	return srv.URL, nil
}

// ModuleRoot returns the directory holding go.mod, searched up from the working directory.
func ModuleRoot() (string, error) { return repo.Root() }
