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

// sendAll sends each feed's batches, feeds concurrently up to the configured bound, started
// in turns across apps and bounded by each app's fair share of the slots and of the time
// (schedule.go). No feed starts within the deadline margin, and uploads end by then: the
// deliveries of a feed not started are retried (NotStarted), with their backoff.
func (h *Handler) sendAll(ctx context.Context, inv *invocation) {
	uploadCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		inv.uploadBy = dl.Add(-h.cfg.DeadlineMargin)
		var cancel context.CancelFunc
		uploadCtx, cancel = context.WithDeadline(ctx, inv.uploadBy)
		defer cancel()
	}
	s := newScheduler(inv.apps, h.cfg.MaxConcurrentFeeds)
	// Buffered for every slot, so a feed ending after the loop below has stopped never blocks.
	ended := make(chan *feedWork, s.slots)
	var wg sync.WaitGroup
	for s.waiting() && uploadCtx.Err() == nil {
		fw := s.start()
		if fw == nil { // every slot taken
			select {
			case fw := <-ended:
				s.done(fw)
			case <-uploadCtx.Done():
			}
			continue
		}
		feedCtx, cancel := h.feedContext(uploadCtx, inv, s)
		wg.Go(func() {
			defer func() { cancel(); ended <- fw }()
			h.sendFeed(feedCtx, inv, fw)
		})
	}
	for _, fw := range s.unstarted() {
		h.settleFeed(ctx, inv, fw, decide(attempt{deadline: true}))
	}
	wg.Wait()
}

// feedContext is what a feed just started may use: until the upload deadline, or for its
// app's share of the time left when more apps have work than there are slots.
func (h *Handler) feedContext(uploadCtx context.Context, inv *invocation, s *scheduler) (context.Context, context.CancelFunc) {
	if inv.uploadBy.IsZero() {
		return context.WithCancel(uploadCtx)
	}
	left := time.Until(inv.uploadBy)
	if share := s.timeShare(left); share < left {
		return context.WithTimeout(uploadCtx, share)
	}
	return context.WithCancel(uploadCtx)
}

// sendChunk is how many of a feed's deliveries are built and uploaded at a time: a full bulk
// request's worth. A feed then holds at most that many batches whatever the size of its
// share of the batch (1,000 messages for 20 feeds would otherwise hold 20,000), and makes
// the requests one upload of everything would (for batches under 2.5 KB, the usual size).
const sendChunk = mparticle.MaxBatchesPerRequest

// sendFeed sends one feed's deliveries, a chunk at a time, and keeps the integration's
// health in step with what they ended in.
func (h *Handler) sendFeed(ctx context.Context, inv *invocation, fw *feedWork) {
	seen := map[Outcome]bool{}
	h.sendChunks(ctx, inv, fw, seen)
	h.noteHealth(ctx, fw.in, seen)
}

// sendChunks builds, uploads and settles a feed's deliveries chunk by chunk. Before each
// chunk the feed may be held back (a 429's wait, pacing) or out of time; after one, a
// refusal of its credentials or a redirect ends the feed: the rest would fare no better.
// Each of these settles the deliveries not sent yet.
func (h *Handler) sendChunks(ctx context.Context, inv *invocation, fw *feedWork, seen map[Outcome]bool) {
	var creds *feedcreds.Credentials
	// The chunks are built into one set of buffers, each over the last (build.go): a chunk's
	// batches are done with once it is settled, before the next is built.
	var cb *chunkBuffers
	defer func() {
		if cb != nil {
			putChunkBuffers(cb)
		}
	}()
	for rest := fw.deliveries; len(rest) > 0; {
		if a, held := h.holdBack(ctx, fw.in.ID); held {
			h.settleAll(ctx, inv, fw.in, rest, decide(a))
			return
		}
		if ctx.Err() != nil {
			h.settleAll(ctx, inv, fw.in, rest, decide(attempt{deadline: true}))
			return
		}
		if creds == nil {
			secretID, versionID := fw.secret()
			c, err := h.deps.Credentials.Get(ctx, secretID, versionID)
			if err != nil {
				// A missing or malformed secret is a configuration problem the customer
				// fixes; the messages stay in the queue until then (SQS redrive bounds how
				// long).
				if errors.Is(err, feedcreds.ErrNotFound) || errors.Is(err, feedcreds.ErrMalformed) {
					h.markUnhealthy(ctx, fw.in, "credentials secret missing or malformed")
				}
				h.settleAll(ctx, inv, fw.in, rest, decide(attempt{credsErr: err}))
				return
			}
			creds = &c
		}
		chunk := rest[:min(len(rest), sendChunk)]
		rest = rest[len(chunk):]
		if cb == nil {
			cb = getChunkBuffers()
		}
		sent, batches := h.build(ctx, inv, fw.in, chunk, cb)
		if len(sent) == 0 {
			continue
		}
		results, used := h.upload(ctx, inv, fw, batches, *creds)
		creds = &used
		if halt, ok := h.settleResults(ctx, inv, fw.in, sent, results, seen); ok {
			h.settleAll(ctx, inv, fw.in, rest, decide(attempt{result: halt}))
			return
		}
	}
}

