package forwarder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

func TestRetryVisibility(t *testing.T) {
	const m = time.Minute
	tests := []struct {
		name    string
		unit    time.Duration
		receive int
		wait    time.Duration
		want    time.Duration
	}{
		{"first receive", m, 1, 0, 1 * m},
		{"receive count missing counts as the first", m, 0, 0, 1 * m},
		{"doubles per receive", m, 2, 0, 2 * m},
		{"fourth", m, 4, 0, 8 * m},
		{"fifth", m, 5, 0, 16 * m},
		{"capped at 30 units", m, 6, 0, 30 * m},
		{"stays at the cap", m, 100, 0, 30 * m},
		{"no overflow on absurd counts", m, 1 << 30, 0, 30 * m},
		{"unset unit is the deployed one", 0, 3, 0, 4 * m},
		{"throttle wait wins when longer", m, 1, 90 * time.Second, 90 * time.Second},
		{"throttle wait wins past the cap", m, 20, 45 * m, 45 * m},
		{"backoff wins over a shorter wait", m, 6, 10 * time.Second, 30 * m},
		{"wait rounded up to whole seconds", m, 1, 61500 * time.Millisecond, 62 * time.Second},
		{"never longer than SQS allows", m, 1, 24 * time.Hour, MaxVisibility},
		{"compressed unit", time.Second, 5, 0, 16 * time.Second},
		{"compressed cap", time.Second, 9, 0, 30 * time.Second},
		{"sub-second backoff rounds up to 1 s, never 0", 100 * time.Millisecond, 1, 0, time.Second},
		{"sub-second wait rounds up", 100 * time.Millisecond, 1, 300 * time.Millisecond, time.Second},
		{"fractional seconds round up", 500 * time.Millisecond, 4, 0, 4 * time.Second},
		{"fractional cap rounds up", 700 * time.Millisecond, 10, 0, 21 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RetryVisibility(tc.unit, tc.receive, tc.wait); got != tc.want {
				t.Errorf("RetryVisibility(%s, %d, %s) = %s, want %s", tc.unit, tc.receive, tc.wait, got, tc.want)
			}
		})
	}
}

// The table in visibility.go's comment, and the 24-hour promise built on it.
func TestBackoffSpan(t *testing.T) {
	tests := []struct {
		unit     time.Duration
		receives int
		want     time.Duration
	}{
		{time.Minute, 1, time.Minute},
		{time.Minute, 5, 31 * time.Minute},
		{time.Minute, 6, time.Hour + time.Minute},
		{time.Minute, 51, 23*time.Hour + 31*time.Minute},
		{time.Minute, 52, 24*time.Hour + time.Minute},
		{time.Minute, 100, 48*time.Hour + time.Minute},
		// The soak's compressed schedules, whole seconds: 1, 2, 4, 8, 16, 30, ...
		{time.Second, 5, 31 * time.Second},
		// 1, 1, 2, 4, 8, 15, ...: sub-second steps round up.
		{500 * time.Millisecond, 6, 31 * time.Second},
	}
	for _, tc := range tests {
		if got := BackoffSpan(tc.unit, tc.receives); got != tc.want {
			t.Errorf("BackoffSpan(%s, %d) = %s, want %s", tc.unit, tc.receives, got, tc.want)
		}
	}
}

// delayRecorder is a Visibility that records each delay and can fail some messages.
type delayRecorder struct {
	mu    sync.Mutex
	got   map[string]time.Duration
	calls int
	fail  map[string]bool
}

func (d *delayRecorder) Delay(_ context.Context, delays []Delay) []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	errs := make([]error, len(delays))
	for i, x := range delays {
		if d.fail[x.Msg.MessageId] {
			errs[i] = errors.New("AWS.SimpleQueueService.NonExistentQueue")
			continue
		}
		d.got[x.Msg.MessageId] = x.D
	}
	return errs
}

// withReceiveCount sets every record's ApproximateReceiveCount.
func withReceiveCount(in events.SQSEvent, n int) events.SQSEvent {
	for i := range in.Records {
		in.Records[i].Attributes = map[string]string{"ApproximateReceiveCount": strconv.Itoa(n)}
	}
	return in
}

