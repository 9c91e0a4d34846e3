package testenv

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestMotoServesSQS(t *testing.T) {
	cfg := Config(t)
	c := sqs.NewFromConfig(cfg)
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: strPtr("testenv-q")})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	if out.QueueUrl == nil || *out.QueueUrl == "" {
		t.Fatal("no queue url")
	}
}

func strPtr(s string) *string { return &s }
