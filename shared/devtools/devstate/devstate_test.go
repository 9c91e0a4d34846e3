package devstate

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestLockRefusesASecondHolderAndTakesOverAStaleOne(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Our own pid holds it: a second taker is told who runs.
	_, err = Lock(dir)
	var running ErrAlreadyRunning
	if !errors.As(err, &running) || running.PID != os.Getpid() {
		t.Fatalf("second Lock = %v, want ErrAlreadyRunning{%d}", err, os.Getpid())
	}
	release()

	// A lock naming a process that has exited is stale.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, lockFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	release, err = Lock(dir)
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	release()
	if _, err := os.Stat(filepath.Join(dir, lockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("release left the lock file: %v", err)
	}
}

func TestStackFileRoundTripAndLiveness(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadStack(dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("ReadStack without a file = %v", err)
	}
	s := Stack{APIURL: "http://127.0.0.1:3000", QueueURL: "q", PID: os.Getpid()}
	if err := WriteStack(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStack(dir)
	if err != nil || got != s {
		t.Fatalf("ReadStack = %+v, %v", got, err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	s.PID = cmd.Process.Pid
	if err := WriteStack(dir, s); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStack(dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stack of a dead process = %v, want ErrNotRunning", err)
	}
}

func TestSigningKeyIsStableAndPrivate(t *testing.T) {
	dir := t.TempDir()
	k1, err := SigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := SigningKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || string(k1) != string(k2) {
		t.Fatalf("keys differ or are short: %d bytes", len(k1))
	}
	fi, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}
