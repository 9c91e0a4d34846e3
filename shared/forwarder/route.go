package forwarder

import (
	"context"
	"log/slog"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// delivery is one event bound for one feed. Routing only decides that it exists; its batch
// is built when the feed is sent (build.go), so that an invocation holds the batches of the
// feeds being sent, not those of every (event, integration) pair of the batch.
type delivery struct {
	rec    *record
	key    string // idempotency key: (event id, integration id)
	target int    // the integration's index among the event's targets
}

// feedWork is everything an invocation sends to one integration, with one set of
// credentials: an integration whose sandbox policy is separate has a second feedWork for
// its sandbox events, sent with the sandbox credentials.
type feedWork struct {
	in         *integration.Integration
	sandbox    bool
	deliveries []delivery
}

// secret names the credentials the feed's deliveries are sent with.
func (fw *feedWork) secret() (id, versionID string) { return secretOf(fw.in, fw.sandbox) }

func secretOf(in *integration.Integration, sandbox bool) (id, versionID string) {
	if sandbox {
		return in.SandboxSecretID, in.SandboxSecretVersionID
	}
	return in.SecretID, in.SecretVersionID
}

// route reads each app's integrations once, settles the app's invalid events with them, and
// decides each event's deliveries, grouped per integration. An app whose integrations
// cannot be read has its events retried.
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
			h.routeEvent(ctx, inv, a, r, ins, feedOf)
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

// routeEvent adds one delivery of r's event per integration that wants it to that
// integration's feedWork (feedOf; new ones also go to the app's and the invocation's
// feeds), or acknowledges the event when none does.
func (h *Handler) routeEvent(ctx context.Context, inv *invocation, a *appWork, r *record, ins []integration.Integration, feedOf map[string]*feedWork) {
	targets := integration.Route(ins, r.ev)
	if len(targets) == 0 {
		h.settleMessage(ctx, inv, r, decide(attempt{unrouted: true}))
		return
	}
	r.targets = len(targets)
	sandbox := transform.IsSandbox(r.ev)
	for i, target := range targets {
		separate := sandbox && target.SeparatesSandbox()
		feedKey := target.ID
		if separate {
			feedKey += "/sandbox"
		}
		fw := feedOf[feedKey]
		if fw == nil {
			fw = &feedWork{in: target, sandbox: separate}
			feedOf[feedKey] = fw
			a.feeds = append(a.feeds, fw)
			inv.feeds = append(inv.feeds, fw)
		}
		fw.deliveries = append(fw.deliveries, delivery{rec: r, key: deliverystore.Key(r.ev.ID, target.ID), target: i})
	}
}
