// Package controlcenter is what the Nami Control Center can do with an app's mParticle
// integrations: create, read, list, change and delete them. It owns the input rules, the
// optimistic concurrency on versions, and the protocol that keeps an integration's record
// and its credentials consistent; the HTTP layer (package api) decodes requests into it
// and the composition root (package app) plugs storage into its ports: Store, Secrets and
// Windows.
//
// One tenant cannot hurt another: an app has at most Limits.IntegrationsPerApp
// integrations (the Store enforces it atomically with the record write), and its writes are
// counted in fixed windows of RateWindow shared by every instance (Windows): at most
// Limits.WritesPerMinute creates, changes and deletes, of which at most
// Limits.CredentialWritesPerMinute write credentials. A write is counted once its input is
// valid, before anything is read or written. If the count itself fails the write is refused
// (fail closed): the count is a write to the same table, in the same partition, as the
// write it guards, so failing open would let writes through exactly when that partition is
// under pressure, which is when the limit matters.
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
//   - delete: the record is deleted (conditional) and a clean-up note is left in the same
//     write; the credentials' deletion is then scheduled and the note removed. If that fails
//     Delete reports ErrCleanupPending, and deleting again (which then finds no record but
//     the note) schedules it again, so no credentials outlive their record. A delete of an
//     integration that never existed touches no credentials, and credentials that are not
//     this deployment's (ErrSecretNotOwned) are left alone and logged.
//   - the sandbox credentials (sandbox policy "separate", sandbox.go) are a second secret,
//     <app>/<id>/sandbox, kept by the same three rules.
//
// Every change records who made it (the caller's token subject: created_by, updated_by)
// and is logged with the names of the fields it changed, never their values.
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
	// Create writes a new record if the app has fewer than max; ErrConflict if one with the
	// same app and id exists, ErrIntegrationLimit if the app has max. Concurrent creates
	// never take an app past max.
	Create(ctx context.Context, in *integration.Integration, max int) error
	// Count returns how many records the app has.
	Count(ctx context.Context, appID string) (int, error)
	// Get reads a record, seeing every write that completed before it; ErrNotFound.
	Get(ctx context.Context, appID, id string) (integration.Integration, error)
	// List returns up to limit records of an app, newest first, after cursor (empty for
	// the first page); Next is empty on the last page. ErrBadCursor for a cursor it did
	// not issue.
	List(ctx context.Context, appID string, limit int, cursor string) (Page, error)
	// Update writes in if the stored version is expected and sets in.Version to
	// expected+1; ErrNotFound, or ErrPreconditionFailed for another version.
	Update(ctx context.Context, in *integration.Integration, expected int64) error
	// Delete removes the record if the stored version is expected, and leaves a clean-up
	// note in the same write; ErrNotFound, or ErrPreconditionFailed for another version.
	Delete(ctx context.Context, appID, id string, expected int64) error
	// CleanupPending reports whether a deleted record's clean-up note is there.
	CleanupPending(ctx context.Context, appID, id string) (bool, error)
	// CleanupDone removes a deleted record's clean-up note.
	CleanupDone(ctx context.Context, appID, id string) error
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
	// already scheduled secret is success, so it can be retried; ErrSecretNotOwned for a
	// secret this deployment did not create, which it leaves alone.
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

// Config holds a Service's dependencies. Store, Secrets, Windows, NewID and Limits are
// required; Now defaults to the real clock and Logger to slog.Default().
type Config struct {
	Store   Store
	Secrets Secrets
	Windows Windows
	// NewID returns a new integration id, of the form ValidID accepts.
	NewID  func() (string, error)
	Limits Limits
	Now    func() time.Time
	Logger *slog.Logger
	// Statuses reads the Forwarder's delivery status (status.go); nil: none shown.
	Statuses StatusReader
}

// Service carries out the Control Center's operations on integrations.
type Service struct {
	store   Store
	secrets Secrets
	windows Windows
	newID   func() (string, error)
	limits  Limits
	now     func() time.Time
	log     *slog.Logger
	// statuses may be nil (status.go).
	statuses StatusReader
}

