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

// recordTimeout bounds a delivery-record write when the invocation has no deadline (tests,
// local tools).
const recordTimeout = 5 * time.Second

// recordDelivered writes the idempotency records of confirmed deliveries. Not in the feed's
// own context, which may be spent the moment its upload ends (its app's time share), but
// by the upload deadline at the latest: the margin after it is kept for answering SQS, and a
// write still running then would make the invocation time out with every message's fate
// lost. A write cut short is counted and logged: a later receive of the same event may then
// send the batch again, which its deterministic source_request_id lets mParticle drop.
func (h *Handler) recordDelivered(ctx context.Context, inv *invocation, in *integration.Integration, keys []string) {
	if h.deps.Deliveries == nil || len(keys) == 0 {
		return
	}
	by := time.Now().Add(recordTimeout)
	if !inv.uploadBy.IsZero() && inv.uploadBy.Before(by) {
		by = inv.uploadBy
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), by)
	defer cancel()
	err := rctx.Err() // no time left at all: not attempted
	if err == nil {
		err = h.deps.Deliveries.Record(rctx, keys)
	}
	if err == nil {
		return
	}
	cut := rctx.Err() != nil
	if cut {
		inv.add(func(s *Summary) { s.RecordsCutShort += len(keys) })
	}
	h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record deliveries",
		slog.String("integration_id", in.ID), slog.Int("deliveries", len(keys)),
		slog.Bool("cut_short_by_deadline", cut), slog.String("error", err.Error()))
}
