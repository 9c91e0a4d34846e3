package invoke

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/namiml/mparticle-bridge/shared/devtools/devmp"
	"github.com/namiml/mparticle-bridge/shared/devtools/devstate"
	"github.com/namiml/mparticle-bridge/shared/devtools/dlq"
	"github.com/namiml/mparticle-bridge/shared/devtools/localserve"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// TestInvokeBothFunctionsUnderTheEmulator does what `make invoke` does with the files of
// events/, against a local stack on the test moto: the Integrations function creates an
// integration for the sample app, then the Forwarder delivers a purchase to it (through the
// contract server) and dead-letters an invalid event.
func TestInvokeBothFunctionsUnderTheEmulator(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	testenv.RIE(t)
	ctx := context.Background()
	awsCfg := testenv.Config(t)
	out, err := devstack.Provision(ctx, awsCfg, "invoke-test")
	if err != nil {
		t.Fatal(err)
	}
	mp := mpserver.New(mpserver.Options{})
	dir := devmp.StoreDirectory{DB: dynamodb.NewFromConfig(awsCfg), Secrets: secretsmanager.NewFromConfig(awsCfg), Table: out.Names.IntegrationsTable}
	srv, err := localserve.Start(devmp.New(mp, dir, nil), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(ctx)
	st := devstate.Stack{
		AWSEndpointURL: testenv.Moto(t), Region: testenv.Region, QueueURL: out.QueueURL, DLQURL: out.DLQURL,
		MParticleBaseURL: srv.URL + mpserver.PartnerPrefix, MParticleLocal: true, StackName: "invoke-test",
	}
	var logs strings.Builder
	call := func(fn, file string) []byte {
		t.Helper()
		payload, err := os.ReadFile(filepath.Join(root, "events", file))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(ctx, Config{Root: root, StateDir: t.TempDir(), Function: fn, Event: payload, Stack: &st, Out: &logs})
		if err != nil {
			t.Fatalf("invoke %s %s: %v\n%s", fn, file, err, logs.String())
		}
		if err := res.Response.Err(); err != nil {
			t.Fatalf("invoke %s %s: %v\n%s", fn, file, err, logs.String())
		}
		if res.Function.Env["INTEGRATIONS_TABLE"] != out.Names.IntegrationsTable {
			t.Errorf("function ran with INTEGRATIONS_TABLE=%q", res.Function.Env["INTEGRATIONS_TABLE"])
		}
		return res.Response.Body
	}

	var created events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(call("integrations", "api-create-integration.json"), &created); err != nil {
		t.Fatal(err)
	}
	if created.StatusCode != 201 {
		t.Fatalf("create answered %d: %s", created.StatusCode, created.Body)
	}
	var listed events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(call("integrations", "api-list-event-types.json"), &listed); err != nil {
		t.Fatal(err)
	}
	var types struct{ Items []json.RawMessage }
	if err := json.Unmarshal([]byte(listed.Body), &types); err != nil || listed.StatusCode != 200 || len(types.Items) != 13 {
		t.Fatalf("event types answered %d with %d items: %v", listed.StatusCode, len(types.Items), err)
	}

	var resp events.SQSEventResponse
	if err := json.Unmarshal(call("forwarder", "sqs-purchased.json"), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("forwarder left %v for retry\n%s", resp.BatchItemFailures, logs.String())
	}
	stats := mp.Stats()
	delivered := int64(0)
	for _, f := range stats.Feeds {
		delivered += f.Batches
	}
	if delivered != 1 {
		t.Fatalf("contract server accepted %d batches, want the purchase\n%s", delivered, logs.String())
	}

	if err := json.Unmarshal(call("forwarder", "sqs-invalid.json"), &resp); err != nil {
		t.Fatal(err)
	}
	letters, err := dlq.Peek(ctx, sqs.NewFromConfig(awsCfg), out.DLQURL, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 1 || letters[0].Attributes[forwarder.AttrFailureKind] != string(forwarder.FailureInvalidInput) {
		t.Fatalf("dead letters = %+v, want the invalid event", letters)
	}
	if !strings.Contains(logs.String(), "REPORT RequestId") {
		t.Error("no emulator REPORT line: did the function run under aws-lambda-rie?")
	}
}
