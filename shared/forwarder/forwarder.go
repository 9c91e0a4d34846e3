// Package forwarder turns a batch of queued platform events into mParticle uploads: one
// batch per (event, matching integration), grouped per feed into bulk requests, with a
// per-message verdict for SQS (partial batch response) and a dead-letter queue for input
// that can never be delivered.
package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// Integrations returns an app's integrations (cached per container in production) and
// forgets them on demand (after mParticle refused a feed's credentials: the integration may
// point to a rotated secret version since).
type Integrations interface {
	ForApp(ctx context.Context, appID string) ([]integration.Integration, error)
	Invalidate(appID string)
}

// Credentials returns a feed's key and secret (at the secret version the integration names,
// or the current one) and forgets them when mParticle refuses them.
type Credentials interface {
	Get(ctx context.Context, secretID, versionID string) (feedcreds.Credentials, error)
	Invalidate(secretID string)
}

// Uploader sends one feed's batches (the mParticle client).
type Uploader interface {
	Upload(ctx context.Context, feed mparticle.Feed, batches []mparticle.Batch) []mparticle.Result
}

// DeadLetters keeps messages that can never be delivered, with their reason.
type DeadLetters interface {
	Send(ctx context.Context, dl DeadLetter) error
}

// HealthMarker records on an integration that its credentials were refused. Optional.
type HealthMarker interface {
	SetHealth(ctx context.Context, appID, id, health, lastError string, at time.Time) error
}

// Deliveries remembers confirmed deliveries (idempotency). Optional.
type Deliveries interface {
	Delivered(ctx context.Context, keys []string) (map[string]bool, error)
	Record(ctx context.Context, keys []string) error
}

// Visibility delays retried messages' redelivery (their backoff, or a throttled feed's wait).
// Optional.
type Visibility interface {
	// Delay hides each message for its duration. The i-th error is delays[i]'s, nil when it
	// was delayed; a message that could not be comes back after the queue's own timeout.
	Delay(ctx context.Context, delays []Delay) []error
}

// DeadLetter is a message diverted from the pipeline, with why.
type DeadLetter struct {
	MessageID string
	Body      string
	EventID   string // empty when the body could not be decoded
	EventType string
	Kind      string // FailureInvalidInput, FailureRejected
	Reason    string
	// IntegrationIDs lists the integrations that refused the event (empty for invalid input).
	IntegrationIDs []string
	ReceiveCount   int
}

// Failure kinds recorded on dead letters.
const (
	FailureInvalidInput = "invalid_input"
	FailureRejected     = "rejected_by_mparticle"
)

// Config tunes the handler.
type Config struct {
	// MaxConcurrentFeeds bounds how many feeds are uploaded to at once.
	MaxConcurrentFeeds int
	// DeadlineMargin is kept free at the end of an invocation to report results: no feed's
	// upload starts later than this before the deadline, and uploads end by then.
	DeadlineMargin time.Duration
	// BackoffUnit scales the retry backoff (see RetryBackoff); 0 means DefaultBackoffUnit.
	BackoffUnit time.Duration
}

// Deps are the handler's collaborators.
type Deps struct {
	Integrations Integrations
	Credentials  Credentials
	Uploader     Uploader
	DeadLetters  DeadLetters
	Health       HealthMarker     // may be nil
	Deliveries   Deliveries       // may be nil: no idempotency records
	Visibility   Visibility       // may be nil: retried messages come back after the queue's timeout
	Metrics      *metrics.Emitter // may be nil: no embedded metrics
	Logger       *slog.Logger
	Now          func() time.Time
	Sleep        func(ctx context.Context, d time.Duration) error // pacing waits; a timer by default
}

// Handler is the Forwarder's SQS handler. It is safe for concurrent use.
type Handler struct {
	deps Deps
	cfg  Config

	// cooldown holds, per integration, when mParticle said it may be called again (429
	// Retry-After). It outlives an invocation: a warm container keeps respecting it.
	mu       sync.Mutex
	cooldown map[string]time.Time
	// paceUntil holds, per integration, when its next upload may start: set when mParticle
	// reports the feed close to its rate limit (X-mp-rate-limit-percentage-used), so the
	// forwarder slows down before it is throttled.
	paceUntil map[string]time.Time
}

