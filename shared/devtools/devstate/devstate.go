// Package devstate keeps what a running `make dev` shares with the other local commands, in
// the repository's .dev/ folder: a lock naming the running process, stack.json with the
// endpoints, and the local token signing key.
package devstate

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Stack is .dev/stack.json: where the running local stack answers.
type Stack struct {
	APIURL           string `json:"api_url"`
	AWSEndpointURL   string `json:"aws_endpoint_url"`
	Region           string `json:"region"`
	QueueURL         string `json:"queue_url"`
	DLQURL           string `json:"dlq_url"`
	MParticleBaseURL string `json:"mparticle_base_url"`
	// MParticleLocal is true when MParticleBaseURL is the built-in contract server, whose
	// inspection endpoints the demo reads.
	MParticleLocal bool   `json:"mparticle_local"`
	StackName      string `json:"stack_name"`
	PID            int    `json:"pid"`
	// ConsoleURL opens the console (signed in by OIDCURL, the local OpenID provider).
	ConsoleURL string `json:"console_url,omitempty"`
	OIDCURL    string `json:"oidc_url,omitempty"`
}

const (
	lockFile  = "dev.pid"
	stackFile = "stack.json"
	keyFile   = "signing.key"
)

// Dir is the state folder of the repository at root.
func Dir(root string) string { return filepath.Join(root, ".dev") }

// ErrAlreadyRunning is returned by Lock while another live process holds the lock.
type ErrAlreadyRunning struct{ PID int }

func (e ErrAlreadyRunning) Error() string {
	return fmt.Sprintf("`make dev` is already running (pid %d): use that one, or stop it (Ctrl-C in its terminal, or kill %d) first", e.PID, e.PID)
}

// Lock takes the dev lock for this process. A lock left by a process that no longer runs
// is taken over. The returned function releases it (and removes stack.json).
func Lock(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFile)
	for range 3 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
			cerr := f.Close()
			if err := errors.Join(werr, cerr); err != nil {
				return nil, fmt.Errorf("write %s: %w", path, err)
			}
			return func() {
				_ = os.Remove(filepath.Join(dir, stackFile))
				_ = os.Remove(path)
			}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		pid, alive := holder(path)
		if alive {
			return nil, ErrAlreadyRunning{PID: pid}
		}
		// Stale: its process is gone (killed without cleanup). Take it over.
		_ = os.Remove(path)
	}
	return nil, fmt.Errorf("could not take %s", path)
}

// holder reads the lock's pid and reports whether that process is alive.
func holder(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, Alive(pid)
}

// Alive reports whether a process with this pid exists.
func Alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// WriteStack writes stack.json atomically.
func WriteStack(dir string, s Stack) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stackFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write stack file: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, stackFile))
}

// ErrNotRunning: no live `make dev` (no stack.json, or its process is gone).
var ErrNotRunning = errors.New("`make dev` is not running: start it in another terminal first")

// ReadStack reads the running stack's stack.json.
func ReadStack(dir string) (Stack, error) {
	b, err := os.ReadFile(filepath.Join(dir, stackFile))
	if errors.Is(err, os.ErrNotExist) {
		return Stack{}, ErrNotRunning
	}
	if err != nil {
		return Stack{}, fmt.Errorf("read stack file: %w", err)
	}
	var s Stack
	if err := json.Unmarshal(b, &s); err != nil {
		return Stack{}, fmt.Errorf("%s: %w", filepath.Join(dir, stackFile), err)
	}
	if s.PID > 0 && !Alive(s.PID) {
		return Stack{}, ErrNotRunning
	}
	return s, nil
}

// SigningKey returns the local token signing key, creating it (random, 32 bytes, readable
// only by the owner) on first use. `make dev` verifies with it; `make dev-token` signs.
func SigningKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, keyFile)
	if b, err := os.ReadFile(path); err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) < 32 {
			return nil, fmt.Errorf("%s is corrupt: delete it to get a new key", path)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return SigningKey(dir) // created meanwhile by another command
	}
	if err != nil {
		return nil, fmt.Errorf("create signing key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	return key, nil
}
