package integrationstore

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

var (
	tableOnce sync.Once
	tableName string
	tableErr  error
)

// newStore returns a store over this package's own table (one stack per test binary, each
// test on its own app ids) and the raw client. The behaviours every table has are the
// contract of package storetest (conformance_test.go); the tests here are of what is
// DynamoDB's own: the stored attributes, paged queries, wrapped client errors.
func newStore(t *testing.T) (*Store, *dynamodb.Client) {
	t.Helper()
	cfg := testenv.Config(t)
	tableOnce.Do(func() {
		var out devstack.Outputs
		out, tableErr = devstack.Provision(context.Background(), cfg, "isstore-"+uuid.NewString()[:8])
		tableName = out.Names.IntegrationsTable
	})
	if tableErr != nil {
		t.Fatalf("provision: %v", tableErr)
	}
	db := dynamodb.NewFromConfig(cfg)
	return New(db, tableName), db
}

func appID() string { return "app-" + uuid.NewString()[:12] }

func sample(t *testing.T, app string) integration.Integration {
	t.Helper()
	id, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	return integration.Integration{
		ID: id, AppID: app, Name: "iOS feed", Enabled: true,
		Scope: integration.ScopePlatform, AppPlatformID: "plat-ios", Platform: "ios",
		Pod: mparticle.PodUS1, CustomerIDSource: integration.CustomerIDExternal,
		Events:   []event.Type{event.SubscriptionPurchased, event.DeviceImpression},
		SecretID: "nami-mparticle/" + app + "/" + id, SecretVersionID: uuid.NewString(),
		KeyHint: "abcd", CredentialsUpdatedAt: now,
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
}

// A pod set back to the partner endpoint, or a key without a pod prefix, leaves no
// attribute behind: readers of the item see "" either way, and an absent attribute is
// what a partner-endpoint item written by Create looks like.
func TestPodSettingsRoundTripAndClear(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	tests := []struct {
		name                string
		pod, keyPod         string
		nextPod, nextKeyPod string
	}{
		{"stored pod to partner", mparticle.PodUS1, "", mparticle.PodPartner, ""},
		{"partner to a pod", mparticle.PodPartner, "", mparticle.PodEU1, "EU1"},
		{"prefixed key rotated to a plain one", mparticle.PodPartner, "US2", mparticle.PodPartner, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sample(t, appID())
			in.Pod, in.KeyPod = tt.pod, tt.keyPod
			if err := s.Create(ctx, &in); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, in.AppID, in.ID); err != nil || !reflect.DeepEqual(got, in) {
				t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, in)
			}
			edit := in
			edit.Pod, edit.KeyPod = tt.nextPod, tt.nextKeyPod
			if err := s.Update(ctx, &edit, 1); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, in.AppID, in.ID)
			if err != nil || got.Pod != tt.nextPod || got.KeyPod != tt.nextKeyPod {
				t.Fatalf("after update: pod %q key pod %q (%v), want %q %q", got.Pod, got.KeyPod, err, tt.nextPod, tt.nextKeyPod)
			}
			raw, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tableName), Key: key(in.AppID, in.ID)})
			if err != nil {
				t.Fatal(err)
			}
			for attr, v := range map[string]string{"pod": tt.nextPod, "key_pod": tt.nextKeyPod} {
				if _, present := raw.Item[attr]; present != (v != "") {
					t.Errorf("attribute %s present %v, value %q", attr, present, v)
				}
			}
		})
	}
}

// smallPages makes every Query return at most two items, so ListByApp must follow pages.
type smallPages struct {
	DynamoDB
	queries int
}

func (p *smallPages) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	p.queries++
	cp := *in
	cp.Limit = aws.Int32(2)
	return p.DynamoDB.Query(ctx, &cp, opts...)
}

func TestListByAppFollowsPages(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	app := appID()
	want := map[string]bool{}
	for range 5 {
		in := sample(t, app)
		if err := s.Create(ctx, &in); err != nil {
			t.Fatal(err)
		}
		want[in.ID] = true
	}
	paged := &smallPages{DynamoDB: db}
	all, err := New(paged, s.table).ListByApp(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("ListByApp returned %d, want %d", len(all), len(want))
	}
	for i, in := range all {
		if !want[in.ID] || in.AppID != app {
			t.Fatalf("unexpected item %s/%s", in.AppID, in.ID)
		}
		if i > 0 && all[i-1].ID < in.ID {
			t.Fatalf("not newest first at %d", i)
		}
	}
	if paged.queries < 3 {
		t.Fatalf("%d queries: pages were not followed", paged.queries)
	}
}

func TestDynamoErrorsAreWrapped(t *testing.T) {
	boom := errors.New("boom")
	s := New(failing{err: boom}, "t")
	ctx := context.Background()
	in := sample(t, "app")
	checks := map[string]error{
		"create":       s.Create(ctx, &in),
		"createWithin": s.CreateWithin(ctx, &in, 3),
		"update":       s.Update(ctx, &in, 1),
		"delete":       s.Delete(ctx, "app", in.ID, -1),
		"health":       s.SetHealth(ctx, "app", in.ID, "ok", "", time.Now()),
		"cleanupDone":  s.CleanupDone(ctx, "app", in.ID),
	}
	_, checks["get"] = s.Get(ctx, "app", in.ID)
	_, checks["count"] = s.Count(ctx, "app")
	_, checks["cleanupPending"] = s.CleanupPending(ctx, "app", in.ID)
	_, checks["takeWindow"] = s.TakeWindow(ctx, "app", time.Now(), time.Now(), []WindowCounter{{Name: "w", Max: 1}})
	_, checks["list"] = s.List(ctx, "app", 5, "")
	_, checks["listByApp"] = s.ListByApp(ctx, "app")
	for op, err := range checks {
		if !errors.Is(err, boom) {
			t.Errorf("%s: %v, want wrapped boom", op, err)
		}
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrVersionConflict) {
			t.Errorf("%s: transport error reported as %v", op, err)
		}
	}
}

