package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/api"
	"github.com/namiml/mparticle-bridge/shared/app/integrationsapp"
	"github.com/namiml/mparticle-bridge/shared/devtools/localhttp"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

var devKey = []byte("test-signing-key-0123456789abcdef")

var (
	stackOnce sync.Once
	stackOut  devstack.Outputs
	stackErr  error
)

// transport is how a test reaches the handler: as API Gateway would invoke the Lambda, or
// over HTTP through the local adapter.
type transport string

const (
	viaEvent transport = "apigw-event"
	viaHTTP  transport = "local-http"
)

var transports = []transport{viaEvent, viaHTTP}

// env is one handler over the package's moto stack, with its own log and secret prefix.
type env struct {
	t        *testing.T
	h        *api.Handler
	store    *integrationstore.Store
	ddb      *dynamodb.Client
	sm       *secretsmanager.Client
	prefix   string
	logs     *testenv.SyncBuffer
	srv      *httptest.Server
	verifier *devauth.Verifier

	mu      sync.Mutex
	secrets []string // credential strings that must never be echoed
}

// testStack is the stack name the handler runs as (the tag of the secrets it creates).
const testStack = "apitest"

// newEnv builds the handler as the Lambda does (integrationsapp.New) over the package's moto
// stack. Each option adjusts the AWS config of the handler's clients only (the test's own
// clients, which check the outcome, are left alone), e.g. to inject faults. The per-app
// limits are far above what a test does, and admin access is on for the local operators'
// client and scope; newEnvWith sets other values.
func newEnv(t *testing.T, opts ...func(*aws.Config)) *env {
	return newEnvWith(t, nil, opts...)
}

// newEnvWith is newEnv with some of the environment the handler reads set to other values
// ("" unsets one).
func newEnvWith(t *testing.T, settings map[string]string, opts ...func(*aws.Config)) *env {
	t.Helper()
	cfg := testenv.Config(t)
	stackOnce.Do(func() {
		stackOut, stackErr = devstack.Provision(context.Background(), cfg, "apitest-"+uuid.NewString()[:8])
	})
	if stackErr != nil {
		t.Fatalf("provision: %v", stackErr)
	}
	e := &env{t: t, ddb: dynamodb.NewFromConfig(cfg), sm: secretsmanager.NewFromConfig(cfg),
		prefix: "apitest-" + uuid.NewString()[:8] + "/", logs: &testenv.SyncBuffer{}}
	handlerCfg := cfg.Copy()
	handlerCfg.APIOptions = slices.Clone(cfg.APIOptions)
	for _, o := range opts {
		o(&handlerCfg)
	}
	e.store = integrationstore.New(e.ddb, stackOut.Names.IntegrationsTable)
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env := map[string]string{
		"INTEGRATIONS_TABLE":                  stackOut.Names.IntegrationsTable,
		stack.EnvSecretsPrefix:                e.prefix,
		stack.EnvStackName:                    testStack,
		stack.EnvMaxIntegrationsPerApp:        "1000",
		stack.EnvAppWritesPerMinute:           "1000",
		stack.EnvAppCredentialWritesPerMinute: "1000",
		stack.EnvAdminScope:                   devauth.DevAdminScope,
		stack.EnvAdminClientID:                devauth.DevAdminClientID,
	}
	maps.Copy(env, settings)
	var err error
	if e.h, err = integrationsapp.New(handlerCfg, func(k string) string { return env[k] }, log); err != nil {
		t.Fatal(err)
	}
	if e.verifier, err = devauth.NewDevVerifier(devKey); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(localhttp.New(e.h.Handle, e.verifier, log))
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		logs := e.logs.String()
		for _, s := range e.secretValues() {
			if strings.Contains(logs, s) {
				t.Errorf("a credential value appears in the logs")
			}
		}
	})
	return e
}

func (e *env) secretValues() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.secrets...)
}

// creds returns fresh credentials, with a key that names no pod, and remembers them as
// values that must never leak.
func (e *env) creds() (key, secret string) { return e.credsWithPrefix("key-") }

// credsWithPrefix is creds with a chosen key prefix (e.g. "us2-", a pod's).
func (e *env) credsWithPrefix(prefix string) (key, secret string) {
	key = prefix + strings.ReplaceAll(uuid.NewString(), "-", "")
	secret = "sec-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	e.mu.Lock()
	e.secrets = append(e.secrets, key, secret)
	e.mu.Unlock()
	return key, secret
}

func newAppID() string { return "app-" + uuid.NewString()[:13] }

