// Package api is the Integrations API: what the Nami Control Center uses to create, read,
// change, list and remove an app's mParticle integrations. It is plain Go over API Gateway
// v2 (HTTP API) events; openapi.yaml (embedded as Spec) is its contract. The package is
// the HTTP side only: it routes, authenticates, decodes requests, evaluates the HTTP rules
// of preconditions, and maps the outcomes of package controlcenter, which does the work,
// onto statuses (errors.go).
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/controlcenter"
	"github.com/namiml/mparticle-bridge/shared/integration"
)

// Integrations is what the API does with an app's integrations (controlcenter.Service). by
// is the caller's token subject, recorded with each change.
type Integrations interface {
	Create(ctx context.Context, appID, by string, d controlcenter.Draft) (integration.Integration, error)
	Get(ctx context.Context, appID, id string) (integration.Integration, error)
	List(ctx context.Context, appID string, limit int, cursor string) (controlcenter.Page, error)
	Update(ctx context.Context, appID, id, by string, cond controlcenter.Precondition, p controlcenter.Patch) (integration.Integration, error)
	Delete(ctx context.Context, appID, id, by string, cond controlcenter.Precondition) error
	// DeliveryStatuses reads the last 24 hours' delivery status of integrations, together.
	DeliveryStatuses(ctx context.Context, appID string, ids []string) (map[string]integration.DeliveryStatus, error)
}

// DefaultLimit is the page size of a list request that names none; at most
// controlcenter.MaxPageSize may be asked for.
const DefaultLimit = 20

// Config holds a Handler's dependencies. Auth says which tokens are operators' (the zero
// Policy: none).
type Config struct {
	Integrations Integrations
	Auth         auth.Policy
	Logger       *slog.Logger
	// Tests sends test events (controlcenter.Tester); nil leaves the test route unserved (404).
	Tests Tests
	// Entitlement gates creating and enabling integrations on the caller's plan; the zero
	// value lets every caller.
	Entitlement auth.Entitlement
}

// Handler serves the Integrations API.
type Handler struct {
	integrations Integrations
	auth         auth.Policy
	log          *slog.Logger
	tests        Tests
	entitlement  auth.Entitlement
}

// New returns a handler.
func New(cfg Config) *Handler {
	h := &Handler{integrations: cfg.Integrations, auth: cfg.Auth, log: cfg.Logger,
		tests: cfg.Tests, entitlement: cfg.Entitlement}
	if h.log == nil {
		h.log = slog.Default()
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
	pathTest         = "/v1/apps/{app_id}/integrations/mparticle/{id}/test"
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
		pathTest:         {http.MethodPost},
	}[tmpl]
	if !slices.Contains(allowed, method) {
		aerr := errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "", "method %s not allowed", echo(method))
		aerr.headers = map[string]string{"Allow": strings.Join(allowed, ", ")}
		return rt, events.APIGatewayV2HTTPResponse{}, aerr
	}
	// API Gateway's authorizer has refused unauthenticated requests already; checking again
	// keeps a misconfigured route from being open.
	p, err := h.auth.FromAPIGateway(req)
	if err != nil {
		return rt, events.APIGatewayV2HTTPResponse{}, errorf(http.StatusUnauthorized, CodeUnauthenticated, "", "a valid bearer token is required")
	}
	if tmpl == pathEventTypes {
		return rt, jsonResponse(http.StatusOK, eventTypes(), nil), nil
	}
	// Another app's integrations do not exist as far as this caller can tell.
	if !controlcenter.ValidAppID(rt.appID) || !p.CanManage(rt.appID) {
		return rt, events.APIGatewayV2HTTPResponse{}, notFound()
	}
	if (tmpl == pathIntegration || tmpl == pathTest) && !controlcenter.ValidID(rt.id) {
		return rt, events.APIGatewayV2HTTPResponse{}, notFound()
	}
	var resp events.APIGatewayV2HTTPResponse
	switch rt.name {
	case "GET " + pathIntegrations:
		resp, aerr = h.list(ctx, req, rt.appID)
	case "POST " + pathIntegrations:
		resp, aerr = h.create(ctx, req, rt.appID, p.Subject, h.entitlement.EntitledFromAPIGateway(req))
	case "GET " + pathIntegration:
		resp, aerr = h.get(ctx, rt.appID, rt.id)
	case "PATCH " + pathIntegration:
		resp, aerr = h.patch(ctx, req, rt.appID, rt.id, p.Subject, h.entitlement.EntitledFromAPIGateway(req))
	case "DELETE " + pathIntegration:
		resp, aerr = h.delete(ctx, req, rt.appID, rt.id, p.Subject)
	case "POST " + pathTest:
		resp, aerr = h.test(ctx, rt.appID, rt.id)
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
	case len(segs) == 7 && segs[0] == "v1" && segs[1] == "apps" && segs[3] == "integrations" && segs[4] == "mparticle" && segs[6] == "test":
		return pathTest, map[string]string{"app_id": segs[2], "id": segs[5]}, nil
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
		if err != nil || !allDigits(v) || n < 1 || n > controlcenter.MaxPageSize {
			return events.APIGatewayV2HTTPResponse{}, badRequest(CodeInvalidParameter, "limit", "limit must be an integer from 1 to %d", controlcenter.MaxPageSize)
		}
		limit = n
	}
	next := q.Get("next")
	if q.Has("next") && next == "" {
		return events.APIGatewayV2HTTPResponse{}, badCursor()
	}
	page, err := h.integrations.List(ctx, appID, limit, next)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	ids := make([]string, len(page.Items))
	for i, in := range page.Items {
		ids[i] = in.ID
	}
	statuses, err := h.integrations.DeliveryStatuses(ctx, appID, ids) // one read for the page
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	body := listBody{Items: make([]resource, 0, len(page.Items)), Next: page.Next}
	for _, in := range page.Items {
		r := toResource(in)
		r.DeliveryStatus = toDeliveryStatus(statuses[in.ID])
		body.Items = append(body.Items, r)
	}
	return jsonResponse(http.StatusOK, body, nil), nil
}

