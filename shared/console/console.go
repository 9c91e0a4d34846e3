// Package console serves the operator console: one static page (HTML, CSS and JavaScript
// modules, embedded in the binary) through which an operator lists, adds, edits, enables,
// tests and deletes an app's mParticle integrations. The page holds no data of its own: it
// signs in against the configured OpenID Connect issuer and then calls the documented /v1
// routes of the Integrations API with the token, on the same origin. The Integrations
// function serves it at /console, without a token (API Gateway's route has no authorizer),
// so everything served here is public and the same for every caller.
package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Environment variables of the console (the Integrations function's).
const (
	EnvClientID = "CONSOLE_CLIENT_ID"
	EnvIssuer   = "CONSOLE_ISSUER"
	EnvScopes   = "CONSOLE_SCOPES"
	EnvTokenUse = "CONSOLE_TOKEN_USE"
	// EnvSignInOrigins lists, comma-separated, further https origins the page may call to
	// sign in: an issuer whose authorization and token endpoints live elsewhere (Amazon
	// Cognito: the issuer is cognito-idp.<region>.amazonaws.com, the endpoints are on the
	// user pool's domain) needs its endpoints' origin allowed by the CSP's connect-src.
	EnvSignInOrigins = "CONSOLE_SIGNIN_ORIGINS"
	EnvRedirectURI   = "CONSOLE_REDIRECT_URI"
	// EnvDev is set only by the local stack (`make dev`): the page then signs in by itself
	// and switching apps signs in again for the other app.
	EnvDev = "CONSOLE_DEV"
	// EnvDevApp is the app the local console opens with.
	EnvDevApp = "CONSOLE_DEV_APP"
)

// Token uses: which of the issuer's tokens the page sends as its bearer token.
const (
	TokenUseAccess = "access"
	TokenUseID     = "id"
)

// DefaultScopes are asked for when CONSOLE_SCOPES is empty.
const DefaultScopes = "openid"

// Path is where the console is served.
const Path = "/console"

// Config is what the page needs to sign in. The zero Config (no client id) turns the
// console off.
type Config struct {
	// Issuer is the OpenID Connect issuer (its discovery document is
	// <Issuer>/.well-known/openid-configuration).
	Issuer string `json:"issuer"`
	// ClientID is the console's public client at the issuer.
	ClientID string `json:"client_id"`
	// RedirectURI is registered at the issuer for ClientID; empty: the page's own
	// <origin>/console.
	RedirectURI string `json:"redirect_uri,omitempty"`
	// Scopes are asked for, space-separated.
	Scopes string `json:"scopes"`
	// TokenUse says which token is the bearer token: "access" (default) or "id".
	TokenUse string `json:"token_use"`
	// SignInOrigins are origins besides the issuer's where its endpoints live (scheme and
	// host only), allowed by the page's Content-Security-Policy.
	SignInOrigins []string `json:"sign_in_origins,omitempty"`
	// Dev: the local stack's provider, which signs in without a screen.
	Dev bool `json:"dev,omitempty"`
	// DevApp is the app the local console opens with when the URL names none.
	DevApp string `json:"dev_app,omitempty"`
}

// Enabled reports whether the console is served.
func (c Config) Enabled() bool { return c.ClientID != "" }

// ConfigFromEnv reads the console's settings. An empty CONSOLE_CLIENT_ID turns the console
// off, whatever else is set.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Issuer:      strings.TrimSpace(getenv(EnvIssuer)),
		ClientID:    strings.TrimSpace(getenv(EnvClientID)),
		RedirectURI: strings.TrimSpace(getenv(EnvRedirectURI)),
		Scopes:      strings.Join(strings.Fields(getenv(EnvScopes)), " "),
		TokenUse:    strings.TrimSpace(getenv(EnvTokenUse)),
		DevApp:      strings.TrimSpace(getenv(EnvDevApp)),
	}
	for _, o := range strings.Split(getenv(EnvSignInOrigins), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.SignInOrigins = append(c.SignInOrigins, o)
		}
	}
	switch v := strings.TrimSpace(getenv(EnvDev)); v {
	case "", "false", "0":
	case "true", "1":
		c.Dev = true
	default:
		return Config{}, fmt.Errorf("%s: %q is not true or false", EnvDev, v)
	}
	if !c.Enabled() {
		return Config{}, nil
	}
	if c.Scopes == "" {
		c.Scopes = DefaultScopes
	}
	if c.TokenUse == "" {
		c.TokenUse = TokenUseAccess
	}
	return c, c.validate()
}

