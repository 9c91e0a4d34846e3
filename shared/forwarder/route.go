package forwarder

import (
	"context"
	"log/slog"
	"slices"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// delivery is one batch bound for one feed.
type delivery struct {
	rec   *record
	batch mparticle.Batch
	key   string // idempotency key: (event id, integration id)
}

// feedWork is everything an invocation sends to one integration.
type feedWork struct {
	in         *integration.Integration
	deliveries []delivery
}

// route reads each app's integrations once, settles the app's invalid events with them, and
// builds each event's batches. An app whose integrations cannot be read has its events
// retried.
func (h *Handler) route(ctx context.Context, inv *invocation) {
	for _, a := range inv.apps {
		ins, err := h.deps.Integrations.ForApp(ctx, a.id)
		h.settleInvalid(ctx, inv, a.invalid, ins, err)
		if err != nil {
			h.lookupFailed(ctx, a, err)
			continue
		}
		feedOf := map[string]*feedWork{}
		for _, r := range a.events {
			h.build(ctx, inv, r, ins, feedOf)
		}
	}
}

// lookupFailed retries an app's events. It logs once per app, not per message: an outage of
// the integrations table would otherwise log every message of every batch.
func (h *Handler) lookupFailed(ctx context.Context, a *appWork, err error) {
	v := decide(attempt{lookupErr: err})
	for _, r := range a.events {
		r.note("-", v)
	}
	countVerdict(ctx, v, "", len(a.events))
	h.deps.Logger.LogAttrs(ctx, slog.LevelError, "integration lookup failed",
		slog.String("app_id", a.id), slog.String("error", err.Error()),
		slog.Int("messages", len(a.events)))
}

// build makes r's event into one batch per integration that wants it, added to that
// integration's feedWork (feedOf, new ones also to inv.feeds), and counts once what the
// event lost on the way.
func (h *Handler) build(ctx context.Context, inv *invocation, r *record, ins []integration.Integration, feedOf map[string]*feedWork) {
	targets := integration.Route(ins, r.ev)
	if len(targets) == 0 {
		h.settleMessage(ctx, inv, r, decide(attempt{unrouted: true}))
		return
	}
	degraded := slices.Clone(r.ev.Degraded)
	for _, target := range targets {
		res, err := transform.ToBatch(r.ev, target)
		if err != nil {
			h.settleDelivery(ctx, inv, r, target, decide(attempt{buildErr: err}))
			continue
		}
		degraded.Merge(res.Degraded)
		if res.MissingCustomerID {
			inv.sum.MissingCustomerID++
			h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "customer id missing",
				slog.String("event_id", r.ev.ID), slog.String("integration_id", target.ID),
				slog.String("customer_id_source", string(target.CustomerIDSource)))
		}
		fw := feedOf[target.ID]
		if fw == nil {
			fw = &feedWork{in: target}
			feedOf[target.ID] = fw
			inv.feeds = append(inv.feeds, fw)
		}
		fw.deliveries = append(fw.deliveries, delivery{rec: r, batch: res.Batch, key: deliverystore.Key(r.ev.ID, target.ID)})
	}
	if h.noteDegraded(ctx, r, degraded) {
		inv.sum.Degraded++
	}
}
