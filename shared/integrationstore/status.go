package integrationstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

// Delivery status: the Forwarder's counts per integration and UTC hour, under the app's
// partition (sk = STATUS#<id>#<YYYYMMDDHH>), which no listing of integrations reads. One
// item per hour keeps every write an ADD to one item (no read-modify-write) and makes the
// 24-hour window one key range; the table's TTL removes an hour 26 hours after it ends.
const (
	skStatusPrefix = "STATUS#"
	statusHour     = "2006010215"
	// StatusWindow is how far back DeliveryStatuses sums: the hour of now and the 23 before.
	StatusWindow = 24 * time.Hour
	// statusKeep is how long an hour's item outlives the hour (two hours more than the
	// window, so an item is never gone while a read may still count it).
	statusKeep = 26 * time.Hour
)

// The status item's attributes (the Forwarder's role may update only these and health).
const (
	attrDelivered      = "delivered"
	attrRetried        = "retried"
	attrDeadLettered   = "dead_lettered"
	attrSkipped        = "skipped"
	attrLastDelivery   = "last_delivery_at"
	attrLastFailure    = "last_failure_at"
	attrLastFailCode   = "last_failure_code"
	attrLastFailReason = "last_failure_message"
)

func statusSK(id string, hour time.Time) string {
	return skStatusPrefix + id + "#" + hour.UTC().Format(statusHour)
}

// parseStatusSK splits a status sort key into the integration id and its hour.
func parseStatusSK(sk string) (id string, hour time.Time, ok bool) {
	rest, found := strings.CutPrefix(sk, skStatusPrefix)
	i := strings.LastIndexByte(rest, '#')
	if !found || i < 0 {
		return "", time.Time{}, false
	}
	hour, err := time.Parse(statusHour, rest[i+1:])
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[:i], hour, true
}

// statusExpiry is when the hour's item may go: statusKeep after the hour ends.
func statusExpiry(hour time.Time) time.Time { return hour.Add(time.Hour + statusKeep) }

// windowStart is the first hour DeliveryStatuses counts at now.
func windowStart(now time.Time) time.Time {
	return now.UTC().Truncate(time.Hour).Add(-StatusWindow + time.Hour)
}

// AddStatus adds s to the integration's item of the hour of at with one UpdateItem: the
// counts are ADDed (so concurrent invocations add up), the last_* values SET when s has
// them. It writes whether or not the integration still exists: the item is not the
// integration's, and expires on its own.
func (s *Store) AddStatus(ctx context.Context, appID, id string, at time.Time, st integration.DeliveryStatus) error {
	hour := at.UTC().Truncate(time.Hour)
	names := map[string]string{
		"#d": attrDelivered, "#r": attrRetried, "#x": attrDeadLettered, "#s": attrSkipped,
		"#exp": stack.IntegrationsTTL,
	}
	values := map[string]types.AttributeValue{
		":d":   number(st.Delivered),
		":r":   number(st.Retried),
		":x":   number(st.DeadLettered),
		":s":   number(st.Skipped),
		":exp": &types.AttributeValueMemberN{Value: strconv.FormatInt(statusExpiry(hour).Unix(), 10)},
	}
	sets := []string{"#exp = :exp"}
	if !st.LastDeliveryAt.IsZero() {
		names["#ld"] = attrLastDelivery
		values[":ld"] = timeValue(st.LastDeliveryAt)
		sets = append(sets, "#ld = :ld")
	}
	if !st.LastFailureAt.IsZero() {
		names["#lf"], names["#lc"], names["#lm"] = attrLastFailure, attrLastFailCode, attrLastFailReason
		values[":lf"] = timeValue(st.LastFailureAt)
		values[":lc"] = &types.AttributeValueMemberS{Value: st.LastFailureCode}
		values[":lm"] = &types.AttributeValueMemberS{Value: st.LastFailureMessage}
		sets = append(sets, "#lf = :lf", "#lc = :lc", "#lm = :lm")
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       itemKey(appID, statusSK(id, hour)),
		UpdateExpression:          aws.String("ADD #d :d, #r :r, #x :x, #s :s SET " + strings.Join(sets, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("integrationstore: add delivery status of %s/%s: %w", appID, id, err)
	}
	return nil
}

// DeliveryStatuses returns the delivery status of each of ids (integrations of appID) over
// the 24 hours up to now: the counts of the hour of now and the 23 before summed, the latest
// last_* values. An integration without items in the window is absent from the map. One
// Query: for one id, its own key range from the window's first hour; for more, every status
// item of the app (at most 26 hours' worth per integration before the TTL removes them),
// the items outside the window or of other integrations left out here.
func (s *Store) DeliveryStatuses(ctx context.Context, appID string, ids []string, now time.Time) (map[string]integration.DeliveryStatus, error) {
	out := map[string]integration.DeliveryStatus{}
	if len(ids) == 0 {
		return out, nil
	}
	from := windowStart(now)
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		ExpressionAttributeNames: map[string]string{"#pk": stack.TableHashKey, "#sk": stack.TableRangeKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: PK(appID)},
		},
	}
	if len(ids) == 1 {
		// begins_with STATUS#<id># with a lower bound: the range from the first hour to
		// the prefix's end ('$' follows '#').
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk BETWEEN :from AND :to")
		in.ExpressionAttributeValues[":from"] = &types.AttributeValueMemberS{Value: statusSK(ids[0], from)}
		in.ExpressionAttributeValues[":to"] = &types.AttributeValueMemberS{Value: skStatusPrefix + ids[0] + "$"}
	} else {
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :sk)")
		in.ExpressionAttributeValues[":sk"] = &types.AttributeValueMemberS{Value: skStatusPrefix}
	}
	wanted := make(map[string]bool, len(ids))
	for _, id := range ids {
		wanted[id] = true
	}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("integrationstore: read delivery status of %s: %w", appID, err)
		}
		for _, item := range page.Items {
			addStatusItem(out, item, wanted, from)
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// addStatusItem adds one hour's item to out when it is of a wanted integration and in the
// window from its first hour. An item the store did not write is ignored.
func addStatusItem(out map[string]integration.DeliveryStatus, item map[string]types.AttributeValue, wanted map[string]bool, from time.Time) {
	sk, _ := item[stack.TableRangeKey].(*types.AttributeValueMemberS)
	if sk == nil {
		return
	}
	id, hour, ok := parseStatusSK(sk.Value)
	if !ok || !wanted[id] || hour.Before(from) {
		return
	}
	st := integration.DeliveryStatus{
		Delivered: intAttr(item, attrDelivered), Retried: intAttr(item, attrRetried),
		DeadLettered: intAttr(item, attrDeadLettered), Skipped: intAttr(item, attrSkipped),
		LastDeliveryAt: timeAttr(item, attrLastDelivery), LastFailureAt: timeAttr(item, attrLastFailure),
		LastFailureCode: strAttr(item, attrLastFailCode), LastFailureMessage: strAttr(item, attrLastFailReason),
	}
	out[id] = out[id].Merge(st)
}

func number(n int) types.AttributeValue { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }

func timeValue(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: t.UTC().Format(time.RFC3339Nano)}
}

