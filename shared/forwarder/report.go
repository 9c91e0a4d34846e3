package forwarder

import (
	"context"
	"log/slog"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/metrics"
)

// Summary counts what an invocation did (logged once per invocation, used by tests).
// Delivered counts the deliveries done, by this invocation or, of those, Deduplicated by
// an earlier one.
type Summary struct {
	Messages, Invalid, NoIntegration, Delivered, Deduplicated, Rejected, Retried, DeadLettered int
	Throttled, AuthFailed, MissingCustomerID                                                   int
	// Skipped counts the deliveries the integration's policy left out (sandbox "drop",
	// missing_customer_id "skip").
	Skipped int
	// InvalidAcknowledged counts the invalid messages (of Invalid) acknowledged rather than
	// dead-lettered because their app has no enabled integration; Degraded, the events
	// delivered with at least one field normalised or omitted.
	InvalidAcknowledged, Degraded int
	// RecordsCutShort counts confirmed deliveries whose delivery record may not have been
	// written because the upload deadline cut the write short.
	RecordsCutShort int
}

// logDelivery writes one structured line per outcome of a valid event, for one of its
// integrations (in) or, before routing, for the message (in nil): ids and status only, never
// credentials or raw user/device identifiers.
func (h *Handler) logDelivery(ctx context.Context, r *record, in *integration.Integration, v verdict) {
	attrs := []slog.Attr{
		slog.String("outcome", string(v.outcome)),
		slog.String("message_id", r.msg.MessageId),
		slog.String("event_id", r.ev.ID),
		slog.String("event_type", string(r.ev.Type)),
		slog.String("app_id", r.ev.AppID),
		slog.Int("receive_count", r.receiveCount),
	}
	if in != nil {
		attrs = append(attrs, slog.String("integration_id", in.ID))
	}
	if v.status != 0 {
		attrs = append(attrs, slog.Int("http_status", v.status))
	}
	if v.attempts != 0 {
		attrs = append(attrs, slog.Int("attempts", v.attempts))
	}
	if v.reason != "" {
		attrs = append(attrs, slog.String("reason", v.reason))
	}
	h.deps.Logger.LogAttrs(ctx, v.outcome.level(), "delivery", attrs...)
}

// whyAcknowledged is logged with an invalid event that is not dead-lettered.
const whyAcknowledged = "the app has no enabled integration"

// logInvalid writes the line of a message that is not a valid event: its reason says what
// is wrong with the body, whose content is not logged.
func (h *Handler) logInvalid(ctx context.Context, r *record, v verdict) {
	attrs := []slog.Attr{slog.String("message_id", r.msg.MessageId), slog.String("outcome", string(v.outcome))}
	if v.outcome == InvalidAcknowledged {
		attrs = append(attrs, slog.String("app_id", invalidAppID(r.invalid)), slog.String("reason", v.reason),
			slog.String("why_acknowledged", whyAcknowledged))
	} else {
		attrs = append(attrs, slog.String("reason", v.reason))
	}
	attrs = append(attrs, slog.Int("receive_count", r.receiveCount))
	h.deps.Logger.LogAttrs(ctx, v.outcome.level(), "invalid event", attrs...)
}

// logSummary writes the invocation's one line of counts.
func (h *Handler) logSummary(ctx context.Context, inv *invocation) {
	sum := inv.sum
	h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "invocation done",
		slog.Int("messages", sum.Messages), slog.Int("invalid", sum.Invalid),
		slog.Int("invalid_acknowledged", sum.InvalidAcknowledged), slog.Int("degraded", sum.Degraded),
		slog.Int("no_integration", sum.NoIntegration), slog.Int("delivered", sum.Delivered),
		slog.Int("deduplicated", sum.Deduplicated), slog.Int("throttled", sum.Throttled), slog.Int("auth_failed", sum.AuthFailed),
		slog.Int("rejected", sum.Rejected), slog.Int("retried", sum.Retried),
		slog.Int("dead_lettered", sum.DeadLettered), slog.Int("missing_customer_id", sum.MissingCustomerID),
		slog.Int("skipped", sum.Skipped),
		slog.Int("records_cut_short", sum.RecordsCutShort), slog.Int("batch_item_failures", len(inv.failures)))
}

type invocationKey struct{}

// beginMetrics starts the invocation's embedded metrics, when they are on; the returned
// function writes them.
func (h *Handler) beginMetrics(ctx context.Context) (context.Context, func()) {
	if h.deps.Metrics == nil {
		return ctx, func() {}
	}
	inv := h.deps.Metrics.Begin()
	ctx = context.WithValue(ctx, invocationKey{}, inv)
	return ctx, func() {
		if err := inv.Flush(); err != nil {
			h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "metrics flush failed", slog.String("error", err.Error()))
		}
	}
}

// count adds to the invocation's embedded metrics, when metrics are on.
func count(ctx context.Context, name metrics.Name, feedID string, n int) {
	if inv, ok := ctx.Value(invocationKey{}).(*metrics.Invocation); ok {
		inv.Add(name, feedID, n)
	}
}

// countVerdict counts n verdicts v under feedID ("" for none).
func countVerdict(ctx context.Context, v verdict, feedID string, n int) {
	for _, name := range v.metrics() {
		count(ctx, name, feedID, n)
	}
}
