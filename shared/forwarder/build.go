package forwarder

import (
	"context"
	"log/slog"
	"slices"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// build makes the batches of deliveries to integration in, when they are about to be sent:
// only the chunks being sent hold batches, whatever the fan-out of the invocation. A
// delivery the transform refuses is settled; the others are returned with their batches, at
// the same index. The integration's policies leave some out (Skipped): sandbox events under
// sandbox drop, before the transform; events without the Customer ID under
// missing_customer_id skip, once the transform has looked for it. What a batch had to cut is kept on its event, to be counted once per event
// (noteDegradedEvents).
func (h *Handler) build(ctx context.Context, inv *invocation, in *integration.Integration, ds []delivery) ([]delivery, []mparticle.Batch) {
	sent := make([]delivery, 0, len(ds))
	batches := make([]mparticle.Batch, 0, len(ds))
	for _, d := range ds {
		if in.DropsSandbox() && transform.IsSandbox(d.rec.ev) {
			h.settleDelivery(ctx, inv, d.rec, in, decide(attempt{skip: "sandbox event, policy drop"}))
			continue
		}
		res, err := transform.ToBatch(d.rec.ev, in)
		if err != nil {
			h.settleDelivery(ctx, inv, d.rec, in, decide(attempt{buildErr: err}))
			continue
		}
		if res.MissingCustomerID && in.SkipsMissingCustomerID() {
			h.settleDelivery(ctx, inv, d.rec, in, decide(attempt{skip: "customer id missing, policy skip"}))
			continue
		}
		d.rec.built(d.target, res.Degraded)
		if res.MissingCustomerID {
			inv.add(func(s *Summary) { s.MissingCustomerID++ })
			h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "customer id missing",
				slog.String("event_id", d.rec.ev.ID), slog.String("integration_id", in.ID),
				slog.String("customer_id_source", string(in.CustomerIDSource)))
		}
		sent = append(sent, d)
		batches = append(batches, res.Batch)
	}
	return sent, batches
}

// built notes that a batch of r's event was built for its target-th integration, with what
// the transform cut.
func (r *record) built(target int, deg event.Degraded) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = true
	if len(deg) == 0 {
		return
	}
	if r.degraded == nil {
		r.degraded = make([]event.Degraded, r.targets)
	}
	r.degraded[target] = deg
}

// noteDegradedEvents counts and logs, once per event, what was normalised or omitted on the
// way to its feeds: decode's, then its batches' in the order of its integrations (so the
// fields are listed the same whichever feed was sent first). Only events of which a batch
// was built are counted: the metric describes data sent to mParticle.
func (h *Handler) noteDegradedEvents(ctx context.Context, inv *invocation) {
	for _, r := range inv.recs {
		if r.ev == nil || r.dupOf != nil || !r.sent {
			continue
		}
		deg := slices.Clone(r.ev.Degraded)
		for _, d := range r.degraded {
			deg.Merge(d)
		}
		if h.noteDegraded(ctx, r, deg) {
			inv.sum.Degraded++
		}
	}
}
