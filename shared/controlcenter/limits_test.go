package controlcenter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestIntegrationLimit(t *testing.T) {
	ctx := context.Background()
	draft := func(t *testing.T) Draft {
		t.Helper()
		d, err := ValidateCreate(validInput())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("past the bound: refused before any secret is written", func(t *testing.T) {
		f := newFixtureWith(t, Limits{IntegrationsPerApp: 2, WritesPerMinute: 100, CredentialWritesPerMinute: 100})
		first := f.create(t, validInput())
		f.create(t, validInput())
		_, err := f.svc.Create(ctx, app, by, draft(t))
		var le *LimitError
		if !errors.As(err, &le) || le.Max != 2 || !errors.Is(err, ErrIntegrationLimit) {
			t.Fatalf("third create: %v, want a *LimitError of 2", err)
		}
		if f.secrets.count() != 2 {
			t.Fatalf("%d secrets, want 2: the refused create wrote one", f.secrets.count())
		}
		// Another app has room of its own; a delete makes room again.
		if _, err := f.svc.Create(ctx, "app-2", by, draft(t)); err != nil {
			t.Fatalf("another app: %v", err)
		}
		if err := f.svc.Delete(ctx, app, first.ID, by, anyVersion{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, app, by, draft(t)); err != nil {
			t.Fatalf("after a delete: %v", err)
		}
	})

	t.Run("filled meanwhile: the store refuses, the new secret is discarded", func(t *testing.T) {
		f := newFixtureWith(t, Limits{IntegrationsPerApp: 1, WritesPerMinute: 100, CredentialWritesPerMinute: 100})
		f.store.before["Create"] = func() {
			f.store.mu.Lock()
			defer f.store.mu.Unlock()
			f.store.items[memKey(app, "competitor")] = validStored(app, "competitor")
		}
		_, err := f.svc.Create(ctx, app, by, draft(t))
		var le *LimitError
		if !errors.As(err, &le) || le.Max != 1 {
			t.Fatalf("create: %v, want a *LimitError of 1", err)
		}
		id := fmt.Sprintf("00000000-0000-7000-8000-%012d", 1)
		if !f.secrets.isScheduled(app, id) {
			t.Fatal("the refused create's secret was not scheduled for deletion")
		}
	})
}

func TestRateLimits(t *testing.T) {
	ctx := context.Background()
	f := newFixtureWith(t, Limits{IntegrationsPerApp: 20, WritesPerMinute: 3, CredentialWritesPerMinute: 1})
	cur := f.create(t, validInput()) // write 1, credentials write 1

	rateLimited := func(t *testing.T, err error, quota string, limit int) {
		t.Helper()
		var re *RateLimitError
		if !errors.As(err, &re) || !errors.Is(err, ErrRateLimited) || re.Quota != quota || re.Limit != limit {
			t.Fatalf("err = %v, want a *RateLimitError on %s of %d", err, quota, limit)
		}
		// now is 05:06:07.891: the window ends at 05:07.
		if want := f.clock.Truncate(time.Minute).Add(time.Minute).Sub(f.clock); re.RetryAfter != want {
			t.Fatalf("retry after %v, want %v", re.RetryAfter, want)
		}
	}
	// A second credentials write in the minute is refused, and touches nothing.
	calls := len(f.store.calls) + len(f.secrets.calls)
	_, err := f.svc.Update(ctx, app, cur.ID, by, anyVersion{}, mustPatch(t, Input{Credentials: creds("key-00000002")}))
	rateLimited(t, err, QuotaCredentialWrites, 1)
	d, _ := ValidateCreate(validInput())
	_, err = f.svc.Create(ctx, app, by, d)
	rateLimited(t, err, QuotaCredentialWrites, 1)
	if len(f.store.calls)+len(f.secrets.calls) != calls {
		t.Fatalf("refused writes touched storage: %v %v", f.store.calls, f.secrets.calls)
	}
	// Writes without credentials still have room: two more, then none.
	if _, err := f.svc.Update(ctx, app, cur.ID, by, anyVersion{}, mustPatch(t, Input{Enabled: ptr(false)})); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, app, "00000000-0000-7000-8000-000000000099", by, anyVersion{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of a missing integration: %v", err)
	}
	_, err = f.svc.Update(ctx, app, cur.ID, by, anyVersion{}, mustPatch(t, Input{Enabled: ptr(true)}))
	rateLimited(t, err, QuotaWrites, 3)
	err = f.svc.Delete(ctx, app, cur.ID, by, anyVersion{})
	rateLimited(t, err, QuotaWrites, 3)
	// Reads are not counted; another app has its own windows; the next minute starts afresh.
	if _, err := f.svc.Get(ctx, app, cur.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.List(ctx, app, 10, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, "app-2", by, d); err != nil {
		t.Fatalf("another app: %v", err)
	}
	f.clock = f.clock.Add(time.Minute)
	if _, err := f.svc.Update(ctx, app, cur.ID, by, anyVersion{}, mustPatch(t, Input{Credentials: creds("key-00000003")})); err != nil {
		t.Fatalf("next window: %v", err)
	}
}

// When the count cannot be made the write is refused (fail closed), and nothing is written.
func TestRateLimitFailsClosed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cur := f.create(t, validInput())
	f.windows.fail = errInjected
	calls := len(f.store.calls) + len(f.secrets.calls)
	d, _ := ValidateCreate(validInput())
	for name, err := range map[string]error{
		"create": func() error { _, err := f.svc.Create(ctx, app, by, d); return err }(),
		"update": func() error {
			_, err := f.svc.Update(ctx, app, cur.ID, by, anyVersion{}, mustPatch(t, Input{Enabled: ptr(false)}))
			return err
		}(),
		"delete": f.svc.Delete(ctx, app, cur.ID, by, anyVersion{}),
	} {
		if !errors.Is(err, errInjected) || errors.Is(err, ErrRateLimited) {
			t.Errorf("%s: %v, want the count's failure", name, err)
		}
	}
	if len(f.store.calls)+len(f.secrets.calls) != calls {
		t.Fatalf("storage touched: %v %v", f.store.calls, f.secrets.calls)
	}
}

func TestAuditTrail(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cur := f.create(t, validInput())
	got, err := f.svc.Update(ctx, app, cur.ID, "user-2", anyVersion{}, mustPatch(t, Input{Name: ptr("Renamed feed"), Enabled: ptr(true), Credentials: creds("key-00000002")}))
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := f.store.item(app, cur.ID)
	for _, in := range []struct {
		name          string
		created, last string
	}{{"returned", got.CreatedBy, got.UpdatedBy}, {"stored", stored.CreatedBy, stored.UpdatedBy}} {
		if in.created != by || in.last != "user-2" {
			t.Errorf("%s: created by %q, updated by %q; want %q, user-2", in.name, in.created, in.last, by)
		}
	}
	if err := f.svc.Delete(ctx, app, cur.ID, "user-3", anyVersion{}); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	for _, want := range []string{
		`"msg":"integration created","app_id":"app-1","integration_id":"` + cur.ID + `","by":"user-1","fields":["name","enabled","scope","app_platform_id","platform","customer_id_source","events","credentials"],"version":1`,
		// enabled was already true: not a change.
		`"msg":"integration changed","app_id":"app-1","integration_id":"` + cur.ID + `","by":"user-2","fields":["name","credentials"],"version":2`,
		`"msg":"integration deleted","app_id":"app-1","integration_id":"` + cur.ID + `","by":"user-3","fields":[],"version":2`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack\n%s\nin\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "Renamed feed") {
		t.Error("a changed value was logged")
	}
}

func TestDeleteTouchesOnlyWhatExisted(t *testing.T) {
	ctx := context.Background()

	t.Run("an id that never existed: no secret touched", func(t *testing.T) {
		f := newFixture(t)
		id := "00000000-0000-7000-8000-000000000042"
		if _, err := f.secrets.Create(ctx, app, id, *creds("key-00000042")); err != nil { // someone else's, at that name
			t.Fatal(err)
		}
		f.secrets.calls = nil
		if err := f.svc.Delete(ctx, app, id, by, anyVersion{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		if len(f.secrets.calls) != 0 || f.secrets.isScheduled(app, id) {
			t.Fatalf("secrets touched: %v", f.secrets.calls)
		}
	})

	t.Run("a secret that is not this deployment's: left alone, logged, deleted", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.secrets.plant(app, cur.ID)
		if err := f.svc.Delete(ctx, app, cur.ID, by, anyVersion{}); err != nil {
			t.Fatalf("err = %v", err)
		}
		if f.secrets.isScheduled(app, cur.ID) {
			t.Fatal("another deployment's secret was scheduled for deletion")
		}
		if !strings.Contains(f.logs.String(), "secret not deleted: not known to be this deployment's") {
			t.Fatalf("not logged: %s", f.logs)
		}
		// Done: the note is gone, so a second delete touches nothing.
		f.secrets.calls = nil
		if err := f.svc.Delete(ctx, app, cur.ID, by, anyVersion{}); !errors.Is(err, ErrNotFound) || len(f.secrets.calls) != 0 {
			t.Fatalf("second delete: %v, secrets %v", err, f.secrets.calls)
		}
	})

	t.Run("the note stays if it cannot be removed, and a retry removes it", func(t *testing.T) {
		f := newFixture(t)
		cur := f.create(t, validInput())
		f.store.fail["CleanupDone"] = errInjected
		if err := f.svc.Delete(ctx, app, cur.ID, by, anyVersion{}); err != nil {
			t.Fatalf("err = %v", err)
		}
		if !f.secrets.isScheduled(app, cur.ID) || !strings.Contains(f.logs.String(), "clean-up note left behind") {
			t.Fatal("secret not scheduled, or the note's failure not logged")
		}
		f.store.fail["CleanupDone"] = nil
		if err := f.svc.Delete(ctx, app, cur.ID, by, anyVersion{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("retry: %v", err)
		}
		if pending, _ := f.store.CleanupPending(ctx, app, cur.ID); pending {
			t.Fatal("the note outlived the retry")
		}
	})
}
