package devoidc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"
)

const (
	redirect = "http://127.0.0.1:3000/console"
	verifier = "dBjftJeZ4CVP-mJ92K9uhbUmjMi9oZ0K5CeQnXgGk1wQx"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

type rig struct {
	t   *testing.T
	srv *httptest.Server
	now time.Time
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, now: time.Unix(1_800_000_000, 0)}
	p, err := New(Config{Key: key, Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	p.Register(redirect)
	r.srv = httptest.NewServer(p)
	t.Cleanup(r.srv.Close)
	return r
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize asks for a code with params over the defaults and returns the redirect's
// query (nil if it did not redirect) and the status.
func (r *rig) authorize(params map[string]string) (url.Values, int) {
	r.t.Helper()
	q := url.Values{
		"response_type": {"code"}, "client_id": {ClientID}, "redirect_uri": {redirect}, "scope": {"openid"},
		"state": {"st"}, "nonce": {"n-1"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
	}
	for k, v := range params {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	resp, err := noRedirects.Get(r.srv.URL + "/authorize?" + q.Encode())
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, resp.StatusCode
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		r.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirect {
		r.t.Fatalf("redirected to %s", got)
	}
	return loc.Query(), resp.StatusCode
}

type tokens struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
}

func (r *rig) token(params map[string]string) (tokens, int) {
	r.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "client_id": {ClientID}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	for k, v := range params {
		f.Set(k, v)
	}
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/token", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://127.0.0.1:3000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out tokens
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:3000" {
		r.t.Errorf("the console's origin may not read the tokens: %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	return out, resp.StatusCode
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name, hint, wantApp string
	}{
		{"the demo app without login_hint", "", DefaultApp},
		{"the app in login_hint", "other-app", "other-app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			q, status := r.authorize(map[string]string{"login_hint": tt.hint})
			if q == nil || q.Get("code") == "" || q.Get("state") != "st" {
				t.Fatalf("authorize: %d %v", status, q)
			}
			tok, status := r.token(map[string]string{"code": q.Get("code")})
			if status != http.StatusOK || tok.TokenType != "Bearer" {
				t.Fatalf("token: %d %+v", status, tok)
			}
			v, _ := devauth.NewDevVerifier(key)
			for _, jwt := range []string{tok.AccessToken, tok.IDToken} {
				claims, err := v.Verify(jwt)
				if err != nil {
					t.Fatalf("the local API would refuse the token: %v", err)
				}
				if claims["nami_app_ids"] != "["+tt.wantApp+"]" {
					t.Errorf("grants %s, want [%s]", claims["nami_app_ids"], tt.wantApp)
				}
			}
			if claims, _ := v.Verify(tok.IDToken); claims["nonce"] != "n-1" {
				t.Errorf("ID token nonce %q", claims["nonce"])
			}
		})
	}
}

func TestTokenRefusals(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		later  time.Duration
	}{
		{"wrong verifier", map[string]string{"code_verifier": strings.Repeat("a", 43)}, 0},
		{"verifier too short", map[string]string{"code_verifier": "short"}, 0},
		{"wrong redirect_uri", map[string]string{"redirect_uri": "http://127.0.0.1:3000/console/"}, 0},
		{"wrong client", map[string]string{"client_id": "someone-else"}, 0},
		{"unknown code", map[string]string{"code": "nope"}, 0},
		{"expired code", nil, CodeTTL + time.Second},
		{"other grant type", map[string]string{"grant_type": "client_credentials"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			q, _ := r.authorize(nil)
			params := map[string]string{"code": q.Get("code")}
			for k, v := range tt.params {
				params[k] = v
			}
			r.now = r.now.Add(tt.later)
			tok, status := r.token(params)
			if status != http.StatusBadRequest || tok.Error == "" || tok.AccessToken != "" {
				t.Fatalf("token: %d %+v", status, tok)
			}
			// A refused exchange uses the code up: the right request cannot follow it.
			if tt.params["code"] == "" && tt.params["grant_type"] == "" {
				if _, status := r.token(map[string]string{"code": q.Get("code")}); status != http.StatusBadRequest {
					t.Errorf("the code was accepted after a refused attempt: %d", status)
				}
			}
		})
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	r := newRig(t)
	q, _ := r.authorize(nil)
	if _, status := r.token(map[string]string{"code": q.Get("code")}); status != http.StatusOK {
		t.Fatalf("first exchange: %d", status)
	}
	if tok, status := r.token(map[string]string{"code": q.Get("code")}); status != http.StatusBadRequest || tok.Error != "invalid_grant" {
		t.Fatalf("second exchange: %d %+v", status, tok)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	tests := []struct {
		name       string
		params     map[string]string
		wantStatus int    // without a redirect
		wantError  string // in the redirect
	}{
		{"unregistered redirect_uri", map[string]string{"redirect_uri": "http://evil.example/console"}, http.StatusBadRequest, ""},
		{"unknown client", map[string]string{"client_id": "x"}, http.StatusBadRequest, ""},
		{"implicit flow", map[string]string{"response_type": "token"}, 0, "unsupported_response_type"},
		{"no PKCE", map[string]string{"code_challenge": ""}, 0, "invalid_request"},
		{"plain PKCE", map[string]string{"code_challenge_method": "plain"}, 0, "invalid_request"},
		{"no state", map[string]string{"state": ""}, 0, "invalid_request"},
		{"login_hint not an app id", map[string]string{"login_hint": "a b"}, 0, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			q, status := r.authorize(tt.params)
			if tt.wantStatus != 0 {
				if status != tt.wantStatus {
					t.Fatalf("status %d, want %d", status, tt.wantStatus)
				}
				return
			}
			if q == nil || q.Get("error") != tt.wantError || q.Get("code") != "" {
				t.Fatalf("redirect %v, want error %s", q, tt.wantError)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	r := newRig(t)
	resp, err := http.Get(r.srv.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != r.srv.URL || doc["authorization_endpoint"] != r.srv.URL+"/authorize" || doc["token_endpoint"] != r.srv.URL+"/token" {
		t.Errorf("discovery: %v", doc)
	}
}
