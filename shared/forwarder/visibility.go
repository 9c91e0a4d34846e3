package forwarder

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// VisibilityAPI is the part of SQS used to delay a message's redelivery.
type VisibilityAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SQSVisibility changes a message's visibility on its source queue (found from the
// record's eventSourceARN, resolved to a URL once per queue).
type SQSVisibility struct {
	API VisibilityAPI

	mu   sync.Mutex
	urls map[string]string
}

// Extend implements Visibility.
func (v *SQSVisibility) Extend(ctx context.Context, msg events.SQSMessage, d time.Duration) error {
	url, err := v.queueURL(ctx, msg.EventSourceARN)
	if err != nil {
		return err
	}
	_, err = v.API.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(url),
		ReceiptHandle:     aws.String(msg.ReceiptHandle),
		VisibilityTimeout: int32((d + time.Second - 1) / time.Second), // whole seconds, rounded up
	})
	if err != nil {
		return fmt.Errorf("change visibility of %s: %w", msg.MessageId, err)
	}
	return nil
}

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
