package controlcenter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

const (
	app = "app-1"
	by  = "user-1"
)

// limits are the fixture's: room enough for every test but the ones about limits.
var limits = Limits{IntegrationsPerApp: 20, WritesPerMinute: 100, CredentialWritesPerMinute: 100}

var now = time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)

type fixture struct {
	svc     *Service
	store   *memStore
	secrets *memSecrets
	windows *memWindows
	logs    *bytes.Buffer
	ids     int
	clock   time.Time
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, limits) }

func newFixtureWith(t *testing.T, l Limits) *fixture {
	t.Helper()
	f := &fixture{store: newMemStore(), secrets: newMemSecrets(), windows: newMemWindows(), logs: &bytes.Buffer{}, clock: now}
	f.svc = New(Config{
		Store:   f.store,
		Secrets: f.secrets,
		Windows: f.windows,
		NewID: func() (string, error) {
			f.ids++
			return fmt.Sprintf("00000000-0000-7000-8000-%012d", f.ids), nil
		},
		Limits: l,
		Now:    func() time.Time { return f.clock },
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
	})
	t.Cleanup(func() {
		// Whatever a test did, no credential value was logged.
		for _, c := range f.secrets.written() {
			if strings.Contains(f.logs.String(), c.Key) || strings.Contains(f.logs.String(), c.Secret) {
				t.Errorf("a credential value appears in the logs")
			}
		}
	})
	return f
}

func ptr[T any](v T) *T { return &v }

func creds(key string) *feedcreds.Credentials {
	return &feedcreds.Credentials{Key: key, Secret: "secret-" + key}
}

// validInput is a create input for a platform-scoped integration.
func validInput() Input {
	return Input{
		Name: ptr("iOS feed"), Enabled: ptr(true), Scope: ptr("platform"), AppPlatformID: ptr("plat-ios"),
		Platform: ptr("ios"), Events: []string{"device.impression", "user.subscription.purchased"},
		Credentials: creds("key-00000001"),
	}
}

func (f *fixture) create(t *testing.T, in Input) integration.Integration {
	t.Helper()
	d, err := ValidateCreate(in)
	if err != nil {
		t.Fatalf("ValidateCreate: %v", err)
	}
	created, err := f.svc.Create(context.Background(), app, by, d)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return created
}

func mustPatch(t *testing.T, in Input) Patch {
	t.Helper()
	p, err := ValidatePatch(in)
	if err != nil {
		t.Fatalf("ValidatePatch: %v", err)
	}
	return p
}

// ifVersion is a precondition naming versions; anyVersion is "*".
type ifVersion []int64

func (v ifVersion) Matches(version int64) bool { return slices.Contains(v, version) }

type anyVersion struct{}

func (anyVersion) Matches(int64) bool { return true }

func TestCreate(t *testing.T) {
	f := newFixture(t)
	in := validInput()
	in.Credentials = creds("us2-key-0000abcd")
	got := f.create(t, in)

	stored, ok := f.store.item(app, got.ID)
	if !ok {
		t.Fatal("no record")
	}
	want := integration.Integration{
		ID: got.ID, AppID: app, Name: "iOS feed", Enabled: true, Scope: integration.ScopePlatform,
		AppPlatformID: "plat-ios", Platform: "ios", Pod: mparticle.PodPartner,
		CustomerIDSource: integration.CustomerIDExternal,
		Events:           []event.Type{event.DeviceImpression, event.SubscriptionPurchased}, // the product order
		SecretID:         app + "/" + got.ID, SecretVersionID: "v1", KeyHint: "abcd", KeyPod: "US2",
		CredentialsUpdatedAt: now.Truncate(time.Millisecond),
		CreatedAt:            now.Truncate(time.Millisecond), UpdatedAt: now.Truncate(time.Millisecond), Version: 1,
		CreatedBy: by, UpdatedBy: by,
	}
	if !reflect.DeepEqual(stored, want) || !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %+v\nreturned %+v\nwant %+v", stored, got, want)
	}
	if c, _ := f.secrets.value(stored.SecretID, stored.SecretVersionID); c != *in.Credentials {
		t.Fatal("the record's secret version does not hold the credentials")
	}
	// Credentials first: a record never names a secret that does not exist. The app's
	// count is read before either, and the write counted before anything.
	if !slices.Equal(f.secrets.calls, []string{"Create"}) || !slices.Equal(f.store.calls, []string{"Count", "Create"}) || f.secrets.count() != 1 {
		t.Fatalf("calls: secrets %v, store %v", f.secrets.calls, f.store.calls)
	}
	if f.windows.calls != 1 {
		t.Fatalf("%d writes counted, want 1", f.windows.calls)
	}
}

