package dlq

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

func TestPeekKeepsLettersAndRedriveMovesThem(t *testing.T) {
	ctx := context.Background()
	api := sqs.NewFromConfig(testenv.Config(t))
	mk := func(name string) string {
		out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.QueueUrl)
	}
	dead, queue := mk("dlq-test-dead"), mk("dlq-test-events")
	// More than one receive's worth (10), so Peek must not meet a letter twice.
	bodies := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
	var want []string
	for _, b := range bodies {
		want = append(want, b+"|app-"+b+"|reason "+b)
	}
	for i, body := range bodies {
		_, err := api.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(dead), MessageBody: aws.String(body), MessageGroupId: aws.String("app-" + body),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				"failure_reason": {DataType: aws.String("String"), StringValue: aws.String("reason " + body)},
			},
		})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for range 2 { // peeking twice sees the same letters: nothing is consumed
		letters, err := Peek(ctx, api, dead, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range letters {
			got = append(got, l.Body+"|"+l.GroupID+"|"+l.Attributes["failure_reason"])
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("peek = %v", got)
		}
	}
	n, err := Redrive(ctx, api, dead, queue)
	if err != nil || n != len(bodies) {
		t.Fatalf("Redrive = %d, %v", n, err)
	}
	if left, _ := Peek(ctx, api, dead, 10); len(left) != 0 {
		t.Errorf("%d letters left in the dead-letter queue", len(left))
	}
	moved, err := Peek(ctx, api, queue, 100)
	if err != nil || len(moved) != len(bodies) {
		t.Fatalf("queue holds %d, %v", len(moved), err)
	}
	for _, m := range moved {
		if m.GroupID != "app-"+m.Body || m.Attributes["failure_reason"] != "reason "+m.Body {
			t.Errorf("moved message lost its group or attributes: %+v", m)
		}
	}
}

// echoing dead-letters every message moved, as the Forwarder does with an event that is
// still invalid.
type echoing struct {
	*sqs.Client
	dead string
}

func (e echoing) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out, err := e.Client.SendMessageBatch(ctx, in, opts...)
	for _, m := range in.Entries {
		if _, err := e.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.dead), MessageBody: m.MessageBody}); err != nil {
			return nil, err
		}
	}
	return out, err
}

func TestRedriveMovesOnlyWhatWasThere(t *testing.T) {
	ctx := context.Background()
	api := sqs.NewFromConfig(testenv.Config(t))
	var urls []string
	for _, name := range []string{"redrive-once-dead", "redrive-once-events"} {
		out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, aws.ToString(out.QueueUrl))
	}
	for _, b := range []string{"x", "y"} {
		if _, err := api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(urls[0]), MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Redrive(ctx, echoing{api, urls[0]}, urls[0], urls[1])
	if err != nil || n != 2 {
		t.Fatalf("Redrive = %d, %v; want the 2 letters present at the start", n, err)
	}
}
