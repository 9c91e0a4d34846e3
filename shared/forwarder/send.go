package forwarder

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// sendAll uploads each feed's batches, feeds concurrently up to the configured bound. No
// upload starts within the deadline margin, and uploads end by then: those feeds'
// deliveries are retried.
func (h *Handler) sendAll(ctx context.Context, inv *invocation) {
	uploadCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		uploadCtx, cancel = context.WithDeadline(ctx, dl.Add(-h.cfg.DeadlineMargin))
		defer cancel()
	}
	sem := make(chan struct{}, h.cfg.MaxConcurrentFeeds)
	var wg sync.WaitGroup
	for _, fw := range inv.feeds {
		if len(fw.deliveries) == 0 {
			continue // all already delivered
		}
		sem <- struct{}{}
		if uploadCtx.Err() != nil {
			<-sem
			h.settleFeed(ctx, inv, fw, decide(attempt{deadline: true}))
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			h.sendFeed(uploadCtx, inv, fw)
		})
	}
	wg.Wait()
}

// sendFeed uploads one feed's batches and settles its deliveries.
func (h *Handler) sendFeed(ctx context.Context, inv *invocation, fw *feedWork) {
	if a, held := h.holdBack(ctx, fw.in.ID); held {
		h.settleFeed(ctx, inv, fw, decide(a))
		return
	}
	creds, err := h.deps.Credentials.Get(ctx, fw.in.SecretID, fw.in.SecretVersionID)
	if err != nil {
		// A missing or malformed secret is a configuration problem the customer fixes; the
		// messages stay in the queue until then (SQS redrive bounds how long).
		if errors.Is(err, feedcreds.ErrNotFound) || errors.Is(err, feedcreds.ErrMalformed) {
			h.markUnhealthy(ctx, fw.in, "credentials secret missing or malformed")
		}
		h.settleFeed(ctx, inv, fw, decide(attempt{credsErr: err}))
		return
	}
	h.settleResults(ctx, inv, fw, h.upload(ctx, fw, creds))
}

// upload sends the feed's batches. When mParticle refuses the credentials, the secret may
// have been rotated: they are read afresh once and what was refused is resent.
func (h *Handler) upload(ctx context.Context, fw *feedWork, creds feedcreds.Credentials) []mparticle.Result {
	batches := make([]mparticle.Batch, len(fw.deliveries))
	for i, d := range fw.deliveries {
		batches[i] = d.batch
	}
	results := h.deps.Uploader.Upload(ctx, feedFor(fw.in, creds), batches)
	var refused []int
	for i, res := range results {
		if res.Outcome == mparticle.AuthFailed {
			refused = append(refused, i)
		}
	}
	if len(refused) == 0 {
		return results
	}
	fresh, err := h.freshCredentials(ctx, fw.in)
	if err != nil {
		return results
	}
	again := make([]mparticle.Batch, len(refused))
	for j, i := range refused {
		again[j] = batches[i]
	}
	for j, res := range h.deps.Uploader.Upload(ctx, feedFor(fw.in, fresh), again) {
		res.Attempts += results[refused[j]].Attempts
		results[refused[j]] = res
	}
	return results
}

// feedFor is the upload destination of an integration.
func feedFor(in *integration.Integration, creds feedcreds.Credentials) mparticle.Feed {
	return mparticle.Feed{ID: in.ID, Pod: in.Pod, Credentials: creds}
}

// freshCredentials re-reads the integration (its secret version may have changed) and its
// secret, bypassing both caches.
func (h *Handler) freshCredentials(ctx context.Context, in *integration.Integration) (feedcreds.Credentials, error) {
	h.deps.Integrations.Invalidate(in.AppID)
	h.deps.Credentials.Invalidate(in.SecretID)
	secretID, versionID := in.SecretID, in.SecretVersionID
	if ins, err := h.deps.Integrations.ForApp(ctx, in.AppID); err == nil {
		for i := range ins {
			if ins[i].ID == in.ID {
				secretID, versionID = ins[i].SecretID, ins[i].SecretVersionID
			}
		}
	}
	return h.deps.Credentials.Get(ctx, secretID, versionID)
}

// settleResults settles each delivery by the client's result for its batch, then acts on
// what the feed's answers said: a 429's wait and the rate limit's use slow the feed down,
// confirmed deliveries are recorded, and the integration's health follows.
func (h *Handler) settleResults(ctx context.Context, inv *invocation, fw *feedWork, results []mparticle.Result) {
	var delivered []string
	var throttleFor time.Duration
	percentUsed := -1
	seen := map[Outcome]bool{}
	for i, res := range results {
		d := fw.deliveries[i]
		v := decide(attempt{result: res})
		h.settleDelivery(ctx, inv, d.rec, fw.in, v)
		seen[v.outcome] = true
		percentUsed = max(percentUsed, res.RateLimitPercentUsed)
		if v.outcome == Delivered {
			delivered = append(delivered, d.key)
		}
		if v.throttled {
			throttleFor = max(throttleFor, v.wait)
		}
	}
	if throttleFor > 0 {
		h.coolDown(fw.in.ID, throttleFor)
	}
	h.pace(fw.in.ID, percentUsed)
	h.recordDelivered(ctx, fw.in, delivered)
	h.noteHealth(ctx, fw.in, seen)
}
