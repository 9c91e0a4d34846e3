// Package esm plays Lambda's SQS event source mapping locally: it long-polls a queue, fills
// a batch up to the batch size within the batching window, invokes a handler with the
// events.SQSEvent Lambda would build, and deletes the messages the handler did not report
// in batchItemFailures. Failed messages stay on the queue and come back after their
// visibility timeout; the queue's redrive policy moves them to the dead-letter queue after
// maxReceiveCount receives, exactly as in AWS.
package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"
)

// Handler is an SQS Lambda handler, e.g. (*forwarder.Handler).Handle.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// SQSAPI is the part of SQS the poller uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Limits of SQS and Lambda the mapping works within.
const (
	maxReceive   = 10              // messages per ReceiveMessage
	maxDelete    = 10              // entries per DeleteMessageBatch
	maxWait      = 20              // seconds of long polling
	MaxPayload   = 6 * 1024 * 1024 // bytes of a synchronous invocation's payload
	defaultBatch = 10              // the mapping's default BatchSize
)

// Options configure a Poller. QueueURL and QueueARN are required.
type Options struct {
	QueueURL string
	QueueARN string
	Region   string
	// BatchSize is the most messages per invocation (default 10).
	BatchSize int
	// BatchingWindow is how long to keep receiving to fill a batch once a message arrived
	// (MaximumBatchingWindowInSeconds). Zero invokes after one receive.
	BatchingWindow time.Duration
	// WaitTime is the long-polling wait of an empty queue, at most 20 s (default 20 s).
	WaitTime time.Duration
	// VisibilityTimeout, when set, replaces the queue's visibility timeout for the messages
	// this poller receives, so a failed message comes back sooner than in AWS (where it is
	// the queue's, 180 s for this stack). A handler that extends a message's visibility
	// itself (ChangeMessageVisibility) still wins, as it acts after the receive.
	VisibilityTimeout time.Duration
	// FunctionTimeout bounds each invocation, as the function's Timeout does (default 30 s).
	FunctionTimeout time.Duration
	// FunctionName names the function in the invocation's Lambda context.
	FunctionName string
	Logger       *slog.Logger
	// OnInvoke, when set, is told the outcome of each invocation.
	OnInvoke func(Result)
}

// Result is what one invocation did to its messages.
type Result struct {
	Messages int
	Deleted  int
	// Failed lists the message ids left on the queue (reported, or all on a handler error).
	Failed []string
	// Err is the handler's error, which fails the whole batch.
	Err error
}

// Poller runs the mapping. Invocations are sequential: one batch at a time.
type Poller struct {
	api  SQSAPI
	h    Handler
	opts Options
	log  *slog.Logger
}

// New returns a poller of opts.QueueURL feeding h.
func New(api SQSAPI, h Handler, opts Options) (*Poller, error) {
	if opts.QueueURL == "" || opts.QueueARN == "" {
		return nil, errors.New("esm: QueueURL and QueueARN are required")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = defaultBatch
	}
	if opts.WaitTime <= 0 || opts.WaitTime > maxWait*time.Second {
		opts.WaitTime = maxWait * time.Second
	}
	if opts.FunctionTimeout <= 0 {
		opts.FunctionTimeout = 30 * time.Second
	}
	if opts.FunctionName == "" {
		opts.FunctionName = "function"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{api: api, h: h, opts: opts, log: log}, nil
}

// Run polls until ctx ends, and returns nil then. Receive errors are logged and retried
// after a pause, as the mapping does.
func (p *Poller) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if _, err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("event source mapping: poll failed", "error", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// PollOnce gathers one batch (waiting up to WaitTime for the first message) and processes
// it. It returns the invocations' results; none when the queue stayed empty.
func (p *Poller) PollOnce(ctx context.Context) ([]Result, error) {
	msgs, err := p.gather(ctx)
	if len(msgs) == 0 {
		return nil, err
	}
	// Messages already received are processed even if a later receive failed: they are
	// in flight and would otherwise only come back after their visibility timeout.
	var results []Result
	for _, batch := range splitByPayload(msgs, p.toRecord) {
		res := p.invoke(ctx, batch)
		results = append(results, res)
		if p.opts.OnInvoke != nil {
			p.opts.OnInvoke(res)
		}
	}
	return results, err
}

// gather receives until the batch is full, the batching window has passed, or (with no
// window) after the first non-empty receive.
func (p *Poller) gather(ctx context.Context) ([]sqstypes.Message, error) {
	var msgs []sqstypes.Message
	var deadline time.Time
	for len(msgs) < p.opts.BatchSize {
		wait := p.opts.WaitTime
		if len(msgs) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			// Whole seconds only: rounding up overshoots the window by under a second,
			// where cancelling the call could lose messages SQS already handed out.
			wait = min(left.Round(time.Second), maxWait*time.Second)
			if wait == 0 {
				wait = time.Second
			}
		}
		in := &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(p.opts.QueueURL),
			MaxNumberOfMessages:         int32(min(maxReceive, p.opts.BatchSize-len(msgs))),
			WaitTimeSeconds:             int32(wait / time.Second),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		}
		if p.opts.VisibilityTimeout > 0 {
			in.VisibilityTimeout = int32(max(p.opts.VisibilityTimeout/time.Second, 1))
		}
		out, err := p.api.ReceiveMessage(ctx, in)
		if err != nil {
			return msgs, fmt.Errorf("receive from %s: %w", p.opts.QueueURL, err)
		}
		if len(out.Messages) > 0 && len(msgs) == 0 {
			deadline = time.Now().Add(p.opts.BatchingWindow)
		}
		msgs = append(msgs, out.Messages...)
		if len(msgs) > 0 && p.opts.BatchingWindow <= 0 {
			break
		}
		if len(msgs) == 0 {
			return nil, nil // the long poll ended empty: let Run check ctx and poll again
		}
	}
	return msgs, nil
}

