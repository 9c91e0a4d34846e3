package forwarder

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Retry backoff.
//
// A message that fails retryably (mParticle down or answering 5xx, DynamoDB or Secrets
// Manager unavailable, a feed throttled, no time left in the invocation) is hidden for longer
// on each receive, so that an outage spends few of its receives: a valid event must not reach
// the dead-letter queue while the platform's own webhooks would still be retrying, which they
// do for 24 hours. Before this, every retry came back after the queue's 180 s and
// maxReceiveCount 5 dead-lettered valid events after about 15 minutes.
//
// After its n-th receive fails, a message stays hidden for unit × 2^(n-1), at most
// BackoffCapUnits units; with the deployed unit (1 minute) and maxReceiveCount (100):
//
//	receive n   hidden after it   hidden in total after n receives
//	1           1 min             1 min
//	2           2 min             3 min
//	3           4 min             7 min
//	4           8 min             15 min
//	5           16 min            31 min
//	6           30 min (the cap)  1 h 1 min
//	n ≥ 6       30 min            31 min + (n-5) × 30 min
//	52          30 min            24 h 1 min
//	100         30 min            48 h 1 min; the 101st receive moves it to the dead-letter queue
//
// Why these numbers:
//   - 1 minute first: a lone 500 is retried sooner than the queue's own 180 s.
//   - The 30-minute cap keeps the drain after an outage prompt: once mParticle is back, every
//     waiting message is tried again within 30 minutes (15 on average), and those retries come
//     spread over the 30 minutes rather than in one burst, which mParticle's rate limit and the
//     forwarder's pacing absorb. A longer cap would only delay the drain; a shorter one
//     multiplies the requests sent to a dependency that is down (each waiting message costs 2
//     invocations an hour at this cap) and the receives needed to cover 24 hours.
//   - 100 receives cover 48 hours, twice the 24 to survive: a 24-hour outage is survived even
//     if half of the receives are cut short (a crashed or timed-out invocation, or a failed
//     visibility change, brings the message back after the queue's 180 s instead).
//
// A throttled feed's Retry-After wins when it is longer than the backoff. shared/stack holds
// maxReceiveCount and the queues' retention; shared/testkit/templatecheck checks this arithmetic
// against template.yaml.
const (
	// DefaultBackoffUnit is the deployed unit; RETRY_BACKOFF_UNIT shrinks it for the soak and
	// local runs, which compress time.
	DefaultBackoffUnit = time.Minute
	// BackoffCapUnits caps a backoff at this many units (30 minutes deployed).
	BackoffCapUnits = 30
	// MaxVisibility stays under SQS's 12-hour limit, which counts from the receive: SQS
	// refuses a change that would end later, and an invocation may have run up to Lambda's
	// 15-minute maximum before the change.
	MaxVisibility = 12*time.Hour - 15*time.Minute
)

// RetryBackoff is how long a message whose receiveCount-th receive failed retryably stays
// hidden, before rounding: unit × 2^(receiveCount-1), capped at BackoffCapUnits units. A
// receive count of 0 (the attribute missing) counts as the first.
func RetryBackoff(unit time.Duration, receiveCount int) time.Duration {
	if unit <= 0 {
		unit = DefaultBackoffUnit
	}
	unit = min(unit, MaxVisibility)
	units := 1
	for i := 1; i < receiveCount && units < BackoffCapUnits; i++ {
		units *= 2
	}
	return min(unit*time.Duration(min(units, BackoffCapUnits)), MaxVisibility)
}

// RetryVisibility is the visibility timeout given to a message whose receiveCount-th receive
// failed retryably: its backoff, or the wait mParticle asked for (Retry-After) when that is
// longer, in whole seconds rounded up (SQS takes seconds, and 0 would hand the message out
// again at once), at most MaxVisibility.
func RetryVisibility(unit time.Duration, receiveCount int, wait time.Duration) time.Duration {
	return time.Duration(visibilitySeconds(max(RetryBackoff(unit, receiveCount), wait))) * time.Second
}

// visibilitySeconds is d in whole seconds, rounded up, at least 1 and at most MaxVisibility.
func visibilitySeconds(d time.Duration) int32 {
	d = min(max(d, time.Second), MaxVisibility)
	return int32((d + time.Second - 1) / time.Second)
}

