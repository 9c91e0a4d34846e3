// Package storetest is the contract of the integrations table: what every implementation
// (integrationstore.Store on DynamoDB, integrationstore.Memory) does, as one suite that
// each implementation's tests run. A behaviour the Integrations API or the Forwarder relies
// on belongs here, so that a test using the in-memory table proves something about the
// real one.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Store is the integrations table as its users see it.
type Store interface {
	Create(ctx context.Context, in *integration.Integration) error
	Get(ctx context.Context, appID, id string) (integration.Integration, error)
	List(ctx context.Context, appID string, limit int, cursor string) (integrationstore.Page, error)
	ListByApp(ctx context.Context, appID string) ([]integration.Integration, error)
	Update(ctx context.Context, in *integration.Integration, expected int64) error
	Delete(ctx context.Context, appID, id string, expected int64) error
	SetHealth(ctx context.Context, appID, id, health, lastError string, at time.Time) error
	CreateWithin(ctx context.Context, in *integration.Integration, max int) error
	Count(ctx context.Context, appID string) (int, error)
	CleanupPending(ctx context.Context, appID, id string) (bool, error)
	CleanupDone(ctx context.Context, appID, id string) error
	TakeWindow(ctx context.Context, appID string, start, end time.Time, counters []integrationstore.WindowCounter) (string, error)
	AddStatus(ctx context.Context, appID, id string, at time.Time, st integration.DeliveryStatus) error
	DeliveryStatuses(ctx context.Context, appID string, ids []string, now time.Time) (map[string]integration.DeliveryStatus, error)
}