// Every retryable failure gives the message back hidden for its backoff by receive count, on
// the partial-failure path and on the ErrAllRetryable one, whatever dependency failed.
func TestRetryableFailureDelaysByReceiveCount(t *testing.T) {
	purchased := func(t *testing.T) string { return eventtest.Body(t, event.SubscriptionPurchased, nil) }
	renewed := func(t *testing.T) string { return eventtest.Body(t, event.SubscriptionRenewed, nil) }
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(renewed(t)), &ev); err != nil || ev.ID == "" {
		t.Fatalf("sample event id: %v", err)
	}
	renewedID := ev.ID
	const unit = time.Minute
	tests := []struct {
		name    string
		bodies  func(t *testing.T) []string
		setup   func(hs *harness)
		allErr  bool                     // the handler returns ErrAllRetryable
		delayed map[string]time.Duration // message id -> delay, for receive count n (see wantFor)
	}{
		{
			name:   "mParticle 503 on every message: ErrAllRetryable, all delayed",
			bodies: func(t *testing.T) []string { return []string{purchased(t), renewed(t)} },
			setup: func(hs *harness) {
				hs.up.decide = func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.Retryable }
			},
			allErr:  true,
			delayed: map[string]time.Duration{"msg-a": 0, "msg-b": 0},
		},
		{
			name:   "one message fails, the other is delivered: only it is delayed",
			bodies: func(t *testing.T) []string { return []string{purchased(t), renewed(t)} },
			setup: func(hs *harness) {
				failing := transform.SourceRequestID(renewedID, "ios")
				hs.up.decide = func(_ int, _ mparticle.Feed, b mparticle.Batch) mparticle.Outcome {
					if b.SourceRequestID == failing {
						return mparticle.Retryable
					}
					return mparticle.Delivered
				}
			},
			delayed: map[string]time.Duration{"msg-b": 0},
		},
		{
			name:    "integrations table unavailable (DynamoDB outage)",
			bodies:  func(t *testing.T) []string { return []string{purchased(t)} },
			setup:   func(hs *harness) { hs.ins.err = errors.New("dynamodb: service unavailable") },
			allErr:  true,
			delayed: map[string]time.Duration{"msg-a": 0},
		},
		{
			name:    "credentials unavailable (Secrets Manager outage)",
			bodies:  func(t *testing.T) []string { return []string{purchased(t)} },
			setup:   func(hs *harness) { hs.creds.err = errors.New("secretsmanager: internal error") },
			allErr:  true,
			delayed: map[string]time.Duration{"msg-a": 0},
		},
		{
			name:   "the same event twice: both copies delayed",
			bodies: func(t *testing.T) []string { b := purchased(t); return []string{b, b} },
			setup: func(hs *harness) {
				hs.up.decide = func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.Retryable }
			},
			allErr:  true,
			delayed: map[string]time.Duration{"msg-a": 0, "msg-b": 0},
		},
		{
			name:   "a throttled feed's longer Retry-After wins",
			bodies: func(t *testing.T) []string { return []string{purchased(t)} },
			setup: func(hs *harness) {
				hs.h.deps.Uploader = &throttlingUploader{feed: "ios", after: 5 * time.Hour}
			},
			allErr:  true,
			delayed: map[string]time.Duration{"msg-a": 5 * time.Hour},
		},
		{
			name:   "dead-letter queue unavailable: the refused event is retried, delayed",
			bodies: func(t *testing.T) []string { return []string{purchased(t), "not json"} },
			setup: func(hs *harness) {
				hs.dlq.err = errors.New("sqs: service unavailable")
			},
			// msg-a was delivered; msg-b (invalid) could not be dead-lettered.
			delayed: map[string]time.Duration{"msg-b": 0},
		},
	}
	for _, tc := range tests {
		for _, n := range []int{1, 3, 6, 80} {
			t.Run(fmt.Sprintf("%s/receive %d", tc.name, n), func(t *testing.T) {
				hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
				vis := &delayRecorder{got: map[string]time.Duration{}}
				hs.h.deps.Visibility = vis
				tc.setup(hs)
				resp, err := hs.h.Handle(context.Background(), withReceiveCount(sqsEvent(tc.bodies(t)...), n))
				if tc.allErr != errors.Is(err, ErrAllRetryable) {
					t.Fatalf("err = %v, want ErrAllRetryable: %v", err, tc.allErr)
				}
				if got := failedIDs(resp); len(got) != len(tc.delayed) {
					t.Fatalf("failures %v, want %d", got, len(tc.delayed))
				}
				if len(vis.got) != len(tc.delayed) {
					t.Errorf("delayed %v, want exactly %v", vis.got, tc.delayed)
				}
				for id, wait := range tc.delayed {
					want := RetryVisibility(unit, n, wait)
					if got, ok := vis.got[id]; !ok || got != want {
						t.Errorf("%s delayed %s (%v), want %s", id, got, ok, want)
					}
				}
				if vis.calls > 1 {
					t.Errorf("%d Visibility calls, want one per invocation", vis.calls)
				}
			})
		}
	}
}

