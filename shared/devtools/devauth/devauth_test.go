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

// devPolicy is the local stack's admin setting.
var devPolicy = auth.Policy{AdminScope: DevAdminScope, AdminClientID: DevAdminClientID}

func TestVerifier(t *testing.T) {
	v, err := NewDevVerifier(testKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": DevIssuer, "aud": DevAudience, "sub": "dev", "exp": now.Add(time.Hour).Unix(), auth.ClaimAppIDs: []string{"app1", "app2"}}
	}
	// with sets (or, for nil, removes) claims: name, value, name, value...
	with := func(kv ...any) jwt.MapClaims {
		c := valid()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
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
	if p := devPolicy.FromClaims(claims, nil); !p.CanManage("app2") || p.CanManage("app3") {
		t.Fatalf("principal from local claims: %+v", p)
	}

	otherKey := []byte(strings.Repeat("z", 32))
	bad := map[string]string{
		"wrong key":      sign(t, jwt.SigningMethodHS256, otherKey, valid()),
		"expired":        sign(t, jwt.SigningMethodHS256, testKey, with("exp", now.Add(-time.Hour).Unix())),
		"no exp":         sign(t, jwt.SigningMethodHS256, testKey, with("exp", nil)),
		"wrong issuer":   sign(t, jwt.SigningMethodHS256, testKey, with("iss", "someone-else")),
		"wrong audience": sign(t, jwt.SigningMethodHS256, testKey, with("aud", "other-api")),
		// API Gateway's rule: client_id is checked only when there is no aud.
		"wrong audience, known client": sign(t, jwt.SigningMethodHS256, testKey, with("aud", "other-api", auth.ClaimClientID, DevAdminClientID)),
		"no audience, no client":       sign(t, jwt.SigningMethodHS256, testKey, with("aud", nil)),
		"no audience, other client":    sign(t, jwt.SigningMethodHS256, testKey, with("aud", nil, auth.ClaimClientID, "tenant-client")),
		"HS512":                        sign(t, jwt.SigningMethodHS512, testKey, valid()),
		"alg none":                     sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()),
		"garbage":                      "not.a.token",
		"empty":                        "",
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
	if p := devPolicy.FromClaims(claims, nil); !p.CanManage("appA") || p.CanManage("appB") || p.Admin {
		t.Fatalf("dev token principal %+v", p)
	}
	// A tenant's token that asks for the admin scope is still a tenant's.
	scoped, err := IssueDevToken(testKey, []string{"appA"}, time.Minute, DevAdminScope)
	if err != nil {
		t.Fatal(err)
	}
	claims, err = v.Verify(scoped)
	if err != nil {
		t.Fatal(err)
	}
	if p := devPolicy.FromClaims(claims, nil); p.Admin || p.CanManage("appB") {
		t.Fatalf("tenant token with the admin scope: %+v", p)
	}
	// The operator's: an access token of the operators' client, without aud.
	admin, err := IssueDevAdminToken(testKey, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	claims, err = v.Verify(admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["aud"]; ok || claims[auth.ClaimTokenUse] != "access" || claims[auth.ClaimClientID] != DevAdminClientID {
		t.Fatalf("operator token claims %v", claims)
	}
	if p := devPolicy.FromClaims(claims, nil); !p.Admin || !p.CanManage("any") || p.Subject == "" {
		t.Fatalf("operator token principal %+v", p)
	}
	if p := (auth.Policy{}).FromClaims(claims, nil); p.Admin {
		t.Fatal("operator token is admin with admin access off")
	}
	if _, err := IssueDevAdminToken(testKey, 0); err == nil {
		t.Fatal("token without a lifetime")
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