func TestCreateFailures(t *testing.T) {
	conflict := fmt.Errorf("create: %w", ErrConflict)
	tests := []struct {
		name          string
		secretFail    error
		storeFail     error
		cleanupFail   error
		want          error
		wantScheduled bool // the leftover secret's deletion was scheduled
		wantLogged    bool // the leftover secret was logged
	}{
		{name: "credentials write fails", secretFail: errInjected, want: errInjected},
		{name: "record write fails", storeFail: errInjected, want: errInjected, wantScheduled: true},
		{name: "id taken", storeFail: conflict, want: ErrConflict, wantScheduled: true},
		{name: "record write and clean-up fail", storeFail: errInjected, cleanupFail: errInjected, want: errInjected, wantLogged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.secrets.fail["Create"] = tt.secretFail
			f.secrets.fail["ScheduleDelete"] = tt.cleanupFail
			f.store.fail["Create"] = tt.storeFail
			d, err := ValidateCreate(validInput())
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.svc.Create(context.Background(), app, by, d)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			id := fmt.Sprintf("00000000-0000-7000-8000-%012d", 1)
			if _, ok := f.store.item(app, id); ok {
				t.Fatal("a record was left")
			}
			// Every failure tries to remove what may have been written.
			if !slices.Contains(f.secrets.calls, "ScheduleDelete") {
				t.Fatal("no clean-up attempted")
			}
			if got := f.secrets.isScheduled(app, id); got != tt.wantScheduled {
				t.Fatalf("secret scheduled for deletion: %v, want %v", got, tt.wantScheduled)
			}
			if got := strings.Contains(f.logs.String(), "unreferenced secret left behind"); got != tt.wantLogged {
				t.Fatalf("leftover logged: %v, want %v (%s)", got, tt.wantLogged, f.logs)
			}
		})
	}
}

func TestCreateNeedsAValidID(t *testing.T) {
	for name, newID := range map[string]func() (string, error){
		"fails":        func() (string, error) { return "", errInjected },
		"not a UUID":   func() (string, error) { return "id-1", nil },
		"upper case":   func() (string, error) { return "0190A5B2-0000-7000-8000-000000000001", nil },
		"with a slash": func() (string, error) { return "a/b", nil },
	} {
		t.Run(name, func(t *testing.T) {
			store, secrets := newMemStore(), newMemSecrets()
			svc := New(Config{Store: store, Secrets: secrets, Windows: newMemWindows(), NewID: newID, Limits: limits})
			d, err := ValidateCreate(validInput())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Create(context.Background(), app, by, d); err == nil {
				t.Fatal("created")
			}
			if slices.ContainsFunc(store.calls, func(c string) bool { return c != "Count" }) || len(secrets.calls) != 0 {
				t.Fatalf("storage written: %v %v", store.calls, secrets.calls)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	t.Run("a change at the current version", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		got, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, mustPatch(t, Input{Name: ptr(" renamed "), Pod: ptr("eu1")}))
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := f.store.item(app, cur.ID)
		if got.Version != 2 || got.Name != "renamed" || got.Pod != "EU1" || fmt.Sprint(stored) != fmt.Sprint(got) {
			t.Fatalf("returned %+v, stored %+v", got, stored)
		}
		if got.SecretVersionID != cur.SecretVersionID || slices.Contains(f.secrets.calls, "Stage") {
			t.Fatal("credentials touched by a change without them")
		}
	})

	t.Run("an empty patch writes nothing", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		got, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, mustPatch(t, Input{}))
		if err != nil || got.Version != 1 || slices.Contains(f.store.calls, "Update") {
			t.Fatalf("v%d, %v, calls %v", got.Version, err, f.store.calls)
		}
	})

	t.Run("rotation: staged, named by the record, then promoted", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		next := creds("us1-key-00009999")
		got, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, mustPatch(t, Input{Credentials: next}))
		if err != nil {
			t.Fatal(err)
		}
		if got.SecretVersionID == cur.SecretVersionID || got.KeyHint != "9999" || got.KeyPod != "US1" {
			t.Fatalf("record %+v", got)
		}
		for _, v := range []string{got.SecretVersionID, ""} {
			if c, _ := f.secrets.value(got.SecretID, v); c != *next {
				t.Fatalf("version %q does not hold the new credentials", v)
			}
		}
		if !slices.Equal(f.secrets.calls, []string{"Create", "Stage", "Promote"}) {
			t.Fatalf("secret calls %v", f.secrets.calls)
		}
	})

	t.Run("the record is missing", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.svc.Update(ctx, app, "00000000-0000-7000-8000-000000000009", by, anyVersion{}, mustPatch(t, Input{Credentials: creds("key-00000002")}))
		if !errors.Is(err, ErrNotFound) || len(f.secrets.calls) != 0 {
			t.Fatalf("err %v, secret calls %v", err, f.secrets.calls)
		}
	})
}

