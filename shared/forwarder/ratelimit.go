package forwarder

import (
	"context"
	"time"
)

// holdBack says whether a feed must not be called now, and why: it is waiting out a 429's
// Retry-After (the invocation is not spent on it), or it is close to its rate limit and the
// pacing wait would run into the deadline (the messages come back later). A shorter pacing
// wait is slept here.
func (h *Handler) holdBack(ctx context.Context, feedID string) (attempt, bool) {
	if wait := h.cooling(feedID); wait > 0 {
		return attempt{cooling: wait}, true
	}
	if wait := h.paceWait(feedID); wait > 0 {
		dl, ok := ctx.Deadline()
		if (ok && h.deps.Now().Add(wait).After(dl)) || h.deps.Sleep(ctx, wait) != nil {
			return attempt{paced: wait}, true
		}
	}
	return attempt{}, false
}

// cooling is what is left of a feed's wait after a 429.
func (h *Handler) cooling(feedID string) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.cooldown[feedID]
	if !ok {
		return 0
	}
	wait := until.Sub(h.deps.Now())
	if wait <= 0 {
		delete(h.cooldown, feedID)
		return 0
	}
	return wait
}

// coolDown makes a feed wait d (a 429's Retry-After), unless it already waits longer.
func (h *Handler) coolDown(feedID string, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	until := h.deps.Now().Add(d)
	if until.After(h.cooldown[feedID]) {
		h.cooldown[feedID] = until
	}
}

// Pacing: above paceFrom percent of its rate limit, a feed's next upload waits up to
// maxPace, in proportion to how close the feed is to its limit.
const (
	paceFrom = 80
	maxPace  = time.Second
)

// paceDelay is the wait before a feed's next upload when mParticle said percentUsed.
func paceDelay(percentUsed int) time.Duration {
	if percentUsed < paceFrom {
		return 0
	}
	return time.Duration(min(percentUsed, 100)-paceFrom) * maxPace / (100 - paceFrom)
}

// pace sets when a feed's next upload may start, from the share of its rate limit
// mParticle last reported (-1: not reported).
func (h *Handler) pace(feedID string, percentUsed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := paceDelay(percentUsed); d > 0 {
		h.paceUntil[feedID] = h.deps.Now().Add(d)
	} else {
		delete(h.paceUntil, feedID)
	}
}

// paceWait is how long a feed's next upload must wait.
func (h *Handler) paceWait(feedID string) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.paceUntil[feedID]
	if !ok {
		return 0
	}
	return max(until.Sub(h.deps.Now()), 0)
}
