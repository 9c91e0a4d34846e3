package forwarder

import (
	"context"
	"log/slog"
	"time"
)

// skipDelivered drops the deliveries already confirmed by an earlier invocation (SQS
// redelivery, a retry after a timeout whose request mParticle did accept, a replayed dead
// letter). Only the messages the record policy says may have been served are looked up
// (records.go); one batch lookup covers the invocation. If the lookup fails, everything is
// sent: mParticle's own dedup by source_request_id is the second line of defence.
func (h *Handler) skipDelivered(ctx context.Context, inv *invocation) {
	store := h.deliveries()
	if store == nil || len(inv.feeds) == 0 {
		return
	}
	var keys []string
	for _, fw := range inv.feeds {
		for _, d := range fw.deliveries {
			if h.mayHaveRecords(d.rec) {
				keys = append(keys, d.key)
			}
		}
	}
	if len(keys) == 0 {
		return
	}
	inv.sum.RecordsRead += len(keys)
	seen, err := store.Delivered(ctx, keys)
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

// recordConfirmed records the deliveries mParticle just confirmed to integration id, as the
// policy asks: all of them (RecordsAll), or those whose message is already known to be
// handed back (RecordsRetries); the others wait on their message for recordHandedBack.
func (h *Handler) recordConfirmed(ctx context.Context, inv *invocation, integrationID string, ds []delivery) {
	if h.deliveries() == nil || len(ds) == 0 {
		return
	}
	keys := make([]string, 0, len(ds))
	for _, d := range ds {
		if h.cfg.Records == RecordsAll || d.rec.recordNow(d.key) {
			keys = append(keys, d.key)
		}
	}
	h.writeRecords(ctx, inv, integrationID, keys, inv.uploadBy)
}

// recordNow reports whether the confirmed delivery key of r must be recorded at once under
// RecordsRetries: its message is already handed back (another delivery failed). Otherwise
// the key waits on the message, which may still be handed back by a feed yet to end.
func (r *record) recordNow(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fate != ack {
		return true
	}
	r.unrecorded = append(r.unrecorded, key)
	return false
}

// recordHandedBack records, once every feed has ended, the confirmed deliveries of messages
// that are handed back after all (retried, or dead-lettered: a letter may be replayed, or
// fail to send and be retried): those messages come back and must skip them. A message
// acknowledged in full needs no record. Its write may use half of the deadline margin,
// since a feed cut by the upload deadline is exactly what hands a message back with
// deliveries to remember; the other half stays for the dead letters, visibilities and
// the answer to SQS.
func (h *Handler) recordHandedBack(ctx context.Context, inv *invocation) {
	if h.deliveries() == nil || h.cfg.Records != RecordsRetries {
		return
	}
	var keys []string
	for _, r := range inv.recs {
		if r.ev != nil && r.dupOf == nil && r.fate != ack {
			keys = append(keys, r.unrecorded...)
			r.unrecorded = nil
		}
	}
	var by time.Time
	if !inv.uploadBy.IsZero() {
		by = inv.uploadBy.Add(h.cfg.DeadlineMargin / 2)
	}
	h.writeRecords(ctx, inv, "", keys, by)
}

// recordTimeout bounds a delivery-record write when the invocation has no deadline (tests,
// local tools).
const recordTimeout = 5 * time.Second

// writeRecords writes the idempotency records of confirmed deliveries (of integrationID,
// "" for several), by `by` at the latest (none when zero). Not in the feed's own context,
// which may be spent the moment its upload ends (its app's time share): the upload deadline
// at most, as the margin after it is kept for answering SQS, and a write still running then
// would make the invocation time out with every message's fate lost. A write cut short is
// counted and logged: a later receive of the same event may then send the batch again,
// which its deterministic source_request_id lets mParticle drop.
func (h *Handler) writeRecords(ctx context.Context, inv *invocation, integrationID string, keys []string, by time.Time) {
	if len(keys) == 0 {
		return
	}
	limit := time.Now().Add(recordTimeout)
	if !by.IsZero() && by.Before(limit) {
		limit = by
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), limit)
	defer cancel()
	err := rctx.Err() // no time left at all: not attempted
	if err == nil {
		err = h.deps.Deliveries.Record(rctx, keys)
	}
	if err == nil {
		inv.add(func(s *Summary) { s.RecordsWritten += len(keys) })
		return
	}
	cut := rctx.Err() != nil
	if cut {
		inv.add(func(s *Summary) { s.RecordsCutShort += len(keys) })
	}
	attrs := make([]slog.Attr, 0, 4)
	if integrationID != "" {
		attrs = append(attrs, slog.String("integration_id", integrationID))
	}
	attrs = append(attrs, slog.Int("deliveries", len(keys)),
		slog.Bool("cut_short_by_deadline", cut), slog.String("error", err.Error()))
	h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record deliveries", attrs...)
	if h.deps.Logger.Enabled(ctx, slog.LevelDebug) {
		// Which ones, for tracing a later re-send of them (the soak excuses exactly these).
		h.deps.Logger.LogAttrs(ctx, slog.LevelDebug, "deliveries not recorded", slog.Any("keys", keys))
	}
}
