package testenv

import (
	"bytes"
	"sync"
)

// SyncBuffer collects output that several goroutines write at once (a stack's logs, a
// child process's output), for a test to read when it is done.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
