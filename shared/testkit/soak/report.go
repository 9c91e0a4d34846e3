package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// FeedReport is what one feed was expected to receive and what the contract server saw.
type FeedReport struct {
	Name    string
	Enabled bool
	// Expected is the number of events the feed must receive.
	Expected int
	// Delivered counts distinct expected events accepted (by source_request_id).
	Delivered int
	// Missing are expected events never accepted; Unexpected accepted batches nobody expected.
	Missing, Unexpected int
	// LostByQueue are the missing events whose every message the queue stand-in dropped
	// before any receive (of Missing; see ledger.neverReceived).
	LostByQueue int
	// Accepted counts every batch accepted, re-sent ones included; Resent is Accepted minus
	// the distinct ones (what mParticle's source_request_id deduplication absorbs).
	Accepted, Resent int
	Requests         int64
}

// Report is the outcome of a soak run.
type Report struct {
	Config Config

	Messages, Valid, Invalid, NoRoute int
	Feeds                             []FeedReport

	// Lost: expected (event, feed) deliveries that never happened, the forwarder having
	// received the event; LostByQueue those whose message moto dropped before any receive.
	Lost, LostByQueue int
	// Unexpected: accepted batches that matched no expected (event, feed).
	Unexpected int
	// Resent: batches the contract server accepted more than once (raw re-sends).
	Resent int
	// ConfirmedTwice: re-sends of a batch mParticle had already confirmed to an invocation
	// that ran to completion, i.e. re-sends the forwarder knew were unnecessary. Events whose
	// message two invocations held at once are excused: both may check before either
	// records; so are deliveries whose record the forwarder reported it could not write.
	ConfirmedTwice int
	// UnrecordedExcused counts the deliveries excused from ConfirmedTwice because the
	// forwarder reported their record unwritten (a write failed or cut short by the deadline).
	UnrecordedExcused int
	// ConcurrentDeliveries counts messages handed out again while an invocation held them, or
	// after they were deleted (at-least-once delivery on SQS's side).
	ConcurrentDeliveries int
	// EnqueuedTwice counts bodies that reached the queue as two messages (a retried send).
	EnqueuedTwice int

	// Event source mapping figures.
	Invocations, Crashed, HandlerErrors, ItemFailures, BadItemIDs int64
	Received, Deleted, DeleteErrors, SQSErrors                    int64

	// Contract server and client figures.
	HTTPRequests, ClientRequests, TransportErrors int64
	ByStatus                                      map[int]int64
	InjectedTimeouts, InjectedResets              int64

	// Dead-letter queue.
	DLQMessages       int // every message found, copies included
	DLQInvalid        int // distinct injected invalid messages found
	DLQInvalidReasons int // of those, with failure_kind invalid_input and a reason
	DLQValid          int // valid events found there (redriven or rejected)
	DLQUnknown        int // bodies that were never enqueued
	DLQReasons        map[string]int
	// DLQValidHistories tells, for the first few valid events found in the dead-letter queue,
	// what each receive of their message ended in and the outcomes the forwarder logged.
	DLQValidHistories []string
	// LostHistories tells the same for the first few lost (event, feed) deliveries.
	LostHistories []string

	// Metrics are the forwarder's embedded metrics summed over the run (service-wide lines);
	// BadMetricLines counts lines that were not EMF. Confirmed counts the batches the client
	// saw mParticle accept, which the Delivered metric must equal.
	Metrics        map[string]int64
	BadMetricLines int
	Confirmed      int64

	// The outage phase: when it began and ended (from the start of the run), the requests
	// answered 503 meanwhile, the messages it held back (received, not deleted, at its end)
	// and how long after its end the last of them was deleted (0: never).
	OutageBegan, OutageEnded, OutageDrained time.Duration
	OutageRejected                          int64
	OutageBacklog                           int
	// DeliveredPastLegacyLimit counts messages deleted after more receives than the old
	// policy allowed (LegacyMaxReceiveCount): each would have been dead-lettered before the
	// retry backoff. MaxReceives is the most receives of one message.
	DeliveredPastLegacyLimit, MaxReceives int

	// StepMeans are the pollers' mean receive, handle and delete times.
	StepMeans map[string]time.Duration

	// RecordsRead, RecordsWritten and RecordsCutShort sum the forwarder's delivery-record
	// lookups, writes, and writes the deadline cut short (the DynamoDB items each policy
	// costs); InfoLogBytes the bytes of its log records above DEBUG.
	RecordsRead, RecordsWritten, RecordsCutShort, InfoLogBytes int64

	QueueLeft   int
	SecretLeaks int64
	LeakSample  string
	LogRecords  int64
	Elapsed     time.Duration
	TimedOut    bool
}

