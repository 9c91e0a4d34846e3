package integrationstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

// The app's bookkeeping items (see the package comment).
const (
	skCount         = "COUNT"
	skCleanupPrefix = "CLEANUP#"
	countAttr       = "count"
)

// maxTransactAttempts bounds how often a counted write is tried again after the counter
// was made, or after it or the transaction's items changed under it.
const maxTransactAttempts = 4

func itemKey(appID, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		stack.TableHashKey:  &types.AttributeValueMemberS{Value: PK(appID)},
		stack.TableRangeKey: &types.AttributeValueMemberS{Value: sk},
	}
}

// counted writes first (and more) together with delta added to the app's counter, in one
// transaction conditional on the counter existing and, with max > 0, being below max.
// onFirstFailed answers a failure of first's own condition.
//
// Apps whose integrations were created before the counter existed have none. The first
// counted write of such an app makes it from a count of its items, under the condition that
// it is still absent, and tries again. The count cannot go stale meanwhile: every create and
// delete is counted, so none can happen while the counter is absent.
func (s *Store) counted(ctx context.Context, op, appID, id string, first types.TransactWriteItem, delta, max int,
	onFirstFailed func(context.Context, types.CancellationReason) error, more ...types.TransactWriteItem) error {
	cond := "attribute_exists(#c)"
	values := map[string]types.AttributeValue{":d": &types.AttributeValueMemberN{Value: strconv.Itoa(delta)}}
	if max > 0 {
		cond += " AND #c < :max"
		values[":max"] = &types.AttributeValueMemberN{Value: strconv.Itoa(max)}
	}
	items := append(append([]types.TransactWriteItem{first}, more...), types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       itemKey(appID, skCount),
		UpdateExpression:          aws.String("SET #c = #c + :d"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#c": countAttr},
		ExpressionAttributeValues: values,
	}})
	last := len(items) - 1
	var err error
	for attempt := range maxTransactAttempts {
		if attempt > 0 {
			if werr := pause(ctx, attempt); werr != nil {
				return fmt.Errorf("integrationstore: %s %s/%s: %w", op, appID, id, werr)
			}
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			break
		}
		switch {
		case failedCondition(canceled, 0):
			return onFirstFailed(ctx, canceled.CancellationReasons[0])
		case failedCondition(canceled, last):
			n, ok, cerr := s.counter(ctx, appID)
			if cerr != nil {
				return cerr
			}
			if !ok {
				if cerr := s.makeCounter(ctx, appID); cerr != nil {
					return cerr
				}
				continue
			}
			if max > 0 && n >= max {
				return fmt.Errorf("%s %s/%s: %w", op, appID, id, ErrLimitReached)
			}
			// The counter moved between the transaction and the read: try again.
		}
		// Otherwise the transaction met a concurrent one (TransactionConflict): try again.
	}
	if err != nil {
		return fmt.Errorf("integrationstore: %s %s/%s: %w", op, appID, id, err)
	}
	return nil
}

// pause waits a little longer at each attempt, so that writers that met on the app's
// counter do not meet again at once.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(attempt) * (10*time.Millisecond + time.Duration(rand.IntN(10))*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// failedCondition reports whether the transaction's i-th item failed its condition.
func failedCondition(e *types.TransactionCanceledException, i int) bool {
	return i < len(e.CancellationReasons) && aws.ToString(e.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

// counter reads the app's counter; ok is false when the app has none yet.
func (s *Store) counter(ctx context.Context, appID string) (n int, ok bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(appID, skCount),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, false, fmt.Errorf("integrationstore: read the counter of %s: %w", appID, err)
	}
	v, found := out.Item[countAttr].(*types.AttributeValueMemberN)
	if !found {
		return 0, false, nil
	}
	n, err = strconv.Atoi(v.Value)
	if err != nil {
		return 0, false, fmt.Errorf("integrationstore: the counter of %s holds %q", appID, v.Value)
	}
	return n, true, nil
}

// makeCounter creates the app's counter from a count of its integrations, unless it exists.
func (s *Store) makeCounter(ctx context.Context, appID string) error {
	n, err := s.countItems(ctx, appID)
	if err != nil {
		return err
	}
	item := itemKey(appID, skCount)
	item[countAttr] = &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": stack.TableHashKey},
	})
	if err != nil && !isConditionFailed(err) { // a concurrent writer made it, from the same count
		return fmt.Errorf("integrationstore: make the counter of %s: %w", appID, err)
	}
	return nil
}

// countItems counts the app's integration items.
func (s *Store) countItems(ctx context.Context, appID string) (int, error) {
	n := 0
	var start map[string]types.AttributeValue
	for {
		in := s.queryInput(appID, 0, start)
		in.Select = types.SelectCount
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("integrationstore: count the integrations of %s: %w", appID, err)
		}
		n += int(out.Count)
		if out.LastEvaluatedKey == nil {
			return n, nil
		}
		start = out.LastEvaluatedKey
	}
}

// Count returns how many integrations the app has.
func (s *Store) Count(ctx context.Context, appID string) (int, error) {
	n, ok, err := s.counter(ctx, appID)
	if err != nil || ok {
		return n, err
	}
	return s.countItems(ctx, appID)
}

func cleanupItem(appID, id string) map[string]types.AttributeValue {
	item := itemKey(appID, skCleanupPrefix+id)
	item["id"] = &types.AttributeValueMemberS{Value: id}
	return item
}

// CleanupPending reports whether the app's integration id was deleted and its credentials'
// deletion is not yet known to be scheduled (CleanupDone).
func (s *Store) CleanupPending(ctx context.Context, appID, id string) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(appID, skCleanupPrefix+id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("integrationstore: read the clean-up note of %s/%s: %w", appID, id, err)
	}
	return out.Item != nil, nil
}

// CleanupDone forgets a deleted integration's clean-up note, once its credentials'
// deletion is scheduled.
func (s *Store) CleanupDone(ctx context.Context, appID, id string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       itemKey(appID, skCleanupPrefix+id),
	})
	if err != nil {
		return fmt.Errorf("integrationstore: remove the clean-up note of %s/%s: %w", appID, id, err)
	}
	return nil
}
