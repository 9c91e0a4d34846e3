// Package genevents generates events/: ready Lambda events for `make invoke`, `make
// dev-send` and the SAM CLI. Everything comes from one source each, so the files cannot
// drift: the platform events from package eventtest (one per type), the API routes from
// template.yaml's HttpApi events, and the request of each route from the table below.
package genevents

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/devtools/samlocal"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

// Fixed values keep the output reproducible.
const (
	region    = "us-east-1"
	accountID = "123456789012"
	// IntegrationID is the integration the single-integration routes name.
	IntegrationID = "0190f0c2-6a7b-7c3d-8e4f-5a6b7c8d9e0f"
	// InvalidType is the unknown type of events/sqs-invalid.json.
	InvalidType = "user.subscription.teleported"
)

// epoch is the fixed request time of the API events.
var epoch = time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)

// namespace derives message ids from event ids.
var namespace = uuid.MustParse("6f1c1d0e-7a51-4c3e-9b0a-2f4d8e6a1b3c")

// request is how one route is called in its example event.
type request struct {
	file    string
	query   string
	body    any
	headers map[string]string
	note    string
	// proxy fills a {proxy+} path parameter; public routes (the console's) carry no token.
	proxy  string
	public bool
}

// requests holds one entry per HttpApi event of the Integrations function, by the event's
// name in template.yaml. A route without an entry fails generation (and its test).
var requests = map[string]request{
	"ListEventTypes":   {file: "api-list-event-types.json", note: "the 13 event types"},
	"ListIntegrations": {file: "api-list-integrations.json", query: "limit=20", note: "the sample app's integrations"},
	"CreateIntegration": {file: "api-create-integration.json", note: "an iOS integration for the sample app", body: map[string]any{
		"name": "iOS feed", "enabled": true, "scope": "platform",
		"app_platform_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "platform": "ios",
		"customer_id_source": "external_id", "events": allTypes(),
		"credentials": map[string]string{"key": "example-s2s-key-0001", "secret": "example-s2s-secret-0001"},
	}},
	"GetIntegration": {file: "api-get-integration.json", note: "integration " + IntegrationID + " (404 until one with that id exists)"},
	"UpdateIntegration": {file: "api-update-integration.json", note: "disables integration " + IntegrationID + " at version 1",
		body: map[string]any{"enabled": false}, headers: map[string]string{"if-match": `"1"`}},
	"DeleteIntegration": {file: "api-delete-integration.json", note: "deletes integration " + IntegrationID + " whatever its version (If-Match: *)",
		headers: map[string]string{"if-match": "*"}},
	"TestIntegration": {file: "api-test-integration.json", note: "sends a test event to integration " + IntegrationID + " (404 until one with that id exists)"},
	"Console": {file: "api-console.json", public: true,
		note: "the console's page, without a token (404 while `ConsoleClientId` is empty, as in the template's defaults)"},
	"ConsoleAssets": {file: "api-console-asset.json", public: true, proxy: "app.js",
		note: "one of the console's files, without a token (404 while the console is off)"},
}

func allTypes() []string {
	out := make([]string, len(event.AllTypes))
	for i, t := range event.AllTypes {
		out[i] = string(t)
	}
	return out
}

