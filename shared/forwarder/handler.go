package forwarder

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Handle processes one SQS batch and reports the messages to retry.
func (h *Handler) Handle(ctx context.Context, in events.SQSEvent) (events.SQSEventResponse, error) {
	resp, _, err := h.handle(ctx, in)
	return resp, err
}

// handle is Handle, with the invocation's counts for tests.
func (h *Handler) handle(ctx context.Context, in events.SQSEvent) (events.SQSEventResponse, Summary, error) {
	ctx, flush := h.beginMetrics(ctx)
	defer flush()
	inv := &invocation{sum: Summary{Messages: len(in.Records)}}

	h.decode(ctx, inv, in.Records) // bodies to events, grouped by app
	h.route(ctx, inv)              // per app its integrations; per event its deliveries, grouped per feed
	h.skipDelivered(ctx, inv)      // what an earlier invocation delivered is not sent again
	h.sendAll(ctx, inv)            // per feed, apps in turns: build, upload; every delivery gets its outcome
	h.noteDegradedEvents(ctx, inv) // once per event, what its batches cut
	h.settle(inv)                  // per message: retry, dead-letter or acknowledge
	h.recordHandedBack(ctx, inv)   // what a message coming back must skip (idempotency.go)
	h.sendDeadLetters(ctx, inv)
	h.writeStatus(ctx, inv) // each integration's counts, one write each (status.go)
	// Before answering, and before an ErrAllRetryable error too: the event source mapping
	// does not change the visibility of the messages handed back, so this spaces their
	// next receive.
	h.delayRetries(ctx, inv.delays)
	h.logFeeds(ctx, inv)
	h.logSummary(ctx, inv)
	return inv.response()
}

// invocation is one Handle call's working state, passed from step to step.
type invocation struct {
	recs  []*record  // one per message, in the batch's order
	apps  []*appWork // the batch's apps, in order of first appearance
	feeds []*feedWork

	letters  []letter                     // dead letters to send, in order
	failures []events.SQSBatchItemFailure // messages handed back to SQS
	delays   []Delay                      // their backoff
	retrying int                          // messages handed back because a delivery must be retried

	// uploadBy is the upload deadline (the invocation's, less the margin); zero for none.
	uploadBy time.Time

	// status is each integration's delivery status of the invocation (status.go).
	status statusTally
	// feedLog is each integration's counts for its log line (report.go); degradedFields
	// counts, per input field cut, the events that had it, for the invocation's line.
	feedLog        feedTally
	degradedFields map[string]int

	// mu guards sum while feeds are sent concurrently.
	mu  sync.Mutex
	sum Summary
}

// add changes the invocation's counts from a feed's goroutine.
func (inv *invocation) add(f func(*Summary)) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	f(&inv.sum)
}

// letter is a dead letter with the message it diverts.
type letter struct {
	rec *record
	dl  DeadLetter
}

// response is SQS's answer: the messages to retry, and ErrAllRetryable when that is every
// message because of its deliveries.
func (inv *invocation) response() (events.SQSEventResponse, Summary, error) {
	resp := events.SQSEventResponse{BatchItemFailures: inv.failures}
	if n := len(inv.recs); n > 0 && inv.retrying == n {
		return resp, inv.sum, fmt.Errorf("%w (%d messages)", ErrAllRetryable, n)
	}
	return resp, inv.sum, nil
}
