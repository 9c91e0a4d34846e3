package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/namiml/mparticle-bridge/shared/controlcenter"
)

// Error codes of the {"error": {"code", "message", "field"}} body (see openapi.yaml).
const (
	CodeBadRequest           = "bad_request"
	CodeInvalidJSON          = "invalid_json"
	CodeUnknownField         = "unknown_field"
	CodeInvalidType          = "invalid_type"
	CodeInvalidParameter     = "invalid_parameter"
	CodeUnauthenticated      = "unauthenticated"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeConflict             = "conflict"
	CodePreconditionFailed   = "precondition_failed"
	CodePreconditionRequired = "precondition_required"
	CodeTooLarge             = "payload_too_large"
	CodeUnsupportedMedia     = "unsupported_media_type"
	CodeValidation           = "validation_failed"
	CodeLegacyScope          = "legacy_scope_refused"
	CodeInternal             = "internal_error"
	CodeCleanupPending       = "cleanup_pending"
	CodeIntegrationLimit     = "integration_limit"
	CodeRateLimited          = "rate_limited"
	CodePlanRequired         = "plan_required"
)

// errorCodes lists every code above (the spec's enum must hold them all).
var errorCodes = []string{
	CodeBadRequest, CodeInvalidJSON, CodeUnknownField, CodeInvalidType, CodeInvalidParameter,
	CodeUnauthenticated, CodeNotFound, CodeMethodNotAllowed, CodeConflict, CodePreconditionFailed,
	CodePreconditionRequired, CodeTooLarge, CodeUnsupportedMedia, CodeValidation, CodeLegacyScope,
	CodeInternal, CodeCleanupPending, CodeIntegrationLimit, CodeRateLimited, CodePlanRequired,
}

// apiError is an error the API reports to the caller: status, code, a message safe to show
// (never a secret or an internal error text) and the offending field, if any.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
	// cause is logged, never returned.
	cause error
	// headers are added to the response (e.g. Allow, ETag).
	headers map[string]string
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.cause)
	}
	return e.Code + ": " + e.Message
}

func errorf(status int, code, field, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func badRequest(code, field, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, code, field, format, args...)
}

func notFound() *apiError {
	return errorf(http.StatusNotFound, CodeNotFound, "", "not found")
}

func internal(cause error) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", cause: cause}
}

func badCursor() *apiError {
	return badRequest(CodeInvalidParameter, "next", "next must be the next token of a page")
}

// stale is 412, with the integration's current ETag when it is known.
func stale(current int64) *apiError {
	aerr := errorf(http.StatusPreconditionFailed, CodePreconditionFailed, "If-Match",
		"the integration has changed since it was read; GET it again and retry")
	if current > 0 {
		aerr.headers = map[string]string{"ETag": etag(current)}
	}
	return aerr
}

// fromDomain maps an outcome of package controlcenter onto the response the caller gets.
// It is the one place that does: every handler passes the service's errors through it.
func fromDomain(err error) *apiError {
	var (
		verr *controlcenter.ValidationError
		perr *controlcenter.PreconditionError
		lerr *controlcenter.LimitError
		rerr *controlcenter.RateLimitError
	)
	switch {
	case errors.As(err, &verr):
		code := CodeValidation
		if errors.Is(err, controlcenter.ErrLegacyScope) {
			code = CodeLegacyScope
		}
		return errorf(http.StatusUnprocessableEntity, code, verr.Field, "%s", verr.Message)
	case errors.Is(err, controlcenter.ErrNotFound):
		return notFound()
	case errors.As(err, &perr):
		return stale(perr.Current)
	case errors.Is(err, controlcenter.ErrPreconditionFailed):
		return stale(0)
	case errors.Is(err, controlcenter.ErrConflict):
		return &apiError{Status: http.StatusConflict, Code: CodeConflict, Message: "an integration with this id already exists; retry", cause: err}
	case errors.Is(err, controlcenter.ErrBadCursor):
		return badCursor()
	case errors.As(err, &lerr):
		return errorf(http.StatusConflict, CodeIntegrationLimit, "",
			"the app has %d integrations, the most allowed; delete one before adding another", lerr.Max)
	case errors.As(err, &rerr):
		return rateLimited(rerr)
	case errors.Is(err, controlcenter.ErrPlanRequired):
		return errorf(http.StatusForbidden, CodePlanRequired, "",
			"the mParticle integration needs the Enterprise plan; upgrade to create or enable one")
	case errors.Is(err, controlcenter.ErrCleanupPending):
		return &apiError{
			Status: http.StatusInternalServerError, Code: CodeCleanupPending, cause: err,
			Message: "the integration was deleted but its credentials could not be scheduled for deletion; retry the DELETE",
		}
	default:
		return internal(err)
	}
}

// rateLimited is 429 with Retry-After: the whole seconds until the app's window ends.
func rateLimited(e *controlcenter.RateLimitError) *apiError {
	secs := max(1, int((e.RetryAfter+time.Second-1)/time.Second))
	what := "changes to the app's integrations"
	if e.Quota == controlcenter.QuotaCredentialWrites {
		what = "changes to the app's credentials"
	}
	aerr := errorf(http.StatusTooManyRequests, CodeRateLimited, "",
		"too many %s: at most %d per minute; retry after %d seconds", what, e.Limit, secs)
	if e.Quota == controlcenter.QuotaTest {
		aerr.Message = fmt.Sprintf("an integration may be tested once every %d seconds; retry after %d seconds",
			int(controlcenter.TestWindow/time.Second), secs)
	}
	aerr.headers = map[string]string{"Retry-After": strconv.Itoa(secs)}
	return aerr
}

// errorBody is the JSON error envelope.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}
