package integrationstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

var (
	tableOnce sync.Once
	tableName string
	tableErr  error
)

// newStore returns a store over this package's own table (one stack per test binary, each
// test on its own app ids) and the raw client.
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
		Pod: integration.PodUS1, CustomerIDSource: integration.CustomerIDExternal,
		Events:   []event.Type{event.SubscriptionPurchased, event.DeviceImpression},
		SecretID: "nami-mparticle/" + app + "/" + id, SecretVersionID: uuid.NewString(),
		KeyHint: "abcd", CredentialsUpdatedAt: now,
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
}

func TestCreateGetRoundTripAndDuplicate(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	in := sample(t, appID())
	if err := s.Create(ctx, &in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, in.AppID, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, in)
	}
	if err := s.Create(ctx, &in); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	if _, err := s.Get(ctx, appID(), in.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get from another app: %v, want ErrNotFound", err)
	}
}

func TestUpdateBumpsVersionAndDetectsConflicts(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	in := sample(t, appID())
	if err := s.Create(ctx, &in); err != nil {
		t.Fatal(err)
	}
	// Switch to the legacy scope: app_platform_id must disappear from the item.
	edit := in
	edit.Name, edit.Scope, edit.AppPlatformID = "renamed", integration.ScopeAllPlatforms, ""
	if err := s.Update(ctx, &edit, 1); err != nil {
		t.Fatal(err)
	}
	if edit.Version != 2 {
		t.Fatalf("version after update = %d, want 2", edit.Version)
	}
	got, err := s.Get(ctx, in.AppID, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "renamed" || got.Version != 2 || got.AppPlatformID != "" || got.Scope != integration.ScopeAllPlatforms {
		t.Fatalf("after update: %+v", got)
	}
	if !got.CreatedAt.Equal(in.CreatedAt) {
		t.Fatalf("created_at changed: %v", got.CreatedAt)
	}

	stale := in
	stale.Name = "stale"
	if err := s.Update(ctx, &stale, 1); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("stale update: %v, want ErrVersionConflict", err)
	}
	missing := sample(t, in.AppID)
	if err := s.Update(ctx, &missing, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of missing: %v, want ErrNotFound", err)
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
		{"stored pod to partner", integration.PodUS1, "", integration.PodPartner, ""},
		{"partner to a pod", integration.PodPartner, "", integration.PodEU1, "EU1"},
		{"prefixed key rotated to a plain one", integration.PodPartner, "US2", integration.PodPartner, ""},
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

func TestSetHealthNeitherBumpsVersionNorIsClobberedByUpdate(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	in := sample(t, appID())
	if err := s.Create(ctx, &in); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := s.SetHealth(ctx, in.AppID, in.ID, integration.HealthUnhealthy, "401 from mParticle", at); err != nil {
		t.Fatal(err)
	}
	// An edit made from a copy read before the health write must keep the health.
	edit := in
	edit.Enabled = false
	if err := s.Update(ctx, &edit, 1); err != nil {
		t.Fatalf("update after SetHealth: %v", err)
	}
	got, err := s.Get(ctx, in.AppID, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Health != integration.HealthUnhealthy || got.HealthError != "401 from mParticle" || !got.HealthUpdatedAt.Equal(at) {
		t.Fatalf("health lost: %q %q %v", got.Health, got.HealthError, got.HealthUpdatedAt)
	}
	if got.Version != 2 || got.Enabled {
		t.Fatalf("edit lost: version %d enabled %v", got.Version, got.Enabled)
	}
	if err := s.SetHealth(ctx, in.AppID, in.ID, integration.HealthOK, "", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, in.AppID, in.ID)
	if got.Health != integration.HealthOK || got.HealthError != "" || got.Version != 2 {
		t.Fatalf("after ok: health %q error %q version %d", got.Health, got.HealthError, got.Version)
	}
	if err := s.SetHealth(ctx, in.AppID, uuid.NewString(), integration.HealthOK, "", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetHealth of missing: %v, want ErrNotFound", err)
	}
}

func TestDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	in := sample(t, appID())
	if err := s.Create(ctx, &in); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, in.AppID, in.ID, 7); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("delete of wrong version: %v", err)
	}
	if err := s.Delete(ctx, appID(), in.ID, -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete from another app: %v", err)
	}
	if err := s.Delete(ctx, in.AppID, in.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, in.AppID, in.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Delete(ctx, in.AppID, in.ID, -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestListPagesNewestFirst(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	app := appID()
	var ids []string
	for range 7 {
		in := sample(t, app)
		if err := s.Create(ctx, &in); err != nil {
			t.Fatal(err)
		}
		ids = append([]string{in.ID}, ids...) // newest first
	}
	other := sample(t, appID())
	if err := s.Create(ctx, &other); err != nil {
		t.Fatal(err)
	}

	for _, limit := range []int{1, 3, 7, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []string
			cursor, pages := "", 0
			for {
				p, err := s.List(ctx, app, limit, cursor)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(p.Items) == 0 || len(p.Items) > limit {
					t.Fatalf("page %d has %d items", pages, len(p.Items))
				}
				for _, in := range p.Items {
					got = append(got, in.ID)
				}
				if p.Next == "" {
					break
				}
				cursor = p.Next
			}
			if !reflect.DeepEqual(got, ids) {
				t.Fatalf("listed %v, want %v", got, ids)
			}
			if want := (7 + limit - 1) / limit; pages != want {
				t.Fatalf("%d pages, want %d", pages, want)
			}
		})
	}

	first, err := s.List(ctx, app, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	// A cursor from another app is a position in the caller's list and reaches nothing else.
	// Here it lists nothing: the other app's one integration is newer than that position.
	if p, err := s.List(ctx, other.AppID, 2, first.Next); err != nil || len(p.Items) != 0 {
		t.Fatalf("cursor used for another app: %d items, %v", len(p.Items), err)
	}
	// A cursor past every id lists nothing; one before every id lists the whole app: a
	// made-up position needs no item at it.
	for tok, want := range map[string]int{"_____________________w": 7, "AAAAAAAAAAAAAAAAAAAAAA": 0} {
		p, err := s.List(ctx, app, 100, tok)
		if err != nil || len(p.Items) != want {
			t.Errorf("list after %s: %d items, %v; want %d", tok, len(p.Items), err, want)
		}
	}
	if _, err := s.List(ctx, app, 2, "not a cursor"); !errors.Is(err, ErrBadCursor) {
		t.Errorf("malformed cursor: %v, want ErrBadCursor", err)
	}
	for _, limit := range []int{0, -1, MaxLimit + 1} {
		if _, err := s.List(ctx, app, limit, ""); err == nil {
			t.Errorf("limit %d accepted", limit)
		}
	}
	empty, err := s.List(ctx, appID(), 10, "")
	if err != nil || len(empty.Items) != 0 || empty.Next != "" {
		t.Fatalf("empty app: %+v %v", empty, err)
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
