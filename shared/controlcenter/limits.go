package controlcenter

import (
	"context"
	"fmt"
	"time"
)

// Windows counts an app's writes in fixed windows that every instance of the service
// shares.
type Windows interface {
	// Take counts one write of the app in the window [start, end): it adds one to each
	// quota's count if every count is below its Max, and otherwise adds nothing and
	// returns the name of a quota at its Max.
	Take(ctx context.Context, appID string, start, end time.Time, quotas []Quota) (full string, err error)
}

// Quota is one count of an app's writes in a window, and the most it may reach (at least 1).
type Quota struct {
	Name string
	Max  int
}

// The quotas of an app's window.
const (
	QuotaWrites           = "writes"
	QuotaCredentialWrites = "credential_writes"
)

// RateWindow is the length of the fixed windows an app's writes are counted in.
const RateWindow = time.Minute

// Limits bound what one app may do; each must be at least 1.
type Limits struct {
	IntegrationsPerApp        int
	WritesPerMinute           int
	CredentialWritesPerMinute int
}

// take counts one write of the app (a credentials write too, when credentials) in the
// current window, or refuses it with a *RateLimitError. A failure to count refuses the
// write too (see the package comment).
func (s *Service) take(ctx context.Context, appID string, credentials bool) error {
	now := s.now()
	start := now.Truncate(RateWindow)
	end := start.Add(RateWindow)
	quotas := []Quota{{Name: QuotaWrites, Max: s.limits.WritesPerMinute}}
	if credentials {
		quotas = append(quotas, Quota{Name: QuotaCredentialWrites, Max: s.limits.CredentialWritesPerMinute})
	}
	full, err := s.windows.Take(ctx, appID, start, end, quotas)
	if err != nil {
		return fmt.Errorf("controlcenter: count a write of %s: %w", appID, err)
	}
	for _, q := range quotas {
		if q.Name == full {
			return &RateLimitError{Quota: q.Name, Limit: q.Max, RetryAfter: end.Sub(now)}
		}
	}
	if full != "" {
		return fmt.Errorf("controlcenter: count a write of %s: unknown quota %q full", appID, full)
	}
	return nil
}
