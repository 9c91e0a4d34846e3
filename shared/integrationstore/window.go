package integrationstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

const skWindowPrefix = "RATE#"

// WindowCounter is one count kept in an app's write window, and the most it may reach.
type WindowCounter struct {
	Name string
	Max  int
}

// windowSK names the window that starts at start.
func windowSK(start time.Time) string {
	return skWindowPrefix + start.UTC().Format(time.RFC3339)
}

// TakeWindow counts one write of the app in the window [start, end): it adds one to each
// counter if every one of them is below its Max, and otherwise adds nothing and returns the
// name of the first counter at its Max. Every caller of one app shares the window's item,
// and one conditional update decides, so the counts hold across any number of callers.
// The item expires (TTL) at end.
func (s *Store) TakeWindow(ctx context.Context, appID string, start, end time.Time, counters []WindowCounter) (full string, err error) {
	if len(counters) == 0 {
		return "", errors.New("integrationstore: take a window: no counters")
	}
	names := map[string]string{"#exp": stack.IntegrationsTTL}
	values := map[string]types.AttributeValue{
		":one": &types.AttributeValueMemberN{Value: "1"},
		":exp": &types.AttributeValueMemberN{Value: strconv.FormatInt(end.Unix(), 10)},
	}
	var adds, conds []string
	for i, c := range counters {
		n, m := fmt.Sprintf("#n%d", i), fmt.Sprintf(":m%d", i)
		names[n] = c.Name
		values[m] = &types.AttributeValueMemberN{Value: strconv.Itoa(c.Max)}
		adds = append(adds, n+" :one")
		conds = append(conds, fmt.Sprintf("(attribute_not_exists(%s) OR %s < %s)", n, n, m))
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 itemKey(appID, windowSK(start)),
		UpdateExpression:                    aws.String("ADD " + strings.Join(adds, ", ") + " SET #exp = :exp"),
		ConditionExpression:                 aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		if err != nil {
			return "", fmt.Errorf("integrationstore: count a write of %s: %w", appID, err)
		}
		return "", nil
	}
	item := ccf.Item
	if item == nil { // emulators that do not return the item
		out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: itemKey(appID, windowSK(start)), ConsistentRead: aws.Bool(true),
		})
		if gerr != nil {
			return "", fmt.Errorf("integrationstore: read the write window of %s: %w", appID, gerr)
		}
		item = out.Item
	}
	for _, c := range counters {
		if v, ok := item[c.Name].(*types.AttributeValueMemberN); ok {
			if n, err := strconv.Atoi(v.Value); err == nil && n >= c.Max {
				return c.Name, nil
			}
		}
	}
	// The condition failed, so some counter was at its Max; it can only have grown since.
	return counters[0].Name, nil
}
