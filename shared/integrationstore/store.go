// Package integrationstore keeps integration.Integration items in DynamoDB, one item per
// integration under pk = APP#<app_id>, sk = MPARTICLE#<id>. Ids are UUIDv7, so sort keys are
// time-ordered and a descending Query lists an app's integrations newest first.
//
// The app's partition also holds the API's bookkeeping, which no listing reads (queries
// name the MPARTICLE# prefix):
//   - sk = COUNT: how many integrations the app has (counter.go), written in the same
//     transaction as every create and delete;
//   - sk = CLEANUP#<id>: a deleted integration whose credentials may still exist, written in
//     the delete's transaction and removed once they are scheduled for deletion;
//   - sk = RATE#<window start>: the app's writes in one rate-limit window (window.go),
//     removed by the table's TTL (expires_at).
package integrationstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

// DynamoDB is the part of the DynamoDB client the store uses.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var (
	// ErrNotFound: no integration with that app and id.
	ErrNotFound = errors.New("integrationstore: integration not found")
	// ErrVersionConflict: the item exists but its version is not the expected one.
	ErrVersionConflict = errors.New("integrationstore: version conflict")
	// ErrExists: Create found an item with the same key.
	ErrExists = errors.New("integrationstore: integration already exists")
	// ErrBadCursor: a List cursor that this store did not issue for this app.
	ErrBadCursor = errors.New("integrationstore: invalid cursor")
	// ErrLimitReached: CreateWithin found the app at its bound.
	ErrLimitReached = errors.New("integrationstore: the app has the most integrations allowed")
)

const (
	pkPrefix = "APP#"
	skPrefix = "MPARTICLE#"
	// MaxLimit bounds one List page.
	MaxLimit = 100
)

// Store reads and writes integrations in one table.
type Store struct {
	db    DynamoDB
	table string
}

// New returns a store over table.
func New(db DynamoDB, table string) *Store {
	return &Store{db: db, table: table}
}

// NewID returns a new integration id: a UUIDv7, so ids sort by creation time.
func NewID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("integrationstore: new id: %w", err)
	}
	return id.String(), nil
}

// PK and SK return the key attributes of an integration (the Forwarder queries by PK).
func PK(appID string) string { return pkPrefix + appID }
func SK(id string) string    { return skPrefix + id }
func key(appID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		stack.TableHashKey:  &types.AttributeValueMemberS{Value: PK(appID)},
		stack.TableRangeKey: &types.AttributeValueMemberS{Value: SK(id)},
	}
}

// Create writes a new integration and counts it, with no bound on how many the app has
// (tools and tests; the API creates with CreateWithin). It fails with ErrExists rather than
// overwrite one.
func (s *Store) Create(ctx context.Context, in *integration.Integration) error {
	return s.CreateWithin(ctx, in, 0)
}

// CreateWithin writes a new integration if the app has fewer than max (any number when max
// is 0 or less). The item and the app's counter are written in one transaction, so
// concurrent creates never take an app past max. It fails with ErrExists rather than
// overwrite an integration, and with ErrLimitReached at the bound.
func (s *Store) CreateWithin(ctx context.Context, in *integration.Integration, max int) error {
	item, err := marshal(in)
	if err != nil {
		return err
	}
	put := types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": stack.TableHashKey},
	}}
	return s.counted(ctx, "create", in.AppID, in.ID, put, +1, max, func(context.Context, types.CancellationReason) error {
		return fmt.Errorf("create %s/%s: %w", in.AppID, in.ID, ErrExists)
	})
}

// Get reads one integration with a strongly consistent read, so a read after a write
// (e.g. PATCH's read-then-conditional-write) sees that write.
func (s *Store) Get(ctx context.Context, appID, id string) (integration.Integration, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(appID, id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return integration.Integration{}, fmt.Errorf("integrationstore: get %s/%s: %w", appID, id, err)
	}
	if out.Item == nil {
		return integration.Integration{}, fmt.Errorf("get %s/%s: %w", appID, id, ErrNotFound)
	}
	return unmarshal(out.Item)
}

// Page is one page of a List: Next is empty on the last page.
type Page struct {
	Items []integration.Integration
	Next  string
}

