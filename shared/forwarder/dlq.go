package forwarder

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is the part of SQS the dead-letter sender uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSDeadLetters sends dead letters to an SQS queue: the original body unchanged (so the
// message can be replayed as it was), the reason and context as message attributes.
type SQSDeadLetters struct {
	API      SQSAPI
	QueueURL string
	Now      func() time.Time
}

// Message attribute names on dead letters.
const (
	AttrFailureKind       = "failure_kind"
	AttrFailureReason     = "failure_reason"
	AttrOriginalMessageID = "original_message_id"
	AttrEventID           = "event_id"
	AttrEventType         = "event_type"
	AttrIntegrationIDs    = "integration_ids"
	AttrReceiveCount      = "receive_count"
	AttrFailedAt          = "failed_at"
)

// maxReasonLen keeps a reason readable and well inside SQS's attribute limits.
const maxReasonLen = 2048

// Send implements DeadLetters.
func (s *SQSDeadLetters) Send(ctx context.Context, dl DeadLetter) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	reason := dl.Reason
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen] + "…"
	}
	attrs := map[string]sqstypes.MessageAttributeValue{
		AttrFailureKind:       str(string(dl.Kind)),
		AttrFailureReason:     str(reason),
		AttrOriginalMessageID: str(dl.MessageID),
		AttrFailedAt:          str(now().UTC().Format(time.RFC3339)),
		AttrReceiveCount:      {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(dl.ReceiveCount))},
	}
	if dl.EventID != "" {
		attrs[AttrEventID] = str(dl.EventID)
		attrs[AttrEventType] = str(dl.EventType)
	}
	if len(dl.IntegrationIDs) > 0 {
		attrs[AttrIntegrationIDs] = str(strings.Join(dl.IntegrationIDs, ","))
	}
	body := dl.Body
	if body == "" {
		// SQS refuses empty bodies; keep the letter (its attributes say why it is here).
		body = "{}"
	}
	_, err := s.API.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(s.QueueURL),
		MessageBody:       aws.String(body),
		MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("send dead letter for message %s: %w", dl.MessageID, err)
	}
	return nil
}

func str(v string) sqstypes.MessageAttributeValue {
	if v == "" {
		v = "-" // SQS refuses empty attribute values
	}
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}
