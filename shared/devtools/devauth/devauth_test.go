package devauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/namiml/mparticle-bridge/shared/auth"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestVerifier(t *testing.T) {
	v, err := NewDevVerifier(testKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": DevIssuer, "aud": DevAudience, "sub": "dev", "exp": now.Add(time.Hour).Unix(), auth.ClaimAppIDs: []string{"app1", "app2"}}
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
	if claims[auth.ClaimAppIDs] != "[app1 app2]" || claims["sub"] != "dev" {
		t.Fatalf("claims not flattened as API Gateway does: %v", claims)
	}
	if p := auth.FromClaims(claims, nil); !p.CanManage("app2") || p.CanManage("app3") {
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
	if p := auth.FromClaims(claims, nil); !p.CanManage("appA") || p.CanManage("appB") || p.Admin {
		t.Fatalf("dev token principal %+v", p)
	}
	admin, err := IssueDevToken(testKey, nil, time.Minute, auth.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	claims, err = v.Verify(admin)
	if err != nil {
		t.Fatal(err)
	}
	if p := auth.FromClaims(claims, nil); !p.Admin || !p.CanManage("any") {
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

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