// BackoffSpan is the total time a message spends hidden when each of its first `receives`
// receives fails: how long it outlasts a dependency that stays down before SQS moves it to
// the dead-letter queue (processing time and time waiting in a backlog come on top).
func BackoffSpan(unit time.Duration, receives int) time.Duration {
	var total time.Duration
	for n := 1; n <= receives; n++ {
		total += RetryVisibility(unit, n, 0)
	}
	return total
}

// Delay asks for one message to stay hidden for D before SQS hands it out again.
type Delay struct {
	Msg events.SQSMessage
	D   time.Duration
}

// VisibilityAPI is the part of SQS used to delay messages' redelivery.
type VisibilityAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// SQSVisibility changes messages' visibility on their source queue (found from each record's
// eventSourceARN, resolved to a URL once per queue), ten messages per call.
type SQSVisibility struct {
	API VisibilityAPI

	mu   sync.Mutex
	urls map[string]string
}

// maxChangeBatch is SQS's limit of entries per ChangeMessageVisibilityBatch; visibilityCalls
// bounds the calls in flight, so a batch of 10,000 messages does not open 1,000 at once.
const (
	maxChangeBatch  = 10
	visibilityCalls = 8
)

// Delay implements Visibility. The calls run concurrently, ten messages each; the i-th
// error is delays[i]'s, nil when its visibility was changed.
func (v *SQSVisibility) Delay(ctx context.Context, delays []Delay) []error {
	errs := make([]error, len(delays))
	type chunk struct {
		url string
		idx []int
	}
	var chunks []chunk
	open := map[string]int{} // queue ARN -> index in chunks of its chunk being filled
	for i, d := range delays {
		arn := d.Msg.EventSourceARN
		c, ok := open[arn]
		if !ok || len(chunks[c].idx) == maxChangeBatch {
			url, err := v.queueURL(ctx, arn)
			if err != nil {
				errs[i] = err
				continue
			}
			chunks = append(chunks, chunk{url: url})
			c = len(chunks) - 1
			open[arn] = c
		}
		chunks[c].idx = append(chunks[c].idx, i)
	}
	sem := make(chan struct{}, visibilityCalls)
	var wg sync.WaitGroup
	for _, c := range chunks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v.change(ctx, c.url, c.idx, delays, errs)
		})
	}
	wg.Wait()
	return errs
}

// change sends one ChangeMessageVisibilityBatch and records each entry's outcome in errs.
func (v *SQSVisibility) change(ctx context.Context, url string, idx []int, delays []Delay, errs []error) {
	entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(idx))
	for j, i := range idx {
		entries[j] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(j)),
			ReceiptHandle:     aws.String(delays[i].Msg.ReceiptHandle),
			VisibilityTimeout: visibilitySeconds(delays[i].D),
		}
	}
	out, err := v.API.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil {
		for _, i := range idx {
			errs[i] = fmt.Errorf("change visibility of %s: %w", delays[i].Msg.MessageId, err)
		}
		return
	}
	// A batch call can succeed while some of its entries fail; an entry missing from both
	// lists is counted as failed, since nothing says it was changed.
	done := make([]bool, len(idx))
	for _, s := range out.Successful {
		if j, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && j >= 0 && j < len(idx) {
			done[j] = true
		}
	}
	for _, f := range out.Failed {
		if j, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && j >= 0 && j < len(idx) {
			errs[idx[j]] = fmt.Errorf("change visibility of %s: %s: %s", delays[idx[j]].Msg.MessageId, aws.ToString(f.Code), aws.ToString(f.Message))
			done[j] = true
		}
	}
	for j, ok := range done {
		if !ok {
			errs[idx[j]] = fmt.Errorf("change visibility of %s: %w", delays[idx[j]].Msg.MessageId, errNoVerdict)
		}
	}
}

var errNoVerdict = errors.New("SQS reported neither success nor failure")

func (v *SQSVisibility) queueURL(ctx context.Context, arn string) (string, error) {
	v.mu.Lock()
	url, ok := v.urls[arn]
	v.mu.Unlock()
	if ok {
		return url, nil
	}
	// arn:aws:sqs:<region>:<account>:<name>
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return "", fmt.Errorf("event source %q is not an SQS queue ARN", arn)
	}
	out, err := v.API.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return "", fmt.Errorf("queue url of %s: %w", arn, err)
	}
	v.mu.Lock()
	if v.urls == nil {
		v.urls = map[string]string{}
	}
	v.urls[arn] = aws.ToString(out.QueueUrl)
	v.mu.Unlock()
	return aws.ToString(out.QueueUrl), nil
}
