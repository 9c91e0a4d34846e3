package console

import (
	"context"
	"encoding/json"
	"html"
	"io/fs"
	"net/http"
	"path"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/api"
)

var testConfig = Config{
	Issuer:   "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
	ClientID: "console-client",
	Scopes:   "openid",
	TokenUse: TokenUseAccess,
}

func newHandler(t *testing.T, cfg Config) *Handler {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func request(method, p string, headers map[string]string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		RawPath: p,
		Headers: headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: p},
		},
	}
}

func serve(t *testing.T, h HandlerFunc, method, p string, headers map[string]string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h(context.Background(), request(method, p, headers))
	if err != nil {
		t.Fatalf("%s %s: %v", method, p, err)
	}
	return resp
}

// apiStub stands in for the Integrations API: it answers 404 JSON like an unknown path,
// and records that it was called.
type apiStub struct{ calls []string }

func (a *apiStub) handle(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	a.calls = append(a.calls, req.RequestContext.HTTP.Method+" "+req.RequestContext.HTTP.Path)
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNotFound, Body: `{"error":{"code":"not_found"}}`}, nil
}

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self' https://cognito-idp.us-east-1.amazonaws.com; " +
	"form-action 'self' https://cognito-idp.us-east-1.amazonaws.com; frame-ancestors 'none'; base-uri 'none'"

func TestPageHeaders(t *testing.T) {
	h := newHandler(t, testConfig)
	for _, p := range []string{"/console", "/console/", "/console/index.html"} {
		resp := serve(t, h.Handle, http.MethodGet, p, nil)
		want := map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Content-Security-Policy": wantCSP,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
			"Cache-Control":           "no-store",
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", p, resp.StatusCode)
		}
		for k, v := range want {
			if got := resp.Headers[k]; got != v {
				t.Errorf("GET %s: %s = %q, want %q", p, k, got, v)
			}
		}
		if !strings.Contains(resp.Body, "<h1>mParticle integrations</h1>") {
			t.Errorf("GET %s: not the page", p)
		}
	}
}

func TestAssetsServedWithTheirType(t *testing.T) {
	h := newHandler(t, testConfig)
	wantType := map[string]string{
		".html": "text/html; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".svg":  "image/svg+xml",
	}
	n := 0
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		name := strings.TrimPrefix(p, "assets/")
		raw, _ := assets.ReadFile(p)
		resp := serve(t, h.Handle, http.MethodGet, "/console/"+name, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", name, resp.StatusCode)
		}
		want, ok := wantType[path.Ext(name)]
		if !ok {
			t.Errorf("%s: an asset type the test does not know", name)
		}
		if got := resp.Headers["Content-Type"]; got != want {
			t.Errorf("%s: Content-Type %q, want %q", name, got, want)
		}
		if resp.Headers["Content-Security-Policy"] != wantCSP || resp.Headers["X-Content-Type-Options"] != "nosniff" {
			t.Errorf("%s: security headers missing: %v", name, resp.Headers)
		}
		if name == indexName {
			return nil
		}
		if resp.Body != string(raw) {
			t.Errorf("%s: body differs from the embedded file", name)
		}
		if resp.Headers["Cache-Control"] != "no-cache" || resp.Headers["ETag"] == "" {
			t.Errorf("%s: Cache-Control %q, ETag %q", name, resp.Headers["Cache-Control"], resp.Headers["ETag"])
		}
		again := serve(t, h.Handle, http.MethodGet, "/console/"+name, map[string]string{"if-none-match": resp.Headers["ETag"]})
		if again.StatusCode != http.StatusNotModified || again.Body != "" {
			t.Errorf("%s with If-None-Match: %d, %d bytes", name, again.StatusCode, len(again.Body))
		}
		head := serve(t, h.Handle, http.MethodHead, "/console/"+name, nil)
		if head.StatusCode != http.StatusOK || head.Body != "" || head.Headers["Content-Type"] != want {
			t.Errorf("HEAD %s: %d, %d bytes, %q", name, head.StatusCode, len(head.Body), head.Headers["Content-Type"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d assets embedded", n)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := newHandler(t, testConfig)
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/console/missing.js", http.StatusNotFound},
		{http.MethodGet, "/console/assets/app.js", http.StatusNotFound},
		{http.MethodGet, "/console/../console/app.js", http.StatusNotFound},
		{http.MethodGet, "/console/app.js/", http.StatusNotFound},
		{http.MethodPost, "/console", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/console/app.js", http.StatusMethodNotAllowed},
		{http.MethodPut, "/console/", http.StatusMethodNotAllowed},
		{http.MethodHead, "/console", http.StatusOK},
	}
	for _, tt := range tests {
		resp := serve(t, h.Handle, tt.method, tt.path, nil)
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
		if tt.status == http.StatusMethodNotAllowed && resp.Headers["Allow"] != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tt.method, tt.path, resp.Headers["Allow"])
		}
		if resp.Headers["Content-Security-Policy"] == "" {
			t.Errorf("%s %s: no CSP", tt.method, tt.path)
		}
	}
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		path       string
		toConsole  bool
		wantStatus int
	}{
		{"console page", testConfig, "/console", true, http.StatusOK},
		{"console asset", testConfig, "/console/app.js", true, http.StatusOK},
		{"unknown console asset stays the console's", testConfig, "/console/x.js", true, http.StatusNotFound},
		{"API route", testConfig, "/v1/event-types", false, http.StatusNotFound},
		{"a path that only starts like it", testConfig, "/consoles", false, http.StatusNotFound},
		{"console off: page", Config{}, "/console", false, http.StatusNotFound},
		{"console off: asset", Config{}, "/console/app.js", false, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &apiStub{}
			h := Route(newHandler(t, tt.cfg), api.handle)
			resp := serve(t, h, http.MethodGet, tt.path, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := len(api.calls) == 0; got != tt.toConsole {
				t.Errorf("served by the console: %v, want %v (API calls %v)", got, tt.toConsole, api.calls)
			}
		})
	}
}

