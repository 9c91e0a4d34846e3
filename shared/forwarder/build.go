package forwarder

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// chunkBuffers is what a feed builds its chunks into: a transform.Builder and the slices of
// the deliveries sent and their batches, all reused from one chunk to the next and, through
// chunkPool, from one feed and invocation to the next. Fresh memory for every batch was most
// of the transform's cost (shared/transform's README); a warm feed now writes into memory it
// has already touched, and allocates per batch only the copy of its ids.
//
// A chunk's batches point into this storage, which build rewrites for the next chunk: they
// are done with once the chunk is settled. Nothing kept past that points into them: the
// Uploader does not keep them (see Uploader), settling keeps outcomes, reasons and counts,
// delivery keys are made from the event and integration ids at routing, a batch's ids are
// copies (the Builder's rule), and its other strings are the event's or constants.
type chunkBuffers struct {
	bl      transform.Builder
	sent    []delivery
	batches []mparticle.Batch
}

// chunkPool holds the chunkBuffers of feeds that ended, for the next ones. A Builder is not
// safe for concurrent use: each feed's goroutine has one of its own while it runs.
var chunkPool = sync.Pool{New: func() any { return new(chunkBuffers) }}

func getChunkBuffers() *chunkBuffers { return chunkPool.Get().(*chunkBuffers) }

// putChunkBuffers hands cb back, once the feed's last chunk is settled. The slices are
// cleared so that a pooled cb does not keep an invocation's messages alive (the Builder's
// parts still point to the last chunk's event values until reused or collected).
func putChunkBuffers(cb *chunkBuffers) {
	clear(cb.sent[:cap(cb.sent)])
	clear(cb.batches[:cap(cb.batches)])
	cb.sent, cb.batches = cb.sent[:0], cb.batches[:0]
	chunkPool.Put(cb)
}

// build makes the batches of deliveries to integration in, when they are about to be sent:
// only the chunks being sent hold batches, whatever the fan-out of the invocation. They are
// built into cb, whose previous batches it overwrites: the caller has settled the previous
// chunk. A delivery the transform refuses is settled; the others are returned with their
// batches, at the same index, both valid until the next build into cb. The integration's
// policies leave some out (Skipped): sandbox events under sandbox drop, before the
// transform; events without the Customer ID under missing_customer_id skip, once the
// transform has looked for it. What a batch had to cut is kept on its event, to be counted
// once per event (noteDegradedEvents).
func (h *Handler) build(ctx context.Context, inv *invocation, in *integration.Integration, ds []delivery, cb *chunkBuffers) ([]delivery, []mparticle.Batch) {
	cb.bl.Reset()
	sent, batches := cb.sent[:0], cb.batches[:0]
	for _, d := range ds {
		if in.DropsSandbox() && transform.IsSandbox(d.rec.ev) {
			h.settleDelivery(ctx, inv, d.rec, in, decide(attempt{skip: "sandbox event, policy drop"}))
			continue
		}
		res, err := cb.bl.ToBatch(d.rec.ev, in)
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
			// Sent without it (policy send): counted on the invocation's and the
			// integration's lines, named one by one at DEBUG.
			inv.add(func(s *Summary) { s.MissingCustomerID++ })
			inv.feedLog.add(in, func(c *feedCounts) { c.missingCustomerID++ })
			if h.deps.Logger.Enabled(ctx, slog.LevelDebug) {
				h.deps.Logger.LogAttrs(ctx, slog.LevelDebug, "customer id missing",
					slog.String("event_id", d.rec.ev.ID), slog.String("integration_id", in.ID),
					slog.String("customer_id_source", string(in.CustomerIDSource)))
			}
		}
		sent = append(sent, d)
		batches = append(batches, res.Batch)
	}
	cb.sent, cb.batches = sent, batches // grown, for the next chunks
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
		if h.noteDegraded(ctx, inv, r, deg) {
			inv.sum.Degraded++
		}
	}
}
