// Package forwarder is the Forwarder Lambda's SQS handler: it turns a batch of queued
// platform events into mParticle uploads and tells SQS which messages to retry.
//
// Handle runs each invocation through the same steps, one file each:
//
//   - decode (decode.go): each message body becomes an event, or is invalid. A second message
//     carrying an event already in the batch travels with the first.
//   - route (route.go): each app's integrations are read once, and each event gets one
//     delivery per enabled integration that wants it, grouped per integration (one mParticle
//     input feed). An invalid event is dead-lettered only when its app has an enabled
//     integration it could have been meant for (degraded.go).
//   - skip (idempotency.go): deliveries an earlier invocation confirmed are not sent again,
//     looked up for the messages the record policy says may have been served (records.go).
//   - send (send.go): feeds run concurrently, started in turns across apps and held to each
//     app's fair share of the slots and of the time left (schedule.go), within the
//     invocation's deadline. A feed builds its batches (build.go) and uploads them in bulk
//     requests a chunk at a time, so an invocation holds only the batches being sent. A
//     feed waiting out a 429's Retry-After is not called, and one close to its rate limit is
//     paced (ratelimit.go); refused credentials are read afresh once.
//   - settle (settle.go): every delivery ends in one Outcome, decided in one place (decide,
//     outcome.go), from which its disposition, metrics and log level follow. A message is
//     retried if any of its deliveries must be, dead-lettered if any was refused for good,
//     and acknowledged otherwise. The confirmed deliveries of a message that will come back
//     are recorded (idempotency.go). Retried messages are hidden for their backoff first
//     (visibility.go); dead letters go to a queue of their own (dlq.go).
//   - report (report.go): at INFO one line per invocation, one per integration with its
//     counts, and one per failed delivery with its reason (successes only at DEBUG), and
//     embedded metrics; an integration is marked unhealthy when mParticle refuses its
//     credentials or redirects, and healthy again once it accepts data (health.go).
//
// SQS gets a partial batch response: the messages to retry. When every message must be
// retried, Handle also returns ErrAllRetryable, so that Lambda backs off the whole batch.
package forwarder

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/internal/clock"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
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

// Uploader sends one feed's batches (the mParticle client). The batches, and all they point
// to, are valid only during the call: the forwarder builds the next ones in their storage.
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
	Kind      FailureKind
	Reason    string
	// IntegrationIDs lists the integrations that refused the event (empty for invalid input).
	IntegrationIDs []string
	ReceiveCount   int
}

// FailureKind says why a message was dead-lettered (its failure_kind attribute).
type FailureKind string

// Failure kinds recorded on dead letters.
const (
	// FailureInvalidInput: the body is not a valid event.
	FailureInvalidInput FailureKind = "invalid_input"
	// FailureRejected: a delivery was refused for good, by mParticle (a 4xx other than
	// 401/403/429) or by the transform (which refuses only what no decoded event can be).
	FailureRejected FailureKind = "rejected_by_mparticle"
)

// Config tunes the handler.
type Config struct {
	// MaxConcurrentFeeds bounds how many feeds are uploaded to at once: the slots the apps
	// of an invocation share (schedule.go).
	MaxConcurrentFeeds int
	// DeadlineMargin is kept free at the end of an invocation to report results: no feed's
	// upload starts later than this before the deadline, and uploads and delivery-record
	// writes end by then.
	DeadlineMargin time.Duration
	// BackoffUnit scales the retry backoff (see RetryBackoff); 0 means DefaultBackoffUnit.
	BackoffUnit time.Duration
	// Records is which delivery records are read and written (records.go); empty means
	// RecordsRetries.
	Records RecordPolicy
}

// Deps are the handler's collaborators.
type Deps struct {
	Integrations Integrations
	Credentials  Credentials
	Uploader     Uploader
	DeadLetters  DeadLetters
	Health       HealthMarker     // may be nil
	Deliveries   Deliveries       // may be nil: no idempotency records
	Status       StatusRecorder   // may be nil: no delivery status for the Control Center
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
	if p, err := ParseRecordPolicy(string(cfg.Records)); err == nil {
		cfg.Records = p
	} else {
		// Callers validate (shared/app refuses to start); a policy this code does not know
		// gets the one that leans least on mParticle's deduplication.
		cfg.Records = RecordsAll
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Sleep == nil {
		deps.Sleep = clock.Sleep
	}
	return &Handler{deps: deps, cfg: cfg, cooldown: map[string]time.Time{}, paceUntil: map[string]time.Time{}}
}

// ErrAllRetryable is returned when every message of a batch failed retryably, so that Lambda
// backs off the whole batch instead of hammering a failing dependency.
var ErrAllRetryable = errors.New("forwarder: every message failed retryably")