// New returns a Handler.
func New(deps Deps, cfg Config) *Handler {
	if cfg.MaxConcurrentFeeds <= 0 {
		cfg.MaxConcurrentFeeds = 8
	}
	if cfg.DeadlineMargin <= 0 {
		cfg.DeadlineMargin = 2 * time.Second
	}
	if cfg.BackoffUnit <= 0 {
		cfg.BackoffUnit = DefaultBackoffUnit
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Sleep == nil {
		deps.Sleep = sleepCtx
	}
	return &Handler{deps: deps, cfg: cfg, cooldown: map[string]time.Time{}, paceUntil: map[string]time.Time{}}
}

// ErrAllRetryable is returned when every message of a batch failed retryably, so that Lambda
// backs off the whole batch instead of hammering a failing dependency.
var ErrAllRetryable = errors.New("forwarder: every message failed retryably")

// record is one SQS message's progress through an invocation.
type record struct {
	msg          events.SQSMessage
	receiveCount int
	ev           *event.Event
	// invalid is why the body is not a valid event (ev is nil then), when its app_id could
	// be read: whether it is dead-lettered depends on the app's integrations.
	invalid error
	// dupOf is the earlier message of this batch with the same event id (the producer sent
	// the event twice, or SQS delivered it twice): it is sent once and shares that verdict.
	dupOf *record

	mu        sync.Mutex
	retryable []string // reasons a delivery must be retried
	rejected  []string // reasons a delivery was refused for good
	rejectIDs []string
	delivered int
	// retryAfter is the longest wait mParticle asked for on a retried delivery.
	retryAfter time.Duration
}

func (r *record) waitAtLeast(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retryAfter = max(r.retryAfter, d)
}

func (r *record) succeed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered++
}

func (r *record) fail(retry bool, integrationID, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if retry {
		r.retryable = append(r.retryable, integrationID+": "+reason)
		return
	}
	r.rejected = append(r.rejected, integrationID+": "+reason)
	r.rejectIDs = append(r.rejectIDs, integrationID)
}

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

// Summary counts what an invocation did (logged once per invocation, used by tests).
type Summary struct {
	Messages, Invalid, NoIntegration, Delivered, Deduplicated, Rejected, Retried, DeadLettered int
	Throttled, AuthFailed, MissingCustomerID                                                   int
	// InvalidAcknowledged counts the invalid messages (of Invalid) acknowledged rather than
	// dead-lettered because their app has no enabled integration; Degraded, the events
	// delivered with at least one field normalised or omitted.
	InvalidAcknowledged, Degraded int
}

// Handle processes one SQS batch and reports the messages to retry.
func (h *Handler) Handle(ctx context.Context, in events.SQSEvent) (events.SQSEventResponse, error) {
	resp, _, err := h.handle(ctx, in)
	return resp, err
}