var (
	tagRE  = regexp.MustCompile(`(?s)<([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>`)
	attrRE = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?`)
)

// tags lists the page's start tags with their attributes.
func tags(page string) []struct {
	name  string
	attrs map[string]string
	end   int
} {
	var out []struct {
		name  string
		attrs map[string]string
		end   int
	}
	for _, m := range tagRE.FindAllStringSubmatchIndex(page, -1) {
		attrs := map[string]string{}
		for _, a := range attrRE.FindAllStringSubmatch(page[m[4]:m[5]], -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2] + a[3] + a[4])
		}
		out = append(out, struct {
			name  string
			attrs map[string]string
			end   int
		}{strings.ToLower(page[m[2]:m[3]]), attrs, m[1]})
	}
	return out
}

// The page carries the configuration as an attribute that no value can break out of, and
// holds no inline script, style or event handler (the CSP would block them, and allowing
// them would let injected markup run).
func TestPageHasNoInlineCodeAndEscapesConfig(t *testing.T) {
	cfg := testConfig
	cfg.Issuer = `https://idp.example/x"><script>alert(1)</script>`
	cfg.ClientID = `client'&<b>`
	h := newHandler(t, cfg)
	page := serve(t, h.Handle, http.MethodGet, "/console", nil).Body

	var metas, scripts int
	ids := map[string]bool{}
	for _, tg := range tags(page) {
		for a := range tg.attrs {
			if a == "style" || strings.HasPrefix(a, "on") {
				t.Errorf("<%s> has a %s attribute", tg.name, a)
			}
		}
		if id := tg.attrs["id"]; id != "" {
			if ids[id] {
				t.Errorf("id %q used twice", id)
			}
			ids[id] = true
		}
		switch tg.name {
		case "style":
			t.Error("the page has a <style> element")
		case "script":
			scripts++
			rest := page[tg.end:]
			if tg.attrs["src"] == "" || !strings.HasPrefix(rest, "</script>") {
				t.Errorf("inline script: %.80q", rest)
			}
			if tg.attrs["type"] != "module" || !strings.HasPrefix(tg.attrs["src"], "/console/") {
				t.Errorf("script %v: not one of the console's modules", tg.attrs)
			}
		case "link", "img":
			for _, a := range []string{"href", "src"} {
				if v, ok := tg.attrs[a]; ok && !strings.HasPrefix(v, "/console/") {
					t.Errorf("<%s %s=%q> is not the console's own file", tg.name, a, v)
				}
			}
		case "meta":
			if tg.attrs["name"] != "console-config" {
				continue
			}
			metas++
			var got Config
			if err := json.Unmarshal([]byte(tg.attrs["content"]), &got); err != nil {
				t.Fatalf("console-config is not JSON: %v", err)
			}
			if !reflect.DeepEqual(got, cfg) {
				t.Errorf("console-config = %+v, want %+v", got, cfg)
			}
		}
	}
	if metas != 1 || scripts != 1 {
		t.Errorf("%d console-config metas, %d scripts; want 1 each", metas, scripts)
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<b>") {
		t.Error("a configuration value was written into the page as markup")
	}
}

