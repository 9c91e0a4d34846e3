package integrationstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

// Memory is the integrations table held in memory, for tests and tools that run without
// AWS. It keeps items as Store writes them (the same attribute encoding, conditions,
// order, cursors and errors), so code tested against it meets no surprise on DynamoDB;
// package storetest holds the two to one contract. Safe for concurrent use.
type Memory struct {
	mu sync.Mutex
	// items holds each app's integration items by sort key; their number is the app's
	// count, which Store keeps in a counter item.
	items map[string]map[string]map[string]types.AttributeValue
	// cleanups holds the clean-up notes of deleted integrations, by app and id.
	cleanups map[string]bool
	// windows holds each app's write windows: counts by counter name, by window item key.
	windows map[string]map[string]map[string]int
	// statuses holds each app's delivery-status items (status.go) by sort key, made on
	// first use.
	statuses map[string]map[string]map[string]types.AttributeValue
}

// NewMemory returns an empty in-memory table.
func NewMemory() *Memory {
	return &Memory{
		items:    map[string]map[string]map[string]types.AttributeValue{},
		cleanups: map[string]bool{},
		windows:  map[string]map[string]map[string]int{},
	}
}

// Create writes a new integration, with no bound on how many the app has; it fails with
// ErrExists rather than overwrite one.
func (m *Memory) Create(ctx context.Context, in *integration.Integration) error {
	return m.CreateWithin(ctx, in, 0)
}

// CreateWithin writes a new integration if the app has fewer than max (any number when max
// is 0 or less), as Store.CreateWithin does: ErrExists, or ErrLimitReached at the bound.
func (m *Memory) CreateWithin(_ context.Context, in *integration.Integration, max int) error {
	item, err := marshal(in)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	app := m.items[in.AppID]
	if _, ok := app[SK(in.ID)]; ok {
		return fmt.Errorf("create %s/%s: %w", in.AppID, in.ID, ErrExists)
	}
	if max > 0 && len(app) >= max {
		return fmt.Errorf("create %s/%s: %w", in.AppID, in.ID, ErrLimitReached)
	}
	if app == nil {
		app = map[string]map[string]types.AttributeValue{}
		m.items[in.AppID] = app
	}
	app[SK(in.ID)] = item
	return nil
}

// Get reads one integration.
func (m *Memory) Get(_ context.Context, appID, id string) (integration.Integration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	item, ok := m.items[appID][SK(id)]
	if !ok {
		return integration.Integration{}, fmt.Errorf("get %s/%s: %w", appID, id, ErrNotFound)
	}
	return unmarshal(item)
}

// List returns up to limit integrations of an app, newest first, starting after cursor, as
// Store.List does.
func (m *Memory) List(_ context.Context, appID string, limit int, cursor string) (Page, error) {
	if limit < 1 || limit > MaxLimit {
		return Page{}, fmt.Errorf("integrationstore: limit %d outside 1..%d", limit, MaxLimit)
	}
	after := ""
	if cursor != "" {
		start, err := decodeCursor(cursor, appID)
		if err != nil {
			return Page{}, err
		}
		after = start[stack.TableRangeKey].(*types.AttributeValueMemberS).Value
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var page Page
	for _, sk := range m.newestFirst(appID) {
		if after != "" && sk >= after {
			continue
		}
		if len(page.Items) == limit {
			next, err := encodeCursor(page.Items[limit-1].ID)
			if err != nil {
				return Page{}, err
			}
			page.Next = next
			break
		}
		in, err := unmarshal(m.items[appID][sk])
		if err != nil {
			return Page{}, err
		}
		page.Items = append(page.Items, in)
	}
	return page, nil
}

// ListByApp returns all integrations of an app, newest first.
func (m *Memory) ListByApp(_ context.Context, appID string) ([]integration.Integration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []integration.Integration
	for _, sk := range m.newestFirst(appID) {
		in, err := unmarshal(m.items[appID][sk])
		if err != nil {
			return nil, err
		}
		all = append(all, in)
	}
	return all, nil
}

// newestFirst returns the sort keys of an app's items in descending order, the order of
// Store's descending Query. The caller holds m.mu.
func (m *Memory) newestFirst(appID string) []string {
	return slices.SortedFunc(maps.Keys(m.items[appID]), func(a, b string) int { return strings.Compare(b, a) })
}

// Update writes the Control Center's attributes of in if the stored version is expected,
// and sets in.Version to expected+1, keeping what Store.Update keeps (keys, created_at,
// health).
func (m *Memory) Update(_ context.Context, in *integration.Integration, expected int64) error {
	next := *in
	next.Version = expected + 1
	item, err := marshal(&next)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, err := m.existing("update", in.AppID, in.ID, expected, false)
	if err != nil {
		return err
	}
	for attr, v := range item {
		if !notUpdated[attr] {
			cur[attr] = v
		}
	}
	for _, attr := range removable {
		if _, ok := item[attr]; !ok {
			delete(cur, attr)
		}
	}
	in.Version = next.Version
	return nil
}

// Delete removes an integration (with expected >= 0, only that version) and notes that its
// credentials are yet to be deleted, as Store.Delete does.
func (m *Memory) Delete(_ context.Context, appID, id string, expected int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.existing("delete", appID, id, expected, expected < 0); err != nil {
		return err
	}
	delete(m.items[appID], SK(id))
	m.cleanups[appID+"/"+id] = true
	return nil
}

// Count returns how many integrations the app has.
func (m *Memory) Count(_ context.Context, appID string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items[appID]), nil
}