func TestUpdateFailures(t *testing.T) {
	ctx := context.Background()
	rotation := func(t *testing.T) Patch {
		return mustPatch(t, Input{Name: ptr("rotated"), Credentials: creds("key-rotated-2")})
	}
	// unchanged checks that the record and its current credentials are as created.
	unchanged := func(t *testing.T, f *fixture, cur integration.Integration) {
		t.Helper()
		stored, _ := f.store.item(app, cur.ID)
		if fmt.Sprint(stored) != fmt.Sprint(cur) {
			t.Fatalf("record changed: %+v", stored)
		}
		if c, _ := f.secrets.value(cur.SecretID, ""); c != *validInput().Credentials {
			t.Fatal("current credentials changed")
		}
	}

	t.Run("stale version: 412 with the current version, nothing staged", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		_, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{2, 7}, rotation(t))
		var pe *PreconditionError
		if !errors.As(err, &pe) || pe.Current != 1 || !errors.Is(err, ErrPreconditionFailed) {
			t.Fatalf("err = %v", err)
		}
		if slices.Contains(f.secrets.calls, "Stage") {
			t.Fatal("staged under a failed precondition")
		}
		unchanged(t, f, cur)
	})

	t.Run("staging fails: nothing changes", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.secrets.fail["Stage"] = errInjected
		if _, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, rotation(t)); !errors.Is(err, errInjected) {
			t.Fatalf("err = %v", err)
		}
		unchanged(t, f, cur)
	})

	t.Run("record write fails: the staged value is never made current", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.fail["Update"] = errInjected
		if _, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, rotation(t)); !errors.Is(err, errInjected) {
			t.Fatalf("err = %v", err)
		}
		unchanged(t, f, cur)
		if slices.Contains(f.secrets.calls, "Promote") {
			t.Fatal("promoted")
		}
	})

	t.Run("lost race for a named version: 412, the winner stands", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.before["Update"] = func() {
			if _, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, mustPatch(t, Input{Enabled: ptr(false)})); err != nil {
				t.Errorf("competitor: %v", err)
			}
		}
		_, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, rotation(t))
		var pe *PreconditionError
		if !errors.As(err, &pe) || pe.Current != 2 {
			t.Fatalf("err = %v", err)
		}
		stored, _ := f.store.item(app, cur.ID)
		if stored.Version != 2 || stored.Name != "iOS feed" || stored.SecretVersionID != cur.SecretVersionID {
			t.Fatalf("record %+v", stored)
		}
		if slices.Contains(f.secrets.calls, "Promote") {
			t.Fatal("the loser's credentials were promoted")
		}
	})

	t.Run("lost race under any version: applied on the winner's, staged once", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.before["Update"] = func() {
			if _, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, mustPatch(t, Input{Enabled: ptr(false)})); err != nil {
				t.Errorf("competitor: %v", err)
			}
		}
		got, err := f.svc.Update(ctx, app, cur.ID, by, anyVersion{}, rotation(t))
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 3 || got.Name != "rotated" || got.Enabled {
			t.Fatalf("one of the two changes is lost: %+v", got)
		}
		stages := 0
		for _, c := range f.secrets.calls {
			if c == "Stage" {
				stages++
			}
		}
		if stages != 1 {
			t.Fatalf("staged %d times", stages)
		}
		if c, _ := f.secrets.value(cur.SecretID, ""); c.Key != "key-rotated-2" {
			t.Fatal("new credentials not current")
		}
	})

	t.Run("the version keeps changing: 412 after the last attempt", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.fail["Update"] = fmt.Errorf("update: %w", ErrPreconditionFailed)
		_, err := f.svc.Update(ctx, app, cur.ID, by, anyVersion{}, rotation(t))
		var pe *PreconditionError
		if !errors.As(err, &pe) || pe.Current != 0 {
			t.Fatalf("err = %v", err)
		}
		if n := len(slices.DeleteFunc(slices.Clone(f.store.calls), func(c string) bool { return c != "Update" })); n != maxWriteAttempts {
			t.Fatalf("%d writes, want %d", n, maxWriteAttempts)
		}
	})

	t.Run("promotion fails: the change stands and is logged", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.secrets.fail["Promote"] = errInjected
		got, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, rotation(t))
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := f.secrets.value(got.SecretID, got.SecretVersionID); c.Key != "key-rotated-2" {
			t.Fatal("the record's version does not hold the new credentials")
		}
		if !strings.Contains(f.logs.String(), "not promoted to AWSCURRENT") {
			t.Fatal("not logged")
		}
	})

	t.Run("a record without a secret cannot rotate", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.items[memKey(app, cur.ID)] = func() integration.Integration { in := cur; in.SecretID = ""; return in }()
		_, err := f.svc.Update(ctx, app, cur.ID, by, anyVersion{}, rotation(t))
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrPreconditionFailed) {
			t.Fatalf("err = %v, want an internal error", err)
		}
	})
}

