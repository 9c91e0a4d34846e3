// Package auth decides who may manage which app's integrations.
//
// Claims (JWT, issued by Nami's identity provider; verified by API Gateway's JWT authorizer
// in AWS, by devauth's verifier locally):
//   - nami_app_ids: the app ids the caller may manage, as a JSON array of strings
//     (a space- or comma-separated string is accepted too);
//   - sub identifies the caller: in logs, and as created_by/updated_by of what it changes.
//
// Operators (Nami's own tooling) may be granted every app, and only under a Policy that
// names both the scope and the one OAuth client allowed to carry it: an ACCESS token
// (token_use "access", as Amazon Cognito issues them) whose client_id is that client and
// whose scope (space-separated, OAuth 2.0 style; or scp, or the authorizer's scopes) holds
// that scope. ID tokens (token_use "id") never are, nor any token of another client: a scope
// is only a string a client asked for, and any tenant's client could ask for it. With no
// Policy, admin access is off.
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

// Claims read by the package.
const (
	// ClaimAppIDs lists the apps a caller may manage.
	ClaimAppIDs = "nami_app_ids"
	// ClaimTokenUse tells an access token ("access") from an ID token ("id") in Cognito's tokens.
	ClaimTokenUse = "token_use"
	// ClaimClientID names the OAuth client an access token was issued to.
	ClaimClientID = "client_id"
	// TokenUseAccess is the token_use of an access token.
	TokenUseAccess = "access"
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

// Policy says which tokens are operators': access tokens of the client AdminClientID that
// carry the scope AdminScope. The zero Policy makes no token an operator's.
type Policy struct {
	AdminScope    string
	AdminClientID string
}

// NewPolicy returns the policy of an admin scope and client: both empty turns admin access
// off; one without the other is refused, since a scope alone is one any client may ask for.
func NewPolicy(adminScope, adminClientID string) (Policy, error) {
	if (adminScope == "") != (adminClientID == "") {
		return Policy{}, errors.New("auth: an admin scope needs the admin client id, and the client id the scope")
	}
	if strings.ContainsAny(adminScope, " \t") {
		return Policy{}, errors.New("auth: the admin scope must be one scope, without spaces")
	}
	return Policy{AdminScope: adminScope, AdminClientID: adminClientID}, nil
}

// FromAPIGateway reads the caller from the claims API Gateway's JWT authorizer (or the local
// adapter, which puts them in the same place) attached to the request.
func (pol Policy) FromAPIGateway(req *events.APIGatewayV2HTTPRequest) (Principal, error) {
	a := req.RequestContext.Authorizer
	if a == nil || a.JWT == nil || len(a.JWT.Claims) == 0 {
		return Principal{}, ErrUnauthenticated
	}
	return pol.FromClaims(a.JWT.Claims, a.JWT.Scopes), nil
}

// FromClaims builds a principal from flattened (string-valued) claims and optional scopes.
func (pol Policy) FromClaims(claims map[string]string, scopes []string) Principal {
	p := Principal{Subject: claims["sub"], AppIDs: ParseList(claims[ClaimAppIDs])}
	p.Admin = pol.AdminScope != "" && pol.AdminClientID != "" &&
		claims[ClaimTokenUse] == TokenUseAccess && claims[ClaimClientID] == pol.AdminClientID &&
		slices.Contains(slices.Concat(scopes, ParseList(claims["scope"]), ParseList(claims["scp"])), pol.AdminScope)
	return p
}

// FromAPIGateway reads the caller under the zero Policy: its own apps, never every app.
func FromAPIGateway(req *events.APIGatewayV2HTTPRequest) (Principal, error) {
	return Policy{}.FromAPIGateway(req)
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

// Defaults of an Entitlement: the claim listing a caller's plan features, and the feature
// the mParticle integration needs (the Enterprise plan grants it).
const (
	DefaultEntitlementClaim   = "nami_features"
	DefaultEntitlementFeature = "mparticle"
)

// Entitlement says which claim lists a caller's plan features and which feature the
// mParticle integration needs. The zero Entitlement (no claim) turns plan gating off:
// every caller is entitled.
type Entitlement struct {
	Claim   string
	Feature string
}

// Entitled reports whether flattened claims grant the feature. The claim is read like the
// app-ids claim: a JSON array, API Gateway's flattened "[a b]", or a separated string.
func (e Entitlement) Entitled(claims map[string]string) bool {
	if e.Claim == "" {
		return true
	}
	return slices.Contains(ParseList(claims[e.Claim]), e.Feature)
}

// EntitledFromAPIGateway reads the request's claims as FromAPIGateway does and reports
// whether they grant the feature; a request without verified claims is not entitled.
func (e Entitlement) EntitledFromAPIGateway(req *events.APIGatewayV2HTTPRequest) bool {
	a := req.RequestContext.Authorizer
	if a == nil || a.JWT == nil {
		return e.Claim == ""
	}
	return e.Entitled(a.JWT.Claims)
}
