package controlcenter

import (
	"errors"
	"fmt"
	"time"
)

// Outcomes a caller tells apart. The Store port reports ErrNotFound, ErrConflict,
// ErrPreconditionFailed, ErrBadCursor and ErrIntegrationLimit (wrapped) in the cases its
// methods document, the Secrets port ErrSecretNotOwned.
var (
	// ErrNotFound: the app has no integration with that id.
	ErrNotFound = errors.New("controlcenter: integration not found")
	// ErrConflict: Create met an integration with the id it chose (the caller may retry).
	ErrConflict = errors.New("controlcenter: an integration with this id already exists")
	// ErrPreconditionFailed: the integration is not at the version the change was made for.
	// Service methods return it as a *PreconditionError.
	ErrPreconditionFailed = errors.New("controlcenter: the integration has changed since it was read")
	// ErrBadCursor: a List cursor that no page of this listing handed out.
	ErrBadCursor = errors.New("controlcenter: not a cursor of this listing")
	// ErrCleanupPending: Delete removed the integration but could not schedule the deletion
	// of its credentials; deleting it again (which then finds nothing) finishes the work.
	ErrCleanupPending = errors.New("controlcenter: integration deleted, its credentials not yet scheduled for deletion")
	// ErrLegacyScope is the rule a *ValidationError names when it refuses the deprecated
	// all-platforms scope for a new integration or a switch to it.
	ErrLegacyScope = errors.New("controlcenter: legacy scope refused")
	// ErrIntegrationLimit: the app has the most integrations allowed. Service methods
	// return it as a *LimitError.
	ErrIntegrationLimit = errors.New("controlcenter: the app has the most integrations allowed")
	// ErrRateLimited: the app has made the most writes allowed in the current window.
	// Service methods return it as a *RateLimitError.
	ErrRateLimited = errors.New("controlcenter: too many writes for the app in this window")
	// ErrSecretNotOwned: the secret an integration's name points at was not created by this
	// deployment, so it is not deleted.
	ErrSecretNotOwned = errors.New("controlcenter: the secret is not this deployment's")
)

// ValidationError refuses a change: Field names the request member at fault (as the API
// spells it, e.g. "credentials.key") and Message says why. Message is safe to show the
// caller: it never quotes a credential.
type ValidationError struct {
	Field   string
	Message string
	// rule is the specific rule broken, when callers need to tell it apart (ErrLegacyScope).
	rule error
}

func (e *ValidationError) Error() string {
	return "controlcenter: invalid " + e.Field + ": " + e.Message
}

// Unwrap returns the rule broken, if it is one callers tell apart.
func (e *ValidationError) Unwrap() error { return e.rule }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// PreconditionError is ErrPreconditionFailed with the version the integration is at, when
// it is known (0 when the write lost a race and was not re-read).
type PreconditionError struct {
	Current int64
}

func (e *PreconditionError) Error() string {
	if e.Current > 0 {
		return fmt.Sprintf("%v (now at version %d)", ErrPreconditionFailed, e.Current)
	}
	return ErrPreconditionFailed.Error()
}

func (e *PreconditionError) Unwrap() error { return ErrPreconditionFailed }

// LimitError is ErrIntegrationLimit with the bound.
type LimitError struct {
	Max int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v (%d)", ErrIntegrationLimit, e.Max)
}

func (e *LimitError) Unwrap() error { return ErrIntegrationLimit }

// RateLimitError is ErrRateLimited: Quota is the limit reached (QuotaWrites or
// QuotaCredentialWrites), Limit its writes per window, and RetryAfter the time until the
// window ends.
type RateLimitError struct {
	Quota      string
	Limit      int
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v: %s at its limit of %d, retry after %v", ErrRateLimited, e.Quota, e.Limit, e.RetryAfter)
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }
