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

func req(claims map[string]string, scopes []string) *events.APIGatewayV2HTTPRequest {
	r := &events.APIGatewayV2HTTPRequest{}
	if claims != nil {
		r.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes},
		}
	}
	return r
}

func TestFromAPIGateway(t *testing.T) {
	pol := Policy{AdminScope: "mparticle:admin", AdminClientID: "ops-client"}
	// An operator's token as Cognito issues it: an access token of the admin client.
	operator := func(edit func(map[string]string)) map[string]string {
		c := map[string]string{"sub": "u", ClaimTokenUse: "access", ClaimClientID: "ops-client", "scope": "openid mparticle:admin"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	tests := []struct {
		name     string
		pol      Policy
		req      *events.APIGatewayV2HTTPRequest
		can, not []string
		admin    bool
	}{
		{"flattened app list", pol, req(map[string]string{"sub": "u", ClaimAppIDs: "[app1 app2]"}, nil), []string{"app1", "app2"}, []string{"app3", "app", ""}, false},
		{"operator by scope claim", pol, req(operator(nil), nil), []string{"anything"}, []string{""}, true},
		{"operator by scp array", pol, req(operator(func(c map[string]string) { delete(c, "scope"); c["scp"] = "[mparticle:admin]" }), nil), []string{"x"}, nil, true},
		{"operator by authorizer scopes", pol, req(operator(func(c map[string]string) { delete(c, "scope") }), []string{"mparticle:admin"}), []string{"x"}, nil, true},
		{"other scope is not admin", pol, req(operator(func(c map[string]string) { c["scope"] = "mparticle:read"; c[ClaimAppIDs] = "[a]" }), nil), []string{"a"}, []string{"b"}, false},
		{"admin off: the scope grants nothing", Policy{}, req(operator(func(c map[string]string) { c[ClaimAppIDs] = "[a]" }), nil), []string{"a"}, []string{"b"}, false},
		{"another client asking for the scope", pol, req(operator(func(c map[string]string) { c[ClaimClientID] = "tenant-client" }), nil), nil, []string{"x"}, false},
		{"an ID token of the admin client", pol, req(operator(func(c map[string]string) { c[ClaimTokenUse] = "id"; delete(c, ClaimClientID); c["aud"] = "ops-client" }), nil), nil, []string{"x"}, false},
		{"an ID token claiming the client id", pol, req(operator(func(c map[string]string) { c[ClaimTokenUse] = "id" }), nil), nil, []string{"x"}, false},
		{"no token_use", pol, req(operator(func(c map[string]string) { delete(c, ClaimTokenUse) }), nil), nil, []string{"x"}, false},
		{"a scope that contains the admin scope", pol, req(operator(func(c map[string]string) { c["scope"] = "mparticle:admin2 x-mparticle:admin" }), nil), nil, []string{"x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.pol.FromAPIGateway(tt.req)
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
	// Without a policy, the operator's own token is a tenant's.
	if p, err := FromAPIGateway(req(operator(nil), nil)); err != nil || p.Admin {
		t.Fatalf("zero policy: %+v %v", p, err)
	}
	for _, r := range []*events.APIGatewayV2HTTPRequest{req(nil, nil), req(map[string]string{}, nil)} {
		if _, err := pol.FromAPIGateway(r); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("no claims: %v", err)
		}
	}
}

func TestNewPolicy(t *testing.T) {
	tests := []struct {
		scope, client string
		ok            bool
	}{
		{"", "", true},
		{"mparticle:admin", "ops-client", true},
		{"mparticle:admin", "", false},
		{"", "ops-client", false},
		{"a b", "ops-client", false},
	}
	for _, tt := range tests {
		p, err := NewPolicy(tt.scope, tt.client)
		if (err == nil) != tt.ok || (err == nil && (p.AdminScope != tt.scope || p.AdminClientID != tt.client)) {
			t.Errorf("NewPolicy(%q, %q) = %+v, %v", tt.scope, tt.client, p, err)
		}
	}
}
