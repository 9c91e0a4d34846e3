package localhttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/auth"
)

var key = []byte("localhttp-test-key-0123456789abcdef")

// recorder is a handler that keeps the event it was given and answers with resp.
type recorder struct {
	got   *events.APIGatewayV2HTTPRequest
	resp  events.APIGatewayV2HTTPResponse
	err   error
	calls int
}

func (r *recorder) handle(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r.calls++
	r.got = &ev
	return r.resp, r.err
}

func setup(t *testing.T, rec *recorder) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	v, err := devauth.NewDevVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv := httptest.NewServer(New(rec.handle, v, slog.New(slog.NewJSONHandler(&logs, nil))))
	t.Cleanup(srv.Close)
	return srv, &logs
}

func TestRequestBecomesAnHTTPAPIEvent(t *testing.T) {
	rec := &recorder{resp: events.APIGatewayV2HTTPResponse{
		StatusCode: 201, Body: `{"ok":true}`,
		Headers:           map[string]string{"Content-Type": "application/json", "ETag": `"1"`},
		MultiValueHeaders: map[string][]string{"Vary": {"A", "B"}},
	}}
	srv, _ := setup(t, rec)
	tok, err := devauth.IssueDevToken(key, []string{"app1", "app2"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/apps/app1/integrations/mparticle?limit=2&next=abc", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	ev := rec.got
	if ev == nil {
		t.Fatal("handler not called")
	}
	checks := map[string][2]string{
		"method":       {ev.RequestContext.HTTP.Method, http.MethodPost},
		"rawPath":      {ev.RawPath, "/v1/apps/app1/integrations/mparticle"},
		"rawQuery":     {ev.RawQueryString, "limit=2&next=abc"},
		"query limit":  {ev.QueryStringParameters["limit"], "2"},
		"content-type": {ev.Headers["content-type"], "application/json"},
		"multi header": {ev.Headers["x-multi"], "a,b"},
		"body":         {ev.Body, `{"name":"x"}`},
		"stage":        {ev.RequestContext.Stage, "$default"},
		"claims":       {ev.RequestContext.Authorizer.JWT.Claims[auth.ClaimAppIDs], "[app1 app2]"},
		"version":      {ev.Version, "2.0"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if ev.RequestContext.RequestID == "" {
		t.Error("no request id")
	}
	if p, err := auth.FromAPIGateway(ev); err != nil || !p.CanManage("app2") {
		t.Errorf("principal from the adapter's event: %+v %v", p, err)
	}
	if resp.StatusCode != 201 || string(body) != `{"ok":true}` || resp.Header.Get("ETag") != `"1"` || len(resp.Header.Values("Vary")) != 2 {
		t.Errorf("response: %d %s %v", resp.StatusCode, body, resp.Header)
	}
}

func TestTokens(t *testing.T) {
	rec := &recorder{resp: events.APIGatewayV2HTTPResponse{StatusCode: 200}}
	srv, logs := setup(t, rec)
	good, _ := devauth.IssueDevToken(key, []string{"a"}, time.Minute)
	other, _ := devauth.IssueDevToken([]byte("a-different-key-0123456789abcdefgh"), []string{"a"}, time.Minute)
	tests := []struct {
		name       string
		header     string
		status     int
		handled    bool
		withClaims bool
	}{
		{"valid", "Bearer " + good, 200, true, true},
		{"none: the handler decides", "", 200, true, false},
		{"bad signature", "Bearer " + other, 401, false, false},
		{"garbage", "Bearer x.y.z", 401, false, false},
		{"not bearer", "Basic Zm9vOmJhcg==", 401, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.calls, rec.got = 0, nil
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/event-types", nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || (rec.calls == 1) != tt.handled {
				t.Fatalf("status %d, handler called %d times", resp.StatusCode, rec.calls)
			}
			if tt.status == 401 && !strings.Contains(string(body), `"code":"unauthenticated"`) {
				t.Fatalf("401 body %s", body)
			}
			if tt.handled && (rec.got.RequestContext.Authorizer != nil) != tt.withClaims {
				t.Fatalf("authorizer present %v", rec.got.RequestContext.Authorizer != nil)
			}
		})
	}
	if strings.Contains(logs.String(), good) || strings.Contains(logs.String(), other) {
		t.Fatal("a token was logged")
	}
}

func TestBodies(t *testing.T) {
	rec := &recorder{resp: events.APIGatewayV2HTTPResponse{StatusCode: 204}}
	srv, _ := setup(t, rec)
	post := func(b []byte) {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL+"/x", "application/octet-stream", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// Oversized bodies are cut just past the API's limit, so the handler still refuses them.
	post(bytes.Repeat([]byte("a"), 10*api.MaxBodyBytes))
	if len(rec.got.Body) != api.MaxBodyBytes+1 {
		t.Fatalf("handler saw %d bytes", len(rec.got.Body))
	}
	// Non-UTF-8 bodies travel base64-encoded, as API Gateway sends binary bodies.
	post([]byte{0xff, 0xfe, 0x00})
	if !rec.got.IsBase64Encoded || rec.got.Body != "//4A" {
		t.Fatalf("binary body: %q base64 %v", rec.got.Body, rec.got.IsBase64Encoded)
	}
}

func TestHandlerErrorBecomes500(t *testing.T) {
	rec := &recorder{err: errors.New("boom: internal detail")}
	srv, logs := setup(t, rec)
	resp, err := srv.Client().Get(srv.URL + "/v1/event-types")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || strings.Contains(string(body), "internal detail") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "internal detail") {
		t.Fatal("handler error not logged")
	}
}
