package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

func batchOf(ids ...string) []events.SQSMessage {
	out := make([]events.SQSMessage, len(ids))
	for i, id := range ids {
		out[i] = events.SQSMessage{MessageId: id}
	}
	return out
}

func failures(ids ...string) events.SQSEventResponse {
	var r events.SQSEventResponse
	for _, id := range ids {
		r.BatchItemFailures = append(r.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return r
}

func TestVerdict(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		resp    events.SQSEventResponse
		err     error
		want    []string
		wantErr bool
	}{
		{"all succeeded", failures(), nil, nil, false},
		{"partial failure", failures("b"), nil, []string{"b"}, false},
		{"duplicate failure reported once", failures("b", "b", "c"), nil, []string{"b", "c"}, false},
		{"handler error fails all", failures("b"), boom, []string{"a", "b", "c"}, true},
		{"unknown identifier fails all", failures("zzz"), nil, []string{"a", "b", "c"}, true},
		{"empty identifier fails all", failures(""), nil, []string{"a", "b", "c"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verdict(batchOf("a", "b", "c"), tt.resp, tt.err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("failed = %v, want %v", got, tt.want)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestToRecordMatchesLambdaShape(t *testing.T) {
	m := sqstypes.Message{
		MessageId: aws.String("m1"), ReceiptHandle: aws.String("rh"), Body: aws.String(`{"a":1}`),
		MD5OfBody:  aws.String("md5"),
		Attributes: map[string]string{"ApproximateReceiveCount": "2", "MessageGroupId": "app"},
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"k": {DataType: aws.String("String"), StringValue: aws.String("v")},
		},
	}
	r := ToRecord(m, "arn:aws:sqs:eu-west-1:111122223333:q", "eu-west-1")
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"messageId": "m1", "receiptHandle": "rh", "body": `{"a":1}`, "md5OfBody": "md5",
		"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:111122223333:q", "awsRegion": "eu-west-1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if r.Attributes["ApproximateReceiveCount"] != "2" || r.Attributes["MessageGroupId"] != "app" {
		t.Errorf("attributes = %v", r.Attributes)
	}
	a := r.MessageAttributes["k"]
	if a.DataType != "String" || aws.ToString(a.StringValue) != "v" || a.StringListValues == nil {
		t.Errorf("message attribute = %+v", a)
	}
}

func TestSplitByPayloadKeepsInvocationsUnderTheLimit(t *testing.T) {
	big := strings.Repeat("x", 250*1024)
	var msgs []sqstypes.Message
	for i := range 60 { // 60 × 250 KiB ≈ 15 MiB: needs three invocations
		msgs = append(msgs, sqstypes.Message{MessageId: aws.String(fmt.Sprint(i)), Body: aws.String(big)})
	}
	parts := splitByPayload(msgs, func(m sqstypes.Message) events.SQSMessage { return ToRecord(m, "arn", "r") })
	total := 0
	for _, p := range parts {
		b, _ := json.Marshal(events.SQSEvent{Records: p})
		if len(b) > MaxPayload {
			t.Errorf("invocation payload %d bytes over %d", len(b), MaxPayload)
		}
		total += len(p)
	}
	if total != len(msgs) || len(parts) < 3 {
		t.Errorf("%d parts holding %d messages", len(parts), total)
	}
}

// queue creates a queue (and a DLQ with maxReceiveCount) on the test moto server.
type queue struct {
	api           *sqs.Client
	url, arn, dlq string
}

func newQueue(t *testing.T, maxReceive int) *queue {
	t.Helper()
	api := sqs.NewFromConfig(testenv.Config(t))
	ctx := context.Background()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	d, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	dlqARN := "arn:aws:sqs:" + testenv.Region + ":123456789012:" + name + "-dlq"
	q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"VisibilityTimeout": "180",
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, dlqARN, maxReceive),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &queue{api: api, url: aws.ToString(q.QueueUrl), arn: "arn:aws:sqs:" + testenv.Region + ":123456789012:" + name, dlq: aws.ToString(d.QueueUrl)}
}

func (q *queue) send(t *testing.T, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		_, err := q.api.SendMessage(context.Background(), &sqs.SendMessageInput{
			QueueUrl: aws.String(q.url), MessageBody: aws.String(b), MessageGroupId: aws.String("app-1"),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{"origin": {DataType: aws.String("String"), StringValue: aws.String("test")}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (q *queue) dlqBodies(t *testing.T) []string {
	t.Helper()
	out, err := q.api.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.dlq), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
		// Make it visible again at once, so a later look sees it too.
		if _, err := q.api.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(q.dlq), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
		}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(bodies)
	return bodies
}

// recorder is a handler that fails the messages whose body starts with "fail".
type recorder struct {
	mu      sync.Mutex
	batches [][]events.SQSMessage
	err     error
	ctxOK   bool
}

func (r *recorder) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, ev.Records)
	lc, ok := lambdacontext.FromContext(ctx)
	_, hasDeadline := ctx.Deadline()
	r.ctxOK = ok && lc.AwsRequestID != "" && hasDeadline
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		if strings.HasPrefix(m.Body, "fail") {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, r.err
}

func poller(t *testing.T, q *queue, h Handler, o Options) *Poller {
	t.Helper()
	o.QueueURL, o.QueueARN, o.Region = q.url, q.arn, testenv.Region
	if o.WaitTime == 0 {
		o.WaitTime = time.Second
	}
	p, err := New(q.api, h, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPartialFailuresAreRetriedThenDeadLettered(t *testing.T) {
	q := newQueue(t, 2)
	q.send(t, "ok-1", "fail-2", "ok-3")
	rec := &recorder{}
	p := poller(t, q, rec.handle, Options{BatchSize: 10, VisibilityTimeout: time.Second})
	ctx := context.Background()

	res, err := p.PollOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Messages != 3 || res[0].Deleted != 2 || len(res[0].Failed) != 1 || res[0].Err != nil {
		t.Fatalf("first invocation = %+v", res)
	}
	if !rec.ctxOK {
		t.Error("handler context has no Lambda context or deadline")
	}
	first := rec.batches[0]
	for _, m := range first {
		if m.EventSourceARN != q.arn || m.EventSource != "aws:sqs" || m.Attributes["ApproximateReceiveCount"] != "1" ||
			m.Attributes["MessageGroupId"] != "app-1" || aws.ToString(m.MessageAttributes["origin"].StringValue) != "test" {
			t.Errorf("record %s lacks what Lambda sets: %+v", m.Body, m)
		}
	}

	// The failed message comes back (after the short local visibility timeout) with its
	// receive count up; failing again exhausts maxReceiveCount and moto moves it to the DLQ.
	var counts []string
	for range 10 {
		res, err := p.PollOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 {
			if got := q.dlqBodies(t); slices.Equal(got, []string{"fail-2"}) {
				break
			}
			continue
		}
		last := rec.batches[len(rec.batches)-1]
		if len(last) != 1 || last[0].Body != "fail-2" {
			t.Fatalf("redelivered batch = %+v", last)
		}
		counts = append(counts, last[0].Attributes["ApproximateReceiveCount"])
	}
	if !slices.Equal(counts, []string{"2"}) {
		t.Errorf("redelivery receive counts = %v, want [2]", counts)
	}
	if got := q.dlqBodies(t); !slices.Equal(got, []string{"fail-2"}) {
		t.Errorf("DLQ holds %v, want the failed message", got)
	}
}

func TestHandlerErrorFailsTheWholeBatch(t *testing.T) {
	q := newQueue(t, 5)
	q.send(t, "ok-1", "ok-2")
	rec := &recorder{err: errors.New("function crashed")}
	p := poller(t, q, rec.handle, Options{VisibilityTimeout: time.Second})
	res, err := p.PollOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Deleted != 0 || len(res[0].Failed) != 2 || res[0].Err == nil {
		t.Fatalf("invocation = %+v", res)
	}
	rec.err = nil
	var bodies []string
	for range 5 {
		res, err = p.PollOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(res) > 0 {
			for _, m := range rec.batches[len(rec.batches)-1] {
				bodies = append(bodies, m.Body+"#"+m.Attributes["ApproximateReceiveCount"])
			}
			break
		}
	}
	slices.Sort(bodies)
	if !slices.Equal(bodies, []string{"ok-1#2", "ok-2#2"}) {
		t.Errorf("redelivered = %v, want both messages back with receive count 2", bodies)
	}
}

func TestBatchFillsAcrossReceivesWithinTheWindow(t *testing.T) {
	tests := []struct {
		name      string
		send      int
		batchSize int
		want      []int // messages per invocation
	}{
		{"full batch over several receives", 25, 25, []int{25}},
		{"window ends a partial batch", 12, 25, []int{12}},
		{"batch size caps the batch", 14, 10, []int{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue(t, 5)
			var bodies []string
			for i := range tt.send {
				bodies = append(bodies, fmt.Sprintf("ok-%d", i))
			}
			q.send(t, bodies...)
			rec := &recorder{}
			// A window of several receives' worth, so a slow server cannot end it early.
			p := poller(t, q, rec.handle, Options{BatchSize: tt.batchSize, BatchingWindow: 2 * time.Second})
			res, err := p.PollOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, r := range res {
				got = append(got, r.Messages)
				if r.Deleted != r.Messages {
					t.Errorf("deleted %d of %d", r.Deleted, r.Messages)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("invocations = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	q := newQueue(t, 5)
	rec := &recorder{}
	p := poller(t, q, rec.handle, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	q.send(t, "ok-1")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after its context ended")
	}
}
