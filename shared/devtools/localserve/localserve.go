// Package localserve runs an http.Handler on a loopback address in the background, for the
// local stand-ins `make dev` starts.
package localserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is a running local HTTP server.
type Server struct {
	URL string
	hs  *http.Server
}

// Start listens on addr (host:port; port 0 picks one) and serves h until Stop.
func Start(h http.Handler, addr string, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Error("local server stopped", "addr", addr, "error", err.Error())
		}
	}()
	return &Server{URL: "http://" + ln.Addr().String(), hs: hs}, nil
}

// Stop lets requests in flight finish (up to ctx), then closes.
func (s *Server) Stop(ctx context.Context) error {
	if err := s.hs.Shutdown(ctx); err != nil {
		return s.hs.Close()
	}
	return nil
}
