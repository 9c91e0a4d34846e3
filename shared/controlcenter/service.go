// Package controlcenter is what the Nami Control Center can do with an app's mParticle
// integrations: create, read, list, change and delete them. It owns the input rules, the
// optimistic concurrency on versions, and the protocol that keeps an integration's record
// and its credentials consistent; the HTTP layer (package api) decodes requests into it
// and the composition root (package app) plugs storage into its two ports, Store and Secrets.
//
// Consistency between an integration's record (Store) and its credentials (Secrets):
//   - create: the credentials are written first, then the record (conditional on the id
//     being new). If the record write fails the credentials' deletion is scheduled; should
//     that fail too, the leftover is harmless: no record names it and nothing reads
//     credentials without a record.
//   - change with new credentials: the new value is staged as a version that readers of
//     the current value do not see; the record is then pointed at that version by a write
//     conditional on the version the change was made for; only then is the version
//     promoted to current. A lost race or a failed record write leaves an unused staged
//     version, never changed credentials; the record always names the value that belongs
//     to it.
//   - delete: the record is deleted (conditional), then the credentials' deletion is
//     scheduled. If that fails Delete reports ErrCleanupPending, and deleting again (which
//     then finds no record) schedules it again, so no credentials outlive their record.
package controlcenter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
)

// MaxPageSize bounds one List page; the Store must serve pages of up to this many.
const MaxPageSize = 100

// Store keeps integration records. Errors wrap the package's sentinels where documented.
type Store interface {
	// Create writes a new record; ErrConflict if one with the same app and id exists.
	Create(ctx context.Context, in *integration.Integration) error
	// Get reads a record, seeing every write that completed before it; ErrNotFound.
	Get(ctx context.Context, appID, id string) (integration.Integration, error)
	// List returns up to limit records of an app, newest first, after cursor (empty for
	// the first page); Next is empty on the last page. ErrBadCursor for a cursor it did
	// not issue.
	List(ctx context.Context, appID string, limit int, cursor string) (Page, error)
	// Update writes in if the stored version is expected and sets in.Version to
	// expected+1; ErrNotFound, or ErrPreconditionFailed for another version.
	Update(ctx context.Context, in *integration.Integration, expected int64) error
	// Delete removes the record if the stored version is expected; ErrNotFound, or
	// ErrPreconditionFailed for another version.
	Delete(ctx context.Context, appID, id string, expected int64) error
}

// Secrets keeps each integration's credentials, in versions.
type Secrets interface {
	// Create stores the first value of an integration's credentials.
	Create(ctx context.Context, appID, integrationID string, c feedcreds.Credentials) (SecretRef, error)
	// Stage adds a value that readers of the current value do not see, and returns its version.
	Stage(ctx context.Context, secretID string, c feedcreds.Credentials) (string, error)
	// Promote makes a staged version the current value.
	Promote(ctx context.Context, secretID, versionID string) error
	// ScheduleDelete schedules the deletion of an integration's credentials. A missing or
	// already scheduled secret is success, so it can be retried.
	ScheduleDelete(ctx context.Context, appID, integrationID string) error
}

// SecretRef names stored credentials: the secret and the version holding the value.
type SecretRef struct {
	ID        string
	VersionID string
}

// Page is one page of a List: Next is empty on the last page.
type Page struct {
	Items []integration.Integration
	Next  string
}

// Precondition is the version condition a change or delete was made under (an HTTP
// If-Match): Matches reports whether it holds for the stored version.
type Precondition interface {
	Matches(version int64) bool
}

// Config holds a Service's dependencies. Store, Secrets and NewID are required; Now
// defaults to the real clock and Logger to slog.Default().
type Config struct {
	Store   Store
	Secrets Secrets
	// NewID returns a new integration id, of the form ValidID accepts.
	NewID  func() (string, error)
	Now    func() time.Time
	Logger *slog.Logger
}

// Service carries out the Control Center's operations on integrations.
type Service struct {
	store   Store
	secrets Secrets
	newID   func() (string, error)
	now     func() time.Time
	log     *slog.Logger
}