// Rules that depend on the stored integration are checked after its precondition.
func TestUpdateChecksTheStoredIntegration(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	in := validInput()
	in.Scope, in.AppPlatformID, in.AllowLegacyScope = ptr("all_platforms"), nil, ptr(true)
	legacy := f.create(t, in)
	us2 := f.create(t, func() Input { in := validInput(); in.Credentials = creds("us2-key-00000003"); return in }())

	tests := []struct {
		name   string
		id     string
		cond   Precondition
		in     Input
		want   error
		field  string
		legacy bool
	}{
		{"app platform on a legacy integration", legacy.ID, ifVersion{1}, Input{AppPlatformID: ptr("p")}, nil, "app_platform_id", false},
		{"precondition first", legacy.ID, ifVersion{9}, Input{AppPlatformID: ptr("p")}, ErrPreconditionFailed, "", false},
		{"a legacy integration may stay legacy", legacy.ID, ifVersion{1}, Input{Scope: ptr("all_platforms")}, nil, "", false},
		{"switching to legacy is refused", us2.ID, ifVersion{1}, Input{Scope: ptr("all_platforms")}, ErrLegacyScope, "scope", true},
		{"pod against the stored key", us2.ID, ifVersion{1}, Input{Pod: ptr("EU1")}, nil, "pod", false},
		{"the key's own pod", us2.ID, ifVersion{1}, Input{Pod: ptr("us2")}, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Update(ctx, app, tt.id, by, tt.cond, mustPatch(t, tt.in))
			var verr *ValidationError
			switch {
			case tt.field != "":
				if !errors.As(err, &verr) || verr.Field != tt.field || errors.Is(err, ErrLegacyScope) != tt.legacy {
					t.Fatalf("err = %v, want a validation error on %s", err, tt.field)
				}
			case tt.want != nil:
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	t.Run("the record, then the credentials", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		if err := f.svc.Delete(ctx, app, cur.ID, by, ifVersion{1}); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.store.item(app, cur.ID); ok || !f.secrets.isScheduled(app, cur.ID) {
			t.Fatalf("record left %v, secret scheduled %v", ok, f.secrets.isScheduled(app, cur.ID))
		}
	})

	t.Run("stale version: nothing deleted", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		var pe *PreconditionError
		if err := f.svc.Delete(ctx, app, cur.ID, by, ifVersion{2}); !errors.As(err, &pe) || pe.Current != 1 {
			t.Fatalf("err = %v", err)
		}
		if _, ok := f.store.item(app, cur.ID); !ok || f.secrets.isScheduled(app, cur.ID) {
			t.Fatal("deleted")
		}
	})

	t.Run("record delete fails: the credentials stay", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.fail["Delete"] = errInjected
		if err := f.svc.Delete(ctx, app, cur.ID, by, anyVersion{}); !errors.Is(err, errInjected) {
			t.Fatalf("err = %v", err)
		}
		if f.secrets.isScheduled(app, cur.ID) {
			t.Fatal("secret scheduled while its record stays")
		}
	})

	t.Run("clean-up fails: cleanup pending, and deleting again finishes it", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.secrets.fail["ScheduleDelete"] = errInjected
		err := f.svc.Delete(ctx, app, cur.ID, by, ifVersion{1})
		if !errors.Is(err, ErrCleanupPending) || errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		if _, ok := f.store.item(app, cur.ID); ok {
			t.Fatal("record left")
		}
		// Retried while the secret store still fails: not "not found", the work is unfinished.
		if err := f.svc.Delete(ctx, app, cur.ID, by, ifVersion{1}); err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrCleanupPending) {
			t.Fatalf("retry while failing: %v", err)
		}
		f.secrets.fail["ScheduleDelete"] = nil
		if err := f.svc.Delete(ctx, app, cur.ID, by, ifVersion{1}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("retry: %v", err)
		}
		if !f.secrets.isScheduled(app, cur.ID) {
			t.Fatal("the retry did not schedule the leftover secret's deletion")
		}
	})

	t.Run("lost race: re-read, then 412", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.before["Delete"] = func() {
			if _, err := f.svc.Update(ctx, app, cur.ID, by, ifVersion{1}, mustPatch(t, Input{Enabled: ptr(false)})); err != nil {
				t.Errorf("competitor: %v", err)
			}
		}
		var pe *PreconditionError
		if err := f.svc.Delete(ctx, app, cur.ID, by, ifVersion{1}); !errors.As(err, &pe) || pe.Current != 2 {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("the version keeps changing: 412 after the last attempt", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.fail["Delete"] = fmt.Errorf("delete: %w", ErrPreconditionFailed)
		var pe *PreconditionError
		if err := f.svc.Delete(ctx, app, cur.ID, by, anyVersion{}); !errors.As(err, &pe) || pe.Current != 0 {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestList(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var ids []string
	for range 5 {
		ids = append(ids, f.create(t, validInput()).ID)
	}
	slices.Reverse(ids) // newest first
	var got []string
	cursor := ""
	for {
		p, err := f.svc.List(ctx, app, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range p.Items {
			got = append(got, in.ID)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("listed %v, want %v", got, ids)
	}
	if _, err := f.svc.List(ctx, app, 2, "bogus"); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
	for _, limit := range []int{0, -1, MaxPageSize + 1} {
		if _, err := f.svc.List(ctx, app, limit, ""); err == nil {
			t.Errorf("page size %d accepted", limit)
		}
	}
	if _, err := f.svc.Get(ctx, app, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(ctx, "other-app", ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another app's integration: %v", err)
	}
}

func TestInputMustBeValidated(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Create(context.Background(), app, by, Draft{}); err == nil {
		t.Error("created from an unchecked draft")
	}
	if _, err := f.svc.Update(context.Background(), app, "x", by, anyVersion{}, Patch{}); err == nil {
		t.Error("updated from an unchecked patch")
	}
	if len(f.store.calls)+len(f.secrets.calls) != 0 {
		t.Fatal("storage touched")
	}
}

func TestNewNeedsItsPorts(t *testing.T) {
	newID := func() (string, error) { return "", nil }
	for name, cfg := range map[string]Config{
		"no store":   {Secrets: newMemSecrets(), NewID: newID},
		"no secrets": {Store: newMemStore(), NewID: newID},
		"no ids":     {Store: newMemStore(), Secrets: newMemSecrets()},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			New(cfg)
		})
	}
}