// New returns a service. It panics without a Store, Secrets, Windows, NewID or a positive
// limit: a composition root missing one is wrong, and should fail as it starts rather than
// on its first request.
func New(cfg Config) *Service {
	if cfg.Store == nil || cfg.Secrets == nil || cfg.Windows == nil || cfg.NewID == nil {
		panic("controlcenter: Config needs Store, Secrets, Windows and NewID")
	}
	if l := cfg.Limits; l.IntegrationsPerApp < 1 || l.WritesPerMinute < 1 || l.CredentialWritesPerMinute < 1 {
		panic(fmt.Sprintf("controlcenter: every limit must be at least 1: %+v", l))
	}
	s := &Service{store: cfg.Store, secrets: cfg.Secrets, windows: cfg.Windows, newID: cfg.NewID,
		limits: cfg.Limits, now: cfg.Now, log: cfg.Logger, statuses: cfg.Statuses}
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

// Create makes a new integration of the app from a draft, on behalf of the caller by (a
// token subject), with its credentials stored first, and returns it at version 1.
// ErrConflict if the new id is taken; a *ValidationError if the draft breaks a rule; a
// *RateLimitError past the app's writes, a *LimitError past its integrations.
func (s *Service) Create(ctx context.Context, appID, by string, d Draft) (integration.Integration, error) {
	if !d.c.checked {
		return integration.Integration{}, errUnchecked
	}
	next, err := apply(defaults(), d.c, true)
	if err != nil {
		return integration.Integration{}, err
	}
	if err := s.take(ctx, appID, true); err != nil {
		return integration.Integration{}, err
	}
	// Refused here, the common case costs no secret; the Store's check below is the one
	// that holds under concurrency.
	n, err := s.store.Count(ctx, appID)
	if err != nil {
		return integration.Integration{}, fmt.Errorf("controlcenter: count the integrations of %s: %w", appID, err)
	}
	if n >= s.limits.IntegrationsPerApp {
		return integration.Integration{}, &LimitError{Max: s.limits.IntegrationsPerApp}
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
	next.CreatedBy, next.UpdatedBy = by, by

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
	if sc := d.c.SandboxCredentials; sc != nil {
		if err := s.createSandboxSecret(ctx, &next, *sc); err != nil {
			s.discardSecret(ctx, appID, id)
			s.discardSandboxSecret(ctx, appID, id)
			return integration.Integration{}, err
		}
	}
	if err := s.store.Create(ctx, &next, s.limits.IntegrationsPerApp); err != nil {
		s.discardSecret(ctx, appID, id)
		if d.c.SandboxCredentials != nil {
			s.discardSandboxSecret(ctx, appID, id)
		}
		if errors.Is(err, ErrIntegrationLimit) {
			return integration.Integration{}, &LimitError{Max: s.limits.IntegrationsPerApp}
		}
		return integration.Integration{}, fmt.Errorf("controlcenter: create %s/%s: %w", appID, id, err)
	}
	s.logChange(ctx, "created", next, by, withSandboxCredentials(changed(integration.Integration{}, next, true), d.c))
	return next, nil
}

// discardSecret schedules deletion of credentials no record names. Failure is only
// logged: such a secret is unreachable, since everything goes by the record.
func (s *Service) discardSecret(ctx context.Context, appID, id string) {
	if err := s.deleteSecret(ctx, appID, id); err != nil {
		s.log.ErrorContext(ctx, "unreferenced secret left behind", "app_id", appID, "integration_id", id, "error", err.Error())
	}
}

// Update applies a patch to an integration if cond holds for its stored version, on
// behalf of the caller by, and returns the result (the stored integration, unchanged, for
// an empty patch). It fails with ErrNotFound, a *PreconditionError, a *ValidationError when
// the patch conflicts with what is stored, or a *RateLimitError; new credentials are
// staged, named by the record, then promoted.
func (s *Service) Update(ctx context.Context, appID, id, by string, cond Precondition, p Patch) (integration.Integration, error) {
	if !p.c.checked {
		return integration.Integration{}, errUnchecked
	}
	if err := s.take(ctx, appID, p.c.Credentials != nil || p.c.SandboxCredentials != nil); err != nil {
		return integration.Integration{}, err
	}
	var staged string // the new credentials' version, staged once
	var sandbox sandboxRotation
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
		next.UpdatedAt, next.UpdatedBy = now, by
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
		if sc := p.c.SandboxCredentials; sc != nil {
			if err := sandbox.write(ctx, s, cur, *sc); err != nil {
				return integration.Integration{}, err
			}
			sandbox.point(&next, cur, *sc)
		}
		switch err := s.store.Update(ctx, &next, cur.Version); {
		case errors.Is(err, ErrPreconditionFailed):
			if attempt < maxWriteAttempts {
				continue
			}
			sandbox.failed(ctx, s, appID, id)
			return integration.Integration{}, &PreconditionError{}
		case err != nil:
			sandbox.failed(ctx, s, appID, id)
			return integration.Integration{}, fmt.Errorf("controlcenter: update %s/%s: %w", appID, id, err)
		}
		sandbox.done(ctx, s, cur)
		if staged != "" {
			// The record already names the staged version, so the change stands either
			// way; promotion keeps readers of the current value in step.
			if err := s.secrets.Promote(ctx, cur.SecretID, staged); err != nil {
				s.log.ErrorContext(ctx, "new credentials saved but not promoted to AWSCURRENT",
					"app_id", appID, "integration_id", id, "secret_version_id", staged, "error", err.Error())
			}
		}
		s.logChange(ctx, "changed", next, by, withSandboxCredentials(changed(cur, next, p.c.Credentials != nil), p.c))
		return next, nil
	}
}

// Delete removes an integration if cond holds for its stored version, on behalf of the
// caller by, then schedules the deletion of its credentials. It fails with ErrNotFound, a
// *PreconditionError, a *RateLimitError, or ErrCleanupPending when the record is gone but
// its credentials' deletion could not be scheduled. A Delete that finds no record finishes
// the work of an earlier Delete that failed half-way (the record's clean-up note says so);
// for an id that never existed it touches nothing.
func (s *Service) Delete(ctx context.Context, appID, id, by string, cond Precondition) error {
	if err := s.take(ctx, appID, false); err != nil {
		return err
	}
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
		s.logChange(ctx, "deleted", cur, by, []string{})
		if err := s.cleanup(ctx, appID, id); err != nil {
			return fmt.Errorf("controlcenter: delete %s/%s: %w: %w", appID, id, ErrCleanupPending, err)
		}
		return nil
	}
}

