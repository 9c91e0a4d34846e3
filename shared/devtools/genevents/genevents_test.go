package genevents

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/namiml/mparticle-bridge/shared/auth"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

func generate(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, files
}

// events/ must be exactly what the generator makes from its sources today.
func TestEventsFolderIsUpToDate(t *testing.T) {
	root, files := generate(t)
	dir := filepath.Join(root, "events")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("events/ is missing: run `make events` (%v)", err)
	}
	var onDisk []string
	for _, e := range entries {
		onDisk = append(onDisk, e.Name())
		want, ok := files[e.Name()]
		if !ok {
			t.Errorf("events/%s is not generated any more: run `make events`", e.Name())
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("events/%s is stale: run `make events`", e.Name())
		}
	}
	for name := range files {
		if !slices.Contains(onDisk, name) {
			t.Errorf("events/%s is missing: run `make events`", name)
		}
	}
}

func TestSQSEventsCarryOneValidEventPerType(t *testing.T) {
	_, files := generate(t)
	seen := map[event.Type]bool{}
	for _, typ := range event.AllTypes {
		var ev events.SQSEvent
		if err := json.Unmarshal(files[SQSFileName(typ)], &ev); err != nil {
			t.Fatalf("%s: %v", SQSFileName(typ), err)
		}
		if len(ev.Records) != 1 {
			t.Fatalf("%s has %d records", SQSFileName(typ), len(ev.Records))
		}
		r := ev.Records[0]
		decoded, err := event.Decode([]byte(r.Body))
		if err != nil {
			t.Fatalf("%s body is not a valid event: %v", SQSFileName(typ), err)
		}
		if decoded.Type != typ || r.Attributes["MessageGroupId"] != decoded.AppID || r.EventSource != "aws:sqs" {
			t.Errorf("%s: type %s, group %q", SQSFileName(typ), decoded.Type, r.Attributes["MessageGroupId"])
		}
		seen[typ] = true
	}
	if len(seen) != len(event.AllTypes) {
		t.Errorf("%d types covered", len(seen))
	}
	var all, invalid events.SQSEvent
	if err := json.Unmarshal(files["sqs-all.json"], &all); err != nil || len(all.Records) != len(event.AllTypes) {
		t.Errorf("sqs-all.json: %d records, %v", len(all.Records), err)
	}
	if err := json.Unmarshal(files["sqs-invalid.json"], &invalid); err != nil || len(invalid.Records) != 1 {
		t.Fatalf("sqs-invalid.json: %v", err)
	}
	if _, err := event.Decode([]byte(invalid.Records[0].Body)); err == nil {
		t.Error("sqs-invalid.json holds a valid event")
	}
}

func TestAPIEventsGrantTheSampleApp(t *testing.T) {
	_, files := generate(t)
	n := 0
	for name, b := range files {
		if !strings.HasPrefix(name, "api-") {
			continue
		}
		n++
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasPrefix(ev.RouteKey, ev.RequestContext.HTTP.Method+" ") || ev.RawPath != ev.RequestContext.HTTP.Path {
			t.Errorf("%s: route %q, method %s, path %s", name, ev.RouteKey, ev.RequestContext.HTTP.Method, ev.RawPath)
		}
		if strings.HasPrefix(ev.RawPath, "/console") {
			// The console's routes have no authorizer: API Gateway passes no claims.
			if ev.RequestContext.Authorizer != nil || ev.Headers["authorization"] != "" {
				t.Errorf("%s: a public route's event carries a token", name)
			}
			continue
		}
		p, err := auth.FromAPIGateway(&ev)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if app := ev.PathParameters["app_id"]; app != "" && !p.CanManage(app) {
			t.Errorf("%s: claims do not grant app %s", name, app)
		}
	}
	if n != len(requests) {
		t.Errorf("%d API events for %d routes", n, len(requests))
	}
}
