// Package devauth signs and verifies the local stack's bearer tokens: HS256 with a key only the
// developer's machine holds, checked the way API Gateway's JWT authorizer checks deployed ones.
// It is tooling: the Integrations function never links it.
package devauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/namiml/mparticle-bridge/shared/auth"

	"github.com/golang-jwt/jwt/v5"
)

// Local development tokens: HS256, signed with a key only the developer's machine holds.
const (
	DevIssuer   = "nami-mparticle-local"
	DevAudience = "nami-mparticle-api"
	// DevAdminScope and DevAdminClientID are the local stack's operator settings
	// (ADMIN_SCOPE, ADMIN_CLIENT_ID): IssueDevAdminToken makes their access tokens.
	DevAdminScope    = "mparticle:admin"
	DevAdminClientID = "nami-mparticle-local-operator"
	// MinKeyBytes is the shortest accepted HS256 key (RFC 7518, section 3.2: at least the hash size).
	MinKeyBytes = 32
	// leeway tolerates small clock differences on exp/nbf/iat.
	leeway = 30 * time.Second
)

// ErrBadToken: a bearer token that is malformed, wrongly signed, expired, or not for us.
var ErrBadToken = errors.New("devauth: invalid bearer token")

// Verifier checks locally signed HS256 tokens, as API Gateway's JWT authorizer checks the
// real ones: signature, exp, iss, and aud, or client_id for a token without aud (an access
// token, as Amazon Cognito issues them), against the audiences.
type Verifier struct {
	key       []byte
	issuer    string
	audiences []string
	now       func() time.Time
}

// NewVerifier returns a verifier of tokens signed with key for issuer and one of audiences.
func NewVerifier(key []byte, issuer string, audiences ...string) (*Verifier, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("devauth: signing key has %d bytes, need at least %d", len(key), MinKeyBytes)
	}
	if issuer == "" || len(audiences) == 0 || slices.Contains(audiences, "") {
		return nil, errors.New("devauth: issuer and audience are required")
	}
	return &Verifier{key: key, issuer: issuer, audiences: audiences, now: time.Now}, nil
}

// NewDevVerifier verifies tokens made by IssueDevToken and IssueDevAdminToken: the local
// stack's audience list names the API and the operators' client, as a deployed stack's
// JwtAudience must name every client whose access tokens it accepts.
func NewDevVerifier(key []byte) (*Verifier, error) {
	return NewVerifier(key, DevIssuer, DevAudience, DevAdminClientID)
}

// Verify checks a token and returns its claims flattened the way API Gateway passes them
// to the function, so the handler reads local and deployed requests alike.
func (v *Verifier) Verify(token string) (map[string]string, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(v.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithJSONNumber(),
	)
	claims := jwt.MapClaims{}
	if _, err := p.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return v.key, nil }); err != nil {
		// The parser's message says what failed (expired, signature, issuer) and never
		// contains the key, so it is safe to wrap for logs.
		return nil, fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if err := v.checkAudience(claims); err != nil {
		return nil, err
	}
	return Flatten(claims), nil
}

// checkAudience applies API Gateway's rule: one of the token's aud values must be an
// audience; a token without aud must carry a client_id that is one.
func (v *Verifier) checkAudience(claims jwt.MapClaims) error {
	aud, err := claims.GetAudience()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	if len(aud) == 0 {
		if id, ok := claims[auth.ClaimClientID].(string); ok {
			aud = jwt.ClaimStrings{id}
		}
	}
	for _, a := range aud {
		if slices.Contains(v.audiences, a) {
			return nil
		}
	}
	return fmt.Errorf("%w: not for this audience", ErrBadToken)
}

// BearerToken extracts the token from an Authorization header value ("" if absent).
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Flatten renders claims as API Gateway's HTTP API does for its JWT authorizer: strings as
// they are, arrays as "[a b]", numbers and booleans in their JSON text, objects as JSON.
func Flatten(claims map[string]any) map[string]string {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		out[k] = flattenValue(v)
	}
	return out
}

func flattenValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = flattenValue(it)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case []string:
		return "[" + strings.Join(x, " ") + "]"
	case nil:
		return ""
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return ""
		}
		return string(b)
	}
}

// IssueDevToken signs a local development token granting appIDs (with any scopes: they
// grant nothing more) for ttl, shaped like an ID token of the Control Center's client, of a
// customer on the plan that includes the mParticle integration. It is what
// `make dev-token APP_ID=...` prints.
func IssueDevToken(key []byte, appIDs []string, ttl time.Duration, scopes ...string) (string, error) {
	return issueDevToken(key, appIDs, ttl, true, scopes)
}

// IssueDevTokenWithoutPlan is IssueDevToken for a customer whose plan lacks the mParticle
// integration: the API refuses its creates and enables (`make dev-token NO_PLAN=1`).
func IssueDevTokenWithoutPlan(key []byte, appIDs []string, ttl time.Duration) (string, error) {
	return issueDevToken(key, appIDs, ttl, false, nil)
}

func issueDevToken(key []byte, appIDs []string, ttl time.Duration, plan bool, scopes []string) (string, error) {
	claims := jwt.MapClaims{
		"aud":                        DevAudience,
		"sub":                        "local-developer",
		auth.ClaimAppIDs:             append([]string{}, appIDs...),
		auth.DefaultEntitlementClaim: []string{},
	}
	if plan {
		claims[auth.DefaultEntitlementClaim] = []string{auth.DefaultEntitlementFeature}
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	return signClaims(key, ttl, claims)
}

// IssueDevIDToken is IssueDevToken shaped as the ID token the local OpenID provider
// (package devoidc) returns to the console: token_use "id" and the nonce of the sign-in
// request, which the console checks. The local API accepts it like IssueDevToken's.
func IssueDevIDToken(key []byte, appIDs []string, ttl time.Duration, nonce string) (string, error) {
	return signClaims(key, ttl, jwt.MapClaims{
		"aud":                        DevAudience,
		"sub":                        "local-developer",
		auth.ClaimAppIDs:             append([]string{}, appIDs...),
		auth.DefaultEntitlementClaim: []string{auth.DefaultEntitlementFeature},
		auth.ClaimTokenUse:           "id",
		"nonce":                      nonce,
	})
}

// IssueDevAdminToken signs a local operator's token for ttl: an access token of the
// operators' client carrying the admin scope, without aud, as Amazon Cognito issues them.
// The local stack's ADMIN_SCOPE and ADMIN_CLIENT_ID name them, so it grants every app. It
// is what `make dev-token ADMIN=1` prints.
func IssueDevAdminToken(key []byte, ttl time.Duration) (string, error) {
	return signClaims(key, ttl, jwt.MapClaims{
		// Operators act for customers of every plan.
		auth.DefaultEntitlementClaim: []string{auth.DefaultEntitlementFeature},
		"sub":                        "local-operator",
		auth.ClaimTokenUse:           auth.TokenUseAccess,
		auth.ClaimClientID:           DevAdminClientID,
		"scope":                      DevAdminScope,
	})
}

// signClaims adds the issuer and the lifetime to claims and signs them.
func signClaims(key []byte, ttl time.Duration, claims jwt.MapClaims) (string, error) {
	if len(key) < MinKeyBytes {
		return "", fmt.Errorf("devauth: signing key has %d bytes, need at least %d", len(key), MinKeyBytes)
	}
	if ttl <= 0 {
		return "", errors.New("devauth: token lifetime must be positive")
	}
	now := time.Now()
	claims["iss"], claims["iat"], claims["exp"] = DevIssuer, now.Unix(), now.Add(ttl).Unix()
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("devauth: sign token: %w", err)
	}
	return signed, nil
}