func (r *run) report(ctx context.Context) (*Report, error) {
	rep := &Report{Config: r.cfg, Messages: int(r.produced.Load()), ByStatus: map[int]int64{}, DLQReasons: map[string]int{}}
	r.expMu.Lock()
	rep.Valid, rep.Invalid, rep.NoRoute = r.valid, len(r.invalid), r.noRoute
	r.expMu.Unlock()

	st := r.mp.Stats()
	rep.HTTPRequests, rep.ByStatus = st.Requests, st.ByStatus
	rep.InjectedTimeouts, rep.InjectedResets = st.Timeouts, st.Resets
	rep.ClientRequests, rep.TransportErrors = r.tracker.requests.Load(), r.tracker.failures.Load()

	for _, f := range r.feeds {
		fr := FeedReport{Name: f.Name, Enabled: f.Enabled, Requests: st.Feeds[f.Name].Requests}
		exp := r.expected[f.Name]
		fr.Expected = len(exp)
		seen := map[string]bool{}
		for _, rec := range r.mp.Records(f.Key) {
			fr.Accepted++
			id := rec.Batch().SourceRequestID
			if seen[id] {
				continue
			}
			seen[id] = true
			if _, ok := exp[id]; ok {
				fr.Delivered++
			} else {
				fr.Unexpected++
			}
		}
		fr.Resent = fr.Accepted - len(seen)
		fr.Missing = fr.Expected - fr.Delivered
		for id, ev := range exp {
			if seen[id] {
				continue
			}
			if r.ledger.neverReceived(ev) {
				fr.LostByQueue++
			}
			if len(rep.LostHistories) < 5 {
				rep.LostHistories = append(rep.LostHistories, r.lostHistory(f.Name, ev))
			}
		}
		rep.Feeds = append(rep.Feeds, fr)
		rep.Lost += fr.Missing - fr.LostByQueue
		rep.LostByQueue += fr.LostByQueue
		rep.Unexpected += fr.Unexpected
		rep.Resent += fr.Resent
	}

	r.crashMu.Lock()
	crashed := maps.Clone(r.crashed)
	r.crashMu.Unlock()
	rep.Crashed = int64(len(crashed))
	excused := map[string]bool{}
	concurrent, twice := r.ledger.summary()
	rep.ConcurrentDeliveries, rep.EnqueuedTwice = len(concurrent), twice
	for _, id := range concurrent {
		for _, f := range r.feeds {
			excused[transform.SourceRequestID(id, f.IntegrationID)] = true
		}
	}
	// A delivery whose record the forwarder could not write (it logs which, and counts them
	// as records_cut_short) may be sent again on its message's next receive: mParticle's
	// deduplication absorbs that, as the forwarder said it would.
	for _, k := range r.outcomes.unrecordedKeys() {
		if ev, in, ok := strings.Cut(k, "#"); ok {
			excused[transform.SourceRequestID(ev, in)] = true
			rep.UnrecordedExcused++
		}
	}
	rep.ConfirmedTwice = r.tracker.confirmedTwice(crashed, excused)
	rep.Invocations, rep.HandlerErrors, rep.ItemFailures = r.invocations.Load(), r.handlerErrors.Load(), r.itemFailures.Load()
	rep.BadItemIDs, rep.Received, rep.Deleted = r.badItemIDs.Load(), r.received.Load(), r.deleted.Load()
	rep.DeleteErrors, rep.SQSErrors = r.deleteErrors.Load(), r.sqsErrors.Load()

	if err := r.readDLQ(ctx, rep); err != nil {
		return nil, err
	}
	left, err := r.depth(ctx, r.out.QueueURL)
	if err != nil {
		return nil, err
	}
	rep.QueueLeft = left
	rep.Metrics, rep.BadMetricLines = r.emf.snapshot()
	rep.Confirmed = r.tracker.confirmations()
	rep.StepMeans = r.timing.means()
	r.outage.fill(rep, r.ledger)
	rep.SecretLeaks, rep.LogRecords = r.logs.leaks.Load(), r.logs.lines.Load()
	rep.RecordsRead, rep.RecordsWritten, rep.RecordsCutShort, rep.InfoLogBytes = r.outcomes.records()
	if s, ok := r.logs.sample.Load().(string); ok {
		rep.LeakSample = s
	}
	return rep, nil
}

