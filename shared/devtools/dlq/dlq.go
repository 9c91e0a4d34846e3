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
}

// Letter is one dead letter.
type Letter struct {
	MessageID  string
	Body       string
	Attributes map[string]string // the forwarder's failure_kind, failure_reason, ... as strings
	GroupID    string
}

// Peek returns up to max letters and makes them visible again at once, so Peek consumes
// nothing. Letters are distinct by message id.
func Peek(ctx context.Context, api SQSAPI, url string, max int) ([]Letter, error) {
	seen := map[string]bool{}
	var out []Letter
	for len(out) < max {
		msgs, err := receive(ctx, api, url, min(10, max-len(out)))
		if err != nil {
			return out, err
		}
		fresh := 0
		for _, m := range msgs {
			if id := aws.ToString(m.MessageId); !seen[id] {
				seen[id] = true
				out = append(out, toLetter(m))
				fresh++
			}
		}
		if err := release(ctx, api, url, msgs); err != nil {
			return out, err
		}
		if fresh == 0 {
			break
		}
	}
	slices.SortFunc(out, func(a, b Letter) int { return strings.Compare(a.MessageID, b.MessageID) })
	return out, nil
}

// Redrive moves every letter to the queue at to, keeping body, message attributes and
// message group, and returns how many moved.
func Redrive(ctx context.Context, api SQSAPI, from, to string) (int, error) {
	moved := 0
	for {
		msgs, err := receive(ctx, api, from, 10)
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
}

func receive(ctx context.Context, api SQSAPI, url string, n int) ([]sqstypes.Message, error) {
	out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             1,
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
