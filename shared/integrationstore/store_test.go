package integrationstore

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
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
		"create": s.Create(ctx, &in),
		"update": s.Update(ctx, &in, 1),
		"delete": s.Delete(ctx, "app", in.ID, -1),
		"health": s.SetHealth(ctx, "app", in.ID, "ok", "", time.Now()),
	}
	_, checks["get"] = s.Get(ctx, "app", in.ID)
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