// readDLQ receives every dead letter once (a long visibility timeout keeps each one hidden
// after it is read) and matches it against what was injected.
func (r *run) readDLQ(ctx context.Context, rep *Report) error {
	invalidSeen := map[string]bool{}
	withReason := map[string]bool{}
	for empty := 0; empty < 2; {
		out, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(r.out.DLQURL),
			MaxNumberOfMessages:   10,
			VisibilityTimeout:     600,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			return fmt.Errorf("soak: read dead letters: %w", err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, m := range out.Messages {
			rep.DLQMessages++
			body := aws.ToString(m.Body)
			kind := attr(m.MessageAttributes, forwarder.AttrFailureKind)
			reason := attr(m.MessageAttributes, forwarder.AttrFailureReason)
			if kind == "" {
				kind = "redriven by SQS"
			}
			rep.DLQReasons[kind+": "+reasonClass(reason)]++
			switch {
			case r.invalid[body]:
				invalidSeen[body] = true
				if kind == string(forwarder.FailureInvalidInput) && reason != "" && reason != "-" {
					withReason[body] = true
				}
			case r.validIDs[eventID(body)]:
				rep.DLQValid++
				if len(rep.DLQValidHistories) < 5 {
					id := aws.ToString(m.MessageId)
					rep.DLQValidHistories = append(rep.DLQValidHistories, fmt.Sprintf("message %s (%s): %s | logged: %s",
						id, kind, strings.Join(r.ledger.historyOf(id), "; "), strings.Join(r.outcomes.of(id), "; ")))
				}
			default:
				rep.DLQUnknown++
			}
		}
	}
	rep.DLQInvalid, rep.DLQInvalidReasons = len(invalidSeen), len(withReason)
	return nil
}

// lostHistory says what became of the messages that carried a lost delivery's event.
func (r *run) lostHistory(feed, eventID string) string {
	var parts []string
	for _, id := range r.ledger.messagesOf(eventID) {
		parts = append(parts, fmt.Sprintf("message %s: %s | logged: %s", id,
			strings.Join(r.ledger.historyOf(id), "; "), strings.Join(r.outcomes.of(id), "; ")))
	}
	if len(parts) == 0 {
		parts = append(parts, "never received")
	}
	return fmt.Sprintf("event %s for %s: %s", eventID, feed, strings.Join(parts, " || "))
}

func attr(m map[string]sqstypes.MessageAttributeValue, k string) string {
	if v, ok := m[k]; ok {
		return aws.ToString(v.StringValue)
	}
	return ""
}

func eventID(body string) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal([]byte(body), &v)
	return v.ID
}