// upload sends a feed's batches, and says which credentials it used last. When mParticle
// refuses the credentials, the secret may have been rotated: they are read afresh once and
// what was refused is resent (the chunk's batches, still unchanged: build does not run
// again before the chunk is settled).
func (h *Handler) upload(ctx context.Context, inv *invocation, fw *feedWork, batches []mparticle.Batch, creds feedcreds.Credentials) ([]mparticle.Result, feedcreds.Credentials) {
	in := fw.in
	ctx = mparticle.WithTraffic(ctx, &inv.feedLog.counts(in).traffic)
	results := h.deps.Uploader.Upload(ctx, feedFor(in, creds), batches)
	var refused []int
	for i, res := range results {
		if res.Outcome == mparticle.AuthFailed {
			refused = append(refused, i)
		}
	}
	if len(refused) == 0 {
		return results, creds
	}
	fresh, err := h.freshCredentials(ctx, in, fw.sandbox)
	if err != nil {
		return results, creds
	}
	again := make([]mparticle.Batch, len(refused))
	for j, i := range refused {
		again[j] = batches[i]
	}
	for j, res := range h.deps.Uploader.Upload(ctx, feedFor(in, fresh), again) {
		res.Attempts += results[refused[j]].Attempts
		results[refused[j]] = res
	}
	return results, fresh
}

// feedFor is the upload destination of an integration.
func feedFor(in *integration.Integration, creds feedcreds.Credentials) mparticle.Feed {
	return mparticle.Feed{ID: in.ID, Pod: in.Pod, Credentials: creds}
}

// freshCredentials re-reads the integration (its secret version may have changed) and its
// secret (the sandbox one for a sandbox feed), bypassing both caches.
func (h *Handler) freshCredentials(ctx context.Context, in *integration.Integration, sandbox bool) (feedcreds.Credentials, error) {
	secretID, versionID := secretOf(in, sandbox)
	h.deps.Integrations.Invalidate(in.AppID)
	h.deps.Credentials.Invalidate(secretID)
	if ins, err := h.deps.Integrations.ForApp(ctx, in.AppID); err == nil {
		for i := range ins {
			if ins[i].ID == in.ID {
				secretID, versionID = secretOf(&ins[i], sandbox)
			}
		}
	}
	return h.deps.Credentials.Get(ctx, secretID, versionID)
}

// settleResults settles each delivery by the client's result for its batch, noting its
// outcome in seen, then acts on what the feed's answers said: a 429's wait and the rate
// limit's use slow the feed down, and confirmed deliveries are recorded as the record
// policy asks. When a result says the feed cannot take anything now (credentials refused,
// even afresh, or a redirect), it is returned, for the feed's remaining deliveries. sent is
// the chunk's, used by no one after: the confirmed deliveries are gathered in its storage.
func (h *Handler) settleResults(ctx context.Context, inv *invocation, in *integration.Integration, sent []delivery, results []mparticle.Result, seen map[Outcome]bool) (halt mparticle.Result, halted bool) {
	delivered := sent[:0] // written at i or before, once sent[i] is read
	var throttleFor time.Duration
	percentUsed := -1
	for i, res := range results {
		d := sent[i]
		v := decide(attempt{result: res})
		h.settleDelivery(ctx, inv, d.rec, in, v)
		seen[v.outcome] = true
		percentUsed = max(percentUsed, res.RateLimitPercentUsed)
		if v.outcome == Delivered {
			delivered = append(delivered, d)
		}
		if v.throttled {
			throttleFor = max(throttleFor, v.wait)
		}
		if !halted && (res.Outcome == mparticle.AuthFailed || res.Outcome == mparticle.Redirected) {
			// Not sent, like the batches the client itself holds back after such an answer.
			halt, halted = mparticle.Result{Outcome: res.Outcome, Err: res.Err, RateLimitPercentUsed: -1}, true
		}
	}
	if throttleFor > 0 {
		h.coolDown(in.ID, throttleFor)
	}
	h.pace(in.ID, percentUsed)
	h.recordConfirmed(ctx, inv, in.ID, delivered)
	return halt, halted
}