// List returns up to limit integrations of an app, newest first, starting after cursor
// (empty for the first page; see CursorPattern). Next is set only when more items follow,
// so a client never fetches an empty trailing page.
func (s *Store) List(ctx context.Context, appID string, limit int, cursor string) (Page, error) {
	if limit < 1 || limit > MaxLimit {
		return Page{}, fmt.Errorf("integrationstore: limit %d outside 1..%d", limit, MaxLimit)
	}
	var start map[string]types.AttributeValue
	if cursor != "" {
		var err error
		if start, err = decodeCursor(cursor, appID); err != nil {
			return Page{}, err
		}
	}
	var items []integration.Integration
	// Ask for one more than the page so we know whether another page exists.
	for {
		out, err := s.db.Query(ctx, s.queryInput(appID, int32(limit+1-len(items)), start))
		if err != nil {
			return Page{}, fmt.Errorf("integrationstore: list %s: %w", appID, err)
		}
		for _, it := range out.Items {
			in, err := unmarshal(it)
			if err != nil {
				return Page{}, err
			}
			items = append(items, in)
		}
		start = out.LastEvaluatedKey
		if len(items) > limit || start == nil {
			break
		}
	}
	page := Page{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		next, err := encodeCursor(last.ID)
		if err != nil {
			return Page{}, err
		}
		page.Next = next
	}
	return page, nil
}

// ListByApp returns all integrations of an app, newest first, following every page.
func (s *Store) ListByApp(ctx context.Context, appID string) ([]integration.Integration, error) {
	var (
		all   []integration.Integration
		start map[string]types.AttributeValue
	)
	for {
		out, err := s.db.Query(ctx, s.queryInput(appID, 0, start))
		if err != nil {
			return nil, fmt.Errorf("integrationstore: list all of %s: %w", appID, err)
		}
		for _, it := range out.Items {
			in, err := unmarshal(it)
			if err != nil {
				return nil, err
			}
			all = append(all, in)
		}
		if out.LastEvaluatedKey == nil {
			return all, nil
		}
		start = out.LastEvaluatedKey
	}
}

func (s *Store) queryInput(appID string, limit int32, start map[string]types.AttributeValue) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("#pk = :pk AND begins_with(#sk, :sk)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": stack.TableHashKey,
			"#sk": stack.TableRangeKey,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: PK(appID)},
			":sk": &types.AttributeValueMemberS{Value: skPrefix},
		},
		ScanIndexForward:  aws.Bool(false),
		ExclusiveStartKey: start,
		ConsistentRead:    aws.Bool(true),
	}
	if limit > 0 {
		in.Limit = aws.Int32(limit)
	}
	return in
}

// Forwarder-owned attributes and key attributes that Update never writes.
var notUpdated = map[string]bool{
	stack.TableHashKey: true, stack.TableRangeKey: true,
	"id": true, "app_id": true, "created_at": true, "created_by": true,
	"health": true, "health_error": true, "health_updated_at": true,
}

// Attributes that are omitted when empty and so must be removed when cleared (a pod set
// back to the partner endpoint, a key without a pod prefix, a change by a caller without a
// subject).
var removable = []string{"app_platform_id", "key_hint", "key_pod", "pod", "secret_version_id", "updated_by"}