func TestBackoffUnitScalesTheDelay(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	hs.h.cfg.BackoffUnit = 250 * time.Millisecond
	vis := &delayRecorder{got: map[string]time.Duration{}}
	hs.h.deps.Visibility = vis
	hs.up.decide = func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.Retryable }
	_, _ = hs.h.Handle(context.Background(), withReceiveCount(sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil)), 5))
	if got := vis.got["msg-a"]; got != 4*time.Second { // 250 ms × 2^4
		t.Errorf("delay %s, want 4s", got)
	}
}

// A visibility change that fails loses nothing: the message is still handed back (it returns
// after the queue's own timeout) and the failure is logged.
func TestFailedDelayKeepsTheMessage(t *testing.T) {
	hs := newHarness(integ("ios", integration.ScopePlatform, iosPlatfID))
	vis := &delayRecorder{got: map[string]time.Duration{}, fail: map[string]bool{"msg-a": true}}
	hs.h.deps.Visibility = vis
	hs.up.decide = func(int, mparticle.Feed, mparticle.Batch) mparticle.Outcome { return mparticle.Retryable }
	resp, err := hs.h.Handle(context.Background(), withReceiveCount(sqsEvent(eventtest.Body(t, event.SubscriptionPurchased, nil), eventtest.Body(t, event.SubscriptionRenewed, nil)), 2))
	if !errors.Is(err, ErrAllRetryable) {
		t.Fatalf("err = %v", err)
	}
	if got := failedIDs(resp); len(got) != 2 {
		t.Fatalf("failures %v, want both messages handed back", got)
	}
	if _, ok := vis.got["msg-b"]; !ok {
		t.Error("msg-b was not delayed: one failure must not stop the others")
	}
	logs := hs.logs.String()
	if !strings.Contains(logs, `"msg":"could not delay retry"`) || !strings.Contains(logs, `"message_id":"msg-a"`) {
		t.Errorf("the failed delay is not logged: %s", logs)
	}
	if strings.Contains(logs, testKey) || strings.Contains(logs, testSecret) {
		t.Error("logs contain a credential")
	}
}

// fakeVisibilityAPI records ChangeMessageVisibilityBatch calls and answers per entry.
type fakeVisibilityAPI struct {
	mu       sync.Mutex
	lookups  map[string]int
	calls    []*sqs.ChangeMessageVisibilityBatchInput
	callErr  error
	failIDs  map[string]bool // receipt handles to report as failed
	omitIDs  map[string]bool // receipt handles to leave out of the answer
	inFlight int
	maxPar   int
}

func (f *fakeVisibilityAPI) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups[aws.ToString(in.QueueName)]++
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("https://sqs.local/" + aws.ToString(in.QueueOwnerAWSAccountId) + "/" + aws.ToString(in.QueueName))}, nil
}

func (f *fakeVisibilityAPI) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, in)
	f.inFlight++
	f.maxPar = max(f.maxPar, f.inFlight)
	f.mu.Unlock()
	time.Sleep(5 * time.Millisecond) // long enough for concurrent calls to overlap
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight--
	if f.callErr != nil {
		return nil, f.callErr
	}
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		h := aws.ToString(e.ReceiptHandle)
		switch {
		case f.omitIDs[h]:
		case f.failIDs[h]:
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid"), Message: aws.String("expired")})
		default:
			out.Successful = append(out.Successful, sqstypes.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
		}
	}
	return out, nil
}

