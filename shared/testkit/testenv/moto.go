// Package testenv gives tests the local stand-ins they need: moto (AWS) and the Lambda
// Runtime Interface Emulator. The tests come in two tiers: `go test -short` (make
// test-short) runs what needs no stand-in process and skips the rest, saying what each
// needs; without -short a test that needs a stand-in gets it or fails loudly, never skips.
package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

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

// SkipShort skips t under -short: the test needs what (a stand-in process, a long run),
// which the fast tier leaves out.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: not run with -short", what)
	}
}

// Moto returns the endpoint URL of a moto server for this test binary. It reuses
// AWS_ENDPOINT_URL_TEST when set (a server started by the caller), otherwise starts
// moto_server from MOTO_SERVER, the project's .venv, or PATH. Under -short it skips t.
func Moto(t testing.TB) string {
	t.Helper()
	SkipShort(t, "moto, the local AWS stand-in")
	once.Do(func() { endpoint, startErr = start() })
	if startErr != nil {
		t.Fatalf("moto server is required and could not be started (run `make test`, which installs it): %v", startErr)
	}
	return endpoint
}

// Config returns an AWS config pointed at the test moto server with fake credentials. Under
// -short it skips t.
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

// AtomicWrites makes moto's DynamoDB writes atomic, as DynamoDB's are, for the clients made
// from cfg: moto evaluates a write's condition and applies the write without a lock, so two
// concurrent conditional writes can both pass. It serialises the writes and decides nothing
// else; a test of concurrent conditional writes needs it.
func AtomicWrites(cfg *aws.Config) {
	var mu sync.Mutex
	cfg.APIOptions = append(cfg.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("atomicWrites",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				switch awsmiddleware.GetOperationName(ctx) {
				case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems":
					mu.Lock()
					defer mu.Unlock()
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}