func (h *Handler) handle(ctx context.Context, in events.SQSEvent) (events.SQSEventResponse, Summary, error) {
	if h.deps.Metrics != nil {
		inv := h.deps.Metrics.Begin()
		ctx = context.WithValue(ctx, invocationKey{}, inv)
		defer func() {
			if err := inv.Flush(); err != nil {
				h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "metrics flush failed", slog.String("error", err.Error()))
			}
		}()
	}
	var sum Summary
	sum.Messages = len(in.Records)
	recs := make([]*record, len(in.Records))
	var deadLetters []DeadLetter
	byApp := map[string][]*record{}
	invalidByApp := map[string][]*record{}
	var appOrder []string
	firstOf := map[string]*record{}

	for i, msg := range in.Records {
		r := &record{msg: msg, receiveCount: receiveCount(msg)}
		recs[i] = r
		ev, err := event.Decode([]byte(msg.Body))
		if err != nil {
			sum.Invalid++
			count(ctx, metrics.Invalid, "", 1)
			if appID := invalidAppID(err); appID != "" {
				r.invalid = err // settled with the app's integrations (settleInvalid)
				if byApp[appID] == nil && invalidByApp[appID] == nil {
					appOrder = append(appOrder, appID)
				}
				invalidByApp[appID] = append(invalidByApp[appID], r)
				continue
			}
			deadLetters = append(deadLetters, h.invalidLetter(ctx, r, err))
			continue
		}
		r.ev = ev
		if first, ok := firstOf[ev.ID]; ok {
			r.dupOf = first
			h.logOutcome(ctx, r, nil, "duplicate_message", 0, 0, "same event id as message "+first.msg.MessageId)
			continue
		}
		firstOf[ev.ID] = r
		if byApp[ev.AppID] == nil && invalidByApp[ev.AppID] == nil {
			appOrder = append(appOrder, ev.AppID)
		}
		byApp[ev.AppID] = append(byApp[ev.AppID], r)
	}

	// Route each event to its integrations and build one batch per (event, integration).
	var feeds []*feedWork
	for _, appID := range appOrder {
		ins, err := h.deps.Integrations.ForApp(ctx, appID)
		letters, acked := h.settleInvalid(ctx, invalidByApp[appID], ins, err)
		deadLetters = append(deadLetters, letters...)
		sum.InvalidAcknowledged += acked
		if err != nil {
			for _, r := range byApp[appID] {
				r.fail(true, "-", "integration lookup failed")
			}
			count(ctx, metrics.Retried, "", len(byApp[appID]))
			h.deps.Logger.LogAttrs(ctx, slog.LevelError, "integration lookup failed",
				slog.String("app_id", appID), slog.String("error", err.Error()),
				slog.Int("messages", len(byApp[appID])))
			continue
		}
		feedOf := map[string]*feedWork{}
		for _, r := range byApp[appID] {
			targets := integration.Route(ins, r.ev)
			if len(targets) == 0 {
				sum.NoIntegration++
				h.logOutcome(ctx, r, nil, "no_integration", 0, 0, "")
				continue
			}
			degraded := slices.Clone(r.ev.Degraded)
			for _, target := range targets {
				res, err := transform.ToBatch(r.ev, target)
				if err != nil {
					r.fail(false, target.ID, "transform: "+err.Error())
					continue
				}
				degraded.Merge(res.Degraded)
				if res.MissingCustomerID {
					sum.MissingCustomerID++
					h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "customer id missing",
						slog.String("event_id", r.ev.ID), slog.String("integration_id", target.ID),
						slog.String("customer_id_source", string(target.CustomerIDSource)))
				}
				fw := feedOf[target.ID]
				if fw == nil {
					fw = &feedWork{in: target}
					feedOf[target.ID] = fw
					feeds = append(feeds, fw)
				}
				fw.deliveries = append(fw.deliveries, delivery{rec: r, batch: res.Batch, key: deliverystore.Key(r.ev.ID, target.ID)})
			}
			if h.noteDegraded(ctx, r, degraded) {
				sum.Degraded++
			}
		}
	}

	sum.Deduplicated = h.skipDelivered(ctx, feeds)
	counts := h.sendAll(ctx, feeds)
	sum.Throttled, sum.AuthFailed = int(counts.throttled.Load()), int(counts.authFailed.Load())

	// Verdicts: retry if any delivery must be retried; dead-letter if any was refused for good.
	var failures []events.SQSBatchItemFailure
	var delays []Delay // the retried messages' backoff
	retryableOnly := 0
	for _, r := range recs {
		if r.ev == nil {
			continue // invalid: dead-lettered below
		}
		if r.dupOf != nil {
			// Retried with its twin (the delivery records then skip what was sent); otherwise
			// acknowledged: the twin carries the event, or its dead letter.
			if len(r.dupOf.retryable) > 0 {
				retryableOnly++
				failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: r.msg.MessageId})
				delays = append(delays, h.retryDelay(r.msg, r.receiveCount, r.dupOf.retryAfter))
			}
			continue
		}
		sum.Delivered += r.delivered
		switch {
		case len(r.retryable) > 0:
			sum.Retried++
			retryableOnly++
			failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: r.msg.MessageId})
			delays = append(delays, h.retryDelay(r.msg, r.receiveCount, r.retryAfter))
		case len(r.rejected) > 0:
			sum.Rejected++
			deadLetters = append(deadLetters, DeadLetter{
				MessageID: r.msg.MessageId, Body: r.msg.Body, EventID: r.ev.ID, EventType: string(r.ev.Type),
				Kind: FailureRejected, Reason: joinReasons(r.rejected), IntegrationIDs: r.rejectIDs,
				ReceiveCount: r.receiveCount,
			})
		}
	}
	for _, dl := range deadLetters {
		if err := h.deps.DeadLetters.Send(ctx, dl); err != nil {
			// Not acknowledged: SQS redelivers it, and its redrive policy keeps it at worst.
			h.deps.Logger.LogAttrs(ctx, slog.LevelError, "dead-letter send failed",
				slog.String("message_id", dl.MessageID), slog.String("error", err.Error()))
			failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: dl.MessageID})
			if msg, ok := messageByID(in.Records, dl.MessageID); ok {
				delays = append(delays, h.retryDelay(msg, dl.ReceiveCount, 0))
			}
			continue
		}
		sum.DeadLettered++
		feed := ""
		if len(dl.IntegrationIDs) > 0 {
			feed = dl.IntegrationIDs[0]
		}
		count(ctx, metrics.DeadLettered, feed, 1)
	}

	// Before answering, and before an ErrAllRetryable error too: the event source mapping
	// does not change the visibility of the messages handed back, so this spaces their
	// next receive.
	h.delayRetries(ctx, delays)

	h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "invocation done",
		slog.Int("messages", sum.Messages), slog.Int("invalid", sum.Invalid),
		slog.Int("invalid_acknowledged", sum.InvalidAcknowledged), slog.Int("degraded", sum.Degraded),
		slog.Int("no_integration", sum.NoIntegration), slog.Int("delivered", sum.Delivered),
		slog.Int("deduplicated", sum.Deduplicated), slog.Int("throttled", sum.Throttled), slog.Int("auth_failed", sum.AuthFailed),
		slog.Int("rejected", sum.Rejected), slog.Int("retried", sum.Retried),
		slog.Int("dead_lettered", sum.DeadLettered), slog.Int("missing_customer_id", sum.MissingCustomerID),
		slog.Int("batch_item_failures", len(failures)))

	resp := events.SQSEventResponse{BatchItemFailures: failures}
	if len(recs) > 0 && retryableOnly == len(recs) {
		return resp, sum, fmt.Errorf("%w (%d messages)", ErrAllRetryable, len(recs))
	}
	return resp, sum, nil
}

