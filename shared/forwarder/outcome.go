package forwarder

import (
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Outcome is how one delivery (an event bound for one integration) ended or, for the first
// four below, decided before routing, how one message did. It is the "outcome" field of the
// log lines. What it does to its message, the metrics it counts and the level it is logged at
// follow from it (outcomes), never from where it was decided (decide).
type Outcome string

// The outcomes.
const (
	Invalid             Outcome = "invalid"              // the body is not a valid event
	InvalidAcknowledged Outcome = "invalid_acknowledged" // ...for an app with no enabled integration
	DuplicateMessage    Outcome = "duplicate_message"    // an earlier message of the batch carries the event
	NoIntegration       Outcome = "no_integration"       // no enabled integration wants the event
	Delivered           Outcome = "delivered"            // mParticle accepted the batch
	Deduplicated        Outcome = "deduplicated"         // an earlier invocation delivered it: not sent
	Skipped             Outcome = "skipped"              // not sent: the integration's policy leaves it out (sandbox drop, missing Customer ID)
	Retry               Outcome = "retry"                // a transient failure: mParticle's (5xx, 429), or reading integrations or credentials
	Throttled           Outcome = "throttled"            // not sent: held back by a 429 (the feed's cool-down, or the rest of its upload)
	NotStarted          Outcome = "not_started"          // not sent: too close to the invocation's deadline
	AuthFailed          Outcome = "auth_failed"          // mParticle refused the feed's credentials, read afresh once
	Misdirected         Outcome = "misdirected"          // mParticle redirected: the integration's pod is wrong
	Rejected            Outcome = "rejected"             // refused for good (4xx), or no batch could be built
)

// disposition is what an outcome does to its message. The order matters: a message takes
// the greatest among its deliveries, so one delivery to retry retries the message (the
// delivery records then skip what was sent) and one refused for good dead-letters it.
type disposition int

const (
	ack        disposition = iota // nothing left to do: SQS deletes the message
	deadLetter                    // refused for good: kept in the dead-letter queue
	retry                         // handed back to SQS, hidden for its backoff first
)

// traits are what follows from an outcome.
type traits struct {
	disposition disposition
	level       slog.Level
	// metrics are counted once per verdict, under its integration's FeedID (none for the
	// outcomes decided before routing). A message dead-lettered for a Rejected delivery is
	// counted as DeadLettered once its letter is sent.
	metrics []metrics.Name
	// kind is the dead letter's, for the outcomes that dead-letter.
	kind FailureKind
}

var outcomes = map[Outcome]traits{
	Invalid:             {deadLetter, slog.LevelWarn, []metrics.Name{metrics.Invalid}, FailureInvalidInput},
	InvalidAcknowledged: {ack, slog.LevelWarn, []metrics.Name{metrics.Invalid}, ""},
	// A duplicate is retried with its twin when the twin is (settle); otherwise the twin
	// carries the event, or its dead letter.
	// Successes are logged one by one only at DEBUG; at INFO the invocation's and the
	// integrations' lines count them (report.go).
	DuplicateMessage: {ack, slog.LevelDebug, nil, ""},
	NoIntegration:    {ack, slog.LevelDebug, nil, ""},
	Delivered:        {ack, slog.LevelDebug, []metrics.Name{metrics.Delivered}, ""},
	Deduplicated:     {ack, slog.LevelDebug, []metrics.Name{metrics.Deduplicated}, ""},
	// The customer chose not to send it: nothing to retry, nothing wrong with the event.
	// Logged at INFO with its reason, like a failure, as it is an event mParticle does not
	// get: a jump in these lines shows the producer's events changed.
	Skipped:    {ack, slog.LevelInfo, []metrics.Name{metrics.Skipped}, ""},
	Retry:      {retry, slog.LevelWarn, []metrics.Name{metrics.Retried}, ""},
	Throttled:  {retry, slog.LevelWarn, []metrics.Name{metrics.Retried, metrics.Throttled}, ""},
	NotStarted: {retry, slog.LevelWarn, []metrics.Name{metrics.Retried}, ""},
	// Not the event's fault: back to the queue until the customer fixes the secret.
	AuthFailed: {retry, slog.LevelWarn, []metrics.Name{metrics.Retried, metrics.AuthFailed}, ""},
	// Not the event's fault either: back to the queue until the pod setting is fixed.
	Misdirected: {retry, slog.LevelWarn, []metrics.Name{metrics.Retried}, ""},
	Rejected:    {deadLetter, slog.LevelWarn, nil, FailureRejected},
}

func (o Outcome) traits() traits {
	t, ok := outcomes[o]
	if !ok {
		// Unreachable (decide returns only the outcomes above); retried rather than lost.
		return traits{disposition: retry, level: slog.LevelWarn}
	}
	return t
}

func (o Outcome) disposition() disposition { return o.traits().disposition }
func (o Outcome) level() slog.Level        { return o.traits().level }
func (o Outcome) failureKind() FailureKind { return o.traits().kind }

// verdict is an outcome with what is logged and recorded about it.
type verdict struct {
	outcome  Outcome
	status   int    // HTTP status logged, 0 for none
	attempts int    // HTTP requests that carried the batch
	reason   string // logged, and the dead letter's reason when it dead-letters
	// wait is the least time before the message is tried again: mParticle's Retry-After, or
	// what is left of the feed's cool-down or pacing.
	wait time.Duration
	// throttled: mParticle's rate limit stopped the delivery (a 429, or held back after one).
	throttled bool
}

// metrics are the metrics the verdict counts: its outcome's, and Throttled for a retry
// that mParticle's rate limit caused.
func (v verdict) metrics() []metrics.Name {
	names := v.outcome.traits().metrics
	if v.throttled && !slices.Contains(names, metrics.Throttled) {
		names = append(slices.Clip(names), metrics.Throttled)
	}
	return names
}

// attempt is what is known about a delivery, or a message before routing, when it ends.
// The first field set, in the pipeline's order, decides; when none is, the client's result
// does.
type attempt struct {
	invalid   error         // the body is not a valid event...
	unserved  bool          // ...and its app has no enabled integration it could be meant for
	twin      string        // the id of an earlier message of the batch with the same event
	lookupErr error         // the app's integrations could not be read
	unrouted  bool          // no enabled integration wants the event
	buildErr  error         // the transform refused the event for this integration
	skip      string        // the integration's policy leaves the event out: why
	seen      bool          // an earlier invocation delivered it (idempotency record)
	cooling   time.Duration // what is left of the feed's wait after a 429
	deadline  bool          // too close to the deadline to start the feed's upload
	paced     time.Duration // the feed's pacing wait, which would have run past the deadline
	credsErr  error         // the feed's credentials could not be read
	result    mparticle.Result
}

// decide is the one place a delivery's (or message's) outcome is decided.
func decide(a attempt) verdict {
	switch {
	case a.invalid != nil && a.unserved:
		return verdict{outcome: InvalidAcknowledged, reason: a.invalid.Error()}
	case a.invalid != nil:
		return verdict{outcome: Invalid, reason: a.invalid.Error()}
	case a.twin != "":
		return verdict{outcome: DuplicateMessage, reason: "same event id as message " + a.twin}
	case a.lookupErr != nil:
		return verdict{outcome: Retry, reason: "integration lookup failed"}
	case a.unrouted:
		return verdict{outcome: NoIntegration}
	case a.buildErr != nil:
		return verdict{outcome: Rejected, reason: "transform: " + a.buildErr.Error()}
	case a.skip != "":
		return verdict{outcome: Skipped, reason: a.skip}
	case a.seen:
		return verdict{outcome: Deduplicated}
	case a.cooling > 0:
		return verdict{outcome: Throttled, status: http.StatusTooManyRequests, reason: "waiting for Retry-After",
			wait: a.cooling, throttled: true}
	case a.deadline:
		return verdict{outcome: NotStarted, reason: "deadline"}
	case a.paced > 0:
		return verdict{outcome: NotStarted, reason: "pacing", wait: a.paced}
	case a.credsErr != nil:
		return verdict{outcome: Retry, reason: "credentials unavailable"}
	}
	res := a.result
	v := verdict{status: res.StatusCode, attempts: res.Attempts}
	if res.Err != nil {
		v.reason = res.Err.Error()
	}
	switch res.Outcome {
	case mparticle.Delivered:
		v.outcome, v.reason = Delivered, ""
	case mparticle.Permanent:
		v.outcome = Rejected
	case mparticle.AuthFailed:
		v.outcome, v.reason = AuthFailed, "credentials refused"
	case mparticle.Redirected:
		v.outcome = Misdirected
	default: // Retryable, or an outcome this code does not know: try again later
		v.outcome, v.wait = Retry, res.RetryAfter
		v.throttled = res.Throttled || res.StatusCode == http.StatusTooManyRequests
		if v.throttled && res.StatusCode == 0 {
			// Held back unsent after the feed's 429: logged with the 429 that held it.
			v.outcome, v.status = Throttled, http.StatusTooManyRequests
		}
	}
	return v
}