// Run runs the contract against the stores newStore returns. Every subtest asks for a
// store and works on app ids of its own, so newStore may hand out one store (one table)
// to all of them.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"create then get returns what was written", createThenGet},
		{"create refuses an id the app already has", createRefusesDuplicate},
		{"create needs an app and an id", createNeedsKeys},
		{"get of a missing id or from another app is not found", getMissing},
		{"what the store returns is a copy", returnsCopies},
		{"update bumps the version and keeps id, created_at and health", updateBumpsVersion},
		{"update of another version conflicts, of a missing integration is not found", updateConditions},
		{"update clears the optional settings it is given empty", updateClearsOptional},
		{"of two updates of one version exactly one wins", updateRace},
		{"set health changes neither version nor settings and survives an update", setHealth},
		{"set health of a missing integration is not found", setHealthMissing},
		{"delete checks the version, any version with -1", deleteConditions},
		{"list pages an app newest first", listPages},
		{"a list cursor is a position in the caller's own app", listCursors},
		{"list refuses a malformed cursor and a limit outside 1..MaxLimit", listRefuses},
		{"list of an app without integrations is one empty page", listEmpty},
		{"list by app returns all of the app's integrations, newest first", listByApp},
		{"create within a bound refuses the app's integration past it, and a delete frees a place", createWithin},
		{"concurrent creates never take an app past its bound", createWithinRace},
		{"count counts the app's integrations", count},
		{"delete leaves a clean-up note until it is done; a refused delete leaves none", cleanupNotes},
		{"a window counts an app's writes up to each counter's max, all counters or none", takeWindow},
		{"listings show integrations only, whatever else the app's partition holds", listsIntegrationsOnly},
		{"delivery status sums the hours of the last 24 and keeps the latest last values", deliveryStatusWindow},
		{"delivery status of several integrations is each one's own, absent when never written", deliveryStatusMany},
		{"concurrent status writes add up", deliveryStatusRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

var ctx = context.Background()

func appID() string { return "app-" + uuid.NewString()[:12] }

// sample is an integration of app with every attribute set, as the API creates one.
func sample(t *testing.T, app string) integration.Integration {
	t.Helper()
	id, err := integrationstore.NewID()
	if err != nil {
		t.Fatal(err)
	}
	// Times as DynamoDB keeps them: UTC, no monotonic reading.
	now := time.Now().UTC().Truncate(time.Millisecond)
	return integration.Integration{
		ID: id, AppID: app, Name: "iOS feed", Enabled: true,
		Scope: integration.ScopePlatform, AppPlatformID: "plat-ios", Platform: "ios",
		Pod: mparticle.PodUS1, CustomerIDSource: integration.CustomerIDExternal,
		Events:   []event.Type{event.SubscriptionPurchased, event.DeviceImpression},
		SecretID: "nami-mparticle/" + app + "/" + id, SecretVersionID: uuid.NewString(),
		KeyHint: "abcd", KeyPod: "US1", CredentialsUpdatedAt: now,
		CreatedAt: now, UpdatedAt: now, Version: 1, CreatedBy: "user-1", UpdatedBy: "user-1",
	}
}

func create(t *testing.T, s Store, app string) integration.Integration {
	t.Helper()
	in := sample(t, app)
	if err := s.Create(ctx, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func get(t *testing.T, s Store, app, id string) integration.Integration {
	t.Helper()
	got, err := s.Get(ctx, app, id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func createThenGet(t *testing.T, s Store) {
	in := create(t, s, appID())
	if got := get(t, s, in.AppID, in.ID); !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, in)
	}
}

func createRefusesDuplicate(t *testing.T, s Store) {
	in := create(t, s, appID())
	again := in
	again.Name = "overwrite"
	if err := s.Create(ctx, &again); !errors.Is(err, integrationstore.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	if got := get(t, s, in.AppID, in.ID); got.Name != in.Name {
		t.Fatalf("name = %q after a refused create", got.Name)
	}
	// The same id in another app is another integration.
	other := in
	other.AppID = appID()
	if err := s.Create(ctx, &other); err != nil {
		t.Fatalf("same id in another app: %v", err)
	}
}

func createNeedsKeys(t *testing.T, s Store) {
	for name, edit := range map[string]func(*integration.Integration){
		"no app": func(in *integration.Integration) { in.AppID = "" },
		"no id":  func(in *integration.Integration) { in.ID = "" },
	} {
		in := sample(t, appID())
		edit(&in)
		if err := s.Create(ctx, &in); err == nil {
			t.Errorf("%s: created", name)
		}
	}
}

func getMissing(t *testing.T, s Store) {
	in := create(t, s, appID())
	if _, err := s.Get(ctx, appID(), in.ID); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Errorf("get from another app: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, in.AppID, uuid.NewString()); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Errorf("get of a missing id: %v, want ErrNotFound", err)
	}
}

// A caller changing what it wrote or read changes nothing stored.
func returnsCopies(t *testing.T, s Store) {
	in := create(t, s, appID())
	want := in
	want.Events = append([]event.Type(nil), in.Events...)
	in.Events[0], in.Name = event.DeviceTransaction, "changed after create"
	got := get(t, s, want.AppID, want.ID)
	got.Events[0] = event.DeviceTransaction
	listed, err := s.ListByApp(ctx, want.AppID)
	if err != nil || len(listed) != 1 {
		t.Fatalf("ListByApp: %d, %v", len(listed), err)
	}
	listed[0].Events[0] = event.DeviceTransaction
	if got := get(t, s, want.AppID, want.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored integration changed through a caller's copy:\n got %+v\nwant %+v", got, want)
	}
}

func updateBumpsVersion(t *testing.T, s Store) {
	in := create(t, s, appID())
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := s.SetHealth(ctx, in.AppID, in.ID, integration.HealthUnhealthy, "401 from mParticle", at); err != nil {
		t.Fatal(err)
	}
	edit := in
	edit.Name, edit.Enabled, edit.Events = "renamed", false, []event.Type{event.SubscriptionRenewed}
	edit.UpdatedAt = in.UpdatedAt.Add(time.Minute)
	edit.UpdatedBy = "user-2"
	// What Update never writes, whatever the caller passes: the creation, and health.
	edit.CreatedAt, edit.CreatedBy, edit.Health, edit.HealthError = in.CreatedAt.Add(time.Hour), "user-3", "", ""
	if err := s.Update(ctx, &edit, 1); err != nil {
		t.Fatal(err)
	}
	if edit.Version != 2 {
		t.Fatalf("version after update = %d, want 2", edit.Version)
	}
	want := edit
	want.CreatedAt, want.CreatedBy = in.CreatedAt, in.CreatedBy
	want.Health, want.HealthError, want.HealthUpdatedAt = integration.HealthUnhealthy, "401 from mParticle", at
	if got := get(t, s, in.AppID, in.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("after update:\n got %+v\nwant %+v", got, want)
	}
}

func updateConditions(t *testing.T, s Store) {
	in := create(t, s, appID())
	edit := in
	if err := s.Update(ctx, &edit, 1); err != nil {
		t.Fatal(err)
	}
	for _, expected := range []int64{1, 3, -1} {
		stale := in
		stale.Name = "stale"
		if err := s.Update(ctx, &stale, expected); !errors.Is(err, integrationstore.ErrVersionConflict) {
			t.Errorf("update at version %d of an integration at 2: %v, want ErrVersionConflict", expected, err)
		}
		if stale.Version != in.Version {
			t.Errorf("refused update set the caller's version to %d", stale.Version)
		}
	}
	if got := get(t, s, in.AppID, in.ID); got.Name != in.Name || got.Version != 2 {
		t.Fatalf("refused updates changed the integration: %q at %d", got.Name, got.Version)
	}
	missing := sample(t, in.AppID)
	if err := s.Update(ctx, &missing, 1); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Errorf("update of a missing integration: %v, want ErrNotFound", err)
	}
}

// A pod set back to the partner endpoint, a key without a pod prefix, a switch to the
// legacy scope: the cleared settings read back empty.
func updateClearsOptional(t *testing.T, s Store) {
	in := create(t, s, appID())
	edit := in
	edit.Scope, edit.AppPlatformID = integration.ScopeAllPlatforms, ""
	edit.Pod, edit.KeyPod, edit.KeyHint, edit.SecretVersionID = mparticle.PodPartner, "", "", ""
	edit.UpdatedBy = ""
	if err := s.Update(ctx, &edit, 1); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, in.AppID, in.ID); !reflect.DeepEqual(got, edit) {
		t.Fatalf("after clearing:\n got %+v\nwant %+v", got, edit)
	}
	// And set again.
	again := edit
	again.Pod, again.KeyPod, again.AppPlatformID, again.Scope = mparticle.PodEU1, "EU1", "plat-ios", integration.ScopePlatform
	again.UpdatedBy = "user-2"
	if err := s.Update(ctx, &again, 2); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, in.AppID, in.ID); !reflect.DeepEqual(got, again) {
		t.Fatalf("after setting again:\n got %+v\nwant %+v", got, again)
	}
}

func updateRace(t *testing.T, s Store) {
	in := create(t, s, appID())
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			edit := in
			edit.Name = fmt.Sprint("writer ", i)
			errs[i] = s.Update(ctx, &edit, 1)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, integrationstore.ErrVersionConflict):
			t.Errorf("losing update: %v, want ErrVersionConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d updates of version 1 succeeded (%v), want exactly one", won, errs)
	}
	if got := get(t, s, in.AppID, in.ID); got.Version != 2 {
		t.Fatalf("version = %d, want 2", got.Version)
	}
}

