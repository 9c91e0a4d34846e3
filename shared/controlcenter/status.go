package controlcenter

import (
	"context"
	"fmt"
	"time"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// StatusReader reads the Forwarder's delivery status of integrations: each one's counts
// over the 24 hours up to now, summed, with the latest last_* values; an integration the
// Forwarder never wrote for in that time is absent from the map.
type StatusReader interface {
	DeliveryStatuses(ctx context.Context, appID string, ids []string, now time.Time) (map[string]integration.DeliveryStatus, error)
}

// DeliveryStatuses returns the last 24 hours' delivery status of the app's integrations ids
// (those of a page, or one), read together. Without a StatusReader every status is empty.
func (s *Service) DeliveryStatuses(ctx context.Context, appID string, ids []string) (map[string]integration.DeliveryStatus, error) {
	if s.statuses == nil || len(ids) == 0 {
		return map[string]integration.DeliveryStatus{}, nil
	}
	st, err := s.statuses.DeliveryStatuses(ctx, appID, ids, s.now())
	if err != nil {
		return nil, fmt.Errorf("controlcenter: delivery status of %s: %w", appID, err)
	}
	return st, nil
}