func intAttr(item map[string]types.AttributeValue, name string) int {
	v, _ := item[name].(*types.AttributeValueMemberN)
	if v == nil {
		return 0
	}
	n, _ := strconv.Atoi(v.Value)
	return n
}

func strAttr(item map[string]types.AttributeValue, name string) string {
	v, _ := item[name].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

func timeAttr(item map[string]types.AttributeValue, name string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, strAttr(item, name))
	return t
}

// AddStatus adds st to the integration's item of the hour of at, as Store.AddStatus does.
func (m *Memory) AddStatus(_ context.Context, appID, id string, at time.Time, st integration.DeliveryStatus) error {
	hour := at.UTC().Truncate(time.Hour)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.statuses == nil {
		m.statuses = map[string]map[string]map[string]types.AttributeValue{}
	}
	app := m.statuses[appID]
	if app == nil {
		app = map[string]map[string]types.AttributeValue{}
		m.statuses[appID] = app
	}
	sk := statusSK(id, hour)
	item := app[sk]
	if item == nil {
		item = map[string]types.AttributeValue{
			stack.TableHashKey:  &types.AttributeValueMemberS{Value: PK(appID)},
			stack.TableRangeKey: &types.AttributeValueMemberS{Value: sk},
		}
		app[sk] = item
	}
	for name, n := range map[string]int{
		attrDelivered: st.Delivered, attrRetried: st.Retried, attrDeadLettered: st.DeadLettered, attrSkipped: st.Skipped,
	} {
		item[name] = number(intAttr(item, name) + n)
	}
	item[stack.IntegrationsTTL] = &types.AttributeValueMemberN{Value: strconv.FormatInt(statusExpiry(hour).Unix(), 10)}
	if !st.LastDeliveryAt.IsZero() {
		item[attrLastDelivery] = timeValue(st.LastDeliveryAt)
	}
	if !st.LastFailureAt.IsZero() {
		item[attrLastFailure] = timeValue(st.LastFailureAt)
		item[attrLastFailCode] = &types.AttributeValueMemberS{Value: st.LastFailureCode}
		item[attrLastFailReason] = &types.AttributeValueMemberS{Value: st.LastFailureMessage}
	}
	return nil
}

// DeliveryStatuses returns the delivery status of each of ids over the 24 hours up to now,
// as Store.DeliveryStatuses does.
func (m *Memory) DeliveryStatuses(_ context.Context, appID string, ids []string, now time.Time) (map[string]integration.DeliveryStatus, error) {
	out := map[string]integration.DeliveryStatus{}
	wanted := make(map[string]bool, len(ids))
	for _, id := range ids {
		wanted[id] = true
	}
	from := windowStart(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, item := range m.statuses[appID] {
		addStatusItem(out, item, wanted, from)
	}
	return out, nil
}