// sendAll uploads each feed's batches, feeds concurrently up to the configured bound.
type feedCounts struct{ throttled, authFailed atomic.Int64 }

func (h *Handler) sendAll(ctx context.Context, feeds []*feedWork) *feedCounts {
	counts := &feedCounts{}
	uploadCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		uploadCtx, cancel = context.WithDeadline(ctx, dl.Add(-h.cfg.DeadlineMargin))
		defer cancel()
	}
	sem := make(chan struct{}, h.cfg.MaxConcurrentFeeds)
	var wg sync.WaitGroup
	for _, fw := range feeds {
		if len(fw.deliveries) == 0 {
			continue // all already delivered
		}
		sem <- struct{}{}
		if uploadCtx.Err() != nil {
			// Too close to the deadline to start: report these for redelivery.
			<-sem
			for _, d := range fw.deliveries {
				d.rec.fail(true, fw.in.ID, "not started before the invocation deadline")
				h.logOutcome(ctx, d.rec, fw.in, "not_started", 0, 0, "deadline")
			}
			continue
		}
		wg.Add(1)
		go func(fw *feedWork) {
			defer wg.Done()
			defer func() { <-sem }()
			h.sendFeed(uploadCtx, fw, counts)
		}(fw)
	}
	wg.Wait()
	return counts
}

