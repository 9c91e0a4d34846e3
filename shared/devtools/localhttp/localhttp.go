// Package localhttp serves an API Gateway v2 (HTTP API) handler over plain net/http, doing
// locally what API Gateway does in AWS: it verifies the bearer token (HS256, local key) and
// puts the claims where the JWT authorizer would, then turns the handler's response back
// into HTTP. `make dev` serves the Integrations API through it on 127.0.0.1:3000.
package localhttp

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/api"
)

// HandlerFunc is a Lambda handler for HTTP API events (e.g. (*api.Handler).Handle).
type HandlerFunc func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// TokenVerifier checks a bearer token and returns its claims flattened as API Gateway does.
type TokenVerifier interface {
	Verify(token string) (map[string]string, error)
}

// maxReadBytes caps what the adapter reads: past the API's limit, so the handler still sees
// (and refuses with 413) an oversized body, without reading an unbounded one.
const maxReadBytes = api.MaxBodyBytes + 1

// Adapter is an http.Handler in front of a HandlerFunc.
type Adapter struct {
	handler  HandlerFunc
	verifier TokenVerifier
	log      *slog.Logger
}

// New returns an adapter; log may be nil.
func New(h HandlerFunc, v TokenVerifier, log *slog.Logger) *Adapter {
	if log == nil {
		log = slog.Default()
	}
	return &Adapter{handler: h, verifier: v, log: log}
}

func (a *Adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := uuid.NewString()
	event, err := a.toEvent(r, requestID)
	if err != nil {
		write(w, api.ErrorResponse(http.StatusBadRequest, api.CodeBadRequest, "could not read the request body", requestID))
		return
	}
	// As API Gateway's JWT authorizer: a token that is present must be valid. A request
	// without one reaches the handler without claims, and the handler refuses it.
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := devauth.BearerToken(h)
		var claims map[string]string
		if ok {
			claims, err = a.verifier.Verify(token)
		}
		if !ok || err != nil {
			reason := "not a bearer token"
			if err != nil {
				reason = err.Error()
			}
			a.log.InfoContext(r.Context(), "token refused", "request_id", requestID, "reason", reason)
			write(w, api.ErrorResponse(http.StatusUnauthorized, api.CodeUnauthenticated, "a valid bearer token is required", requestID))
			return
		}
		event.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	resp, err := a.handler(r.Context(), event)
	if err != nil {
		// API Gateway answers a failed invocation with 500; so does the adapter.
		a.log.ErrorContext(r.Context(), "handler failed", "request_id", requestID, "error", err.Error())
		write(w, api.ErrorResponse(http.StatusInternalServerError, api.CodeInternal, "internal error", requestID))
		return
	}
	write(w, resp)
}

// toEvent builds the HTTP API (payload format 2.0) event API Gateway would send.
func (a *Adapter) toEvent(r *http.Request, requestID string) (events.APIGatewayV2HTTPRequest, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReadBytes))
	if err != nil {
		return events.APIGatewayV2HTTPRequest{}, err
	}
	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = make(map[string]string, len(q))
		for k, v := range q {
			query[k] = strings.Join(v, ",")
		}
	}
	sourceIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		sourceIP = r.RemoteAddr
	}
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              "$default",
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Headers:               headers,
		QueryStringParameters: query,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  "$default",
			AccountID: "local",
			Stage:     "$default",
			RequestID: requestID,
			APIID:     "local",
			Time:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return ev, nil
}

func write(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