func (h *Handler) get(ctx context.Context, appID, id string) (events.APIGatewayV2HTTPResponse, *apiError) {
	in, err := h.integrations.Get(ctx, appID, id)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	r, aerr := h.withStatus(ctx, in)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	return jsonResponse(http.StatusOK, r, map[string]string{"ETag": etag(in.Version)}), nil
}

func (h *Handler) create(ctx context.Context, req *events.APIGatewayV2HTTPRequest, appID, by string, entitled bool) (events.APIGatewayV2HTTPResponse, *apiError) {
	// The plan is checked first: without it no create can succeed, whatever the body.
	if err := controlcenter.CheckPlanCreate(entitled); err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	in, aerr := readInput(req, "application/json")
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	draft, err := controlcenter.ValidateCreate(in)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	created, err := h.integrations.Create(ctx, appID, by, draft)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	loc := "/v1/apps/" + url.PathEscape(appID) + "/integrations/mparticle/" + created.ID
	r := toResource(created)
	r.DeliveryStatus = toDeliveryStatus(integration.DeliveryStatus{}) // new: nothing delivered yet
	return jsonResponse(http.StatusCreated, r, map[string]string{"Location": loc, "ETag": etag(created.Version)}), nil
}

// patch applies a merge patch. The order follows RFC 9110, section 13.2.1: a request that
// is malformed, or invalid on its own, is refused as such whatever its If-Match; then a
// missing If-Match is 428; the service then answers 404 for an integration that does not
// exist, and only then evaluates the precondition (412) and checks the change against the
// stored integration (422). A write over the app's rate limit (429) is refused after the
// request's own checks, before the service reads anything.
func (h *Handler) patch(ctx context.Context, req *events.APIGatewayV2HTTPRequest, appID, id, by string, entitled bool) (events.APIGatewayV2HTTPResponse, *apiError) {
	in, aerr := readInput(req, "application/json", "application/merge-patch+json")
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	p, err := controlcenter.ValidatePatch(in)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	if err := controlcenter.CheckPlanPatch(entitled, p); err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	cond, aerr := ifMatch(req)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	updated, err := h.integrations.Update(ctx, appID, id, by, cond, p)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	r, aerr := h.withStatus(ctx, updated)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	return jsonResponse(http.StatusOK, r, map[string]string{"ETag": etag(updated.Version)}), nil
}

// delete removes an integration. Like PATCH it requires If-Match ("*" deletes whatever
// version exists), so a client never deletes a configuration it has not seen.
func (h *Handler) delete(ctx context.Context, req *events.APIGatewayV2HTTPRequest, appID, id, by string) (events.APIGatewayV2HTTPResponse, *apiError) {
	cond, aerr := ifMatch(req)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	if err := h.integrations.Delete(ctx, appID, id, by, cond); err != nil {
		return events.APIGatewayV2HTTPResponse{}, fromDomain(err)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: baseHeaders()}, nil
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
func readInput(req *events.APIGatewayV2HTTPRequest, mediaTypes ...string) (controlcenter.Input, *apiError) {
	if aerr := checkContentType(req, mediaTypes...); aerr != nil {
		return controlcenter.Input{}, aerr
	}
	b, aerr := body(req)
	if aerr != nil {
		return controlcenter.Input{}, aerr
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
