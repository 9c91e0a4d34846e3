package forwarder

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
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
	// delivered with at least one field normalised or omitted; DuplicateMessages, the
	// messages carrying an event an earlier message of the batch carries.
	InvalidAcknowledged, Degraded, DuplicateMessages int
	// RecordsRead and RecordsWritten count the delivery records looked up and written (the
	// DynamoDB items, by the record policy); RecordsCutShort the confirmed deliveries whose
	// record may not have been written because the deadline cut the write short.
	RecordsRead, RecordsWritten, RecordsCutShort int
}

// Logs at INFO stay a few bytes per delivered event whatever the batch: the invocation's
// line, one line per integration with its counts (logFeeds), and one line per delivery that
// failed (retried or refused for good) or that the integration's policy skipped, with its
// reason. A delivered, deduplicated or unrouted event has its own line only at DEBUG, where
// its event id can be traced; a dead letter carries it in its attributes.

// logDelivery writes one structured line per outcome of a valid event, for one of its
// integrations (in) or, before routing, for the message (in nil): ids and status only, never
// credentials or raw user/device identifiers. The level's check comes first, so the lines of
// successes cost nothing when DEBUG is off.
func (h *Handler) logDelivery(ctx context.Context, r *record, in *integration.Integration, v verdict) {
	level := v.outcome.level()
	if !h.deps.Logger.Enabled(ctx, level) {
		return
	}
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
	h.deps.Logger.LogAttrs(ctx, level, "delivery", attrs...)
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
	attrs := []slog.Attr{
		slog.Int("messages", sum.Messages), slog.Int("invalid", sum.Invalid),
		slog.Int("invalid_acknowledged", sum.InvalidAcknowledged), slog.Int("degraded", sum.Degraded),
		slog.Int("no_integration", sum.NoIntegration), slog.Int("duplicate_messages", sum.DuplicateMessages),
		slog.Int("delivered", sum.Delivered),
		slog.Int("deduplicated", sum.Deduplicated), slog.Int("throttled", sum.Throttled), slog.Int("auth_failed", sum.AuthFailed),
		slog.Int("rejected", sum.Rejected), slog.Int("retried", sum.Retried),
		slog.Int("dead_lettered", sum.DeadLettered), slog.Int("missing_customer_id", sum.MissingCustomerID),
		slog.Int("skipped", sum.Skipped),
		slog.Int("records_read", sum.RecordsRead), slog.Int("records_written", sum.RecordsWritten),
		slog.Int("records_cut_short", sum.RecordsCutShort), slog.Int("batch_item_failures", len(inv.failures)),
	}
	if len(inv.degradedFields) > 0 {
		// Which input fields were cut, for finding the producer's problem; the events that
		// had them are named at DEBUG ("degraded event").
		fields := make([]slog.Attr, 0, len(inv.degradedFields))
		for _, f := range slices.Sorted(maps.Keys(inv.degradedFields)) {
			fields = append(fields, slog.Int(f, inv.degradedFields[f]))
		}
		attrs = append(attrs, slog.Attr{Key: "degraded_fields", Value: slog.GroupValue(fields...)})
	}
	h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "invocation done", attrs...)
}

// feedTally counts an invocation's deliveries per integration for its log line (logFeeds),
// as they are settled. Its zero value is ready.
type feedTally struct {
	mu   sync.Mutex
	byID map[string]*feedCounts
	ids  []string // in order of first outcome
}

type feedCounts struct {
	appID             string
	outcomes          map[Outcome]int
	deadLettered      int
	missingCustomerID int
	traffic           mparticle.Traffic
}

// counts returns the integration's counts, made on first use.
func (t *feedTally) counts(in *integration.Integration) *feedCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		t.byID = map[string]*feedCounts{}
	}
	c := t.byID[in.ID]
	if c == nil {
		c = &feedCounts{appID: in.AppID, outcomes: map[Outcome]int{}}
		t.byID[in.ID] = c
		t.ids = append(t.ids, in.ID)
	}
	return c
}

func (t *feedTally) note(in *integration.Integration, o Outcome) {
	c := t.counts(in)
	t.mu.Lock()
	defer t.mu.Unlock()
	c.outcomes[o]++
}

func (t *feedTally) add(in *integration.Integration, f func(*feedCounts)) {
	c := t.counts(in)
	t.mu.Lock()
	defer t.mu.Unlock()
	f(c)
}

// deadLettered counts a sent dead letter for each integration that refused its event.
func (t *feedTally) deadLettered(ids []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if c := t.byID[id]; c != nil {
			c.deadLettered++
		}
	}
}

// feedFailures are the failure outcomes written on a feed's line when they occurred, besides
// their total (retried).
var feedFailures = []Outcome{Retry, Throttled, NotStarted, AuthFailed, Misdirected, Rejected}

// logFeeds writes one INFO line per integration the invocation settled deliveries for: its
// app, its counts by outcome, and the requests and bytes its uploads took (as the mParticle
// client counts them, mparticle.WithTraffic; an Uploader that does not count leaves them out).
func (h *Handler) logFeeds(ctx context.Context, inv *invocation) {
	if !h.deps.Logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	t := &inv.feedLog
	for _, id := range t.ids {
		c := t.byID[id]
		retried := 0
		for o, n := range c.outcomes {
			if o.disposition() == retry {
				retried += n
			}
		}
		attrs := []slog.Attr{
			slog.String("app_id", c.appID), slog.String("integration_id", id),
			slog.Int("delivered", c.outcomes[Delivered]), slog.Int("deduplicated", c.outcomes[Deduplicated]),
			slog.Int("skipped", c.outcomes[Skipped]), slog.Int("retried", retried),
			slog.Int("dead_lettered", c.deadLettered),
		}
		for _, o := range feedFailures {
			if n := c.outcomes[o]; n > 0 {
				attrs = append(attrs, slog.Int(string(o), n))
			}
		}
		if c.missingCustomerID > 0 {
			attrs = append(attrs, slog.Int("missing_customer_id", c.missingCustomerID))
		}
		if n := c.traffic.Requests(); n > 0 {
			attrs = append(attrs, slog.Int64("requests", n), slog.Int64("bytes", c.traffic.Bytes()))
		}
		h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "feed done", attrs...)
	}
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
