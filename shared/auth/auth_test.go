package auth

import (
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

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