// The scripts build the page from data with text nodes only, load nothing from elsewhere
// and keep styles in the style sheet.
func TestScriptsStayWithinTheCSP(t *testing.T) {
	forbidden := []struct{ re, why string }{
		{`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write`, "parses strings as HTML"},
		{`\beval\(|new Function\(|setTimeout\(\s*['"]`, "evaluates strings as code"},
		{`\.style\.|setAttribute\(\s*['"]style`, "sets inline styles"},
		{`(?m)^\s*import[^;]*from\s+['"](?:https?:)?//`, "imports from another origin"},
		{`localStorage`, "stores data beyond the tab"},
	}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		src, _ := assets.ReadFile(p)
		for _, f := range forbidden {
			if loc := regexp.MustCompile(f.re).FindIndex(src); loc != nil {
				t.Errorf("%s %s: %q", p, f.why, src[loc[0]:loc[1]])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Config
		err  bool
	}{
		{"off without a client id", map[string]string{EnvIssuer: "https://idp.example"}, Config{}, false},
		{"defaults", map[string]string{EnvClientID: "c", EnvIssuer: "https://idp.example/pool"},
			Config{Issuer: "https://idp.example/pool", ClientID: "c", Scopes: "openid", TokenUse: "access"}, false},
		{"every setting", map[string]string{EnvClientID: "c", EnvIssuer: "https://idp.example", EnvScopes: " openid  profile ",
			EnvTokenUse: "id", EnvRedirectURI: "https://api.example/console"},
			Config{Issuer: "https://idp.example", ClientID: "c", Scopes: "openid profile", TokenUse: "id",
				RedirectURI: "https://api.example/console"}, false},
		{"local provider", map[string]string{EnvClientID: "c", EnvIssuer: "http://127.0.0.1:3001", EnvDev: "true", EnvDevApp: "app"},
			Config{Issuer: "http://127.0.0.1:3001", ClientID: "c", Scopes: "openid", TokenUse: "access", Dev: true, DevApp: "app"}, false},
		{"client without issuer", map[string]string{EnvClientID: "c"}, Config{}, true},
		{"http issuer deployed", map[string]string{EnvClientID: "c", EnvIssuer: "http://idp.example"}, Config{}, true},
		{"http issuer off this machine, dev", map[string]string{EnvClientID: "c", EnvIssuer: "http://idp.example", EnvDev: "1"}, Config{}, true},
		{"issuer with a query", map[string]string{EnvClientID: "c", EnvIssuer: "https://idp.example/?x=1"}, Config{}, true},
		{"issuer not a URL", map[string]string{EnvClientID: "c", EnvIssuer: "idp.example"}, Config{}, true},
		{"unknown token use", map[string]string{EnvClientID: "c", EnvIssuer: "https://idp.example", EnvTokenUse: "refresh"}, Config{}, true},
		{"client id with a space", map[string]string{EnvClientID: "a b", EnvIssuer: "https://idp.example"}, Config{}, true},
		{"redirect URI relative", map[string]string{EnvClientID: "c", EnvIssuer: "https://idp.example", EnvRedirectURI: "/console"}, Config{}, true},
		{"dev flag not a boolean", map[string]string{EnvDev: "yes"}, Config{}, true},
		{"sign-in origins (Cognito's domain)", map[string]string{EnvClientID: "c", EnvIssuer: "https://idp.example",
			EnvSignInOrigins: " https://nami.auth.us-east-1.amazoncognito.com/ , https://login.example:8443"},
			Config{Issuer: "https://idp.example", ClientID: "c", Scopes: "openid", TokenUse: "access",
				SignInOrigins: []string{"https://nami.auth.us-east-1.amazoncognito.com", "https://login.example:8443"}}, false},
		{"sign-in origin over http", map[string]string{EnvClientID: "c", EnvIssuer: "https://idp.example", EnvSignInOrigins: "http://login.example"}, Config{}, true},
		{"sign-in origin with a path", map[string]string{EnvClientID: "c", EnvIssuer: "https://idp.example", EnvSignInOrigins: "https://login.example/oauth2"}, Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The CSP lets the page reach the issuer (discovery, token endpoint) and nothing else.
func TestCSPNamesTheIssuerOrigin(t *testing.T) {
	tests := []struct {
		issuer, want string
	}{
		{"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc", "https://cognito-idp.eu-west-1.amazonaws.com"},
		{"https://login.example.com:8443/realms/nami/", "https://login.example.com:8443"},
	}
	for _, tt := range tests {
		csp := contentSecurityPolicy(Config{Issuer: tt.issuer, ClientID: "c"})
		if !strings.Contains(csp, "connect-src 'self' "+tt.want+";") || !strings.Contains(csp, "form-action 'self' "+tt.want+";") {
			t.Errorf("issuer %s: %s", tt.issuer, csp)
		}
		if strings.Contains(csp, "/realms") || strings.Contains(csp, "eu-west-1_Abc") {
			t.Errorf("the CSP names the issuer's path: %s", csp)
		}
	}
	csp := contentSecurityPolicy(Config{Issuer: "https://idp.example/pool", ClientID: "c",
		SignInOrigins: []string{"https://nami.auth.us-east-1.amazoncognito.com"}})
	if want := "connect-src 'self' https://idp.example https://nami.auth.us-east-1.amazoncognito.com;"; !strings.Contains(csp, want) {
		t.Errorf("with a sign-in origin: %s, want %s", csp, want)
	}
	if csp := contentSecurityPolicy(Config{}); !strings.Contains(csp, "connect-src 'self';") || !strings.Contains(csp, "form-action 'self';") {
		t.Errorf("without an issuer: %s", csp)
	}
}

func TestDisabledServesNothing(t *testing.T) {
	h := newHandler(t, Config{Issuer: "https://idp.example"})
	if h.Enabled() {
		t.Fatal("enabled without a client id")
	}
	var nilHandler *Handler
	if nilHandler.Enabled() {
		t.Fatal("nil handler enabled")
	}
}

// The page calls the API's documented routes and nothing else: every /v1 path the scripts
// build is a path of openapi.yaml, and only api.js (the API) and auth.js (the issuer) make
// requests.
func TestScriptsCallOnlyDocumentedRoutes(t *testing.T) {
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  (/v1/\S+):\s*$`).FindAllStringSubmatch(string(api.Spec), -1) {
		documented[regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(m[1], "{}")] = true
	}
	if len(documented) < 4 {
		t.Fatalf("read %d paths from openapi.yaml", len(documented))
	}
	literal := regexp.MustCompile("[`'\"](/v1/[^`'\"?]*)")
	param := regexp.MustCompile(`\$\{[^}]+\}`)
	var found int
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		src, _ := assets.ReadFile(p)
		if calls := strings.Count(string(src), "fetch("); calls > 0 && p != "assets/api.js" && p != "assets/auth.js" {
			t.Errorf("%s makes requests (%d fetch calls)", p, calls)
		}
		for _, m := range literal.FindAllStringSubmatch(string(src), -1) {
			found++
			if route := param.ReplaceAllString(m[1], "{}"); !documented[route] {
				t.Errorf("%s builds %s, which openapi.yaml does not document (%v)", p, m[1], documented)
			}
		}
		// Paths built on api.js's helpers: an integration's path under the list's, and the
		// test route under an integration's.
		for helper, base := range map[string]string{
			"integrationsPath": "/v1/apps/{}/integrations/mparticle",
			"integrationPath":  "/v1/apps/{}/integrations/mparticle/{}",
		} {
			for _, m := range regexp.MustCompile(helper+"\\([^)]*\\)\\}(/[^`]*)`").FindAllStringSubmatch(string(src), -1) {
				found++
				if route := base + param.ReplaceAllString(m[1], "{}"); !documented[route] {
					t.Errorf("%s builds %s, which openapi.yaml does not document", p, route)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 4 {
		t.Errorf("found %d API paths in the scripts; the test no longer reads them", found)
	}
}