// Update writes the Control Center's attributes of in if the stored version is expected,
// and sets in.Version to expected+1. It updates attributes in place (rather than replacing
// the item) so that health written concurrently by the Forwarder survives.
func (s *Store) Update(ctx context.Context, in *integration.Integration, expected int64) error {
	next := *in
	next.Version = expected + 1
	item, err := marshal(&next)
	if err != nil {
		return err
	}
	names := map[string]string{"#pk": stack.TableHashKey, "#version": "version"}
	values := map[string]types.AttributeValue{
		":expected": &types.AttributeValueMemberN{Value: strconv.FormatInt(expected, 10)},
	}
	var sets, removes []string
	i := 0
	for _, attr := range sortedKeys(item) {
		if notUpdated[attr] {
			continue
		}
		n, v := fmt.Sprintf("#a%d", i), fmt.Sprintf(":a%d", i)
		i++
		names[n] = attr
		values[v] = item[attr]
		sets = append(sets, n+" = "+v)
	}
	for _, attr := range removable {
		if _, ok := item[attr]; ok {
			continue
		}
		n := fmt.Sprintf("#r%d", len(removes))
		names[n] = attr
		removes = append(removes, n)
	}
	expr := "SET " + strings.Join(sets, ", ")
	if len(removes) > 0 {
		expr += " REMOVE " + strings.Join(removes, ", ")
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 key(in.AppID, in.ID),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String("attribute_exists(#pk) AND #version = :expected"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return s.conditionError(ctx, "update", in.AppID, in.ID, err)
	}
	in.Version = next.Version
	return nil
}

// Delete removes an integration (with expected >= 0, only that version), uncounts it, and
// notes that its credentials are yet to be deleted (CleanupPending), in one transaction.
func (s *Store) Delete(ctx context.Context, appID, id string, expected int64) error {
	cond := "attribute_exists(#pk)"
	names := map[string]string{"#pk": stack.TableHashKey}
	var values map[string]types.AttributeValue
	if expected >= 0 {
		cond += " AND #version = :expected"
		names["#version"] = "version"
		values = map[string]types.AttributeValue{
			":expected": &types.AttributeValueMemberN{Value: strconv.FormatInt(expected, 10)},
		}
	}
	del := types.TransactWriteItem{Delete: &types.Delete{
		TableName:                           aws.String(s.table),
		Key:                                 key(appID, id),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
	note := types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(s.table),
		Item:      cleanupItem(appID, id),
	}}
	return s.counted(ctx, "delete", appID, id, del, -1, 0, func(ctx context.Context, r types.CancellationReason) error {
		return s.conditionError(ctx, "delete", appID, id, &types.ConditionalCheckFailedException{Item: r.Item})
	}, note)
}

// SetHealth records the Forwarder's view of a feed. It touches only the health attributes
// (no version bump), so it neither conflicts with nor overwrites Control Center edits.
func (s *Store) SetHealth(ctx context.Context, appID, id, health, lastError string, at time.Time) error {
	atAV, err := attributevalue.Marshal(at.UTC())
	if err != nil {
		return fmt.Errorf("integrationstore: encode health time: %w", err)
	}
	expr := "SET #h = :h, #hu = :hu"
	values := map[string]types.AttributeValue{
		":h":  &types.AttributeValueMemberS{Value: health},
		":hu": atAV,
	}
	if lastError != "" {
		expr += ", #he = :he"
		values[":he"] = &types.AttributeValueMemberS{Value: lastError}
	} else {
		expr += " REMOVE #he"
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 key(appID, id),
		UpdateExpression:    aws.String(expr),
		ConditionExpression: aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": stack.TableHashKey, "#h": "health", "#he": "health_error", "#hu": "health_updated_at",
		},
		ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return fmt.Errorf("set health of %s/%s: %w", appID, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("integrationstore: set health of %s/%s: %w", appID, id, err)
	}
	return nil
}

// conditionError maps a failed conditional write to ErrNotFound or ErrVersionConflict.
// DynamoDB returns the old item on a condition failure when asked; if it does not (older
// emulators), a consistent read tells the two apart.
func (s *Store) conditionError(ctx context.Context, op, appID, id string, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return fmt.Errorf("integrationstore: %s %s/%s: %w", op, appID, id, err)
	}
	exists := ccf.Item != nil
	if !exists {
		_, gerr := s.Get(ctx, appID, id)
		switch {
		case errors.Is(gerr, ErrNotFound):
		case gerr != nil:
			return gerr
		default:
			exists = true
		}
	}
	if exists {
		return fmt.Errorf("%s %s/%s: %w", op, appID, id, ErrVersionConflict)
	}
	return fmt.Errorf("%s %s/%s: %w", op, appID, id, ErrNotFound)
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func marshal(in *integration.Integration) (map[string]types.AttributeValue, error) {
	if in.AppID == "" || in.ID == "" {
		return nil, errors.New("integrationstore: integration needs app_id and id")
	}
	item, err := attributevalue.MarshalMap(in)
	if err != nil {
		return nil, fmt.Errorf("integrationstore: encode %s/%s: %w", in.AppID, in.ID, err)
	}
	// A zero health time means "never reported": keep it out of the item.
	if in.HealthUpdatedAt.IsZero() {
		delete(item, "health_updated_at")
	}
	item[stack.TableHashKey] = &types.AttributeValueMemberS{Value: PK(in.AppID)}
	item[stack.TableRangeKey] = &types.AttributeValueMemberS{Value: SK(in.ID)}
	return item, nil
}

func unmarshal(item map[string]types.AttributeValue) (integration.Integration, error) {
	var in integration.Integration
	if err := attributevalue.UnmarshalMap(item, &in); err != nil {
		return in, fmt.Errorf("integrationstore: decode item: %w", err)
	}
	// The package's own strings: the forwarder then matches events against them without
	// comparing bytes (event.Type.Canonical).
	for i, t := range in.Events {
		in.Events[i], _ = t.Canonical()
	}
	return in, nil
}

func sortedKeys(m map[string]types.AttributeValue) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