func (c Config) validate() error {
	if c.TokenUse != TokenUseAccess && c.TokenUse != TokenUseID {
		return fmt.Errorf("%s: %q is neither %s nor %s", EnvTokenUse, c.TokenUse, TokenUseAccess, TokenUseID)
	}
	if c.ClientID != "" && strings.ContainsFunc(c.ClientID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%s: a client id has no spaces or control characters", EnvClientID)
	}
	iss, err := origin(c.Issuer)
	if err != nil {
		return fmt.Errorf("%s: %w", EnvIssuer, err)
	}
	// Plain http only for the local stack's provider on this machine: anywhere else the
	// authorization code and tokens would cross the network in clear.
	if iss.Scheme != "https" && !(c.Dev && isLoopback(iss.Hostname())) {
		return fmt.Errorf("%s: %q must be an https URL", EnvIssuer, c.Issuer)
	}
	for i, o := range c.SignInOrigins {
		u, err := origin(o)
		if err != nil || u.Scheme != "https" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("%s: %q is not an https origin", EnvSignInOrigins, o)
		}
		c.SignInOrigins[i] = u.Scheme + "://" + u.Host
	}
	if c.RedirectURI != "" {
		u, err := url.Parse(c.RedirectURI)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return fmt.Errorf("%s: %q is not an absolute URL without fragment", EnvRedirectURI, c.RedirectURI)
		}
	}
	return nil
}