// reasonClass keeps the reason's kind ("invalid event: field \"id\": ...") short enough to
// group by.
func reasonClass(reason string) string {
	if i := strings.Index(reason, ": "); i >= 0 {
		if j := strings.Index(reason[i+2:], ":"); j >= 0 {
			return reason[:i+2+j]
		}
	}
	return reason
}

// Check returns why the run breaks the delivery promise, or nil.
func (rep *Report) Check() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if rep.TimedOut {
		fail("the run did not finish within %s", rep.Config.Timeout)
	}
	if rep.Messages != rep.Config.Events {
		fail("%d of %d messages were enqueued", rep.Messages, rep.Config.Events)
	}
	for _, f := range rep.Feeds {
		if f.Delivered+f.LostByQueue != f.Expected {
			fail("feed %s: %d of %d expected events delivered (%d lost by the queue stand-in)", f.Name, f.Delivered, f.Expected, f.LostByQueue)
		}
		if !f.Enabled && f.Accepted > 0 {
			fail("disabled feed %s received %d batches", f.Name, f.Accepted)
		}
	}
	if rep.Lost != 0 {
		fail("%d events lost", rep.Lost)
	}
	if rep.Unexpected != 0 {
		fail("%d batches delivered that no feed should have received", rep.Unexpected)
	}
	if rep.DLQInvalid != rep.Invalid {
		fail("%d of %d invalid messages in the dead-letter queue", rep.DLQInvalid, rep.Invalid)
	}
	if rep.DLQInvalidReasons != rep.Invalid {
		fail("%d of %d invalid messages dead-lettered with a reason", rep.DLQInvalidReasons, rep.Invalid)
	}
	if rep.DLQValid != 0 || rep.DLQUnknown != 0 {
		fail("dead-letter queue holds %d valid events and %d unknown messages", rep.DLQValid, rep.DLQUnknown)
	}
	if rep.QueueLeft != 0 {
		fail("%d messages left in the queue", rep.QueueLeft)
	}
	if rep.SecretLeaks != 0 {
		fail("%d log records contain a key or secret", rep.SecretLeaks)
	}
	if rep.BadItemIDs != 0 {
		fail("%d responses named a message that was not in the batch", rep.BadItemIDs)
	}
	if rep.BadMetricLines != 0 {
		fail("%d metric lines were not EMF documents", rep.BadMetricLines)
	}
	if rep.Metrics["Delivered"] != rep.Confirmed {
		fail("Delivered metric %d, but mParticle accepted %d batches", rep.Metrics["Delivered"], rep.Confirmed)
	}
	if rep.Metrics["Invalid"] < int64(rep.Invalid) {
		fail("Invalid metric %d, fewer than the %d invalid messages", rep.Metrics["Invalid"], rep.Invalid)
	}
	if rep.Config.ExpectIdempotency && rep.ConfirmedTwice != 0 {
		fail("%d batches re-sent after mParticle had confirmed them to a completed invocation", rep.ConfirmedTwice)
	}
	if rep.Config.Outage.Duration > 0 {
		legacy := time.Duration(LegacyMaxReceiveCount) * rep.Config.VisibilityTimeout
		switch {
		case rep.OutageEnded == 0 || rep.OutageRejected == 0:
			fail("the outage phase did not take place (ended %s, %d requests refused)", rep.OutageEnded, rep.OutageRejected)
		case rep.OutageEnded-rep.OutageBegan <= legacy:
			fail("the outage lasted %s, not longer than the %s the old policy survived", rep.OutageEnded-rep.OutageBegan, legacy)
		case rep.DeliveredPastLegacyLimit == 0:
			fail("no message was delivered after more than %d receives: the outage did not test what the old policy would have dead-lettered", LegacyMaxReceiveCount)
		case rep.OutageDrained == 0:
			fail("%d messages held back by the outage were never all delivered", rep.OutageBacklog)
		}
	}
	return errors.Join(errs...)
}

