package forwarder

import (
	"context"
	"log/slog"
	"time"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// skipDelivered drops the deliveries already confirmed by an earlier invocation (SQS
// redelivery, or a retry after a timeout whose request mParticle accepted). One batch
// lookup covers the whole invocation. If the lookup fails, everything is sent: mParticle's
// own dedup by source_request_id is the second line of defence.
func (h *Handler) skipDelivered(ctx context.Context, inv *invocation) {
	if h.deps.Deliveries == nil || len(inv.feeds) == 0 {
		return
	}
	var keys []string
	for _, fw := range inv.feeds {
		for _, d := range fw.deliveries {
			keys = append(keys, d.key)
		}
	}
	seen, err := h.deps.Deliveries.Delivered(ctx, keys)
	if err != nil {
		h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "delivery records unavailable; sending anyway",
			slog.String("error", err.Error()))
		return
	}
	for _, fw := range inv.feeds {
		kept := fw.deliveries[:0]
		for _, d := range fw.deliveries {
			if seen[d.key] {
				h.settleDelivery(ctx, inv, d.rec, fw.in, decide(attempt{seen: true}))
				continue
			}
			kept = append(kept, d)
		}
		fw.deliveries = kept
	}
}

// recordDelivered writes the idempotency records of confirmed deliveries.
func (h *Handler) recordDelivered(ctx context.Context, in *integration.Integration, keys []string) {
	if h.deps.Deliveries == nil || len(keys) == 0 {
		return
	}
	// The upload context may be nearly spent; the record is what stops a duplicate later.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.deps.Deliveries.Record(rctx, keys); err != nil {
		h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record deliveries",
			slog.String("integration_id", in.ID), slog.Int("deliveries", len(keys)), slog.String("error", err.Error()))
	}
}
