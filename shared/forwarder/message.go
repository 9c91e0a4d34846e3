package forwarder

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/event"
)

// record is one SQS message's progress through an invocation.
type record struct {
	msg          events.SQSMessage
	receiveCount int
	// seenBefore: the message, or a twin of it in this batch, may have been received
	// before (records.go), so its deliveries are looked up under RecordsRetries.
	seenBefore bool
	ev         *event.Event
	// invalid is why the body is not a valid event (ev is nil then), when its app_id could
	// be read: whether it is dead-lettered depends on the app's integrations.
	invalid error
	// dupOf is the earlier message of this batch with the same event id (the producer sent
	// the event twice, or SQS delivered it twice): it is sent once and shares that verdict.
	dupOf *record

	// targets is the number of integrations routing found for the event.
	targets int

	// The deliveries' verdicts and batches, noted by the feeds' goroutines.
	mu sync.Mutex
	// sent: a batch of the event was built, to be sent, in this invocation; degraded holds,
	// per target (nil until one is), what building its batch cut.
	sent     bool
	degraded []event.Degraded
	// fate is the greatest disposition among the deliveries: what becomes of the message.
	fate      disposition
	rejected  []string // "integration: reason" of each delivery refused for good
	rejectIDs []string
	// retryAfter is the longest wait asked for by a retried delivery (Retry-After, or the
	// feed's cool-down or pacing).
	retryAfter time.Duration
	// unrecorded holds the keys of confirmed deliveries not recorded yet because, under
	// RecordsRetries, the message looked like being acknowledged when they were confirmed:
	// they are recorded after sending if it is handed back after all (recordHandedBack).
	unrecorded []string
}

// note records one delivery's verdict on its message.
func (r *record) note(integrationID string, v verdict) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := v.outcome.disposition()
	r.fate = max(r.fate, d)
	switch d {
	case deadLetter:
		r.rejected = append(r.rejected, integrationID+": "+v.reason)
		r.rejectIDs = append(r.rejectIDs, integrationID)
	case retry:
		r.retryAfter = max(r.retryAfter, v.wait)
	}
}

// rejectedLetter is the dead letter of a message one of whose deliveries was refused for good.
func (r *record) rejectedLetter() DeadLetter {
	return DeadLetter{
		MessageID: r.msg.MessageId, Body: r.msg.Body, EventID: r.ev.ID, EventType: string(r.ev.Type),
		Kind: Rejected.failureKind(), Reason: strings.Join(r.rejected, "; "), IntegrationIDs: r.rejectIDs,
		ReceiveCount: r.receiveCount,
	}
}

func receiveCount(m events.SQSMessage) int {
	n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	return n
}
