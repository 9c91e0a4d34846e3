// Package rie runs a function's bootstrap under the AWS Lambda Runtime Interface Emulator
// (aws-lambda-rie), which is what `sam local invoke` does inside Docker: the binary talks to
// a real Runtime API, gets the invocation's deadline and context, and answers through it.
package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Module and Version pin the emulator; the Makefile installs the same (a test holds them
// together).
const (
	Module  = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	Version = "v0.0.0-20261030222936-bef5c4ba774d"
	Binary  = "aws-lambda-rie"
)

// BuildFlags are the flags of a Lambda bootstrap for provided.al2023: no RPC mode, no cgo,
// reproducible paths, no symbols.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// Build compiles the function in root/functions/<dir> into outDir/bootstrap for this machine.
func Build(ctx context.Context, root, dir, outDir string) (string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("bootstrap dir: %w", err)
	}
	out := filepath.Join(outDir, "bootstrap")
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", out, "./functions/"+dir)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/%s: %w\n%s", dir, err, msg)
	}
	return out, nil
}

// Find returns the emulator binary: $AWS_LAMBDA_RIE, else root/.bin/aws-lambda-rie, else PATH.
func Find(root string) (string, error) {
	if p := os.Getenv("AWS_LAMBDA_RIE"); p != "" {
		return p, nil
	}
	p := filepath.Join(root, ".bin", Binary)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath(Binary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found in $AWS_LAMBDA_RIE, %s or PATH: run `make rie` (go install %s@%s)",
		Binary, filepath.Join(root, ".bin"), Module, Version)
}

// Install puts the pinned emulator into root/.bin with `go install`.
func Install(ctx context.Context, root string) (string, error) {
	bin := filepath.Join(root, ".bin")
	cmd := exec.CommandContext(ctx, "go", "install", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", Module, Version, err, msg)
	}
	return filepath.Join(bin, Binary), nil
}

// Config starts an emulator.
type Config struct {
	RIE       string // emulator binary
	Bootstrap string // function binary
	// Env is the function's environment (the emulator passes its own on to the function).
	Env     map[string]string
	Timeout time.Duration // the function's timeout
	Memory  int           // MB, reported in the REPORT line
	Name    string        // function name
	// Stdout receives the function's and the emulator's output (logs, START/END/REPORT).
	Stdout io.Writer
}

// Emulator is a running aws-lambda-rie with one function. Invocations must not overlap: the
// emulator serves one at a time, as one Lambda execution environment does.
type Emulator struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// Start runs the emulator on two free loopback ports and waits until it accepts invocations.
func Start(ctx context.Context, c Config) (*Emulator, error) {
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	runtimeAPI, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.RIE,
		"--runtime-interface-emulator-address", api,
		"--runtime-api-address", runtimeAPI,
		c.Bootstrap)
	cmd.Dir = filepath.Dir(c.Bootstrap)
	cmd.Env = emulatorEnv(c)
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stdout
	// Dies with its parent even on SIGKILL, and gets its own process group so a terminal's
	// Ctrl-C reaches it only through us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.RIE, err)
	}
	e := &Emulator{cmd: cmd, url: "http://" + api + "/2015-03-31/functions/function/invocations", done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(e.done) }()
	if err := e.waitListening(ctx, api, 10*time.Second); err != nil {
		_ = e.Close()
		return nil, err
	}
	return e, nil
}

// emulatorEnv is the function's environment plus what the Lambda service sets. PATH and
// HOME come from ours so the binary runs; nothing else of ours leaks in.
func emulatorEnv(c Config) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(max(c.Timeout, time.Second)/time.Second)),
		"AWS_LAMBDA_FUNCTION_NAME=" + c.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(c.Memory),
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
	}
	for k, v := range c.Env {
		env = append(env, k+"="+v)
	}
	return env
}

func (e *Emulator) waitListening(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-e.done:
			return errors.New("aws-lambda-rie exited during start-up (see its output above)")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aws-lambda-rie not listening on %s after %s", addr, within)
		}
	}
}

// Response is an invocation's outcome as the emulator reports it.
type Response struct {
	Status int
	Body   []byte
}

// FunctionError is the body of a failed invocation, which the emulator answers with 200.
type FunctionError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// Err interprets the response: a handler error arrives as 200 with errorMessage/errorType,
// a crash as 502, a timeout as 200 with plain text. It returns nil for a successful one.
func (r Response) Err() error {
	if r.Status != http.StatusOK {
		return fmt.Errorf("invocation failed with HTTP %d: %s", r.Status, bytes.TrimSpace(r.Body))
	}
	var fe FunctionError
	if json.Unmarshal(r.Body, &fe) == nil && (fe.Message != "" || fe.Type != "") {
		return fmt.Errorf("function error %s: %s", fe.Type, fe.Message)
	}
	if !json.Valid(r.Body) {
		return fmt.Errorf("function returned a non-JSON answer (a timeout?): %s", bytes.TrimSpace(r.Body))
	}
	return nil
}

// Invoke sends one event and returns the emulator's answer.
func (e *Emulator) Invoke(ctx context.Context, payload []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(payload))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("read invocation response: %w", err)
	}
	return Response{Status: resp.StatusCode, Body: body}, nil
}

// Close stops the emulator and its function.
func (e *Emulator) Close() error {
	select {
	case <-e.done:
		return nil
	default:
	}
	// The function runs in the emulator's process group; end them together.
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.done
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