// CleanupPending reports whether a deleted integration's clean-up note is still there.
func (m *Memory) CleanupPending(_ context.Context, appID, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cleanups[appID+"/"+id], nil
}

// CleanupDone forgets a deleted integration's clean-up note.
func (m *Memory) CleanupDone(_ context.Context, appID, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.cleanups, appID+"/"+id)
	return nil
}

// TakeWindow counts one write of the app in the window [start, end), as Store.TakeWindow
// does. Windows of the app that ended before start are forgotten, as the table's TTL would.
func (m *Memory) TakeWindow(_ context.Context, appID string, start, end time.Time, counters []WindowCounter) (string, error) {
	if len(counters) == 0 {
		return "", fmt.Errorf("integrationstore: take a window: no counters")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	windows := m.windows[appID]
	if windows == nil {
		windows = map[string]map[string]int{}
		m.windows[appID] = windows
	}
	current := windowSK(start)
	for k := range windows {
		if k < current {
			delete(windows, k)
		}
	}
	counts := windows[current]
	if counts == nil {
		counts = map[string]int{}
		windows[current] = counts
	}
	for _, c := range counters {
		if counts[c.Name] >= c.Max {
			return c.Name, nil
		}
	}
	for _, c := range counters {
		counts[c.Name]++
	}
	return "", nil
}

// SetHealth records the Forwarder's view of a feed, touching only the health attributes.
func (m *Memory) SetHealth(_ context.Context, appID, id, health, lastError string, at time.Time) error {
	atAV, err := attributevalue.Marshal(at.UTC())
	if err != nil {
		return fmt.Errorf("integrationstore: encode health time: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.items[appID][SK(id)]
	if !ok {
		return fmt.Errorf("set health of %s/%s: %w", appID, id, ErrNotFound)
	}
	cur["health"] = &types.AttributeValueMemberS{Value: health}
	cur["health_updated_at"] = atAV
	if lastError != "" {
		cur["health_error"] = &types.AttributeValueMemberS{Value: lastError}
	} else {
		delete(cur, "health_error")
	}
	return nil
}

// existing returns the item a conditional write of op may change: ErrNotFound without
// one, ErrVersionConflict when its version is not expected (any version when anyVersion).
// The caller holds m.mu.
func (m *Memory) existing(op, appID, id string, expected int64, anyVersion bool) (map[string]types.AttributeValue, error) {
	cur, ok := m.items[appID][SK(id)]
	if !ok {
		return nil, fmt.Errorf("%s %s/%s: %w", op, appID, id, ErrNotFound)
	}
	if !anyVersion {
		v, _ := cur["version"].(*types.AttributeValueMemberN)
		if v == nil {
			return nil, fmt.Errorf("%s %s/%s: %w", op, appID, id, ErrVersionConflict)
		}
		if n, err := strconv.ParseInt(v.Value, 10, 64); err != nil || n != expected {
			return nil, fmt.Errorf("%s %s/%s: %w", op, appID, id, ErrVersionConflict)
		}
	}
	return cur, nil
}