func (h *Handler) sendFeed(ctx context.Context, fw *feedWork, counts *feedCounts) {
	in := fw.in
	if wait := h.cooling(in.ID); wait > 0 {
		// mParticle asked this feed to wait: don't spend the invocation on it.
		counts.throttled.Add(int64(len(fw.deliveries)))
		for _, d := range fw.deliveries {
			d.rec.fail(true, in.ID, "feed throttled by mParticle")
			d.rec.waitAtLeast(wait)
			h.logOutcome(ctx, d.rec, in, "throttled", 429, 0, "waiting for Retry-After")
		}
		return
	}
	if wait := h.paceWait(in.ID); wait > 0 {
		// Close to the feed's rate limit: wait a little, unless that would run into the
		// deadline, in which case the messages come back later.
		dl, ok := ctx.Deadline()
		if (ok && h.deps.Now().Add(wait).After(dl)) || h.deps.Sleep(ctx, wait) != nil {
			for _, d := range fw.deliveries {
				d.rec.fail(true, in.ID, "feed paced: near its mParticle rate limit")
				d.rec.waitAtLeast(wait)
				h.logOutcome(ctx, d.rec, in, "not_started", 0, 0, "pacing")
			}
			return
		}
	}
	creds, err := h.deps.Credentials.Get(ctx, in.SecretID, in.SecretVersionID)
	if err != nil {
		// A missing or malformed secret is a configuration problem the customer fixes; keep
		// the messages in the queue until then (SQS redrive bounds how long).
		reason := "credentials unavailable"
		if errors.Is(err, feedcreds.ErrNotFound) || errors.Is(err, feedcreds.ErrMalformed) {
			h.markUnhealthy(ctx, in, "credentials secret missing or malformed")
		}
		for _, d := range fw.deliveries {
			d.rec.fail(true, in.ID, reason)
			h.logOutcome(ctx, d.rec, in, "retry", 0, 0, reason)
		}
		return
	}
	batches := make([]mparticle.Batch, len(fw.deliveries))
	for i, d := range fw.deliveries {
		batches[i] = d.batch
	}
	feed := mparticle.Feed{ID: in.ID, Pod: in.Pod, Credentials: mparticle.Credentials{Key: creds.Key, Secret: creds.Secret}}
	results := h.deps.Uploader.Upload(ctx, feed, batches)

	// mParticle refused the credentials: the secret may have been rotated. Read it afresh
	// once and resend what was refused.
	var refused []int
	for i, res := range results {
		if res.Outcome == mparticle.AuthFailed {
			refused = append(refused, i)
		}
	}
	if len(refused) > 0 {
		fresh, err := h.freshCredentials(ctx, in)
		if err == nil {
			feed.Credentials = mparticle.Credentials{Key: fresh.Key, Secret: fresh.Secret}
			again := make([]mparticle.Batch, len(refused))
			for j, i := range refused {
				again[j] = batches[i]
			}
			for j, res := range h.deps.Uploader.Upload(ctx, feed, again) {
				res.Attempts += results[refused[j]].Attempts
				results[refused[j]] = res
			}
		}
	}

	authFailed, misdirected := false, false
	var delivered []string
	var throttleFor time.Duration
	percentUsed := -1
	for i, res := range results {
		percentUsed = max(percentUsed, res.RateLimitPercentUsed)
		d := fw.deliveries[i]
		reason := ""
		if res.Err != nil {
			reason = res.Err.Error()
		}
		switch res.Outcome {
		case mparticle.Delivered:
			d.rec.succeed()
			delivered = append(delivered, d.key)
			h.logOutcome(ctx, d.rec, in, "delivered", res.StatusCode, res.Attempts, "")
		case mparticle.Permanent:
			d.rec.fail(false, in.ID, reason)
			h.logOutcome(ctx, d.rec, in, "rejected", res.StatusCode, res.Attempts, reason)
		case mparticle.AuthFailed:
			// Not the event's fault: back to the queue until the customer fixes the secret.
			authFailed = true
			counts.authFailed.Add(1)
			d.rec.fail(true, in.ID, "credentials refused by mParticle")
			h.logOutcome(ctx, d.rec, in, "auth_failed", res.StatusCode, res.Attempts, "credentials refused")
		case mparticle.Redirected:
			// The integration's endpoint (its pod) is wrong, not the event: keep it in the
			// queue until the setting is fixed, never in the dead-letter queue.
			misdirected = true
			d.rec.fail(true, in.ID, "mParticle endpoint redirected (configuration fault): "+reason)
			h.logOutcome(ctx, d.rec, in, "misdirected", res.StatusCode, res.Attempts, reason)
		default:
			d.rec.fail(true, in.ID, reason)
			outcome, status := "retry", res.StatusCode
			if res.Throttled || res.StatusCode == http.StatusTooManyRequests {
				counts.throttled.Add(1)
				throttleFor = max(throttleFor, res.RetryAfter)
				if res.StatusCode == 0 {
					// Held back unsent after the feed's 429: logged and counted as throttled.
					outcome, status = "throttled", http.StatusTooManyRequests
				}
			}
			d.rec.waitAtLeast(res.RetryAfter)
			h.logOutcome(ctx, d.rec, in, outcome, status, res.Attempts, reason)
		}
	}
	if throttleFor > 0 {
		h.coolDown(in.ID, throttleFor)
	}
	h.pace(in.ID, percentUsed)
	h.recordDelivered(ctx, in, delivered)
	switch {
	case authFailed:
		h.markUnhealthy(ctx, in, "mParticle refused the server-to-server key and secret (401/403)")
	case misdirected:
		h.markUnhealthy(ctx, in, "mParticle answered with a redirect (3xx): the integration's pod or endpoint is misconfigured")
	case len(delivered) > 0 && in.Health == integration.HealthUnhealthy:
		h.markHealthy(ctx, in)
	}
}