func setHealth(t *testing.T, s Store) {
	in := create(t, s, appID())
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := s.SetHealth(ctx, in.AppID, in.ID, integration.HealthUnhealthy, "401 from mParticle", at); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, in.AppID, in.ID)
	if got.Health != integration.HealthUnhealthy || got.HealthError != "401 from mParticle" || !got.HealthUpdatedAt.Equal(at) {
		t.Fatalf("health = %q %q %v", got.Health, got.HealthError, got.HealthUpdatedAt)
	}
	if got.Version != 1 || got.Name != in.Name {
		t.Fatalf("set health changed version %d or name %q", got.Version, got.Name)
	}
	// An edit made from a copy read before the health write keeps the health.
	edit := in
	edit.Enabled = false
	if err := s.Update(ctx, &edit, 1); err != nil {
		t.Fatalf("update after SetHealth: %v", err)
	}
	got = get(t, s, in.AppID, in.ID)
	if got.Health != integration.HealthUnhealthy || got.HealthError != "401 from mParticle" || !got.HealthUpdatedAt.Equal(at) {
		t.Fatalf("health lost by an update: %q %q %v", got.Health, got.HealthError, got.HealthUpdatedAt)
	}
	if got.Version != 2 || got.Enabled {
		t.Fatalf("edit lost: version %d enabled %v", got.Version, got.Enabled)
	}
	// Healthy again: the error goes.
	if err := s.SetHealth(ctx, in.AppID, in.ID, integration.HealthOK, "", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got = get(t, s, in.AppID, in.ID)
	if got.Health != integration.HealthOK || got.HealthError != "" || !got.HealthUpdatedAt.Equal(at.Add(time.Hour)) || got.Version != 2 {
		t.Fatalf("after ok: health %q error %q at %v version %d", got.Health, got.HealthError, got.HealthUpdatedAt, got.Version)
	}
}

