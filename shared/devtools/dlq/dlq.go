// Package dlq reads and replays the local dead-letter queue: Peek shows its letters without
// consuming them (the demo), Redrive moves them back to the events queue (`make redrive`,
// what `aws sqs start-message-move-task` does on a deployed stack; moto lacks that call).
package dlq

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is the part of SQS this package uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Letter is one dead letter.
type Letter struct {
	MessageID  string
	Body       string
	Attributes map[string]string // the forwarder's failure_kind, failure_reason, ... as strings
	GroupID    string
}

// Peek returns up to max letters and then makes them visible again, so Peek consumes
// nothing. Letters are held in flight until the end, so each is seen once.
func Peek(ctx context.Context, api SQSAPI, url string, max int) ([]Letter, error) {
	var held []sqstypes.Message
	var out []Letter
	var err error
	for len(out) < max {
		var msgs []sqstypes.Message
		// Short polls: an empty answer ends the look at once (moto answers them exactly).
		msgs, err = receive(ctx, api, url, min(10, max-len(out)), 0)
		if err != nil || len(msgs) == 0 {
			break
		}
		held = append(held, msgs...)
		for _, m := range msgs {
			out = append(out, toLetter(m))
		}
	}
	for start := 0; start < len(held); start += 10 {
		if rerr := release(ctx, api, url, held[start:min(start+10, len(held))]); rerr != nil && err == nil {
			err = rerr
		}
	}
	slices.SortFunc(out, func(a, b Letter) int { return strings.Compare(a.MessageID, b.MessageID) })
	return out, err
}

// Redrive moves the letters present when it starts to the queue at to, keeping body,
// message attributes and message group, and returns how many moved. Letters arriving
// meanwhile stay: a message that fails again (the Forwarder dead-letters it anew) is not
// moved round in circles.
func Redrive(ctx context.Context, api SQSAPI, from, to string) (int, error) {
	attrs, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(from),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0, fmt.Errorf("count letters in %s: %w", from, err)
	}
	pending, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	moved := 0
	for moved < pending {
		msgs, err := receive(ctx, api, from, min(10, pending-moved), 1)
		if err != nil || len(msgs) == 0 {
			return moved, err
		}
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(msgs))
		for i, m := range msgs {
			entries[i] = sqstypes.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), MessageBody: m.Body, MessageAttributes: m.MessageAttributes,
			}
			if g := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]; g != "" {
				entries[i].MessageGroupId = aws.String(g)
			}
		}
		sent, err := api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(to), Entries: entries})
		if err != nil {
			_ = release(ctx, api, from, msgs)
			return moved, fmt.Errorf("send to %s: %w", to, err)
		}
		// Only what arrived is deleted; the rest stays in the dead-letter queue.
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for _, ok := range sent.Successful {
			i, _ := strconv.Atoi(aws.ToString(ok.Id))
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: ok.Id, ReceiptHandle: msgs[i].ReceiptHandle})
		}
		if len(del) > 0 {
			if _, err := api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(from), Entries: del}); err != nil {
				return moved, fmt.Errorf("delete from %s: %w", from, err)
			}
		}
		moved += len(del)
		if len(sent.Failed) > 0 {
			return moved, fmt.Errorf("%d letters could not be sent: %s", len(sent.Failed), aws.ToString(sent.Failed[0].Message))
		}
	}
	return moved, nil
}

func receive(ctx context.Context, api SQSAPI, url string, n int, wait int32) ([]sqstypes.Message, error) {
	out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             wait,
		VisibilityTimeout:           30,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", url, err)
	}
	return out.Messages, nil
}

// release makes received messages visible again.
func release(ctx context.Context, api SQSAPI, url string, msgs []sqstypes.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}
	}
	_, err := api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil {
		return fmt.Errorf("release letters: %w", err)
	}
	return nil
}

func toLetter(m sqstypes.Message) Letter {
	l := Letter{MessageID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Attributes: map[string]string{}}
	for k, v := range m.MessageAttributes {
		l.Attributes[k] = aws.ToString(v.StringValue)
	}
	l.GroupID = m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]
	return l
}
