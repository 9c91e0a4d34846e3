// Package auth decides who may manage which app's integrations.
//
// Claims (JWT, issued by Nami's identity provider; verified by API Gateway's JWT authorizer
// in AWS, by LocalVerifier locally):
//   - nami_app_ids: the app ids the caller may manage, as a JSON array of strings
//     (a space- or comma-separated string is accepted too);
//   - scope (space-separated, OAuth 2.0 style) or scp: containing "mparticle:admin" grants
//     every app (for Nami's own operators);
//   - sub identifies the caller in logs.
//
// API Gateway's HTTP API hands the Lambda the claims flattened to strings: an array claim
// arrives as "[app1 app2]". Principal parsing accepts that form and the others above.
package auth

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

const (
	// ClaimAppIDs lists the apps a caller may manage.
	ClaimAppIDs = "nami_app_ids"
	// ScopeAdmin grants every app.
	ScopeAdmin = "mparticle:admin"
)

// ErrUnauthenticated: the request carries no verified claims.
var ErrUnauthenticated = errors.New("auth: no verified token")

// Principal is an authenticated caller.
type Principal struct {
	Subject string
	AppIDs  []string
	Admin   bool
}

// CanManage reports whether the caller may see and change appID's integrations.
func (p Principal) CanManage(appID string) bool {
	return appID != "" && (p.Admin || slices.Contains(p.AppIDs, appID))
}

// FromAPIGateway reads the caller from the claims API Gateway's JWT authorizer (or the local
// adapter, which puts them in the same place) attached to the request.
func FromAPIGateway(req *events.APIGatewayV2HTTPRequest) (Principal, error) {
	a := req.RequestContext.Authorizer
	if a == nil || a.JWT == nil || len(a.JWT.Claims) == 0 {
		return Principal{}, ErrUnauthenticated
	}
	return FromClaims(a.JWT.Claims, a.JWT.Scopes), nil
}

// FromClaims builds a principal from flattened (string-valued) claims and optional scopes.
func FromClaims(claims map[string]string, scopes []string) Principal {
	p := Principal{Subject: claims["sub"], AppIDs: ParseList(claims[ClaimAppIDs])}
	all := slices.Concat(scopes, ParseList(claims["scope"]), ParseList(claims["scp"]))
	p.Admin = slices.Contains(all, ScopeAdmin)
	return p
}

// ParseList reads a list-valued claim in any of the forms it can arrive in: a JSON array
// (["a","b"]), API Gateway's flattened array ([a b]), or a space/comma separated string.
// Empty items are dropped.
func ParseList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "[") {
		var arr []string
		if err := json.Unmarshal([]byte(s), &arr); err == nil {
			return compact(arr)
		}
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	return compact(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }))
}

func compact(items []string) []string {
	out := items[:0]
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