func setHealthMissing(t *testing.T, s Store) {
	in := create(t, s, appID())
	now := time.Now()
	if err := s.SetHealth(ctx, in.AppID, uuid.NewString(), integration.HealthOK, "", now); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Errorf("SetHealth of a missing id: %v, want ErrNotFound", err)
	}
	if err := s.SetHealth(ctx, appID(), in.ID, integration.HealthOK, "", now); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Errorf("SetHealth from another app: %v, want ErrNotFound", err)
	}
}

func deleteConditions(t *testing.T, s Store) {
	in := create(t, s, appID())
	if err := s.Delete(ctx, in.AppID, in.ID, 7); !errors.Is(err, integrationstore.ErrVersionConflict) {
		t.Fatalf("delete of another version: %v, want ErrVersionConflict", err)
	}
	if err := s.Delete(ctx, appID(), in.ID, -1); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Fatalf("delete from another app: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, in.AppID, in.ID, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, in.AppID, in.ID); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, in.AppID, in.ID, -1); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	updated := create(t, s, in.AppID)
	edit := updated
	if err := s.Update(ctx, &edit, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, updated.AppID, updated.ID, -1); err != nil {
		t.Fatalf("delete of any version: %v", err)
	}
}

// sevenAndOther creates seven integrations of one app and one of another, and returns the
// app and its ids newest first.
func sevenAndOther(t *testing.T, s Store) (app string, ids []string) {
	app = appID()
	for range 7 {
		ids = append([]string{create(t, s, app).ID}, ids...)
	}
	create(t, s, appID())
	return app, ids
}

func listPages(t *testing.T, s Store) {
	app, ids := sevenAndOther(t, s)
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
				if pages > len(ids) {
					t.Fatalf("more pages than integrations: the cursor does not advance (%v)", got)
				}
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
			// No empty trailing page: Next is set only when more items follow.
			if want := (len(ids) + limit - 1) / limit; pages != want {
				t.Fatalf("%d pages, want %d", pages, want)
			}
		})
	}
}

// Every string of the cursor's shape names a position in the order of the caller's own
// integrations, so a cursor reaches nothing outside the caller's app.
func listCursors(t *testing.T, s Store) {
	app, _ := sevenAndOther(t, s)
	other := create(t, s, appID())
	first, err := s.List(ctx, app, 2, "")
	if err != nil || first.Next == "" {
		t.Fatalf("first page: next %q, %v", first.Next, err)
	}
	// The other app's one integration is newer than the position the cursor names.
	if p, err := s.List(ctx, other.AppID, 2, first.Next); err != nil || len(p.Items) != 0 {
		t.Errorf("cursor used for another app: %d items, %v", len(p.Items), err)
	}
	// Made-up positions need no integration at them: the highest lists the whole app (the
	// order is newest first), the lowest nothing.
	for tok, want := range map[string]int{"_____________________w": 7, "AAAAAAAAAAAAAAAAAAAAAA": 0} {
		p, err := s.List(ctx, app, 100, tok)
		if err != nil || len(p.Items) != want {
			t.Errorf("list after %s: %d items, %v; want %d", tok, len(p.Items), err, want)
		}
	}
}

func listRefuses(t *testing.T, s Store) {
	app := create(t, s, appID()).AppID
	for _, tok := range []string{"not a cursor", "AAAAAAAAAAAAAAAAAAAAAB", "AAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := s.List(ctx, app, 2, tok); !errors.Is(err, integrationstore.ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", tok, err)
		}
	}
	for _, limit := range []int{0, -1, integrationstore.MaxLimit + 1} {
		if _, err := s.List(ctx, app, limit, ""); err == nil {
			t.Errorf("limit %d accepted", limit)
		}
	}
	if p, err := s.List(ctx, app, integrationstore.MaxLimit, ""); err != nil || len(p.Items) != 1 {
		t.Errorf("limit MaxLimit: %d items, %v", len(p.Items), err)
	}
}

func listEmpty(t *testing.T, s Store) {
	p, err := s.List(ctx, appID(), 10, "")
	if err != nil || len(p.Items) != 0 || p.Next != "" {
		t.Fatalf("empty app: %+v %v", p, err)
	}
	all, err := s.ListByApp(ctx, appID())
	if err != nil || len(all) != 0 {
		t.Fatalf("ListByApp of an empty app: %d, %v", len(all), err)
	}
}