// token returns a dev token granting appIDs (and scopes).
func token(t *testing.T, appIDs []string, scopes ...string) string {
	t.Helper()
	tok, err := devauth.IssueDevToken(devKey, appIDs, time.Hour, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type call struct {
	method  string
	path    string
	body    string
	token   string // "" sends no Authorization header
	headers map[string]string
	noCT    bool // do not add Content-Type: application/json to a body
}

type result struct {
	status  int
	headers http.Header
	body    []byte
}

func (r result) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (r result) errCode(t *testing.T) (code, field string) {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

// do sends a request over tr, checks the response against openapi.yaml, and checks that no
// credential value appears in it.
func (e *env) do(tr transport, c call) result {
	e.t.Helper()
	var r result
	switch tr {
	case viaEvent:
		r = e.invoke(c)
	case viaHTTP:
		r = e.send(c)
	default:
		e.t.Fatalf("unknown transport %q", tr)
	}
	checkContract(e.t, c.method, c.path, r)
	for _, s := range e.secretValues() {
		if bytes.Contains(r.body, []byte(s)) {
			e.t.Errorf("%s %s: a credential value appears in the response body", c.method, c.path)
		}
		for k, vs := range r.headers {
			for _, v := range vs {
				if strings.Contains(v, s) {
					e.t.Errorf("%s %s: a credential value appears in header %s", c.method, c.path, k)
				}
			}
		}
	}
	return r
}

// invoke calls the handler with the event API Gateway would send after its JWT authorizer
// accepted the token: claims flattened into requestContext.authorizer.jwt.claims.
func (e *env) invoke(c call) result {
	e.t.Helper()
	path, rawQuery, _ := strings.Cut(c.path, "?")
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: rawQuery,
		Headers: map[string]string{}, Body: c.body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage: "$default", RequestID: uuid.NewString(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: c.method, Path: path},
		},
	}
	if c.body != "" && !c.noCT {
		req.Headers["content-type"] = "application/json"
	}
	for k, v := range c.headers {
		req.Headers[strings.ToLower(k)] = v
	}
	if c.token != "" {
		claims, err := e.verifier.Verify(c.token)
		if err != nil {
			e.t.Fatalf("API Gateway would have refused this token before the function: %v", err)
		}
		req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	resp, err := e.h.Handle(context.Background(), req)
	if err != nil {
		e.t.Fatalf("Handle returned an error: %v", err)
	}
	hdr := http.Header{}
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	if resp.IsBase64Encoded {
		e.t.Fatalf("unexpected base64 response")
	}
	return result{status: resp.StatusCode, headers: hdr, body: []byte(resp.Body)}
}

func (e *env) send(c call) result {
	e.t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, e.srv.URL+c.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.body != "" && !c.noCT {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return result{status: resp.StatusCode, headers: resp.Header, body: b}
}

func collectionPath(appID string) string { return "/v1/apps/" + appID + "/integrations/mparticle" }

func itemPath(appID, id string) string { return collectionPath(appID) + "/" + id }

// createBody returns a valid create body for a platform-scoped integration.
func (e *env) createBody(extra map[string]any) (string, string, string) {
	key, secret := e.creds()
	m := map[string]any{
		"name":            "iOS feed",
		"enabled":         true,
		"scope":           "platform",
		"app_platform_id": "plat-ios-1",
		"platform":        "ios",
		"events":          []string{"user.subscription.purchased", "device.impression"},
		"credentials":     map[string]string{"key": key, "secret": secret},
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b), key, secret
}

// create makes an integration and returns its id.
func (e *env) create(tr transport, appID, tok string, extra map[string]any) (id, key, secret string) {
	e.t.Helper()
	body, key, secret := e.createBody(extra)
	r := e.do(tr, call{method: http.MethodPost, path: collectionPath(appID), body: body, token: tok})
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	id, _ = r.json(e.t)["id"].(string)
	return id, key, secret
}

// item reads an integration straight from the table.
func (e *env) item(appID, id string) (integration.Integration, error) {
	return e.store.Get(context.Background(), appID, id)
}

// secretValue reads a secret version (AWSCURRENT when version is "") as {"key","secret"}.
// The stage is named explicitly: moto answers a request naming neither with the version
// that was last written by PutSecretValue, not the one labelled AWSCURRENT as AWS does.
func (e *env) secretValue(secretID, version string) (key, secret string, err error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)}
	if version != "" {
		in.VersionId = aws.String(version)
	} else {
		in.VersionStage = aws.String("AWSCURRENT")
	}
	out, err := e.sm.GetSecretValue(context.Background(), in)
	if err != nil {
		return "", "", err
	}
	var v struct{ Key, Secret string }
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
		return "", "", err
	}
	return v.Key, v.Secret, nil
}

// secretScheduledForDeletion reports whether the integration's secret is pending deletion.
func (e *env) secretScheduledForDeletion(appID, id string) bool {
	e.t.Helper()
	out, err := e.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{
		SecretId: aws.String(e.prefix + appID + "/" + id),
	})
	if err != nil {
		e.t.Fatalf("describe secret: %v", err)
	}
	return out.DeletedDate != nil
}

// ifMatch returns the headers of a request with that If-Match value.
func ifMatch(v string) map[string]string { return map[string]string{"If-Match": v} }
