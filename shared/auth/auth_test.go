package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestParseList(t *testing.T) {
	tests := map[string][]string{
		"":                    nil,
		"[]":                  nil,
		"[app1 app2]":         {"app1", "app2"},
		"[app1]":              {"app1"},
		`["app1","app2"]`:     {"app1", "app2"},
		"app1 app2":           {"app1", "app2"},
		"app1,app2, app3":     {"app1", "app2", "app3"},
		"mparticle:admin foo": {"mparticle:admin", "foo"},
		"  [ a  b ] ":         {"a", "b"},
	}
	for in, want := range tests {
		if got := ParseList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromAPIGateway(t *testing.T) {
	req := func(claims map[string]string, scopes []string) *events.APIGatewayV2HTTPRequest {
		r := &events.APIGatewayV2HTTPRequest{}
		if claims != nil {
			r.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes},
			}
		}
		return r
	}
	tests := []struct {
		name     string
		req      *events.APIGatewayV2HTTPRequest
		can, not []string
		admin    bool
	}{
		{"flattened app list", req(map[string]string{"sub": "u", ClaimAppIDs: "[app1 app2]"}, nil), []string{"app1", "app2"}, []string{"app3", "app", ""}, false},
		{"admin by scope claim", req(map[string]string{"sub": "u", "scope": "openid mparticle:admin"}, nil), []string{"anything"}, []string{""}, true},
		{"admin by scp array", req(map[string]string{"sub": "u", "scp": "[mparticle:admin]"}, nil), []string{"x"}, nil, true},
		{"admin by authorizer scopes", req(map[string]string{"sub": "u"}, []string{ScopeAdmin}), []string{"x"}, nil, true},
		{"other scope is not admin", req(map[string]string{"sub": "u", "scope": "mparticle:read", ClaimAppIDs: "[a]"}, nil), []string{"a"}, []string{"b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := FromAPIGateway(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if p.Admin != tt.admin || p.Subject != "u" {
				t.Fatalf("principal %+v", p)
			}
			for _, a := range tt.can {
				if !p.CanManage(a) {
					t.Errorf("cannot manage %q", a)
				}
			}
			for _, a := range tt.not {
				if p.CanManage(a) {
					t.Errorf("can manage %q", a)
				}
			}
		})
	}
	if _, err := FromAPIGateway(req(nil, nil)); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("no authorizer: %v", err)
	}
	if _, err := FromAPIGateway(req(map[string]string{}, nil)); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("empty claims: %v", err)
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifier(t *testing.T) {
	v, err := NewDevVerifier(testKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": DevIssuer, "aud": DevAudience, "sub": "dev", "exp": now.Add(time.Hour).Unix(), ClaimAppIDs: []string{"app1", "app2"}}
	}
	with := func(k string, val any) jwt.MapClaims {
		c := valid()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}

	claims, err := v.Verify(sign(t, jwt.SigningMethodHS256, testKey, valid()))
	if err != nil {
		t.Fatalf("valid token: %v", err)
	}
	if claims[ClaimAppIDs] != "[app1 app2]" || claims["sub"] != "dev" {
		t.Fatalf("claims not flattened as API Gateway does: %v", claims)
	}
	if p := FromClaims(claims, nil); !p.CanManage("app2") || p.CanManage("app3") {
		t.Fatalf("principal from local claims: %+v", p)
	}

	otherKey := []byte(strings.Repeat("z", 32))
	bad := map[string]string{
		"wrong key":      sign(t, jwt.SigningMethodHS256, otherKey, valid()),
		"expired":        sign(t, jwt.SigningMethodHS256, testKey, with("exp", now.Add(-time.Hour).Unix())),
		"no exp":         sign(t, jwt.SigningMethodHS256, testKey, with("exp", nil)),
		"wrong issuer":   sign(t, jwt.SigningMethodHS256, testKey, with("iss", "someone-else")),
		"wrong audience": sign(t, jwt.SigningMethodHS256, testKey, with("aud", "other-api")),
		"HS512":          sign(t, jwt.SigningMethodHS512, testKey, valid()),
		"alg none":       sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()),
		"garbage":        "not.a.token",
		"empty":          "",
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(tok); !errors.Is(err, ErrBadToken) {
				t.Fatalf("got %v, want ErrBadToken", err)
			}
		})
	}
}

func TestIssueDevToken(t *testing.T) {
	v, err := NewDevVerifier(testKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := IssueDevToken(testKey, []string{"appA"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p := FromClaims(claims, nil); !p.CanManage("appA") || p.CanManage("appB") || p.Admin {
		t.Fatalf("dev token principal %+v", p)
	}
	admin, err := IssueDevToken(testKey, nil, time.Minute, ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	claims, err = v.Verify(admin)
	if err != nil {
		t.Fatal(err)
	}
	if p := FromClaims(claims, nil); !p.Admin || !p.CanManage("any") {
		t.Fatalf("admin dev token principal %+v", p)
	}

	// A verifier whose clock is past the token's lifetime (plus leeway) refuses it.
	v.now = func() time.Time { return time.Now().Add(time.Minute + leeway + time.Second) }
	if _, err := v.Verify(tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("token used after its ttl: %v", err)
	}
	if _, err := IssueDevToken([]byte("short"), nil, time.Minute); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := NewDevVerifier([]byte("short")); err == nil {
		t.Fatal("verifier with short key accepted")
	}
}

func TestBearerToken(t *testing.T) {
	tests := map[string]string{
		"Bearer abc":  "abc",
		"bearer  abc": "abc",
		"Basic abc":   "",
		"Bearer":      "",
		"Bearer ":     "",
		"":            "",
		"abc":         "",
	}
	for in, want := range tests {
		got, ok := BearerToken(in)
		if got != want || ok != (want != "") {
			t.Errorf("BearerToken(%q) = %q, %v", in, got, ok)
		}
	}
}