// Generate returns the content of events/, by file name.
func Generate(root string) (map[string][]byte, error) {
	files := map[string][]byte{}
	var readme []string

	samples := make([]sampleEvent, 0, len(event.AllTypes))
	for _, t := range event.AllTypes {
		s, err := loadSample(t)
		if err != nil {
			return nil, fmt.Errorf("sample of %s: %w", t, err)
		}
		samples = append(samples, s)
		name := SQSFileName(t)
		if files[name], err = sqsEvent(s); err != nil {
			return nil, err
		}
		readme = append(readme, fmt.Sprintf("| `%s` | forwarder | one `%s` event |", name, t))
	}
	all, err := sqsEvent(samples...)
	if err != nil {
		return nil, err
	}
	files["sqs-all.json"] = all
	readme = append(readme, "| `sqs-all.json` | forwarder | one event of each of the 13 types in one batch |")
	inv, err := invalidSample(samples[0])
	if err != nil {
		return nil, err
	}
	if files["sqs-invalid.json"], err = sqsEvent(inv); err != nil {
		return nil, err
	}
	readme = append(readme, fmt.Sprintf("| `sqs-invalid.json` | forwarder | an event of unknown type `%s`: dead-lettered as invalid input |", InvalidType))

	tpl, err := samlocal.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	id, err := tpl.FunctionByDir("integrations")
	if err != nil {
		return nil, err
	}
	names := stack.NamesFor(stack.DefaultName)
	fn, err := tpl.Function(id, samlocal.Locals{
		StackName: stack.DefaultName, Region: region, AccountID: accountID,
		QueueURLs: map[string]string{names.Queue: "-", names.DeadLetterQueue: "-"},
	})
	if err != nil {
		return nil, err
	}
	appID := samples[0].ev.AppID
	for _, rt := range fn.Routes {
		req, ok := requests[rt.Name]
		if !ok {
			return nil, fmt.Errorf("template route %s (%s %s) has no example request: add it to genevents.requests", rt.Name, rt.Method, rt.Path)
		}
		b, err := apiEvent(rt, req, appID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rt.Name, err)
		}
		files[req.file] = b
		readme = append(readme, fmt.Sprintf("| `%s` | integrations | `%s %s`: %s |", req.file, rt.Method, rt.Path, req.note))
	}
	files["README.md"] = []byte(readmeText(readme))
	return files, nil
}

// SQSFileName is the events/ file of one type: sqs-<name>.json, the name being the type
// without its family (user.subscription.purchased → sqs-purchased.json).
func SQSFileName(t event.Type) string {
	s := string(t)
	for _, p := range []string{"user.subscription.", "user.journey.", "device."} {
		s = strings.TrimPrefix(s, p)
	}
	return "sqs-" + strings.NewReplacer(".", "-", "_", "-").Replace(s) + ".json"
}

type sampleEvent struct {
	ev   event.Event
	body string // compact JSON, as a producer sends it
}

func loadSample(typ event.Type) (sampleEvent, error) {
	data := eventtest.Sample(typ)
	ev, err := event.Decode(data)
	if err != nil {
		return sampleEvent{}, fmt.Errorf("the sample of %s is not a valid event: %w", typ, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return sampleEvent{}, err
	}
	return sampleEvent{ev: *ev, body: buf.String()}, nil
}

func invalidSample(s sampleEvent) (sampleEvent, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s.body), &m); err != nil {
		return s, err
	}
	m["type"] = InvalidType
	m["id"] = uuid.NewSHA1(namespace, []byte("invalid:"+s.ev.ID)).String()
	b, err := json.Marshal(m)
	if err != nil {
		return s, err
	}
	inv := s
	inv.body = string(b)
	inv.ev.ID = m["id"].(string)
	return inv, nil
}

// sqsEvent is the event Lambda's SQS event source mapping would pass for these messages.
func sqsEvent(samples ...sampleEvent) ([]byte, error) {
	arn := fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, accountID, stack.NamesFor(stack.DefaultName).Queue)
	ev := events.SQSEvent{}
	for _, s := range samples {
		sent := s.ev.OccurredAt.Add(time.Second).UnixMilli()
		sum := md5.Sum([]byte(s.body))
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:     uuid.NewSHA1(namespace, []byte(s.ev.ID)).String(),
			ReceiptHandle: "local-example-receipt-handle-" + s.ev.ID,
			Body:          s.body,
			Md5OfBody:     hex.EncodeToString(sum[:]),
			Attributes: map[string]string{
				"ApproximateReceiveCount":          "1",
				"SentTimestamp":                    strconv.FormatInt(sent, 10),
				"SenderId":                         "AIDAEXAMPLEPRODUCER",
				"ApproximateFirstReceiveTimestamp": strconv.FormatInt(sent+20, 10),
				"MessageGroupId":                   s.ev.AppID,
			},
			MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSourceARN:    arn,
			EventSource:       "aws:sqs",
			AWSRegion:         region,
		})
	}
	return marshal(ev)
}