type failing struct{ err error }

func (f failing) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f.err
}
func (f failing) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, f.err
}
func (f failing) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, f.err
}
func (f failing) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, f.err
}
func (f failing) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, f.err
}
func (f failing) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return nil, f.err
}

// An app whose integrations were written before the counter existed has none: its first
// counted write makes it from the integrations it has, so the bound holds for it too.
func TestCounterStartsFromExistingIntegrations(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		first func(t *testing.T, app string, existing []integration.Integration) error
		want  int // integrations after the first write
	}{
		{"create", func(t *testing.T, app string, _ []integration.Integration) error {
			in := sample(t, app)
			return s.CreateWithin(ctx, &in, 4)
		}, 4},
		{"create at the bound", func(t *testing.T, app string, _ []integration.Integration) error {
			in := sample(t, app)
			if err := s.CreateWithin(ctx, &in, 3); !errors.Is(err, ErrLimitReached) {
				t.Fatalf("create at the bound: %v, want ErrLimitReached", err)
			}
			return nil
		}, 3},
		{"delete", func(_ *testing.T, app string, existing []integration.Integration) error {
			return s.Delete(ctx, app, existing[0].ID, 1)
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := appID()
			var existing []integration.Integration
			for range 3 { // as the API wrote them before: the item alone
				in := sample(t, app)
				item, err := marshal(&in)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: item}); err != nil {
					t.Fatal(err)
				}
				existing = append(existing, in)
			}
			if n, err := s.Count(ctx, app); err != nil || n != 3 {
				t.Fatalf("count without a counter = %d (%v), want 3", n, err)
			}
			if err := tt.first(t, app, existing); err != nil {
				t.Fatal(err)
			}
			n, ok, err := s.counter(ctx, app)
			if err != nil || !ok || n != tt.want {
				t.Fatalf("counter = %d (exists %v, %v), want %d", n, ok, err, tt.want)
			}
			if all, err := s.ListByApp(ctx, app); err != nil || len(all) != tt.want {
				t.Fatalf("%d integrations (%v), want %d", len(all), err, tt.want)
			}
			// From here the counter decides: the bound of 4 leaves room for exactly 4.
			for range 4 - tt.want {
				in := sample(t, app)
				if err := s.CreateWithin(ctx, &in, 4); err != nil {
					t.Fatal(err)
				}
			}
			in := sample(t, app)
			if err := s.CreateWithin(ctx, &in, 4); !errors.Is(err, ErrLimitReached) {
				t.Fatalf("create past the bound: %v, want ErrLimitReached", err)
			}
		})
	}
}

// The bookkeeping items are where the package comment says, and a write window expires by
// the table's TTL attribute at its end.
func TestBookkeepingItems(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	app := appID()
	in := sample(t, app)
	if err := s.CreateWithin(ctx, &in, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, app, in.ID, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	if _, err := s.TakeWindow(ctx, app, start, start.Add(time.Minute), []WindowCounter{{Name: "writes", Max: 2}}); err != nil {
		t.Fatal(err)
	}
	get := func(sk string) map[string]types.AttributeValue {
		t.Helper()
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tableName), Key: itemKey(app, sk)})
		if err != nil || out.Item == nil {
			t.Fatalf("item %s: %v", sk, err)
		}
		return out.Item
	}
	if v, ok := get("COUNT")["count"].(*types.AttributeValueMemberN); !ok || v.Value != "0" {
		t.Errorf("COUNT item: %v", get("COUNT"))
	}
	if _, ok := get("COUNT")[stack.IntegrationsTTL]; ok {
		t.Error("the counter expires")
	}
	get("CLEANUP#" + in.ID)
	w := get("RATE#2026-03-04T05:06:00Z")
	if v, ok := w["writes"].(*types.AttributeValueMemberN); !ok || v.Value != "1" {
		t.Errorf("window item: %v", w)
	}
	if v, ok := w[stack.IntegrationsTTL].(*types.AttributeValueMemberN); !ok || v.Value != strconv.FormatInt(start.Add(time.Minute).Unix(), 10) {
		t.Errorf("window expires_at: %v", w[stack.IntegrationsTTL])
	}
}

// Read integrations name their event types with the event package's own strings, which
// the forwarder compares an event's type against without comparing bytes.
func TestUnmarshalGivesCanonicalEventTypes(t *testing.T) {
	in := integration.Integration{ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", AppID: "app", Name: "n",
		Events: []event.Type{event.Type(strings.Clone(string(event.SubscriptionPurchased))), "user.subscription.unknown"}}
	item, err := marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unmarshal(item)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 2 || got.Events[0] != event.SubscriptionPurchased || got.Events[1] != "user.subscription.unknown" {
		t.Fatalf("events %q", got.Events)
	}
	if unsafe.StringData(string(got.Events[0])) != unsafe.StringData(string(event.SubscriptionPurchased)) {
		t.Error("a known type does not share the constant's bytes")
	}
}
