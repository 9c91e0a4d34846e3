package forwarder

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// StatusRecorder adds an invocation's counts to an integration's delivery status (the
// Control Center's delivery_status), once per integration per invocation. Optional.
type StatusRecorder interface {
	AddStatus(ctx context.Context, appID, id string, at time.Time, st integration.DeliveryStatus) error
}

// statusTally is an invocation's delivery status, per integration, built as deliveries are
// settled and written once after settling (writeStatus). Its zero value is ready.
type statusTally struct {
	mu   sync.Mutex
	byID map[string]*statusEntry
	ids  []string // in order of first outcome, so writes go out in a stable order
}

type statusEntry struct {
	appID string
	st    integration.DeliveryStatus
	// failRank orders the failures noted, so the invocation records its worst one.
	failRank int
}

// statusFailures gives, per outcome, the failure it records and how much it matters: the
// one needing the customer (refused credentials, a wrong pod) before a batch refused for
// good before a transient failure. Messages are fixed sentences: no value of an event,
// status line or secret ever reaches the Control Center through them.
var statusFailures = map[Outcome]struct {
	code, message string
	rank          int
}{
	AuthFailed:  {integration.FailureCredentialsRefused, "mParticle refused the feed's key and secret (401/403)", 4},
	Misdirected: {integration.FailureMisdirected, "mParticle redirected the upload: the pod or endpoint is wrong", 3},
	Rejected:    {integration.FailureRejected, "mParticle refused an event's batch for good; the event was dead-lettered", 2},
	Retry:       {integration.FailureRetry, "mParticle or a dependency failed for a moment; the event will be retried", 1},
	Throttled:   {integration.FailureRetry, "mParticle throttled the feed (429); the event will be retried", 1},
}

// note counts one delivery's verdict for integration in at now. Delivered and skipped
// deliveries count as such, the ones handed back to SQS as retried (a feed not started for
// lack of time too, though it is no failure of the feed's); dead-lettered ones are counted
// when their letter is sent (deadLettered), since a message with another delivery to retry
// is retried instead. An earlier invocation's delivery (Deduplicated) is not counted again.
func (t *statusTally) note(in *integration.Integration, o Outcome, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(in.AppID, in.ID)
	switch {
	case o == Delivered:
		e.st.Delivered++
		e.st.LastDeliveryAt = now
	case o == Skipped:
		e.st.Skipped++
	case o.disposition() == retry:
		e.st.Retried++
	}
	if f, ok := statusFailures[o]; ok && f.rank >= e.failRank {
		e.failRank = f.rank
		e.st.LastFailureAt, e.st.LastFailureCode, e.st.LastFailureMessage = now, f.code, f.message
	}
}

// deadLettered counts a sent dead letter for each integration that refused its event.
func (t *statusTally) deadLettered(ids []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if e := t.byID[id]; e != nil { // noted when it was refused
			e.st.DeadLettered++
		}
	}
}

// entry returns the integration's entry, made on first use. The caller holds t.mu.
func (t *statusTally) entry(appID, id string) *statusEntry {
	if t.byID == nil {
		t.byID = map[string]*statusEntry{}
	}
	e := t.byID[id]
	if e == nil {
		e = &statusEntry{appID: appID}
		t.byID[id] = e
		t.ids = append(t.ids, id)
	}
	return e
}

// statusTimeout bounds the status writes when the invocation has no deadline.
const statusTimeout = 5 * time.Second

// writeStatus writes each integration's counts of the invocation with one write per
// integration, concurrently up to the feed slots, by the upload deadline like the delivery
// records: the margin after it is kept for answering SQS. The status is information for the
// Control Center, so a write that fails or is cut short is logged and the messages' fate
// is unchanged.
func (h *Handler) writeStatus(ctx context.Context, inv *invocation) {
	t := &inv.status
	if h.deps.Status == nil || len(t.ids) == 0 {
		return
	}
	by := time.Now().Add(statusTimeout)
	if !inv.uploadBy.IsZero() && inv.uploadBy.Before(by) {
		by = inv.uploadBy
	}
	wctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), by)
	defer cancel()
	at := h.deps.Now()
	slots := make(chan struct{}, h.cfg.MaxConcurrentFeeds)
	var wg sync.WaitGroup
	for _, id := range t.ids {
		e := t.byID[id]
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			err := wctx.Err() // no time left: not attempted
			if err == nil {
				err = h.deps.Status.AddStatus(wctx, e.appID, id, at, e.st)
			}
			if err != nil {
				h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record delivery status",
					slog.String("app_id", e.appID), slog.String("integration_id", id),
					slog.Bool("cut_short_by_deadline", wctx.Err() != nil), slog.String("error", err.Error()))
			}
		})
	}
	wg.Wait()
}
