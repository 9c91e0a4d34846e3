package devstack

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

func TestProvisionIsIdempotentAndMatchesStackSettings(t *testing.T) {
	cfg := testenv.Config(t)
	ctx := context.Background()
	first, err := Provision(ctx, cfg, "prov-test")
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	second, err := Provision(ctx, cfg, "prov-test")
	if err != nil {
		t.Fatalf("provision again: %v", err)
	}
	if first != second {
		t.Fatalf("second provision differs: %+v vs %+v", first, second)
	}
	attrs, err := sqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(first.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs.Attributes["VisibilityTimeout"]; got != strconv.Itoa(stack.VisibilityTimeoutSeconds) {
		t.Errorf("visibility timeout = %s", got)
	}
	if got := attrs.Attributes["MessageRetentionPeriod"]; got != strconv.Itoa(stack.QueueRetentionSeconds) {
		t.Errorf("retention = %s, want %d", got, stack.QueueRetentionSeconds)
	}
	var redrive struct {
		Target          string `json:"deadLetterTargetArn"`
		MaxReceiveCount int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(attrs.Attributes["RedrivePolicy"]), &redrive); err != nil {
		t.Errorf("redrive policy %q: %v", attrs.Attributes["RedrivePolicy"], err)
	}
	if redrive.Target != first.DLQARN || redrive.MaxReceiveCount != stack.MaxReceiveCount {
		t.Errorf("redrive policy = %+v, want %s after %d receives", redrive, first.DLQARN, stack.MaxReceiveCount)
	}
	dlq, err := sqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(first.DLQURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameMessageRetentionPeriod},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dlq.Attributes["MessageRetentionPeriod"]; got != strconv.Itoa(stack.DLQRetentionSeconds) {
		t.Errorf("dead-letter retention = %s, want %d", got, stack.DLQRetentionSeconds)
	}
	// Each table and its TTL attribute, as template.yaml declares them.
	for table, ttl := range map[string]string{first.Names.IntegrationsTable: stack.IntegrationsTTL, first.Names.IdempotencyTable: stack.IdempotencyTTL} {
		if _, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
		d, err := dynamodb.NewFromConfig(cfg).DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
		if err != nil {
			t.Errorf("table %s ttl: %v", table, err)
			continue
		}
		if got := d.TimeToLiveDescription; got == nil || aws.ToString(got.AttributeName) != ttl || got.TimeToLiveStatus != "ENABLED" {
			t.Errorf("table %s ttl = %+v, want %s enabled", table, got, ttl)
		}
	}
}
