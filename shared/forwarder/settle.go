package forwarder

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/metrics"
)

// settleDelivery applies the verdict on one delivery of r's event to integration in: it is
// noted on the message, counted and logged.
func (h *Handler) settleDelivery(ctx context.Context, inv *invocation, r *record, in *integration.Integration, v verdict) {
	r.note(in.ID, v)
	inv.tally(v)
	inv.status.note(in, v.outcome, h.deps.Now())
	inv.feedLog.note(in, v.outcome)
	countVerdict(ctx, v, in.ID, 1)
	h.logDelivery(ctx, r, in, v)
}

// settleFeed gives every delivery of a feed the same verdict (the feed was not called).
func (h *Handler) settleFeed(ctx context.Context, inv *invocation, fw *feedWork, v verdict) {
	h.settleAll(ctx, inv, fw.in, fw.deliveries, v)
}

// settleAll gives deliveries to integration in the same verdict (they were not sent).
func (h *Handler) settleAll(ctx context.Context, inv *invocation, in *integration.Integration, ds []delivery, v verdict) {
	for _, d := range ds {
		h.settleDelivery(ctx, inv, d.rec, in, v)
	}
}

// settleMessage applies a verdict decided before routing, on the message as a whole.
func (h *Handler) settleMessage(ctx context.Context, inv *invocation, r *record, v verdict) {
	inv.tally(v)
	countVerdict(ctx, v, "", 1)
	if r.ev == nil { // not a valid event: no event fields to log
		h.logInvalid(ctx, r, v)
	} else {
		h.logDelivery(ctx, r, nil, v)
	}
	if v.outcome.disposition() == deadLetter {
		inv.letters = append(inv.letters, letter{rec: r, dl: DeadLetter{
			MessageID: r.msg.MessageId, Body: r.msg.Body, Kind: v.outcome.failureKind(),
			Reason: v.reason, ReceiveCount: r.receiveCount,
		}})
	}
}

// tally adds a verdict to the invocation's counts.
func (inv *invocation) tally(v verdict) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	s := &inv.sum
	switch v.outcome {
	case Invalid:
		s.Invalid++
	case InvalidAcknowledged:
		s.Invalid++
		s.InvalidAcknowledged++
	case NoIntegration:
		s.NoIntegration++
	case DuplicateMessage:
		s.DuplicateMessages++
	case Delivered:
		s.Delivered++
	case Deduplicated:
		s.Delivered++
		s.Deduplicated++
	case AuthFailed:
		s.AuthFailed++
	case Skipped:
		s.Skipped++
	}
	if v.throttled {
		s.Throttled++
	}
}

// settle gives each valid message its verdict from its deliveries': handed back to SQS if
// any must be retried, dead-lettered if any was refused for good, else acknowledged. A
// duplicate is handed back with its twin (the delivery records then skip what was sent);
// otherwise it is acknowledged, the twin carrying the event, or its dead letter. Invalid
// messages were settled when decoded or routed.
func (h *Handler) settle(inv *invocation) {
	for _, r := range inv.recs {
		switch {
		case r.ev == nil: // invalid: settled already
		case r.dupOf != nil:
			if r.dupOf.fate == retry {
				inv.retrying++
				h.handBack(inv, r, r.dupOf.retryAfter)
			}
		case r.fate == retry:
			inv.sum.Retried++
			inv.retrying++
			h.handBack(inv, r, r.retryAfter)
		case r.fate == deadLetter:
			inv.sum.Rejected++
			inv.letters = append(inv.letters, letter{rec: r, dl: r.rejectedLetter()})
		}
	}
}

// handBack reports a message for retry, hidden for its backoff, or the wait asked for when
// longer.
func (h *Handler) handBack(inv *invocation, r *record, wait time.Duration) {
	inv.failures = append(inv.failures, events.SQSBatchItemFailure{ItemIdentifier: r.msg.MessageId})
	inv.delays = append(inv.delays, Delay{Msg: r.msg, D: RetryVisibility(h.cfg.BackoffUnit, r.receiveCount, wait)})
}

// sendDeadLetters sends the invocation's dead letters. One that cannot be sent is not
// acknowledged: SQS redelivers its message, and its redrive policy keeps it at worst.
func (h *Handler) sendDeadLetters(ctx context.Context, inv *invocation) {
	for _, l := range inv.letters {
		if err := h.deps.DeadLetters.Send(ctx, l.dl); err != nil {
			h.deps.Logger.LogAttrs(ctx, slog.LevelError, "dead-letter send failed",
				slog.String("message_id", l.dl.MessageID), slog.String("error", err.Error()))
			h.handBack(inv, l.rec, 0)
			continue
		}
		inv.sum.DeadLettered++
		inv.status.deadLettered(l.dl.IntegrationIDs)
		inv.feedLog.deadLettered(l.dl.IntegrationIDs)
		feed := ""
		if len(l.dl.IntegrationIDs) > 0 {
			feed = l.dl.IntegrationIDs[0]
		}
		count(ctx, metrics.DeadLettered, feed, 1)
	}
}

// delayRetries hides the retried messages for their backoff, so that an outage spends few
// receives. A message whose visibility could not be changed is not lost: it comes back after
// the queue's own timeout, having spent a receive sooner than planned.
func (h *Handler) delayRetries(ctx context.Context, delays []Delay) {
	if h.deps.Visibility == nil || len(delays) == 0 {
		return
	}
	for i, err := range h.deps.Visibility.Delay(ctx, delays) {
		if err != nil {
			h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not delay retry",
				slog.String("message_id", delays[i].Msg.MessageId), slog.Int("receive_count", receiveCount(delays[i].Msg)),
				slog.Duration("delay", delays[i].D), slog.String("error", err.Error()))
		}
	}
}