// Print writes the report for people.
func (rep *Report) Print(w io.Writer) {
	c := rep.Config
	fmt.Fprintf(w, "soak: seed %d, %d messages (%d valid, %d invalid, %d valid with no matching feed), %d pollers, batch %d\n",
		c.Seed, rep.Messages, rep.Valid, rep.Invalid, rep.NoRoute, c.Pollers, c.BatchSize)
	fmt.Fprintf(w, "soak: visibility %s, maxReceiveCount %d, retry backoff %s to %s per receive (%s over all receives), invocation %s, mParticle request timeout %s\n",
		c.VisibilityTimeout, c.MaxReceiveCount, forwarder.RetryVisibility(c.BackoffUnit, 1, 0), forwarder.RetryVisibility(c.BackoffUnit, c.MaxReceiveCount, 0),
		forwarder.BackoffSpan(c.BackoffUnit, c.MaxReceiveCount), c.InvocationTimeout, c.RequestTimeout)
	fmt.Fprintf(w, "soak: faults 500 %.0f%%, 503 %.0f%%, 429 %.0f%% (Retry-After %ds), timeout-after-accept %.0f%%, reset %.0f%%, crash %.0f%% of invocations\n",
		100*c.Faults.P500, 100*c.Faults.P503, 100*c.Faults.P429, max(c.Faults.RetryAfter, 1), 100*c.Faults.PTimeout, 100*c.Faults.PReset, 100*c.CrashRate)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "feed\texpected\tdelivered\tmissing\tunexpected\taccepted\tre-sent\trequests\t")
	for _, f := range rep.Feeds {
		name := f.Name
		if !f.Enabled {
			name += " (disabled)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, f.Expected, f.Delivered, f.Missing, f.Unexpected, f.Accepted, f.Resent, f.Requests)
	}
	tw.Flush()

	statuses := slices.Sorted(maps.Keys(rep.ByStatus))
	var parts []string
	for _, s := range statuses {
		parts = append(parts, fmt.Sprintf("%d:%d", s, rep.ByStatus[s]))
	}
	fmt.Fprintf(w, "soak: HTTP requests %d at the contract server (%s; timeouts after accept %d, resets %d), %d sent by the client (%d transport errors)\n",
		rep.HTTPRequests, strings.Join(parts, " "), rep.InjectedTimeouts, rep.InjectedResets, rep.ClientRequests, rep.TransportErrors)
	fmt.Fprintf(w, "soak: invocations %d (crashed %d, function errors %d), messages received %d, deleted %d, item failures %d\n",
		rep.Invocations, rep.Crashed, rep.HandlerErrors, rep.Received, rep.Deleted, rep.ItemFailures)
	fmt.Fprintf(w, "soak: at-least-once from SQS: messages held by two invocations at once %d, bodies enqueued twice %d\n",
		rep.ConcurrentDeliveries, rep.EnqueuedTwice)
	expected, delivered := 0, 0
	for _, f := range rep.Feeds {
		expected += f.Expected
		delivered += f.Delivered
	}
	fmt.Fprintf(w, "soak: valid events delivered %d of %d expected (event, feed) pairs; lost %d; unexpected %d\n",
		delivered, expected, rep.Lost, rep.Unexpected)
	if rep.LostByQueue > 0 {
		fmt.Fprintf(w, "soak: %d expected (event, feed) pairs whose message moto dropped before any receive (its DeleteMessage races SendMessage), not counted as lost by the forwarder\n", rep.LostByQueue)
	}
	fmt.Fprintf(w, "soak: duplicates delivered to outputs %d (distinct source_request_id accepted per feed beyond the expected ones; mParticle deduplicates on it)\n",
		rep.Unexpected)
	fmt.Fprintf(w, "soak: raw re-sent batches seen by the contract server %d (after a lost answer, a crash after an upload, one message held by two invocations, or a redelivery the record policy did not cover); re-sent after mParticle confirmed them to a completed invocation %d\n",
		rep.Resent, rep.ConfirmedTwice)
	fmt.Fprintf(w, "soak: delivery records (policy %s): read %d, written %d, cut short by the deadline %d (%d unwritten excused from the re-sent-after-confirmation count); per 1,000 delivered (event, feed) pairs: %.0f read, %.0f written\n",
		c.Records, rep.RecordsRead, rep.RecordsWritten, rep.RecordsCutShort, rep.UnrecordedExcused, perThousand(rep.RecordsRead, delivered), perThousand(rep.RecordsWritten, delivered))
	fmt.Fprintf(w, "soak: logs above DEBUG %d bytes, %.1f per delivered (event, feed) pair (faults included)\n",
		rep.InfoLogBytes, float64(rep.InfoLogBytes)/float64(max(delivered, 1)))
	fmt.Fprintf(w, "soak: dead-letter queue %d messages: invalid %d/%d injected (%d with reason), valid events %d, unknown %d\n",
		rep.DLQMessages, rep.DLQInvalid, rep.Invalid, rep.DLQInvalidReasons, rep.DLQValid, rep.DLQUnknown)
	for _, k := range slices.Sorted(maps.Keys(rep.DLQReasons)) {
		fmt.Fprintf(w, "soak:   %4d  %s\n", rep.DLQReasons[k], k)
	}
	for _, h := range rep.DLQValidHistories {
		fmt.Fprintf(w, "soak:   valid event in the DLQ: %s\n", h)
	}
	for _, h := range rep.LostHistories {
		fmt.Fprintf(w, "soak:   lost: %s\n", h)
	}
	fmt.Fprintf(w, "soak: queue left %d, log records %d, records leaking a secret %d\n", rep.QueueLeft, rep.LogRecords, rep.SecretLeaks)
	if rep.LeakSample != "" {
		fmt.Fprintf(w, "soak: first leaking record (redacted): %s\n", rep.LeakSample)
	}
	var ms []string
	for _, n := range metrics.Names {
		ms = append(ms, fmt.Sprintf("%s %d", n, rep.Metrics[string(n)]))
	}
	fmt.Fprintf(w, "soak: forwarder metrics (EMF, summed): %s; batches mParticle accepted %d\n", strings.Join(ms, ", "), rep.Confirmed)
	if c.Outage.Duration > 0 {
		drained := "never"
		if rep.OutageDrained > 0 {
			drained = rep.OutageDrained.Round(100*time.Millisecond).String() + " after it ended"
		}
		fmt.Fprintf(w, "soak: outage: mParticle answered only 503 from %s to %s (%s; the old policy, %d receives × %s, dead-lettered after %s), %d requests refused\n",
			rep.OutageBegan.Round(100*time.Millisecond), rep.OutageEnded.Round(100*time.Millisecond), (rep.OutageEnded - rep.OutageBegan).Round(100*time.Millisecond),
			LegacyMaxReceiveCount, c.VisibilityTimeout, time.Duration(LegacyMaxReceiveCount)*c.VisibilityTimeout, rep.OutageRejected)
		fmt.Fprintf(w, "soak: outage: backoff unit %s; %d messages held back, all delivered %s; %d messages delivered after more than %d receives (each dead-lettered under the old policy), most receives of one message %d of %d\n",
			c.BackoffUnit, rep.OutageBacklog, drained, rep.DeliveredPastLegacyLimit, LegacyMaxReceiveCount, rep.MaxReceives, c.MaxReceiveCount)
	}
	fmt.Fprintf(w, "soak: mean receive %s, handle %s, delete %s\n", rep.StepMeans["receive"].Round(time.Millisecond),
		rep.StepMeans["handle"].Round(time.Millisecond), rep.StepMeans["delete"].Round(time.Millisecond))
	fmt.Fprintf(w, "soak: total time %s\n", rep.Elapsed.Round(time.Millisecond))
}

func perThousand(n int64, of int) float64 { return 1000 * float64(n) / float64(max(of, 1)) }