// apiEvent is the HTTP API (payload 2.0) event API Gateway sends after its JWT authorizer
// accepted the token: the claims, flattened to strings, in requestContext.authorizer.jwt.
func apiEvent(rt samlocal.Route, req request, appID string) ([]byte, error) {
	params := map[string]string{}
	path := rt.Path
	for _, name := range []string{"app_id", "id", "proxy+"} {
		if strings.Contains(path, "{"+name+"}") {
			v := appID
			switch name {
			case "id":
				v = IntegrationID
			case "proxy+":
				v = req.proxy
			}
			params[strings.TrimSuffix(name, "+")] = v
			path = strings.ReplaceAll(path, "{"+name+"}", v)
		}
	}
	if strings.Contains(path, "{") {
		return nil, fmt.Errorf("path %s has a parameter genevents does not fill", rt.Path)
	}
	headers := map[string]string{
		"accept":          "application/json",
		"authorization":   "Bearer example.jwt.verified-by-api-gateway",
		"host":            "abcdef1234.execute-api." + region + ".amazonaws.com",
		"user-agent":      "nami-control-center/1.0",
		"x-forwarded-for": "203.0.113.10",
	}
	for k, v := range req.headers {
		headers[k] = v
	}
	if req.public {
		delete(headers, "authorization")
		headers["accept"] = "text/html"
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       rt.Method + " " + rt.Path,
		RawPath:        path,
		RawQueryString: req.query,
		Headers:        headers,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     rt.Method + " " + rt.Path,
			AccountID:    accountID,
			Stage:        "$default",
			RequestID:    "example-" + strings.ToLower(rt.Name),
			APIID:        "abcdef1234",
			DomainName:   headers["host"],
			DomainPrefix: "abcdef1234",
			Time:         epoch.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    epoch.UnixMilli(),
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: map[string]string{
						"iss":            "https://auth.example.invalid/",
						"aud":            "nami-mparticle-dev",
						"sub":            "control-center-user-42",
						"iat":            strconv.FormatInt(epoch.Unix(), 10),
						"exp":            strconv.FormatInt(epoch.Add(time.Hour).Unix(), 10),
						auth.ClaimAppIDs: "[" + appID + "]",
						// A customer on the plan with the mParticle integration.
						auth.DefaultEntitlementClaim: "[" + auth.DefaultEntitlementFeature + "]",
					},
				},
			},
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: rt.Method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.10", UserAgent: headers["user-agent"],
			},
		},
	}
	if len(params) > 0 {
		ev.PathParameters = params
	}
	if req.public {
		// No authorizer on the route: API Gateway passes no claims.
		ev.RequestContext.Authorizer = nil
	}
	if req.query != "" {
		ev.QueryStringParameters = map[string]string{}
		for _, kv := range strings.Split(req.query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			ev.QueryStringParameters[k] = v
		}
	}
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return nil, err
		}
		ev.Body = string(b)
		ev.Headers["content-type"] = "application/json"
	}
	return marshal(ev)
}

// marshal indents without HTML escaping, so the files read as written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readmeText(rows []string) string {
	slices.Sort(rows)
	return `# events/: ready Lambda events

Generated by ` + "`make events`" + ` (shared/devtools/cmd/genevents): do not edit by hand. The platform events
come from shared/event/eventtest/testdata/<type>.json, the API routes from template.yaml, and a test
fails when this folder is stale.

- ` + "`make invoke FUNCTION=forwarder EVENT=events/sqs-purchased.json`" + ` runs the Forwarder once
  under aws-lambda-rie; ` + "`make invoke FUNCTION=integrations EVENT=events/api-list-event-types.json`" + `
  runs the Integrations API.
- ` + "`make dev-send FILE=events/sqs-purchased.json`" + ` (or ` + "`FILE=events`" + `) puts the
  events on the running ` + "`make dev`" + ` queue instead.
- The SQS events name the sample app, which has no integration until you create one: with
  ` + "`make dev`" + ` running, ` + "`make invoke`" + ` uses its stack, so invoking api-create-integration.json
  first makes sqs-purchased.json reach the local mParticle (without it, each invoke gets a
  throw-away stack). The API events carry the JWT claims API Gateway's authorizer passes
  on, granting that app.

| file | function | what |
|---|---|---|
` + strings.Join(rows, "\n") + "\n"
}

// Write replaces dir's content with files: stale generated files are removed.
func Write(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range old {
		if _, keep := files[e.Name()]; !keep && !e.IsDir() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
