package soak

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
)

// leakScanner is the forwarder's log sink during the soak: it counts log records that
// contain any of the feeds' keys or secrets, and passes records on to out (may be nil).
// slog's handlers write one whole record per Write, so a secret is never split across calls.
type leakScanner struct {
	secrets [][]byte
	out     io.Writer

	mu     sync.Mutex // serialises writes to out
	leaks  atomic.Int64
	lines  atomic.Int64
	sample atomic.Value // first leaking record, redacted, for the report
}

func newLeakScanner(out io.Writer, secrets ...string) *leakScanner {
	s := &leakScanner{out: out}
	for _, sec := range secrets {
		if sec != "" {
			s.secrets = append(s.secrets, []byte(sec))
		}
	}
	return s
}

func (s *leakScanner) Write(p []byte) (int, error) {
	s.lines.Add(1)
	for _, sec := range s.secrets {
		if bytes.Contains(p, sec) {
			if s.leaks.Add(1) == 1 {
				s.sample.Store(string(redact(p, s.secrets)))
			}
			break
		}
	}
	if s.out != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.out.Write(redact(p, s.secrets))
	}
	return len(p), nil
}

func redact(p []byte, secrets [][]byte) []byte {
	for _, sec := range secrets {
		p = bytes.ReplaceAll(p, sec, []byte("[LEAKED-SECRET]"))
	}
	return p
}
