// Package devstack creates a stack's AWS resources on a local stand-in (moto) with the same
// names and settings as template.yaml, for local runs and tests.
package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

// Outputs are what a provisioned stack exposes (the template's outputs, locally).
type Outputs struct {
	Names    stack.Names
	QueueURL string
	QueueARN string
	DLQURL   string
	DLQARN   string
}

// Provision creates (or finds) the tables and queues of the stack called name. It is
// idempotent: running it against an existing stack returns the same outputs.
func Provision(ctx context.Context, cfg aws.Config, name string) (Outputs, error) {
	names := stack.NamesFor(name)
	out := Outputs{Names: names}
	ddb := dynamodb.NewFromConfig(cfg)
	if err := createTable(ctx, ddb, names.IntegrationsTable, []ddbtypes.KeySchemaElement{
		{AttributeName: aws.String(stack.TableHashKey), KeyType: ddbtypes.KeyTypeHash},
		{AttributeName: aws.String(stack.TableRangeKey), KeyType: ddbtypes.KeyTypeRange},
	}, stack.IntegrationsTTL); err != nil {
		return out, err
	}
	if err := createTable(ctx, ddb, names.IdempotencyTable, []ddbtypes.KeySchemaElement{
		{AttributeName: aws.String(stack.IdempotencyHashKey), KeyType: ddbtypes.KeyTypeHash},
	}, stack.IdempotencyTTL); err != nil {
		return out, err
	}

	q := sqs.NewFromConfig(cfg)
	var err error
	out.DLQURL, out.DLQARN, err = createQueue(ctx, q, names.DeadLetterQueue, map[string]string{
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(stack.DLQRetentionSeconds),
	})
	if err != nil {
		return out, err
	}
	redrive, err := json.Marshal(map[string]any{
		"deadLetterTargetArn": out.DLQARN,
		"maxReceiveCount":     stack.MaxReceiveCount,
	})
	if err != nil {
		return out, fmt.Errorf("encode redrive policy: %w", err)
	}
	out.QueueURL, out.QueueARN, err = createQueue(ctx, q, names.Queue, map[string]string{
		string(sqstypes.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(stack.VisibilityTimeoutSeconds),
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(stack.QueueRetentionSeconds),
		string(sqstypes.QueueAttributeNameRedrivePolicy):          string(redrive),
	})
	return out, err
}

func createTable(ctx context.Context, c *dynamodb.Client, name string, keys []ddbtypes.KeySchemaElement, ttlAttr string) error {
	defs := make([]ddbtypes.AttributeDefinition, 0, len(keys))
	for _, k := range keys {
		defs = append(defs, ddbtypes.AttributeDefinition{AttributeName: k.AttributeName, AttributeType: ddbtypes.ScalarAttributeTypeS})
	}
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		KeySchema:            keys,
		AttributeDefinitions: defs,
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if ttlAttr == "" {
		return nil
	}
	// Enabling TTL twice is refused, so look first.
	desc, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("describe ttl of %s: %w", name, err)
	}
	if d := desc.TimeToLiveDescription; d != nil && d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled {
		return nil
	}
	_, err = c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{
			AttributeName: aws.String(ttlAttr), Enabled: aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("enable ttl on %s: %w", name, err)
	}
	return nil
}

func createQueue(ctx context.Context, c *sqs.Client, name string, attrs map[string]string) (url, arn string, err error) {
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	url = aws.ToString(out.QueueUrl)
	got, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("queue %s attributes: %w", name, err)
	}
	return url, got.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
}
