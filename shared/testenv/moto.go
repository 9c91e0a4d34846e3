// Package testenv starts the local AWS stand-in (moto server) for tests. A test that needs
// AWS calls Moto(t): it starts one server per test binary or fails loudly, never skips.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/namiml/mparticle-bridge/shared/repo"
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
		return ep, waitReady(ep, 5*time.Second)
	}
	bin, err := findMoto()
	if err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	// The server dies with the test binary, even when the binary is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if os.Getenv("MOTO_VERBOSE") == "" {
		cmd.Stdout, cmd.Stderr = nil, nil
	} else {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	ep := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(ep, 20*time.Second); err != nil {
		_ = cmd.Process.Kill()
		return "", err
	}
	return ep, nil
}

func findMoto() (string, error) {
	if p := os.Getenv("MOTO_SERVER"); p != "" {
		return p, nil
	}
	if root, err := repo.Root(); err == nil {
		p := filepath.Join(root, ".venv", "bin", "moto_server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	return "", errors.New("moto_server not found in MOTO_SERVER, .venv/bin or PATH")
}

// ModuleRoot returns the directory holding go.mod, searching up from the working directory.
func ModuleRoot() (string, error) { return repo.Root() }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(ep string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(ep + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto at %s not ready after %s: %w", ep, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