// invoke runs the handler on one batch and deletes what succeeded.
func (p *Poller) invoke(ctx context.Context, batch []events.SQSMessage) Result {
	res := Result{Messages: len(batch)}
	resp, err := p.call(ctx, batch)
	failed, verdictErr := Verdict(batch, resp, err)
	res.Err = verdictErr
	keep := map[string]bool{}
	for _, id := range failed {
		keep[id] = true
	}
	var done []events.SQSMessage
	for _, m := range batch {
		if keep[m.MessageId] {
			res.Failed = append(res.Failed, m.MessageId)
		} else {
			done = append(done, m)
		}
	}
	// Deleting uses a fresh context: a batch that was processed must be acknowledged even
	// when the poller is being stopped, or it would be delivered again.
	delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	n, delErr := p.delete(delCtx, done)
	res.Deleted = n
	if delErr != nil {
		p.log.Warn("event source mapping: delete failed", "error", delErr.Error())
	}
	if res.Err != nil {
		p.log.Warn("event source mapping: invocation failed, the whole batch will be retried",
			"messages", res.Messages, "error", res.Err.Error())
	} else {
		p.log.Debug("event source mapping: batch done", "messages", res.Messages, "deleted", res.Deleted, "failed", len(res.Failed))
	}
	return res
}

// call invokes the handler with the deadline and Lambda context an invocation would have.
// A panic is an invocation error, as the runtime reports it.
func (p *Poller) call(ctx context.Context, batch []events.SQSMessage) (resp events.SQSEventResponse, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.FunctionTimeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       uuid.NewString(),
		InvokedFunctionArn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", p.opts.Region, accountOf(p.opts.QueueARN), p.opts.FunctionName),
	})
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return p.h(ctx, events.SQSEvent{Records: batch})
}

// Verdict applies Lambda's rules for a response with ReportBatchItemFailures: a handler
// error, or an item identifier that is empty or not in the batch, fails the whole batch;
// otherwise exactly the reported messages fail. It returns the ids to keep on the queue.
func Verdict(batch []events.SQSMessage, resp events.SQSEventResponse, handlerErr error) ([]string, error) {
	all := func() []string {
		ids := make([]string, len(batch))
		for i, m := range batch {
			ids[i] = m.MessageId
		}
		return ids
	}
	if handlerErr != nil {
		return all(), handlerErr
	}
	in := make(map[string]bool, len(batch))
	for _, m := range batch {
		in[m.MessageId] = true
	}
	var failed []string
	seen := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if !in[f.ItemIdentifier] {
			return all(), fmt.Errorf("batchItemFailures names %q, which is not in the batch: the whole batch fails", f.ItemIdentifier)
		}
		if !seen[f.ItemIdentifier] {
			seen[f.ItemIdentifier] = true
			failed = append(failed, f.ItemIdentifier)
		}
	}
	return failed, nil
}

func (p *Poller) delete(ctx context.Context, msgs []events.SQSMessage) (int, error) {
	deleted := 0
	var errs []error
	for start := 0; start < len(msgs); start += maxDelete {
		chunk := msgs[start:min(start+maxDelete, len(msgs))]
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.ReceiptHandle)}
		}
		out, err := p.api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.opts.QueueURL), Entries: entries})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		deleted += len(out.Successful)
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("delete entry %s: %s", aws.ToString(f.Id), aws.ToString(f.Message)))
		}
	}
	return deleted, errors.Join(errs...)
}

// toRecord builds the record Lambda puts in an SQS event.
func (p *Poller) toRecord(m sqstypes.Message) events.SQSMessage {
	return ToRecord(m, p.opts.QueueARN, p.opts.Region)
}

// ToRecord converts a received message into an events.SQSMessage as Lambda does.
func ToRecord(m sqstypes.Message, queueARN, region string) events.SQSMessage {
	r := events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             map[string]string{},
		MessageAttributes:      map[string]events.SQSMessageAttribute{},
		EventSourceARN:         queueARN,
		EventSource:            "aws:sqs",
		AWSRegion:              region,
	}
	for k, v := range m.Attributes {
		r.Attributes[k] = v
	}
	for k, v := range m.MessageAttributes {
		a := events.SQSMessageAttribute{
			StringValue:      v.StringValue,
			BinaryValue:      v.BinaryValue,
			StringListValues: v.StringListValues,
			BinaryListValues: v.BinaryListValues,
			DataType:         aws.ToString(v.DataType),
		}
		if a.StringListValues == nil {
			a.StringListValues = []string{}
		}
		if a.BinaryListValues == nil {
			a.BinaryListValues = [][]byte{}
		}
		r.MessageAttributes[k] = a
	}
	return r
}

// splitByPayload converts messages to records and cuts them into invocations whose JSON
// payload stays under Lambda's limit (the mapping keeps the rest for the next batch).
func splitByPayload(msgs []sqstypes.Message, conv func(sqstypes.Message) events.SQSMessage) [][]events.SQSMessage {
	const envelope = len(`{"Records":[]}`)
	var out [][]events.SQSMessage
	var cur []events.SQSMessage
	size := envelope
	for _, m := range msgs {
		r := conv(m)
		b, _ := json.Marshal(r)
		n := len(b) + 1 // the comma
		if len(cur) > 0 && size+n > MaxPayload {
			out = append(out, cur)
			cur, size = nil, envelope
		}
		cur = append(cur, r)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// accountOf returns the account of an SQS ARN (arn:aws:sqs:region:account:name).
func accountOf(arn string) string {
	if parts := strings.Split(arn, ":"); len(parts) == 6 {
		return parts[4]
	}
	return "000000000000"
}
