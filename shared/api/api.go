// Package api is the Integrations API: what the Nami Control Center uses to create, read,
// change, list and remove an app's mParticle integrations. It is plain Go over API Gateway
// v2 (HTTP API) events; openapi.yaml (embedded as Spec) is its contract.
//
// Consistency between the integration item (DynamoDB) and its credentials (Secrets Manager):
//   - create: the secret is written first, then the item (conditional). If the item write
//     fails the secret's deletion is scheduled; should that fail too, the leftover secret is
//     harmless: nothing references it and the API never reads secrets.
//   - update with new credentials: the new value is staged as a secret version that readers
//     of AWSCURRENT do not see; the item is then pointed at that version by a write
//     conditional on the If-Match version; only then is the version promoted to AWSCURRENT.
//     A lost race or a failed item write leaves an unused staged version, never a changed
//     secret; the item's secret_version_id always names the value that belongs to it.
//   - delete: the item is deleted (conditional), then the secret's deletion is scheduled by
//     name. If that fails the caller gets a 500 and retrying the DELETE (which then answers
//     404) schedules it again, so no secret stays readable without its item.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/secretstore"
)

// Store is the integration table as the API uses it (integrationstore.Store).
type Store interface {
	Create(ctx context.Context, in *integration.Integration) error
	Get(ctx context.Context, appID, id string) (integration.Integration, error)
	List(ctx context.Context, appID string, limit int, cursor string) (integrationstore.Page, error)
	Update(ctx context.Context, in *integration.Integration, expected int64) error
	Delete(ctx context.Context, appID, id string, expected int64) error
}

// Secrets is the credentials store as the API uses it (secretstore.Store).
type Secrets interface {
	Create(ctx context.Context, appID, integrationID string, c secretstore.Credentials) (secretstore.Ref, error)
	Stage(ctx context.Context, secretID string, c secretstore.Credentials) (string, error)
	Promote(ctx context.Context, secretID, versionID string) error
	ScheduleDelete(ctx context.Context, appID, integrationID string) error
}

// Paging of the list route.
const (
	DefaultLimit = 20
	MaxLimit     = integrationstore.MaxLimit
)

// Config holds a Handler's dependencies; Now and NewID default to the real clock and UUIDv7.
type Config struct {
	Store   Store
	Secrets Secrets
	Logger  *slog.Logger
	Now     func() time.Time
	NewID   func() (string, error)
}

// Handler serves the Integrations API.
type Handler struct {
	store   Store
	secrets Secrets
	log     *slog.Logger
	now     func() time.Time
	newID   func() (string, error)
}

// New returns a handler.
func New(cfg Config) *Handler {
	h := &Handler{store: cfg.Store, secrets: cfg.Secrets, log: cfg.Logger, now: cfg.Now, newID: cfg.NewID}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.newID == nil {
		h.newID = integrationstore.NewID
	}
	return h
}

// route is a matched request.
type route struct {
	name  string // method and path template, for logs
	appID string
	id    string
}

const (
	pathEventTypes   = "/v1/event-types"
	pathIntegrations = "/v1/apps/{app_id}/integrations/mparticle"
	pathIntegration  = "/v1/apps/{app_id}/integrations/mparticle/{id}"
)

// Handle serves one API Gateway v2 request. It never returns an error: every failure is an
// HTTP response, so API Gateway never substitutes its own.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	method := req.RequestContext.HTTP.Method
	rt, resp, aerr := h.serve(ctx, &req, method)
	if aerr != nil {
		resp = errorResponse(aerr, req.RequestContext.RequestID)
	}
	h.logRequest(ctx, &req, method, rt, resp.StatusCode, aerr)
	return resp, nil
}

