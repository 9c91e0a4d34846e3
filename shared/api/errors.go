package api

import (
	"fmt"
	"net/http"
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
)

// errorCodes lists every code above (the spec's enum must hold them all).
var errorCodes = []string{
	CodeBadRequest, CodeInvalidJSON, CodeUnknownField, CodeInvalidType, CodeInvalidParameter,
	CodeUnauthenticated, CodeNotFound, CodeMethodNotAllowed, CodeConflict, CodePreconditionFailed,
	CodePreconditionRequired, CodeTooLarge, CodeUnsupportedMedia, CodeValidation, CodeLegacyScope,
	CodeInternal, CodeCleanupPending,
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

func invalid(field, format string, args ...any) *apiError {
	return errorf(http.StatusUnprocessableEntity, CodeValidation, field, format, args...)
}

func notFound() *apiError {
	return errorf(http.StatusNotFound, CodeNotFound, "", "not found")
}

func internal(cause error) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", cause: cause}
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