// origin parses an issuer URL and returns it; only its scheme and host are used by the
// Content-Security-Policy.
func origin(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("the issuer is required with a client id")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q is not an issuer URL (scheme, host and an optional path)", raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

//go:embed assets
var assets embed.FS

// asset is one file as served.
type asset struct {
	body        []byte
	contentType string
	etag        string
	// page: the HTML page, never stored by caches (it carries the configuration).
	page bool
}

// Handler serves the console's page and assets.
type Handler struct {
	cfg    Config
	csp    string
	assets map[string]asset // by name under /console/
}

// New builds the console from cfg: the page with the configuration in a meta element, every
// asset with its type and ETag. A disabled cfg gives a Handler that serves nothing.
func New(cfg Config) (*Handler, error) {
	h := &Handler{cfg: cfg}
	if !cfg.Enabled() {
		return h, nil
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h.csp = contentSecurityPolicy(cfg)
	h.assets = map[string]asset{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		a := asset{body: body, contentType: contentType(name)}
		if a.contentType == "" {
			return fmt.Errorf("console asset %s: no content type for its extension", name)
		}
		if name == indexName {
			if a.body, err = renderIndex(body, cfg); err != nil {
				return err
			}
			a.page = true
		}
		sum := sha256.Sum256(a.body)
		a.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
		h.assets[name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	if _, ok := h.assets[indexName]; !ok {
		return nil, errors.New("console assets: no " + indexName)
	}
	return h, nil
}

const indexName = "index.html"

// renderIndex puts the configuration into the page's console-config meta element, as an
// attribute value html/template escapes: no inline script, so the CSP needs no exception,
// and no configuration value can end the attribute.
func renderIndex(page []byte, cfg Config) ([]byte, error) {
	tmpl, err := template.New(indexName).Parse(string(page))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", indexName, err)
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, struct{ Config string }{string(conf)}); err != nil {
		return nil, fmt.Errorf("render %s: %w", indexName, err)
	}
	return out.Bytes(), nil
}

// contentSecurityPolicy allows the page's own files and, for sign-in, requests to the
// issuer (discovery and token endpoint): nothing inline, nothing else from anywhere.
func contentSecurityPolicy(cfg Config) string {
	connect, form := "'self'", "'self'"
	if u, err := origin(cfg.Issuer); err == nil {
		o := u.Scheme + "://" + u.Host
		connect += " " + o
		form += " " + o
	}
	for _, o := range cfg.SignInOrigins {
		connect += " " + o
		form += " " + o
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src " + connect +
		"; form-action " + form + "; frame-ancestors 'none'; base-uri 'none'"
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return mime.TypeByExtension(path.Ext(name))
}

// Enabled reports whether the console is served.
func (h *Handler) Enabled() bool { return h != nil && h.cfg.Enabled() }

// Owns reports whether path is the console's: /console and everything under /console/.
func Owns(p string) bool {
	return p == Path || strings.HasPrefix(p, Path+"/")
}

// Handle answers a request for one of the console's paths (Owns).
func (h *Handler) Handle(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	method := req.RequestContext.HTTP.Method
	p := requestPath(req)
	name := strings.TrimPrefix(strings.TrimPrefix(p, Path), "/")
	if name == "" {
		name = indexName
	}
	a, ok := h.assets[name]
	if !ok || !Owns(p) {
		return h.plain(http.StatusNotFound, "not found"), nil
	}
	if method != http.MethodGet && method != http.MethodHead {
		r := h.plain(http.StatusMethodNotAllowed, "method not allowed")
		r.Headers["Allow"] = "GET, HEAD"
		return r, nil
	}
	resp := events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: h.headers(a.contentType)}
	resp.Headers["ETag"] = a.etag
	if a.page {
		resp.Headers["Cache-Control"] = "no-store"
	} else {
		// File names carry no version, so a cache may keep an asset only if it asks again.
		resp.Headers["Cache-Control"] = "no-cache"
		if etagMatches(header(req, "if-none-match"), a.etag) {
			resp.StatusCode = http.StatusNotModified
			return resp, nil
		}
	}
	if method == http.MethodGet {
		resp.Body = string(a.body)
	}
	return resp, nil
}

// plain is a short text answer with the console's security headers.
func (h *Handler) plain(status int, text string) events.APIGatewayV2HTTPResponse {
	hd := h.headers("text/plain; charset=utf-8")
	hd["Cache-Control"] = "no-store"
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: hd, Body: text + "\n"}
}

func (h *Handler) headers(ct string) map[string]string {
	return map[string]string{
		"Content-Type":            ct,
		"Content-Security-Policy": h.csp,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
}

// requestPath is the decoded path of the request.
func requestPath(req events.APIGatewayV2HTTPRequest) string {
	if p := req.RequestContext.HTTP.Path; p != "" {
		return p
	}
	if p, err := url.PathUnescape(req.RawPath); err == nil {
		return p
	}
	return req.RawPath
}

// header reads a request header; API Gateway lower-cases their names.
func header(req events.APIGatewayV2HTTPRequest, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// etagMatches applies If-None-Match (weak comparison, RFC 9110).
func etagMatches(ifNoneMatch, etag string) bool {
	if strings.TrimSpace(ifNoneMatch) == "*" {
		return true
	}
	return slices.ContainsFunc(strings.Split(ifNoneMatch, ","), func(t string) bool {
		return strings.TrimPrefix(strings.TrimSpace(t), "W/") == etag
	})
}

// HandlerFunc is a Lambda handler of HTTP API events.
type HandlerFunc func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Route sends the console's paths to the console and every other request to api. With the
// console off, its paths go to api too, which answers them as any unknown path (404).
func Route(console *Handler, api HandlerFunc) HandlerFunc {
	if !console.Enabled() {
		return api
	}
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if Owns(requestPath(req)) {
			return console.Handle(ctx, req)
		}
		return api(ctx, req)
	}
}