func (h *Handler) serve(ctx context.Context, req *events.APIGatewayV2HTTPRequest, method string) (route, events.APIGatewayV2HTTPResponse, *apiError) {
	tmpl, params, aerr := match(requestPath(req))
	rt := route{name: method + " " + tmpl, appID: params["app_id"], id: params["id"]}
	if aerr != nil {
		rt.name = method + " (no route)"
		return rt, events.APIGatewayV2HTTPResponse{}, aerr
	}
	allowed := map[string][]string{
		pathEventTypes:   {http.MethodGet},
		pathIntegrations: {http.MethodGet, http.MethodPost},
		pathIntegration:  {http.MethodGet, http.MethodPatch, http.MethodDelete},
	}[tmpl]
	if !slices.Contains(allowed, method) {
		aerr := errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "", "method %s not allowed", echo(method))
		aerr.headers = map[string]string{"Allow": strings.Join(allowed, ", ")}
		return rt, events.APIGatewayV2HTTPResponse{}, aerr
	}
	// API Gateway's authorizer has refused unauthenticated requests already; checking again
	// keeps a misconfigured route from being open.
	p, err := auth.FromAPIGateway(req)
	if err != nil {
		return rt, events.APIGatewayV2HTTPResponse{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "", "a valid bearer token is required")
	}
	if tmpl == pathEventTypes {
		return rt, jsonResponse(http.StatusOK, eventTypes(), nil), nil
	}
	// Another app's integrations do not exist as far as this caller can tell.
	if !validAppID(rt.appID) || !p.CanManage(rt.appID) {
		return rt, events.APIGatewayV2HTTPResponse{}, notFound()
	}
	if tmpl == pathIntegration && !uuidPattern.MatchString(rt.id) {
		return rt, events.APIGatewayV2HTTPResponse{}, notFound()
	}
	var resp events.APIGatewayV2HTTPResponse
	switch rt.name {
	case "GET " + pathIntegrations:
		resp, aerr = h.list(ctx, req, rt.appID)
	case "POST " + pathIntegrations:
		resp, aerr = h.create(ctx, req, rt.appID)
	case "GET " + pathIntegration:
		resp, aerr = h.get(ctx, rt.appID, rt.id)
	case "PATCH " + pathIntegration:
		resp, aerr = h.patch(ctx, req, rt.appID, rt.id)
	case "DELETE " + pathIntegration:
		resp, aerr = h.delete(ctx, req, rt.appID, rt.id)
	}
	return rt, resp, aerr
}

// requestPath is the request's path without a named stage's prefix.
func requestPath(req *events.APIGatewayV2HTTPRequest) string {
	p := req.RawPath
	if p == "" {
		p = req.RequestContext.HTTP.Path
	}
	if st := req.RequestContext.Stage; st != "" && st != "$default" {
		if rest, ok := strings.CutPrefix(p, "/"+st+"/"); ok {
			p = "/" + rest
		}
	}
	return p
}

// match maps a path onto a route template and its parameters.
func match(path string) (string, map[string]string, *apiError) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return "", nil, notFound()
		}
		segs[i] = u
	}
	switch {
	case len(segs) == 2 && segs[0] == "v1" && segs[1] == "event-types":
		return pathEventTypes, nil, nil
	case len(segs) == 5 && segs[0] == "v1" && segs[1] == "apps" && segs[3] == "integrations" && segs[4] == "mparticle":
		return pathIntegrations, map[string]string{"app_id": segs[2]}, nil
	case len(segs) == 6 && segs[0] == "v1" && segs[1] == "apps" && segs[3] == "integrations" && segs[4] == "mparticle":
		return pathIntegration, map[string]string{"app_id": segs[2], "id": segs[5]}, nil
	}
	return "", nil, notFound()
}