func listByApp(t *testing.T, s Store) {
	app, ids := sevenAndOther(t, s)
	all, err := s.ListByApp(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range all {
		if in.AppID != app {
			t.Fatalf("listed %s of app %s", in.ID, in.AppID)
		}
		got = append(got, in.ID)
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("listed %v, want %v", got, ids)
	}
}

func createWithin(t *testing.T, s Store) {
	app := appID()
	var ids []string
	for range 3 {
		in := sample(t, app)
		if err := s.CreateWithin(ctx, &in, 3); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	over := sample(t, app)
	if err := s.CreateWithin(ctx, &over, 3); !errors.Is(err, integrationstore.ErrLimitReached) {
		t.Fatalf("create past the bound: %v, want ErrLimitReached", err)
	}
	if _, err := s.Get(ctx, app, over.ID); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Fatalf("the refused integration was stored: %v", err)
	}
	// A larger bound, another app, or no bound is another question.
	if err := s.CreateWithin(ctx, &over, 4); err != nil {
		t.Fatalf("create within a larger bound: %v", err)
	}
	other := sample(t, appID())
	if err := s.CreateWithin(ctx, &other, 1); err != nil {
		t.Fatalf("another app's first: %v", err)
	}
	unbounded := sample(t, app)
	if err := s.Create(ctx, &unbounded); err != nil {
		t.Fatalf("create without a bound: %v", err)
	}
	// A duplicate is refused as such, even at the bound, and counts nothing.
	dup := sample(t, app)
	dup.ID = ids[0]
	if err := s.CreateWithin(ctx, &dup, 100); !errors.Is(err, integrationstore.ErrExists) {
		t.Fatalf("duplicate: %v, want ErrExists", err)
	}
	if n, err := s.Count(ctx, app); err != nil || n != 5 {
		t.Fatalf("count = %d (%v), want 5", n, err)
	}
	// Deletes free places; a refused delete frees none.
	if err := s.Delete(ctx, app, ids[0], 9); !errors.Is(err, integrationstore.ErrVersionConflict) {
		t.Fatalf("delete of another version: %v", err)
	}
	again := sample(t, app)
	if err := s.CreateWithin(ctx, &again, 5); !errors.Is(err, integrationstore.ErrLimitReached) {
		t.Fatalf("create after a refused delete: %v, want ErrLimitReached", err)
	}
	for _, id := range ids[:2] {
		if err := s.Delete(ctx, app, id, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, app, ids[0], -1); !errors.Is(err, integrationstore.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	for range 2 {
		in := sample(t, app)
		if err := s.CreateWithin(ctx, &in, 5); err != nil {
			t.Fatalf("create after deletes: %v", err)
		}
	}
	if err := s.CreateWithin(ctx, &again, 5); !errors.Is(err, integrationstore.ErrLimitReached) {
		t.Fatalf("create past the bound after deletes: %v, want ErrLimitReached", err)
	}
}

// The bound holds under concurrency: of more creates than places, exactly as many as there
// are places succeed, and the rest are refused as over the bound.
func createWithinRace(t *testing.T, s Store) {
	app := appID()
	const places, writers = 3, 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range errs {
		in := sample(t, app)
		wg.Go(func() { errs[i] = s.CreateWithin(ctx, &in, places) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, integrationstore.ErrLimitReached):
			t.Errorf("losing create: %v, want ErrLimitReached", err)
		}
	}
	all, err := s.ListByApp(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if won != places || len(all) != places {
		t.Fatalf("%d creates succeeded and %d integrations stored, want %d", won, len(all), places)
	}
}

func count(t *testing.T, s Store) {
	app := appID()
	if n, err := s.Count(ctx, app); err != nil || n != 0 {
		t.Fatalf("count of a new app = %d (%v)", n, err)
	}
	a, b := create(t, s, app), create(t, s, app)
	create(t, s, appID())
	if n, err := s.Count(ctx, app); err != nil || n != 2 {
		t.Fatalf("count = %d (%v), want 2", n, err)
	}
	for _, in := range []integration.Integration{a, b} {
		if err := s.Delete(ctx, app, in.ID, -1); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Count(ctx, app); err != nil || n != 0 {
		t.Fatalf("count after deletes = %d (%v), want 0", n, err)
	}
}

func cleanupNotes(t *testing.T, s Store) {
	in := create(t, s, appID())
	pending := func(id string) bool {
		t.Helper()
		ok, err := s.CleanupPending(ctx, in.AppID, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if pending(in.ID) {
		t.Fatal("a live integration has a clean-up note")
	}
	if err := s.Delete(ctx, in.AppID, in.ID, 2); !errors.Is(err, integrationstore.ErrVersionConflict) || pending(in.ID) {
		t.Fatalf("refused delete: %v, note %v", err, pending(in.ID))
	}
	never := uuid.NewString()
	if err := s.Delete(ctx, in.AppID, never, -1); !errors.Is(err, integrationstore.ErrNotFound) || pending(never) {
		t.Fatalf("delete of a missing integration: %v, note %v", err, pending(never))
	}
	if err := s.Delete(ctx, in.AppID, in.ID, 1); err != nil {
		t.Fatal(err)
	}
	if !pending(in.ID) {
		t.Fatal("no clean-up note after a delete")
	}
	if ok, err := s.CleanupPending(ctx, appID(), in.ID); err != nil || ok {
		t.Fatalf("another app sees the note: %v %v", ok, err)
	}
	for range 2 { // idempotent
		if err := s.CleanupDone(ctx, in.AppID, in.ID); err != nil {
			t.Fatal(err)
		}
	}
	if pending(in.ID) {
		t.Fatal("the note outlived CleanupDone")
	}
}

func takeWindow(t *testing.T, s Store) {
	app := appID()
	start := time.Now().UTC().Truncate(time.Minute)
	end := start.Add(time.Minute)
	writes := integrationstore.WindowCounter{Name: "writes", Max: 3}
	creds := integrationstore.WindowCounter{Name: "credential_writes", Max: 1}
	take := func(app string, start time.Time, counters ...integrationstore.WindowCounter) string {
		t.Helper()
		full, err := s.TakeWindow(ctx, app, start, start.Add(time.Minute), counters)
		if err != nil {
			t.Fatal(err)
		}
		return full
	}
	if full := take(app, start, writes, creds); full != "" {
		t.Fatalf("first write refused by %s", full)
	}
	// The credentials counter is full: a credentials write is refused and counts nothing.
	if full := take(app, start, writes, creds); full != "credential_writes" {
		t.Fatalf("second credentials write: full %q, want credential_writes", full)
	}
	for i := range 2 {
		if full := take(app, start, writes); full != "" {
			t.Fatalf("write %d refused by %s", i+2, full)
		}
	}
	if full := take(app, start, writes); full != "writes" {
		t.Fatalf("fourth write: full %q, want writes", full)
	}
	// Another app, and the next window, start from nothing.
	if full := take(appID(), start, writes, creds); full != "" {
		t.Fatalf("another app refused by %s", full)
	}
	if full := take(app, end, writes, creds); full != "" {
		t.Fatalf("next window refused by %s", full)
	}
	if _, err := s.TakeWindow(ctx, app, start, end, nil); err == nil {
		t.Fatal("a window taken with no counters")
	}
}

func listsIntegrationsOnly(t *testing.T, s Store) {
	app := appID()
	keep := create(t, s, app)
	gone := create(t, s, app)
	if err := s.Delete(ctx, app, gone.ID, -1); err != nil { // leaves a clean-up note
		t.Fatal(err)
	}
	start := time.Now().UTC().Truncate(time.Minute)
	if _, err := s.TakeWindow(ctx, app, start, start.Add(time.Minute), []integrationstore.WindowCounter{{Name: "writes", Max: 5}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddStatus(ctx, app, keep.ID, start, integration.DeliveryStatus{Delivered: 1, LastDeliveryAt: start}); err != nil {
		t.Fatal(err)
	}
	p, err := s.List(ctx, app, 10, "")
	if err != nil || len(p.Items) != 1 || p.Items[0].ID != keep.ID || p.Next != "" {
		t.Fatalf("list: %+v %v", p, err)
	}
	all, err := s.ListByApp(ctx, app)
	if err != nil || len(all) != 1 || all[0].ID != keep.ID {
		t.Fatalf("list by app: %+v %v", all, err)
	}
	// The highest position lists from the top, past the bookkeeping items' sort keys.
	if p, err := s.List(ctx, app, 10, "_____________________w"); err != nil || len(p.Items) != 1 {
		t.Fatalf("list from the top: %+v %v", p, err)
	}
}

func deliveryStatusWindow(t *testing.T, s Store) {
	app := appID()
	in := create(t, s, app)
	now := time.Date(2026, 11, 30, 12, 34, 56, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	writes := []struct {
		at time.Time
		st integration.DeliveryStatus
	}{
		// 24 h ago is in the hour before the window's first (the window is 13:00 yesterday
		// to now): ignored, its later-looking failure too.
		{at(24 * time.Hour), integration.DeliveryStatus{Delivered: 100, Retried: 100, DeadLettered: 100, Skipped: 100,
			LastDeliveryAt: at(24 * time.Hour), LastFailureAt: now.Add(time.Hour), LastFailureCode: "old", LastFailureMessage: "old"}},
		{at(23 * time.Hour), integration.DeliveryStatus{Delivered: 2, Retried: 1,
			LastDeliveryAt: at(23 * time.Hour), LastFailureAt: at(23 * time.Hour),
			LastFailureCode: integration.FailureCredentialsRefused, LastFailureMessage: "refused"}},
		{at(2 * time.Hour), integration.DeliveryStatus{DeadLettered: 1,
			LastFailureAt: at(2 * time.Hour), LastFailureCode: integration.FailureRejected, LastFailureMessage: "rejected"}},
		{at(time.Minute), integration.DeliveryStatus{Delivered: 3, Skipped: 4, LastDeliveryAt: at(time.Minute)}},
		{at(0), integration.DeliveryStatus{Delivered: 1, Retried: 2, LastDeliveryAt: at(0)}}, // the same hour: added
	}
	for _, w := range writes {
		if err := s.AddStatus(ctx, app, in.ID, w.at, w.st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.DeliveryStatuses(ctx, app, []string{in.ID}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := integration.DeliveryStatus{Delivered: 6, Retried: 3, DeadLettered: 1, Skipped: 4,
		LastDeliveryAt: now, LastFailureAt: at(2 * time.Hour),
		LastFailureCode: integration.FailureRejected, LastFailureMessage: "rejected"}
	if g := got[in.ID]; !reflect.DeepEqual(g, want) {
		t.Fatalf("status:\n got  %+v\n want %+v", g, want)
	}
	// An hour later the oldest counted hour leaves the window.
	got, err = s.DeliveryStatuses(ctx, app, []string{in.ID}, now.Add(time.Hour))
	if err != nil || got[in.ID].Delivered != 4 || got[in.ID].Retried != 2 {
		t.Fatalf("an hour later: %+v %v", got[in.ID], err)
	}
	// Integrations that were not asked for are not read (or not returned).
	if got, err := s.DeliveryStatuses(ctx, app, nil, now); err != nil || len(got) != 0 {
		t.Fatalf("no ids: %+v %v", got, err)
	}
}

func deliveryStatusMany(t *testing.T, s Store) {
	app, other := appID(), appID()
	a, b, quiet := create(t, s, app), create(t, s, app), create(t, s, app)
	elsewhere := create(t, s, other)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, w := range []struct {
		app, id string
		n       int
	}{{app, a.ID, 1}, {app, b.ID, 2}, {other, elsewhere.ID, 5}} {
		if err := s.AddStatus(ctx, w.app, w.id, now, integration.DeliveryStatus{Delivered: w.n, LastDeliveryAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.DeliveryStatuses(ctx, app, []string{a.ID, b.ID, quiet.ID, elsewhere.ID}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[a.ID].Delivered != 1 || got[b.ID].Delivered != 2 || !got[b.ID].LastDeliveryAt.Equal(now) {
		t.Fatalf("statuses: %+v", got)
	}
	// Only the ids asked for.
	got, err = s.DeliveryStatuses(ctx, app, []string{b.ID, quiet.ID}, now)
	if err != nil || len(got) != 1 || got[b.ID].Delivered != 2 {
		t.Fatalf("statuses of b: %+v %v", got, err)
	}
	if n, err := s.Count(ctx, app); err != nil || n != 3 {
		t.Fatalf("count with status items: %d %v", n, err)
	}
}

func deliveryStatusRace(t *testing.T, s Store) {
	app := appID()
	in := create(t, s, app)
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			errs <- s.AddStatus(ctx, app, in.ID, now, integration.DeliveryStatus{Delivered: 1, Retried: 2})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.DeliveryStatuses(ctx, app, []string{in.ID}, now)
	if err != nil || got[in.ID].Delivered != 8 || got[in.ID].Retried != 16 {
		t.Fatalf("after 8 concurrent writes: %+v %v", got[in.ID], err)
	}
}