// deleted answers a Delete of an integration that is not there (notFound, the store's
// error): if it was deleted with its clean-up unfinished, it finishes it; it reports
// notFound, or the failure to finish.
func (s *Service) deleted(ctx context.Context, appID, id string, notFound error) error {
	pending, err := s.store.CleanupPending(ctx, appID, id)
	if err != nil {
		return fmt.Errorf("controlcenter: delete %s/%s: %w", appID, id, err)
	}
	if pending {
		if err := s.cleanup(ctx, appID, id); err != nil {
			return fmt.Errorf("controlcenter: delete %s/%s: schedule the deletion of leftover credentials: %w", appID, id, err)
		}
	}
	return fmt.Errorf("controlcenter: delete %s/%s: %w", appID, id, notFound)
}

// cleanup schedules the deletion of a deleted integration's credentials, then removes its
// clean-up note. A note left behind only means a later Delete schedules it again.
func (s *Service) cleanup(ctx context.Context, appID, id string) error {
	if err := s.deleteSecret(ctx, appID, id); err != nil {
		return err
	}
	// The sandbox secret too, whether or not the integration had one: a missing secret is
	// success, and the record that would say is gone.
	if err := s.deleteSecret(ctx, appID, sandboxSecretName(id)); err != nil {
		return err
	}
	if err := s.store.CleanupDone(ctx, appID, id); err != nil {
		s.log.WarnContext(ctx, "clean-up note left behind", "app_id", appID, "integration_id", id, "error", err.Error())
	}
	return nil
}

// deleteSecret schedules the deletion of an integration's credentials. A secret that is
// not this deployment's is left alone, which is success here: it was never this
// integration's to delete.
func (s *Service) deleteSecret(ctx context.Context, appID, id string) error {
	err := s.secrets.ScheduleDelete(ctx, appID, id)
	if errors.Is(err, ErrSecretNotOwned) {
		s.log.WarnContext(ctx, "secret not deleted: not known to be this deployment's", "app_id", appID, "integration_id", id, "error", err.Error())
		return nil
	}
	return err
}
