package soak

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// outagePhase is the run's mParticle outage and what followed it.
type outagePhase struct {
	mu sync.Mutex
	// began and ended are offsets from the start of the run; ended is 0 until it is over.
	began, ended time.Duration
	endedAt      time.Time
	// rejected counts the requests answered 503 during the outage.
	rejected int64
	// backlog holds the messages received and not deleted when the outage ended; drained is
	// how long after its end the last of them was deleted (0 while some remain).
	backlog map[string]bool
	drained time.Duration
}

// runOutage takes mParticle down once Outage.StartAfter messages are enqueued, for
// Outage.Duration. It gives up if the producer stops before that.
func (r *run) runOutage(ctx context.Context, start time.Time, producerDone <-chan struct{}) {
	o := r.cfg.Outage
	if o.Duration <= 0 {
		return
	}
	for r.produced.Load() < int64(o.StartAfter) {
		select {
		case <-ctx.Done():
			return
		case <-producerDone:
			if r.produced.Load() < int64(o.StartAfter) {
				return
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	before := r.mp.Stats().ByStatus[http.StatusServiceUnavailable]
	r.mp.SetOutage(http.StatusServiceUnavailable)
	began := time.Since(start)
	if r.cfg.Progress != nil {
		r.cfg.Progress.Write([]byte("soak: mParticle down (503 to every request) for " + o.Duration.String() + "\n"))
	}
	select {
	case <-ctx.Done():
	case <-time.After(o.Duration):
	}
	r.mp.SetOutage(0)
	now := time.Now()
	backlog := r.ledger.pending()
	rejected := r.mp.Stats().ByStatus[http.StatusServiceUnavailable] - before
	if r.cfg.Progress != nil {
		r.cfg.Progress.Write([]byte("soak: mParticle back\n"))
	}

	r.outage.mu.Lock()
	defer r.outage.mu.Unlock()
	r.outage.began, r.outage.ended, r.outage.endedAt = began, now.Sub(start), now
	r.outage.rejected, r.outage.backlog = rejected, backlog
}

// watchDrain notes when the last message held back by the outage was deleted.
func (o *outagePhase) watchDrain(l *ledger) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.endedAt.IsZero() || o.drained != 0 {
		return
	}
	if l.allGone(o.backlog) {
		o.drained = max(time.Since(o.endedAt), time.Nanosecond)
	}
}

// fill copies the outage's figures into the report.
func (o *outagePhase) fill(rep *Report, l *ledger) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rep.OutageBegan, rep.OutageEnded, rep.OutageRejected = o.began, o.ended, o.rejected
	rep.OutageBacklog, rep.OutageDrained = len(o.backlog), o.drained
	rep.DeliveredPastLegacyLimit, rep.MaxReceives = l.receives(LegacyMaxReceiveCount)
}
