// Package devoidc is the local stack's OpenID Connect provider, for the console: `make dev`
// serves it so the console signs in the way it does against a deployed issuer
// (authorization code with PKCE), without a user directory or a login screen. /authorize
// approves every request at once, for the app named in login_hint (DefaultApp without
// one), and /token returns tokens minted by package devauth, which the local API accepts.
// It is tooling: loopback only, never linked by a function.
package devoidc

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
)

// DefaultApp is the app a sign-in without login_hint is for: the app of the sample events
// (events/, `make dev-send`), so what the console sets up receives them.
const DefaultApp = eventtest.AppID

// Local settings: the console's client at this provider.
const (
	ClientID = "nami-mparticle-local-console"
	// CodeTTL bounds how long an authorization code can be exchanged; it is used once.
	CodeTTL = time.Minute
	// TokenTTL is the lifetime of the tokens it issues.
	TokenTTL = time.Hour
)

// Config configures a Provider.
type Config struct {
	// Key signs the tokens (the local stack's devauth key).
	Key []byte
	// ClientID is the one client it serves (default ClientID).
	ClientID string
	// RedirectURIs are the redirect URIs registered for it, compared exactly (Register
	// adds more).
	RedirectURIs []string
	// DefaultApp is the app granted when login_hint names none (default DefaultApp).
	DefaultApp string
	Log        *slog.Logger
	Now        func() time.Time
}

// Provider serves the discovery document, /authorize and /token.
type Provider struct {
	cfg          Config
	mux          *http.ServeMux
	mu           sync.Mutex
	codes        map[string]grant
	redirectURIs []string
}

// grant is an issued authorization code's request.
type grant struct {
	clientID, redirectURI, challenge, nonce, app, scope string
	expires                                             time.Time
}

// New returns a provider.
func New(cfg Config) (*Provider, error) {
	if len(cfg.Key) < devauth.MinKeyBytes {
		return nil, errors.New("devoidc: a devauth signing key is required")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = ClientID
	}
	if cfg.DefaultApp == "" {
		cfg.DefaultApp = DefaultApp
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Provider{cfg: cfg, codes: map[string]grant{}, redirectURIs: slices.Clone(cfg.RedirectURIs)}
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	p.mux.HandleFunc("GET /authorize", p.authorize)
	p.mux.HandleFunc("POST /token", p.token)
	p.mux.HandleFunc("OPTIONS /token", p.preflight)
	return p, nil
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p.mux.ServeHTTP(w, r)
}

// issuer is the provider's own URL as the caller reached it: it listens on loopback only,
// on a port chosen at start.
func issuer(r *http.Request) string {
	return "http://" + r.Host
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	iss := issuer(r)
	// A public document: any page may read it.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"scopes_supported":                      []string{"openid"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"HS256"},
	})
}

var (
	// RFC 7636: a verifier is 43 to 128 unreserved characters; an S256 challenge is the
	// 43 base64url characters of a SHA-256.
	verifierRE  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	challengeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	appRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
)

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// Errors about the client or its redirect URI are shown, not redirected (RFC 6749,
	// 4.1.2.1): the redirect URI is not trusted yet.
	if q.Get("client_id") != p.cfg.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if !p.registered(redirect) {
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	back := func(params url.Values) {
		u, _ := url.Parse(redirect) // registered, so it parses
		v := u.Query()
		for k, vs := range params {
			v[k] = vs
		}
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	fail := func(code, desc string) {
		back(url.Values{"error": {code}, "error_description": {desc}})
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only the authorization code flow is supported")
		return
	case q.Get("code_challenge_method") != "S256" || !challengeRE.MatchString(q.Get("code_challenge")):
		fail("invalid_request", "PKCE with code_challenge_method S256 is required")
		return
	case q.Get("state") == "":
		fail("invalid_request", "state is required")
		return
	}
	app := q.Get("login_hint")
	if app == "" {
		app = p.cfg.DefaultApp
	}
	if !appRE.MatchString(app) {
		fail("invalid_request", "login_hint is not an app id")
		return
	}
	code, err := randomToken()
	if err != nil {
		fail("server_error", "no code could be made")
		return
	}
	p.mu.Lock()
	now := p.cfg.Now()
	for c, g := range p.codes {
		if now.After(g.expires) {
			delete(p.codes, c)
		}
	}
	p.codes[code] = grant{clientID: p.cfg.ClientID, redirectURI: redirect, challenge: q.Get("code_challenge"),
		nonce: q.Get("nonce"), app: app, scope: q.Get("scope"), expires: now.Add(CodeTTL)}
	p.mu.Unlock()
	p.cfg.Log.Info("console sign-in approved", "app", app)
	back(url.Values{"code": {code}})
}

// cors lets the console's pages (the origins of the registered redirect URIs) read the
// token endpoint's answers.
func (p *Provider) cors(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Origin")
	if o := p.corsOrigin(r.Header.Get("Origin")); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
	}
}

func (p *Provider) preflight(w http.ResponseWriter, r *http.Request) {
	p.cors(w, r)
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.cors(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request", "the body is not a form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		tokenError(w, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	p.mu.Lock()
	g, ok := p.codes[f.Get("code")]
	// Used once, whatever happens next: a code that leaked and was refused once cannot be
	// tried again.
	delete(p.codes, f.Get("code"))
	p.mu.Unlock()
	switch {
	case !ok || p.cfg.Now().After(g.expires):
		tokenError(w, "invalid_grant", "the code is unknown, used or expired")
		return
	case f.Get("client_id") != g.clientID:
		tokenError(w, "invalid_grant", "the code was issued to another client")
		return
	case f.Get("redirect_uri") != g.redirectURI:
		tokenError(w, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	case !verifierRE.MatchString(f.Get("code_verifier")) || !challengeMatches(f.Get("code_verifier"), g.challenge):
		tokenError(w, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	access, err := devauth.IssueDevToken(p.cfg.Key, []string{g.app}, TokenTTL)
	if err != nil {
		tokenError(w, "server_error", "no token could be signed")
		return
	}
	id, err := devauth.IssueDevIDToken(p.cfg.Key, []string{g.app}, TokenTTL, g.nonce)
	if err != nil {
		tokenError(w, "server_error", "no token could be signed")
		return
	}
	scope := g.scope
	if scope == "" {
		scope = "openid"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "id_token": id, "token_type": "Bearer",
		"expires_in": int(TokenTTL.Seconds()), "scope": scope,
	})
}

// challengeMatches checks an S256 code challenge: base64url(SHA-256(verifier)).
func challengeMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

func tokenError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Register adds redirect URIs (the console's URLs, known once the local API listens).
func (p *Provider) Register(redirectURIs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirectURIs = append(p.redirectURIs, redirectURIs...)
}

func (p *Provider) registered(uri string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.redirectURIs, uri)
}

// corsOrigin is origin when a registered redirect URI is on it, else "".
func (p *Provider) corsOrigin(origin string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ru := range p.redirectURIs {
		if u, err := url.Parse(ru); err == nil && origin != "" && origin == u.Scheme+"://"+u.Host {
			return origin
		}
	}
	return ""
}