func (h *Handler) list(ctx context.Context, req *events.APIGatewayV2HTTPRequest, appID string) (events.APIGatewayV2HTTPResponse, *apiError) {
	q, aerr := query(req)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	// A parameter given empty is malformed, not absent: "?limit=" is no page size.
	limit := DefaultLimit
	if q.Has("limit") {
		v := q.Get("limit")
		n, err := strconv.Atoi(v)
		if err != nil || !allDigits(v) || n < 1 || n > MaxLimit {
			return events.APIGatewayV2HTTPResponse{}, badRequest(CodeInvalidParameter, "limit", "limit must be an integer from 1 to %d", MaxLimit)
		}
		limit = n
	}
	next := q.Get("next")
	if q.Has("next") && next == "" {
		return events.APIGatewayV2HTTPResponse{}, badRequest(CodeInvalidParameter, "next", "next must be the next token of a page")
	}
	page, err := h.store.List(ctx, appID, limit, next)
	if errors.Is(err, integrationstore.ErrBadCursor) {
		return events.APIGatewayV2HTTPResponse{}, badRequest(CodeInvalidParameter, "next", "next must be the next token of a page")
	}
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, internal(err)
	}
	body := listBody{Items: make([]resource, 0, len(page.Items)), Next: page.Next}
	for _, in := range page.Items {
		body.Items = append(body.Items, toResource(in))
	}
	return jsonResponse(http.StatusOK, body, nil), nil
}

func (h *Handler) get(ctx context.Context, appID, id string) (events.APIGatewayV2HTTPResponse, *apiError) {
	in, err := h.store.Get(ctx, appID, id)
	if errors.Is(err, integrationstore.ErrNotFound) {
		return events.APIGatewayV2HTTPResponse{}, notFound()
	}
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, internal(err)
	}
	return jsonResponse(http.StatusOK, toResource(in), map[string]string{"ETag": etag(in.Version)}), nil
}

func (h *Handler) create(ctx context.Context, req *events.APIGatewayV2HTTPRequest, appID string) (events.APIGatewayV2HTTPResponse, *apiError) {
	in, aerr := readInput(req, "application/json")
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	c, aerr := checkInput(in, true)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	next, aerr := apply(defaults(), c, true)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	creds := c.Credentials
	id, err := h.newID()
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, internal(err)
	}
	now := h.now().UTC().Truncate(time.Millisecond)
	next.ID, next.AppID = id, appID
	next.CreatedAt, next.UpdatedAt, next.Version = now, now, 1

	// Secret first: an item must never name credentials that do not exist.
	ref, err := h.secrets.Create(ctx, appID, id, secretstore.Credentials{Key: creds.Key, Secret: creds.Secret})
	if err != nil {
		// The secret may exist even though the call failed (e.g. a lost response).
		h.discardSecret(ctx, appID, id)
		return events.APIGatewayV2HTTPResponse{}, internal(err)
	}
	next.SecretID, next.SecretVersionID = ref.ARN, ref.VersionID
	next.KeyHint, next.CredentialsUpdatedAt = keyHint(creds.Key), now
	if err := h.store.Create(ctx, &next); err != nil {
		h.discardSecret(ctx, appID, id)
		if errors.Is(err, integrationstore.ErrExists) {
			return events.APIGatewayV2HTTPResponse{}, &apiError{Status: http.StatusConflict, Code: CodeConflict, Message: "an integration with this id already exists; retry", cause: err}
		}
		return events.APIGatewayV2HTTPResponse{}, internal(err)
	}
	loc := "/v1/apps/" + url.PathEscape(appID) + "/integrations/mparticle/" + id
	return jsonResponse(http.StatusCreated, toResource(next), map[string]string{"Location": loc, "ETag": etag(next.Version)}), nil
}

// discardSecret schedules deletion of a secret no item references. Failure is only logged:
// such a secret is unreachable through the API and the Forwarder, which go by the item.
func (h *Handler) discardSecret(ctx context.Context, appID, id string) {
	if err := h.secrets.ScheduleDelete(ctx, appID, id); err != nil {
		h.log.ErrorContext(ctx, "unreferenced secret left behind", "app_id", appID, "integration_id", id, "error", err.Error())
	}
}

// maxWriteAttempts bounds how often PATCH and DELETE re-read an integration that changed
// between their read and their conditional write, to evaluate If-Match against the new
// version (it may still match: "*", or a list naming it).
const maxWriteAttempts = 3