func TestSQSVisibilityBatchesPerQueue(t *testing.T) {
	const arnA, arnB = "arn:aws:sqs:us-east-1:123456789012:events-a", "arn:aws:sqs:us-east-1:123456789012:events-b"
	var delays []Delay
	for i := range 23 {
		arn := arnA
		if i%3 == 0 {
			arn = arnB
		}
		delays = append(delays, Delay{
			Msg: events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), ReceiptHandle: fmt.Sprintf("rh%d", i), EventSourceARN: arn},
			D:   time.Duration(i)*time.Second + 300*time.Millisecond,
		})
	}
	delays = append(delays, Delay{Msg: events.SQSMessage{MessageId: "bad", ReceiptHandle: "rh-bad", EventSourceARN: "arn:aws:sns:us-east-1:1:topic"}, D: time.Minute})

	api := &fakeVisibilityAPI{lookups: map[string]int{}, failIDs: map[string]bool{"rh4": true}, omitIDs: map[string]bool{"rh5": true}}
	v := &SQSVisibility{API: api}
	errs := v.Delay(context.Background(), delays)
	if len(errs) != len(delays) {
		t.Fatalf("%d errors for %d delays", len(errs), len(delays))
	}
	for i, err := range errs {
		id := delays[i].Msg.MessageId
		wantErr := id == "m4" || id == "m5" || id == "bad"
		if (err != nil) != wantErr {
			t.Errorf("%s: err = %v, want an error: %v", id, err, wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), id) && id != "bad" {
			t.Errorf("%s: error %q does not name the message", id, err)
		}
	}
	if api.lookups["events-a"] != 1 || api.lookups["events-b"] != 1 {
		t.Errorf("queue URL lookups %v, want one per queue", api.lookups)
	}
	// 15 messages on A (two calls), 8 on B (one call).
	if len(api.calls) != 3 {
		t.Fatalf("%d calls, want 3 (at most 10 entries each, one queue each)", len(api.calls))
	}
	seen := map[string]int32{}
	for _, c := range api.calls {
		if len(c.Entries) > 10 {
			t.Errorf("call with %d entries", len(c.Entries))
		}
		for _, e := range c.Entries {
			h := aws.ToString(e.ReceiptHandle)
			seen[h] = e.VisibilityTimeout
			i, _ := strconv.Atoi(strings.TrimPrefix(h, "rh"))
			want := "/123456789012/events-a"
			if i%3 == 0 {
				want = "/123456789012/events-b"
			}
			if !strings.HasSuffix(aws.ToString(c.QueueUrl), want) {
				t.Errorf("%s sent to %s, want its own queue %s", h, aws.ToString(c.QueueUrl), want)
			}
		}
	}
	for i := range 23 {
		if got, want := seen[fmt.Sprintf("rh%d", i)], int32(i+1); got != want {
			t.Errorf("rh%d: visibility %d s, want %d (rounded up)", i, got, want)
		}
	}
	if api.maxPar < 2 {
		t.Errorf("calls did not overlap (max %d in flight)", api.maxPar)
	}

	api2 := &fakeVisibilityAPI{lookups: map[string]int{}, callErr: errors.New("throttled")}
	for i, err := range (&SQSVisibility{API: api2}).Delay(context.Background(), delays[:3]) {
		if err == nil || !strings.Contains(err.Error(), "throttled") {
			t.Errorf("delay %d: err = %v, want the call's error", i, err)
		}
	}
}

// On moto: a delayed message stays hidden past the queue's own visibility timeout.
func TestSQSVisibilityOnLocalQueue(t *testing.T) {
	cfg := testenv.Config(t)
	ctx := context.Background()
	q := sqs.NewFromConfig(cfg)
	name := fmt.Sprintf("vis-%d", time.Now().UnixNano())
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{"VisibilityTimeout": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: created.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	arn := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	for _, body := range []string{"delayed", "not delayed"} {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil || len(got.Messages) != 2 {
		t.Fatalf("received %d messages, err %v", len(got.Messages), err)
	}
	var delays []Delay
	for _, m := range got.Messages {
		if aws.ToString(m.Body) == "delayed" {
			delays = append(delays, Delay{Msg: events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), EventSourceARN: arn}, D: time.Minute})
		}
	}
	for _, err := range (&SQSVisibility{API: q}).Delay(ctx, delays) {
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the queue's 1 s
	again, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range again.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	if len(bodies) != 1 || bodies[0] != "not delayed" {
		t.Errorf("after the queue's timeout received %v, want only the message that was not delayed", bodies)
	}
}