// markHealthy clears an unhealthy mark once the feed accepts data again (the customer fixed
// the secret), so the Control Center stops showing a stale error.
func (h *Handler) markHealthy(ctx context.Context, in *integration.Integration) {
	h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "integration healthy again",
		slog.String("app_id", in.AppID), slog.String("integration_id", in.ID))
	if h.deps.Health == nil {
		return
	}
	if err := h.deps.Health.SetHealth(ctx, in.AppID, in.ID, integration.HealthOK, "", h.deps.Now()); err != nil {
		h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record integration health",
			slog.String("integration_id", in.ID), slog.String("error", err.Error()))
		return
	}
	h.deps.Integrations.Invalidate(in.AppID)
}

func (h *Handler) markUnhealthy(ctx context.Context, in *integration.Integration, why string) {
	h.deps.Logger.LogAttrs(ctx, slog.LevelError, "integration unhealthy",
		slog.String("app_id", in.AppID), slog.String("integration_id", in.ID), slog.String("reason", why))
	if h.deps.Health == nil {
		return
	}
	if err := h.deps.Health.SetHealth(ctx, in.AppID, in.ID, integration.HealthUnhealthy, why, h.deps.Now()); err != nil {
		h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record integration health",
			slog.String("integration_id", in.ID), slog.String("error", err.Error()))
	}
}

// logOutcome writes one structured line per delivery outcome: ids and status only, never
// credentials or raw user/device identifiers.
func (h *Handler) logOutcome(ctx context.Context, r *record, in *integration.Integration, outcome string, status, attempts int, reason string) {
	attrs := []slog.Attr{
		slog.String("outcome", outcome),
		slog.String("message_id", r.msg.MessageId),
		slog.String("event_id", r.ev.ID),
		slog.String("event_type", string(r.ev.Type)),
		slog.String("app_id", r.ev.AppID),
		slog.Int("receive_count", r.receiveCount),
	}
	if in != nil {
		attrs = append(attrs, slog.String("integration_id", in.ID))
	}
	if status != 0 {
		attrs = append(attrs, slog.Int("http_status", status))
	}
	if attempts != 0 {
		attrs = append(attrs, slog.Int("attempts", attempts))
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	if in != nil {
		switch outcome {
		case "delivered":
			count(ctx, metrics.Delivered, in.ID, 1)
		case "deduplicated":
			count(ctx, metrics.Deduplicated, in.ID, 1)
		case "retry", "not_started", "throttled", "auth_failed", "misdirected":
			count(ctx, metrics.Retried, in.ID, 1)
		}
		switch {
		case outcome == "throttled" || (outcome == "retry" && status == 429):
			count(ctx, metrics.Throttled, in.ID, 1)
		case outcome == "auth_failed":
			count(ctx, metrics.AuthFailed, in.ID, 1)
		}
	}
	level := slog.LevelInfo
	if outcome != "delivered" && outcome != "no_integration" && outcome != "deduplicated" && outcome != "duplicate_message" {
		level = slog.LevelWarn
	}
	h.deps.Logger.LogAttrs(ctx, level, "delivery", attrs...)
}

func receiveCount(m events.SQSMessage) int {
	n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	return n
}

func joinReasons(rs []string) string {
	out := ""
	for i, r := range rs {
		if i > 0 {
			out += "; "
		}
		out += r
	}
	return out
}

// skipDelivered drops the deliveries already confirmed by an earlier invocation (SQS
// redelivery, or a retry after a timeout whose request mParticle accepted). One batch
// lookup covers the whole invocation. If the lookup fails, everything is sent: mParticle's
// own dedup by source_request_id is the second line of defence.
func (h *Handler) skipDelivered(ctx context.Context, feeds []*feedWork) int {
	if h.deps.Deliveries == nil || len(feeds) == 0 {
		return 0
	}
	var keys []string
	for _, fw := range feeds {
		for _, d := range fw.deliveries {
			keys = append(keys, d.key)
		}
	}
	seen, err := h.deps.Deliveries.Delivered(ctx, keys)
	if err != nil {
		h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "delivery records unavailable; sending anyway",
			slog.String("error", err.Error()))
		return 0
	}
	skipped := 0
	for _, fw := range feeds {
		kept := fw.deliveries[:0]
		for _, d := range fw.deliveries {
			if seen[d.key] {
				skipped++
				d.rec.succeed()
				h.logOutcome(ctx, d.rec, fw.in, "deduplicated", 0, 0, "")
				continue
			}
			kept = append(kept, d)
		}
		fw.deliveries = kept
	}
	return skipped
}