// patch applies a merge patch. The order follows RFC 9110, section 13.2.1: a request that
// is malformed, or invalid on its own, is refused as such whatever its If-Match; then a
// missing If-Match is 428, an integration that does not exist 404, and only then is the
// precondition evaluated (412) and the change checked against the stored integration (422).
func (h *Handler) patch(ctx context.Context, req *events.APIGatewayV2HTTPRequest, appID, id string) (events.APIGatewayV2HTTPResponse, *apiError) {
	in, aerr := readInput(req, "application/json", "application/merge-patch+json")
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	c, aerr := checkInput(in, false)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	cond, aerr := ifMatch(req)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	var staged string // the new credentials' secret version, staged once
	for attempt := 1; ; attempt++ {
		cur, err := h.store.Get(ctx, appID, id)
		if errors.Is(err, integrationstore.ErrNotFound) {
			return events.APIGatewayV2HTTPResponse{}, notFound()
		}
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, internal(err)
		}
		if !cond.matches(cur.Version) {
			return events.APIGatewayV2HTTPResponse{}, stale(cur.Version)
		}
		next, aerr := apply(cur, c, false)
		if aerr != nil {
			return events.APIGatewayV2HTTPResponse{}, aerr
		}
		if c.empty() {
			return jsonResponse(http.StatusOK, toResource(cur), map[string]string{"ETag": etag(cur.Version)}), nil
		}
		now := h.now().UTC().Truncate(time.Millisecond)
		next.UpdatedAt = now
		if c.Credentials != nil {
			if cur.SecretID == "" {
				return events.APIGatewayV2HTTPResponse{}, internal(errors.New("integration has no secret to rotate"))
			}
			if staged == "" {
				// Staged, not current: nobody reads it until the item below points at it.
				staged, err = h.secrets.Stage(ctx, cur.SecretID, secretstore.Credentials{Key: c.Credentials.Key, Secret: c.Credentials.Secret})
				if err != nil {
					return events.APIGatewayV2HTTPResponse{}, internal(err)
				}
			}
			next.SecretVersionID, next.KeyHint, next.CredentialsUpdatedAt = staged, keyHint(c.Credentials.Key), now
		}
		switch err := h.store.Update(ctx, &next, cur.Version); {
		case errors.Is(err, integrationstore.ErrVersionConflict):
			if attempt < maxWriteAttempts {
				continue
			}
			return events.APIGatewayV2HTTPResponse{}, stale(-1)
		case errors.Is(err, integrationstore.ErrNotFound):
			return events.APIGatewayV2HTTPResponse{}, notFound()
		case err != nil:
			return events.APIGatewayV2HTTPResponse{}, internal(err)
		}
		if staged != "" {
			// The item already names the staged version, so the update stands either way;
			// promotion keeps readers of AWSCURRENT in step.
			if err := h.secrets.Promote(ctx, cur.SecretID, staged); err != nil {
				h.log.ErrorContext(ctx, "new credentials saved but not promoted to AWSCURRENT",
					"app_id", appID, "integration_id", id, "secret_version_id", staged, "error", err.Error())
			}
		}
		return jsonResponse(http.StatusOK, toResource(next), map[string]string{"ETag": etag(next.Version)}), nil
	}
}

func stale(current int64) *apiError {
	aerr := errorf(http.StatusPreconditionFailed, CodePreconditionFailed, "If-Match",
		"the integration has changed since it was read; GET it again and retry")
	if current > 0 {
		aerr.headers = map[string]string{"ETag": etag(current)}
	}
	return aerr
}