// New returns a service. It panics without a Store, Secrets or NewID: a composition root
// missing one is wrong, and should fail as it starts rather than on its first request.
func New(cfg Config) *Service {
	if cfg.Store == nil || cfg.Secrets == nil || cfg.NewID == nil {
		panic("controlcenter: Config needs Store, Secrets and NewID")
	}
	s := &Service{store: cfg.Store, secrets: cfg.Secrets, newID: cfg.NewID, now: cfg.Now, log: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// maxWriteAttempts bounds how often Update and Delete re-read an integration that changed
// between their read and their conditional write, to evaluate the precondition against
// the new version (it may still hold: "any version", or a list naming it).
const maxWriteAttempts = 3

var errUnchecked = errors.New("controlcenter: input was not validated")

// Get returns an integration; ErrNotFound if the app has none with that id.
func (s *Service) Get(ctx context.Context, appID, id string) (integration.Integration, error) {
	in, err := s.store.Get(ctx, appID, id)
	if err != nil {
		return integration.Integration{}, fmt.Errorf("controlcenter: get %s/%s: %w", appID, id, err)
	}
	return in, nil
}

// List returns a page of up to limit (1 to MaxPageSize) integrations of an app, newest
// first, after cursor (a previous page's Next; empty for the first page). ErrBadCursor
// for a cursor no page handed out.
func (s *Service) List(ctx context.Context, appID string, limit int, cursor string) (Page, error) {
	if limit < 1 || limit > MaxPageSize {
		return Page{}, fmt.Errorf("controlcenter: page size %d outside 1..%d", limit, MaxPageSize)
	}
	page, err := s.store.List(ctx, appID, limit, cursor)
	if err != nil {
		return Page{}, fmt.Errorf("controlcenter: list %s: %w", appID, err)
	}
	return page, nil
}

// Create makes a new integration of the app from a draft, with its credentials stored
// first, and returns it at version 1. ErrConflict if the new id is taken; a
// *ValidationError if the draft breaks a rule.
func (s *Service) Create(ctx context.Context, appID string, d Draft) (integration.Integration, error) {
	if !d.c.checked {
		return integration.Integration{}, errUnchecked
	}
	next, err := apply(defaults(), d.c, true)
	if err != nil {
		return integration.Integration{}, err
	}
	id, err := s.newID()
	if err != nil {
		return integration.Integration{}, fmt.Errorf("controlcenter: new id: %w", err)
	}
	if !ValidID(id) {
		return integration.Integration{}, fmt.Errorf("controlcenter: new id %q is not a canonical UUID", id)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	next.ID, next.AppID = id, appID
	next.CreatedAt, next.UpdatedAt, next.Version = now, now, 1

	// Credentials first: a record must never name credentials that do not exist.
	creds := *d.c.Credentials
	ref, err := s.secrets.Create(ctx, appID, id, creds)
	if err != nil {
		// The secret may exist even though the call failed (e.g. a lost response).
		s.discardSecret(ctx, appID, id)
		return integration.Integration{}, fmt.Errorf("controlcenter: store the credentials of %s/%s: %w", appID, id, err)
	}
	next.SecretID, next.SecretVersionID = ref.ID, ref.VersionID
	next.KeyHint, next.CredentialsUpdatedAt = keyHint(creds.Key), now
	if err := s.store.Create(ctx, &next); err != nil {
		s.discardSecret(ctx, appID, id)
		return integration.Integration{}, fmt.Errorf("controlcenter: create %s/%s: %w", appID, id, err)
	}
	return next, nil
}

// discardSecret schedules deletion of credentials no record names. Failure is only
// logged: such a secret is unreachable, since everything goes by the record.
func (s *Service) discardSecret(ctx context.Context, appID, id string) {
	if err := s.secrets.ScheduleDelete(ctx, appID, id); err != nil {
		s.log.ErrorContext(ctx, "unreferenced secret left behind", "app_id", appID, "integration_id", id, "error", err.Error())
	}
}

// Update applies a patch to an integration if cond holds for its stored version, and
// returns the result (the stored integration, unchanged, for an empty patch). It fails
// with ErrNotFound, a *PreconditionError, or a *ValidationError when the patch conflicts
// with what is stored; new credentials are staged, named by the record, then promoted.
func (s *Service) Update(ctx context.Context, appID, id string, cond Precondition, p Patch) (integration.Integration, error) {
	if !p.c.checked {
		return integration.Integration{}, errUnchecked
	}
	var staged string // the new credentials' version, staged once
	for attempt := 1; ; attempt++ {
		cur, err := s.store.Get(ctx, appID, id)
		if err != nil {
			return integration.Integration{}, fmt.Errorf("controlcenter: update %s/%s: %w", appID, id, err)
		}
		if !cond.Matches(cur.Version) {
			return integration.Integration{}, &PreconditionError{Current: cur.Version}
		}
		next, err := apply(cur, p.c, false)
		if err != nil {
			return integration.Integration{}, err
		}
		if p.Empty() {
			return cur, nil
		}
		now := s.now().UTC().Truncate(time.Millisecond)
		next.UpdatedAt = now
		if creds := p.c.Credentials; creds != nil {
			if cur.SecretID == "" {
				return integration.Integration{}, fmt.Errorf("controlcenter: update %s/%s: integration has no secret to rotate", appID, id)
			}
			if staged == "" {
				// Staged, not current: nobody reads it until the record below names it.
				staged, err = s.secrets.Stage(ctx, cur.SecretID, *creds)
				if err != nil {
					return integration.Integration{}, fmt.Errorf("controlcenter: stage the credentials of %s/%s: %w", appID, id, err)
				}
			}
			next.SecretVersionID, next.KeyHint, next.CredentialsUpdatedAt = staged, keyHint(creds.Key), now
		}
		switch err := s.store.Update(ctx, &next, cur.Version); {
		case errors.Is(err, ErrPreconditionFailed):
			if attempt < maxWriteAttempts {
				continue
			}
			return integration.Integration{}, &PreconditionError{}
		case err != nil:
			return integration.Integration{}, fmt.Errorf("controlcenter: update %s/%s: %w", appID, id, err)
		}
		if staged != "" {
			// The record already names the staged version, so the change stands either
			// way; promotion keeps readers of the current value in step.
			if err := s.secrets.Promote(ctx, cur.SecretID, staged); err != nil {
				s.log.ErrorContext(ctx, "new credentials saved but not promoted to AWSCURRENT",
					"app_id", appID, "integration_id", id, "secret_version_id", staged, "error", err.Error())
			}
		}
		return next, nil
	}
}

// Delete removes an integration if cond holds for its stored version, then schedules the
// deletion of its credentials. It fails with ErrNotFound, a *PreconditionError, or
// ErrCleanupPending when the record is gone but its credentials' deletion could not be
// scheduled. A Delete that finds no record still schedules that deletion, finishing the
// work of an earlier Delete that failed half-way (nothing happens for an id that never
// existed).
func (s *Service) Delete(ctx context.Context, appID, id string, cond Precondition) error {
	for attempt := 1; ; attempt++ {
		cur, err := s.store.Get(ctx, appID, id)
		if errors.Is(err, ErrNotFound) {
			return s.deleted(ctx, appID, id, err)
		}
		if err != nil {
			return fmt.Errorf("controlcenter: delete %s/%s: %w", appID, id, err)
		}
		if !cond.Matches(cur.Version) {
			return &PreconditionError{Current: cur.Version}
		}
		switch err := s.store.Delete(ctx, appID, id, cur.Version); {
		case errors.Is(err, ErrNotFound):
			return s.deleted(ctx, appID, id, err)
		case errors.Is(err, ErrPreconditionFailed):
			if attempt < maxWriteAttempts {
				continue
			}
			return &PreconditionError{}
		case err != nil:
			return fmt.Errorf("controlcenter: delete %s/%s: %w", appID, id, err)
		}
		if err := s.secrets.ScheduleDelete(ctx, appID, id); err != nil {
			return fmt.Errorf("controlcenter: delete %s/%s: %w: %w", appID, id, ErrCleanupPending, err)
		}
		return nil
	}
}

// deleted answers a Delete of an integration that is not there (notFound, the store's
// error): it schedules its credentials' deletion and reports notFound, or the failure to
// schedule it.
func (s *Service) deleted(ctx context.Context, appID, id string, notFound error) error {
	if err := s.secrets.ScheduleDelete(ctx, appID, id); err != nil {
		return fmt.Errorf("controlcenter: delete %s/%s: schedule the deletion of leftover credentials: %w", appID, id, err)
	}
	return fmt.Errorf("controlcenter: delete %s/%s: %w", appID, id, notFound)
}
