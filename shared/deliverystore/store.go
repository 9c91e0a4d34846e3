// Package deliverystore remembers which (event, integration) deliveries mParticle has
// confirmed, so an event redelivered by SQS, or re-sent after a timeout whose request
// mParticle did accept, is not sent again. Records expire by DynamoDB TTL.
package deliverystore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

// DynamoDB is the part of the DynamoDB API the store uses: batch calls only, so one
// invocation costs about one read per 100 deliveries and one write per 25.
type DynamoDB interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// DynamoDB batch limits.
const (
	maxGet   = 100
	maxWrite = 25
	// maxRounds bounds retries of unprocessed keys inside one call.
	maxRounds = 5
)

// Store reads and writes delivery records.
type Store struct {
	db    DynamoDB
	table string
	ttl   time.Duration
	now   func() time.Time
}

// New returns a store over table keeping records for ttl.
func New(db DynamoDB, table string, ttl time.Duration) *Store {
	return &Store{db: db, table: table, ttl: ttl, now: time.Now}
}

// Key names one delivery.
func Key(eventID, integrationID string) string { return eventID + "#" + integrationID }

// Delivered returns the subset of keys already recorded as delivered.
func (s *Store) Delivered(ctx context.Context, keys []string) (map[string]bool, error) {
	seen := make(map[string]bool)
	uniq := dedupe(keys)
	for start := 0; start < len(uniq); start += maxGet {
		chunk := uniq[start:min(start+maxGet, len(uniq))]
		req := make([]map[string]types.AttributeValue, len(chunk))
		for i, k := range chunk {
			req[i] = map[string]types.AttributeValue{stack.IdempotencyHashKey: &types.AttributeValueMemberS{Value: k}}
		}
		pending := map[string]types.KeysAndAttributes{s.table: {
			Keys: req, ProjectionExpression: aws.String("#pk, #exp"),
			ExpressionAttributeNames: map[string]string{"#pk": stack.IdempotencyHashKey, "#exp": stack.IdempotencyTTL},
		}}
		for round := 0; len(pending) > 0; round++ {
			if round == maxRounds {
				return seen, fmt.Errorf("deliverystore: unprocessed keys after %d rounds", maxRounds)
			}
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return seen, fmt.Errorf("deliverystore: batch get: %w", err)
			}
			nowUnix := s.now().Unix()
			for _, item := range out.Responses[s.table] {
				pk, ok := item[stack.IdempotencyHashKey].(*types.AttributeValueMemberS)
				if !ok {
					continue
				}
				// TTL deletion lags expiry by up to days: an expired record does not count.
				if exp, ok := item[stack.IdempotencyTTL].(*types.AttributeValueMemberN); ok {
					if n, err := strconv.ParseInt(exp.Value, 10, 64); err == nil && n < nowUnix {
						continue
					}
				}
				seen[pk.Value] = true
			}
			pending = out.UnprocessedKeys
		}
	}
	return seen, nil
}

// Record marks keys as delivered until now + ttl.
func (s *Store) Record(ctx context.Context, keys []string) error {
	uniq := dedupe(keys)
	exp := strconv.FormatInt(s.now().Add(s.ttl).Unix(), 10)
	for start := 0; start < len(uniq); start += maxWrite {
		chunk := uniq[start:min(start+maxWrite, len(uniq))]
		reqs := make([]types.WriteRequest, len(chunk))
		for i, k := range chunk {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				stack.IdempotencyHashKey: &types.AttributeValueMemberS{Value: k},
				stack.IdempotencyTTL:     &types.AttributeValueMemberN{Value: exp},
			}}}
		}
		pending := map[string][]types.WriteRequest{s.table: reqs}
		for round := 0; len(pending) > 0; round++ {
			if round == maxRounds {
				return fmt.Errorf("deliverystore: unprocessed writes after %d rounds", maxRounds)
			}
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("deliverystore: batch write: %w", err)
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

func dedupe(keys []string) []string {
	seen := make(map[string]struct{}, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}
