package forwarder

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/metrics"
)

// noteDegraded counts, once per event, the fields that were normalised or omitted on the
// way to mParticle: those Decode degraded plus those any of its batches had cut (deg). Only
// events of which a batch was built for sending are counted, so the metric reflects data
// sent to mParticle (an event given back to SQS is counted again when it returns). The
// invocation's line counts the fields; the event itself is named at DEBUG, with field
// names only, never values. It reports whether anything was degraded.
func (h *Handler) noteDegraded(ctx context.Context, inv *invocation, r *record, deg event.Degraded) bool {
	if len(deg) == 0 {
		return false
	}
	if inv.degradedFields == nil {
		inv.degradedFields = map[string]int{}
	}
	for _, f := range deg {
		inv.degradedFields[string(f)]++
		if mi, ok := ctx.Value(invocationKey{}).(*metrics.Invocation); ok {
			mi.AddDegraded(f, 1)
		}
	}
	if h.deps.Logger.Enabled(ctx, slog.LevelDebug) {
		h.deps.Logger.LogAttrs(ctx, slog.LevelDebug, "degraded event",
			slog.String("message_id", r.msg.MessageId), slog.String("event_id", r.ev.ID),
			slog.String("event_type", string(r.ev.Type)), slog.String("app_id", r.ev.AppID),
			slog.Any("fields", deg.Strings()))
	}
	return true
}

// invalidAppID is the app_id of an invalid event when it could be read.
func invalidAppID(err error) string {
	var ie *event.InvalidError
	if errors.As(err, &ie) {
		return ie.AppID
	}
	return ""
}

// settleInvalid settles the invalid events of one app, given the app's integrations (or the
// error reading them). An invalid event is dead-lettered, to be looked at and fixed, only
// when the app has an enabled integration it might have been meant for. An app with none
// (the queue carries every app's events, most of which use no mParticle feed) would make
// dead letters and DLQ alarms out of events nobody receives: those are acknowledged, still
// counted as Invalid and logged with their reason. When the integrations cannot be read,
// the event is dead-lettered, as if the app had one.
func (h *Handler) settleInvalid(ctx context.Context, inv *invocation, recs []*record, ins []integration.Integration, lookupErr error) {
	unserved := lookupErr == nil && !slices.ContainsFunc(ins, func(in integration.Integration) bool { return in.Enabled })
	for _, r := range recs {
		h.settleMessage(ctx, inv, r, decide(attempt{invalid: r.invalid, unserved: unserved}))
	}
}