// delete removes an integration. Like PATCH it requires If-Match ("*" deletes whatever
// version exists), so a client never deletes a configuration it has not seen.
func (h *Handler) delete(ctx context.Context, req *events.APIGatewayV2HTTPRequest, appID, id string) (events.APIGatewayV2HTTPResponse, *apiError) {
	cond, aerr := ifMatch(req)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	for attempt := 1; ; attempt++ {
		cur, err := h.store.Get(ctx, appID, id)
		if errors.Is(err, integrationstore.ErrNotFound) {
			return events.APIGatewayV2HTTPResponse{}, h.deleted(ctx, appID, id)
		}
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, internal(err)
		}
		if !cond.matches(cur.Version) {
			return events.APIGatewayV2HTTPResponse{}, stale(cur.Version)
		}
		switch err := h.store.Delete(ctx, appID, id, cur.Version); {
		case errors.Is(err, integrationstore.ErrNotFound):
			return events.APIGatewayV2HTTPResponse{}, h.deleted(ctx, appID, id)
		case errors.Is(err, integrationstore.ErrVersionConflict):
			if attempt < maxWriteAttempts {
				continue
			}
			return events.APIGatewayV2HTTPResponse{}, stale(-1)
		case err != nil:
			return events.APIGatewayV2HTTPResponse{}, internal(err)
		}
		if err := h.secrets.ScheduleDelete(ctx, appID, id); err != nil {
			return events.APIGatewayV2HTTPResponse{}, &apiError{
				Status: http.StatusInternalServerError, Code: CodeCleanupPending, cause: err,
				Message: "the integration was deleted but its credentials could not be scheduled for deletion; retry the DELETE",
			}
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: baseHeaders()}, nil
	}
}

// deleted answers a DELETE of an integration that is not there. It may be gone because an
// earlier DELETE failed after removing it: finish that delete's work (idempotent; nothing
// happens for an id that never existed).
func (h *Handler) deleted(ctx context.Context, appID, id string) *apiError {
	if err := h.secrets.ScheduleDelete(ctx, appID, id); err != nil {
		return internal(err)
	}
	return notFound()
}

// allDigits reports whether s is a non-empty string of ASCII digits (no sign, no space).
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// readInput checks the content type and size and strictly decodes a JSON body.
func readInput(req *events.APIGatewayV2HTTPRequest, mediaTypes ...string) (input, *apiError) {
	if aerr := checkContentType(req, mediaTypes...); aerr != nil {
		return input{}, aerr
	}
	b, aerr := body(req)
	if aerr != nil {
		return input{}, aerr
	}
	return decodeInput(b)
}

func baseHeaders() map[string]string {
	return map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
}

func jsonResponse(status int, v any, extra map[string]string) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own view types are marshalled; this cannot happen with them.
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal_error","message":"internal error"}}`)
	}
	h := baseHeaders()
	h["Content-Type"] = "application/json"
	for k, v := range extra {
		h[k] = v
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h, Body: string(b)}
}

func errorResponse(aerr *apiError, requestID string) events.APIGatewayV2HTTPResponse {
	return jsonResponse(aerr.Status, errorBody{Error: errorDetail{
		Code: aerr.Code, Message: aerr.Message, Field: aerr.Field, RequestID: requestID,
	}}, aerr.headers)
}

// ErrorResponse builds an error response in the API's format (for the local adapter).
func ErrorResponse(status int, code, message, requestID string) events.APIGatewayV2HTTPResponse {
	return errorResponse(errorf(status, code, "", "%s", message), requestID)
}

func (h *Handler) logRequest(ctx context.Context, req *events.APIGatewayV2HTTPRequest, method string, rt route, status int, aerr *apiError) {
	attrs := []any{
		"method", method, "route", rt.name, "status", status,
		"request_id", req.RequestContext.RequestID,
	}
	if rt.appID != "" {
		attrs = append(attrs, "app_id", rt.appID)
	}
	if rt.id != "" {
		attrs = append(attrs, "integration_id", rt.id)
	}
	level := slog.LevelInfo
	if aerr != nil {
		attrs = append(attrs, "code", aerr.Code)
		if aerr.cause != nil {
			attrs = append(attrs, "error", aerr.cause.Error())
		}
		if status >= 500 {
			level = slog.LevelError
		}
	}
	h.log.Log(ctx, level, "request", attrs...)
}