// recordDelivered writes the idempotency records of confirmed deliveries.
func (h *Handler) recordDelivered(ctx context.Context, in *integration.Integration, keys []string) {
	if h.deps.Deliveries == nil || len(keys) == 0 {
		return
	}
	// The upload context may be nearly spent; the record is what stops a duplicate later.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.deps.Deliveries.Record(rctx, keys); err != nil {
		h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record deliveries",
			slog.String("integration_id", in.ID), slog.Int("deliveries", len(keys)), slog.String("error", err.Error()))
	}
}

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

func (h *Handler) coolDown(feedID string, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	until := h.deps.Now().Add(d)
	if until.After(h.cooldown[feedID]) {
		h.cooldown[feedID] = until
	}
}

// retryDelay is how long a message given back to SQS stays hidden: its backoff by receive
// count, or the wait mParticle asked for when longer (RetryVisibility).
func (h *Handler) retryDelay(msg events.SQSMessage, receiveCount int, wait time.Duration) Delay {
	return Delay{Msg: msg, D: RetryVisibility(h.cfg.BackoffUnit, receiveCount, wait)}
}

// delayRetries hides the retried messages for their backoff, so that an outage spends few
// receives. A message whose visibility could not be changed is not lost: it comes back after
// the queue's own timeout, having spent a receive sooner than planned.
func (h *Handler) delayRetries(ctx context.Context, delays []Delay) {
	if h.deps.Visibility == nil || len(delays) == 0 {
		return
	}
	for i, err := range h.deps.Visibility.Delay(ctx, delays) {
		if err != nil {
			h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not delay retry",
				slog.String("message_id", delays[i].Msg.MessageId), slog.Int("receive_count", receiveCount(delays[i].Msg)),
				slog.Duration("delay", delays[i].D), slog.String("error", err.Error()))
		}
	}
}

func messageByID(msgs []events.SQSMessage, id string) (events.SQSMessage, bool) {
	for _, m := range msgs {
		if m.MessageId == id {
			return m, true
		}
	}
	return events.SQSMessage{}, false
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

type invocationKey struct{}

// count adds to the invocation's embedded metrics, when metrics are on.
func count(ctx context.Context, name metrics.Name, feedID string, n int) {
	if inv, ok := ctx.Value(invocationKey{}).(*metrics.Invocation); ok {
		inv.Add(name, feedID, n)
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

func (h *Handler) pace(feedID string, percentUsed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := paceDelay(percentUsed); d > 0 {
		h.paceUntil[feedID] = h.deps.Now().Add(d)
	} else {
		delete(h.paceUntil, feedID)
	}
}

func (h *Handler) paceWait(feedID string) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.paceUntil[feedID]
	if !ok {
		return 0
	}
	return max(until.Sub(h.deps.Now()), 0)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
