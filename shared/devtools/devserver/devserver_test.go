package devserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/namiml/mparticle-bridge/shared/devtools/demo"
	"github.com/namiml/mparticle-bridge/shared/devtools/devstate"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
	"github.com/namiml/mparticle-bridge/shared/transform/transformtest"
)

// TestDevAndDemo drives `make dev` then `make dev-demo`: the stack starts (its own moto,
// the template's settings), the demo creates two integrations through the HTTP API and
// sends the 13 types plus an invalid message, the Forwarder runs through the event source
// mapping, and the contract server and dead-letter queue show the outcome.
func TestDevAndDemo(t *testing.T) {
	testenv.SkipShort(t, "the local stack `make dev` runs (its own moto)")
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := motoproc.Find(root); err != nil {
		t.Fatal(err) // never skip: the message says how to install it
	}
	stateDir := t.TempDir()
	noWindow := time.Duration(0)
	var out testenv.SyncBuffer
	cfg := Config{Root: root, StateDir: stateDir, Out: &out, BatchingWindow: &noWindow, VisibilityTimeout: 5 * time.Second}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	readyCh := make(chan Running, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, func(r Running) { readyCh <- r }) }()
	var r Running
	select {
	case r = <-readyCh:
	case err := <-done:
		t.Fatalf("dev stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("dev not ready after 30 s")
	}
	t.Logf("ready in %s", r.Startup)

	st, err := devstate.ReadStack(stateDir)
	if err != nil || st != r.Stack {
		t.Fatalf("stack.json = %+v, %v; want %+v", st, err, r.Stack)
	}
	for _, u := range []string{st.APIURL, st.AWSEndpointURL, st.MParticleBaseURL} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("%s is not on loopback", u)
		}
	}
	if !strings.Contains(out.String(), st.APIURL) || !strings.Contains(out.String(), st.QueueURL) {
		t.Errorf("banner lacks the endpoints:\n%s", out.String())
	}

	// The console is on and signs in at the local OpenID provider.
	if !strings.HasPrefix(st.ConsoleURL, st.APIURL+"/console?app=") || !strings.HasPrefix(st.OIDCURL, "http://127.0.0.1:") ||
		!strings.Contains(out.String(), st.ConsoleURL) {
		t.Errorf("console %q, provider %q, banner:\n%s", st.ConsoleURL, st.OIDCURL, out.String())
	}
	if resp, err := http.Get(st.ConsoleURL); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != http.StatusOK || !strings.Contains(csp, "connect-src 'self' "+st.OIDCURL+";") {
			t.Errorf("GET %s: %d, CSP %q", st.ConsoleURL, resp.StatusCode, csp)
		}
	}

	// The --env-vars file for `sam local invoke` points at this stack from a container.
	var samEnv map[string]map[string]string
	if err := readJSON(filepath.Join(stateDir, SAMEnvFile), &samEnv); err != nil {
		t.Fatal(err)
	}
	if got, want := samEnv["ForwarderFunction"]["MPARTICLE_BASE_URL"], ContainerValue(st.MParticleBaseURL); got != want || !strings.Contains(got, ContainerHost) {
		t.Errorf("%s: ForwarderFunction MPARTICLE_BASE_URL = %q, want %q", SAMEnvFile, got, want)
	}
	if got, want := samEnv["ForwarderFunction"]["DLQ_URL"], ContainerValue(st.DLQURL); got != want {
		t.Errorf("%s: ForwarderFunction DLQ_URL = %q, want %q", SAMEnvFile, got, want)
	}

	// A second `make dev` says so.
	if err := Run(ctx, cfg, nil); !errors.As(err, new(devstate.ErrAlreadyRunning)) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}

	awsCfg, err := AWSConfig(ctx, st.AWSEndpointURL, st.Region)
	if err != nil {
		t.Fatal(err)
	}
	key, err := devstate.SigningKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	var demoOut bytes.Buffer
	rep, err := demo.Run(ctx, demo.Config{
		Stack: st, SigningKey: key, SQS: sqs.NewFromConfig(awsCfg), Out: &demoOut, Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, demoOut.String())
	}
	if !rep.OK() {
		t.Fatalf("demo incomplete: missing %v, invalid refused %v\n%s", rep.Missing, rep.InvalidRefused, demoOut.String())
	}

	if len(rep.Delivered) != len(event.AllTypes) {
		t.Fatalf("%d types delivered", len(rep.Delivered))
	}
	// Each demo integration's test event reached the contract server.
	if len(rep.Tests) != len(rep.Integrations) {
		t.Errorf("%d test events for %d integrations", len(rep.Tests), len(rep.Integrations))
	}
	for i, v := range rep.Tests {
		if !strings.HasPrefix(v, "delivered") {
			t.Errorf("test event of %s: %s", rep.Integrations[i], v)
		}
	}
	// What arrived is each type's golden batch for the demo's event and the integration of
	// its platform (the demo configures them as the golden batches' feeds). The demo stamps
	// its events with the current time, which the batch's timestamp must carry.
	ins, err := integrationstore.New(dynamodb.NewFromConfig(awsCfg), stack.NamesFor(st.StackName).IntegrationsTable).ListByApp(ctx, rep.AppID)
	if err != nil {
		t.Fatal(err)
	}
	integrationOf := map[string]string{} // app platform → integration id
	for _, in := range ins {
		integrationOf[in.AppPlatformID] = in.ID
	}
	batches := received(t, st.MParticleBaseURL)
	perFeed := map[string]int{}
	for _, d := range rep.Delivered {
		raw, ok := batches[d.EventID]
		if !ok {
			t.Errorf("no batch of %s (event %s) on the contract server", d.Type, d.EventID)
			continue
		}
		transformtest.Check(t, d.Type, raw, transformtest.Delivery{EventID: d.EventID, OccurredAt: timestamp(t, raw),
			IntegrationID: integrationOf[transformtest.FeedFor(d.Type).AppPlatformID]})
		perFeed[d.Feed]++
	}
	// The samples hold 9 iOS and 4 Android events; each platform's integration gets its own.
	var counts []int
	for _, n := range perFeed {
		counts = append(counts, n)
	}
	if len(perFeed) != 2 || counts[0]+counts[1] != 13 || (counts[0] != 9 && counts[0] != 4) {
		t.Errorf("deliveries per feed = %v, want 9 (iOS) and 4 (Android)", perFeed)
	}
	if len(rep.Refused) != 1 {
		t.Fatalf("refused = %+v, want only the invalid message", rep.Refused)
	}
	letter := rep.Refused[0]
	if letter.Attributes[forwarder.AttrFailureKind] != string(forwarder.FailureInvalidInput) ||
		!strings.Contains(letter.Attributes[forwarder.AttrFailureReason], "type") {
		t.Errorf("dead letter attributes = %v", letter.Attributes)
	}
	if !strings.Contains(demoOut.String(), "13 of 13 event types delivered") {
		t.Errorf("demo output lacks the summary:\n%s", demoOut.String())
	}
	// What mParticle received was printed readably on the dev terminal.
	if !strings.Contains(out.String(), `"event_name": "purchased"`) {
		t.Errorf("dev output lacks the accepted batches")
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("dev did not stop")
	}
	if _, err := devstate.ReadStack(stateDir); !errors.Is(err, devstate.ErrNotRunning) {
		t.Errorf("stack.json still there after stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, SAMEnvFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there after stop: %v", SAMEnvFile, err)
	}
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// received returns the batches the contract server at baseURL accepted, by event id.
func received(t *testing.T, baseURL string) map[string]json.RawMessage {
	t.Helper()
	var stats mpserver.Stats
	getJSON(t, baseURL+mpserver.PathStats, &stats)
	out := map[string]json.RawMessage{}
	for feed := range stats.Feeds {
		var rec struct {
			Batches []mpserver.Record `json:"batches"`
		}
		getJSON(t, baseURL+mpserver.PathReceived+"?feed="+url.QueryEscape(feed), &rec)
		for _, r := range rec.Batches {
			out[transformtest.EventID(r.Raw)] = r.Raw
		}
	}
	return out
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// timestamp is the time of a batch's first event.
func timestamp(t *testing.T, batch []byte) time.Time {
	t.Helper()
	var b struct {
		Events []struct {
			Data struct {
				MS int64 `json:"timestamp_unixtime_ms"`
			} `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal(batch, &b); err != nil || len(b.Events) == 0 {
		t.Fatalf("batch without events: %s", batch)
	}
	return time.UnixMilli(b.Events[0].Data.MS)
}
