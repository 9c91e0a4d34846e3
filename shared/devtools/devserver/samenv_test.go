package devserver

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/devtools/samlocal"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/templatecheck"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

func localLocals() samlocal.Locals {
	names := stack.NamesFor(stack.DefaultName)
	return samlocal.Locals{
		StackName: stack.DefaultName, Region: "us-east-1", AccountID: AccountID,
		Params: map[string]string{"MParticleBaseURL": "http://127.0.0.1:9999/s2s"},
		QueueURLs: map[string]string{
			names.Queue:           "http://127.0.0.1:4566/" + AccountID + "/" + names.Queue,
			names.DeadLetterQueue: "http://127.0.0.1:4566/" + AccountID + "/" + names.DeadLetterQueue,
		},
	}
}

// declaredVars reads, straight from the template, the variables SAM would pass each
// function: the Globals' and the function's own.
func declaredVars(t *testing.T, tpl *templatecheck.Template) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	global, _ := templatecheck.Lookup(tpl.Globals, "Function", "Environment", "Variables")
	for _, id := range tpl.ResourcesOfType(serverlessFunction) {
		own, _ := templatecheck.Lookup(tpl.Resources[id].Properties, "Environment", "Variables")
		set := map[string]bool{}
		for _, vars := range []any{global, own} {
			m, _ := vars.(map[string]any)
			for name := range m {
				set[name] = true
			}
		}
		out[id] = slices.Sorted(maps.Keys(set))
	}
	return out
}

// TestSAMEnvMatchesTemplate holds the file `make dev` writes for `sam local invoke
// --env-vars` to template.yaml: exactly its functions, for each exactly the variables it
// declares (SAM ignores any other), and nothing pointing at this machine's loopback,
// which inside a container is the container's own.
func TestSAMEnvMatchesTemplate(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := templatecheck.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	env, err := SAMEnv(text, localLocals(), "http://127.0.0.1:4566")
	if err != nil {
		t.Fatal(err)
	}
	want := declaredVars(t, tpl)
	if got, w := slices.Sorted(maps.Keys(env)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
		t.Fatalf("functions = %v, want the template's %v", got, w)
	}
	for id, names := range want {
		if got := slices.Sorted(maps.Keys(env[id])); !slices.Equal(got, names) {
			t.Errorf("%s variables = %v, want the declared %v", id, got, names)
		}
		for name, v := range env[id] {
			if strings.Contains(v, "127.0.0.1") || strings.Contains(v, "localhost") {
				t.Errorf("%s %s = %q: a loopback address, unreachable from a container", id, name, v)
			}
		}
	}

	names := stack.NamesFor(stack.DefaultName)
	fwd := env["ForwarderFunction"]
	for name, v := range map[string]string{
		"MPARTICLE_BASE_URL": "http://host.docker.internal:9999/s2s",
		"DLQ_URL":            "http://host.docker.internal:4566/" + AccountID + "/" + names.DeadLetterQueue,
		"INTEGRATIONS_TABLE": names.IntegrationsTable,
		"DELIVERIES_TABLE":   names.IdempotencyTable,
	} {
		if fwd[name] != v {
			t.Errorf("ForwarderFunction %s = %q, want %q", name, fwd[name], v)
		}
	}
	if got := env["IntegrationsFunction"]["INTEGRATIONS_TABLE"]; got != names.IntegrationsTable {
		t.Errorf("IntegrationsFunction INTEGRATIONS_TABLE = %q, want %q", got, names.IntegrationsTable)
	}
}

// TestSAMEnvAWSEndpoint: the local AWS endpoint reaches a function only through a variable
// the template declares, and then as the container sees it.
func TestSAMEnvAWSEndpoint(t *testing.T) {
	const tpl = `
Globals:
  Function:
    Environment:
      Variables:
        AWS_ENDPOINT_URL: ""
Resources:
  Declares:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/a
      Environment:
        Variables:
          LOG_LEVEL: INFO
  Queue:
    Type: AWS::SQS::Queue
`
	env, err := SAMEnv([]byte(tpl), samlocal.Locals{StackName: "s", Region: "us-east-1", AccountID: AccountID}, "http://127.0.0.1:4566")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"Declares": {"AWS_ENDPOINT_URL": "http://host.docker.internal:4566", "LOG_LEVEL": "INFO"},
	}
	if !maps.EqualFunc(env, want, maps.Equal) {
		t.Errorf("env = %v, want %v", env, want)
	}
}

func TestContainerValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:4566", "http://host.docker.internal:4566"},
		{"http://127.0.0.1:4566/123456789012/q-events-dlq", "http://host.docker.internal:4566/123456789012/q-events-dlq"},
		{"http://localhost:9999/s2s", "http://host.docker.internal:9999/s2s"},
		{"http://[::1]:3000/v1", "http://host.docker.internal:3000/v1"},
		{"http://127.0.0.1/x", "http://host.docker.internal/x"},
		{"https://inbound.mparticle.com/s2s", "https://inbound.mparticle.com/s2s"},
		{"nami-mparticle-integrations", "nami-mparticle-integrations"},
		{"nami-mparticle/", "nami-mparticle/"},
		{"30s", "30s"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := ContainerValue(tc.in); got != tc.want {
			t.Errorf("ContainerValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
