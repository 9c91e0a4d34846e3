package templatecheck

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// The checks below run on what SAM makes of template.yaml (aws-sam-translator, the SAM CLI's
// own, from the project's .venv), not on the source: Globals merged, HTTP API routes turned into
// an OpenAPI body, SAM's generated roles and managed policies made visible.

// translated expands template.yaml. The translator is required: a missing .venv fails the test
// (run `make venv` or `make test`); only -short skips it.
func translated(t *testing.T) map[string]any {
	t.Helper()
	testenv.SkipShort(t, "aws-sam-translator, a Python process from .venv")
	python := os.Getenv("TEMPLATECHECK_PYTHON")
	if python == "" {
		python = filepath.Join("..", "..", "..", ".venv", "bin", "python")
	}
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("aws-sam-translator's Python (%s) is required; run `make venv`: %v", python, err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "translate.py"), templatePath)
	// Offline: a region for ARNs, no credentials, no instance metadata lookups.
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("SAM translation failed: %v\n%s", err, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("translator output: %v", err)
	}
	return out
}

func resourcesOfType(resources map[string]any, typ string) []string {
	var names []string
	for name, r := range resources {
		if v, _ := Lookup(r, "Type"); v == typ {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func TestTranslatedTemplate(t *testing.T) {
	out := translated(t)
	resources, _ := out["Resources"].(map[string]any)
	if len(resources) == 0 {
		t.Fatal("translation produced no resources")
	}

	t.Run("only the template's own roles, without managed policies", func(t *testing.T) {
		roles := resourcesOfType(resources, "AWS::IAM::Role")
		if want := []string{"ForwarderRole", "IntegrationsRole"}; !reflect.DeepEqual(roles, want) {
			t.Errorf("roles = %v, want %v (SAM generated one?)", roles, want)
		}
		for _, r := range roles {
			if arns, ok := Lookup(resources[r], "Properties", "ManagedPolicyArns"); ok {
				t.Errorf("%s has managed policies %v", r, arns)
			}
		}
	})

	t.Run("functions after Globals", func(t *testing.T) {
		fns := resourcesOfType(resources, "AWS::Lambda::Function")
		if want := []string{"ForwarderFunction", "IntegrationsFunction"}; !reflect.DeepEqual(fns, want) {
			t.Fatalf("functions = %v, want %v", fns, want)
		}
		for _, fn := range fns {
			p := mustLookup(t, resources[fn], "Properties")
			for key, want := range map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{"arm64"}} {
				if got, _ := Lookup(p, key); !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s = %v, want %v", fn, key, got, want)
				}
			}
		}
		if ref, _ := Ref(mustLookup(t, resources["ForwarderFunction"], "Properties", "Timeout")); ref != "FunctionTimeout" {
			t.Errorf("ForwarderFunction Timeout = %v, want !Ref FunctionTimeout", ref)
		}
	})

	t.Run("event source mapping reports batch item failures", func(t *testing.T) {
		esms := resourcesOfType(resources, "AWS::Lambda::EventSourceMapping")
		if len(esms) != 1 {
			t.Fatalf("event source mappings = %v, want 1", esms)
		}
		p := mustLookup(t, resources[esms[0]], "Properties")
		if fn, _ := Ref(mustLookup(t, p, "FunctionName")); fn != "ForwarderFunction" {
			t.Errorf("mapping invokes %v", fn)
		}
		if res, _, _ := GetAtt(mustLookup(t, p, "EventSourceArn")); res != "EventsQueue" {
			t.Errorf("mapping reads %v", res)
		}
		types, _ := Lookup(p, "FunctionResponseTypes")
		if l, _ := types.([]any); !slices.Contains(l, any("ReportBatchItemFailures")) {
			t.Errorf("FunctionResponseTypes = %v", types)
		}
	})

	t.Run("the deployed stage throttles every route", func(t *testing.T) {
		stages := resourcesOfType(resources, "AWS::ApiGatewayV2::Stage")
		if len(stages) != 1 {
			t.Fatalf("stages = %v, want the one default stage", stages)
		}
		for key, param := range map[string]string{"ThrottlingBurstLimit": "ApiThrottlingBurstLimit", "ThrottlingRateLimit": "ApiThrottlingRateLimit"} {
			if got, _ := Ref(mustLookup(t, resources[stages[0]], "Properties", "DefaultRouteSettings", key)); got != param {
				t.Errorf("stage %s DefaultRouteSettings.%s = %v, want !Ref %s", stages[0], key, got, param)
			}
		}
		if _, ok := Lookup(resources["IntegrationsFunction"], "Properties", "ReservedConcurrentExecutions"); !ok {
			t.Error("IntegrationsFunction lost its ReservedConcurrentExecutions in translation")
		}
	})

	t.Run("every API operation requires the JWT authorizer; only the console is public", func(t *testing.T) {
		apis := resourcesOfType(resources, "AWS::ApiGatewayV2::Api")
		if !reflect.DeepEqual(apis, []string{"IntegrationsApi"}) {
			t.Fatalf("HTTP APIs = %v, want only IntegrationsApi (an implicit API has no authorizer)", apis)
		}
		body := mustLookup(t, resources["IntegrationsApi"], "Properties", "Body")
		schemes, _ := mustLookup(t, body, "components", "securitySchemes").(map[string]any)
		jwtSchemes := map[string]bool{}
		for name, s := range schemes {
			if typ, _ := Lookup(s, "x-amazon-apigateway-authorizer", "type"); typ == "jwt" {
				jwtSchemes[name] = true
			}
		}
		if len(jwtSchemes) == 0 {
			t.Fatalf("no JWT authorizer in %v", schemes)
		}
		var ops []string
		public := 0
		paths, _ := mustLookup(t, body, "paths").(map[string]any)
		for path, item := range paths {
			methods, _ := item.(map[string]any)
			for method, op := range methods {
				if method == "parameters" {
					continue
				}
				if strings.HasPrefix(method, "x-amazon-apigateway-any-method") {
					t.Errorf("%s has a catch-all method", path)
				}
				sec, _ := Lookup(op, "security")
				// The console's page and files hold no data: API Gateway serves them without
				// a token (SAM's NONE authorizer), and nothing else.
				if route := strings.ToUpper(method) + " " + path; route == "GET /console" || route == "GET /console/{proxy+}" {
					if !reflect.DeepEqual(sec, []any{map[string]any{"NONE": []any{}}}) {
						t.Errorf("%s: security %v, want [{NONE: []}]", route, sec)
					}
					public++
					continue
				}
				ops = append(ops, strings.ToUpper(method)+" "+path)
				list, _ := sec.([]any)
				authorized := len(list) > 0
				for _, req := range list {
					m, _ := req.(map[string]any)
					if len(m) == 0 {
						authorized = false // {} means "no authorization" in OpenAPI
					}
					for name := range m {
						authorized = authorized && jwtSchemes[name]
					}
				}
				if !authorized {
					t.Errorf("%s %s: security %v does not require the JWT authorizer", method, path, sec)
				}
			}
		}
		sort.Strings(ops)
		if want := apiOperations(t); !reflect.DeepEqual(ops, want) {
			t.Errorf("deployed operations %v\nshared/api/openapi.yaml operations %v", ops, want)
		}
		if public != 2 {
			t.Errorf("%d console routes, want GET /console and GET /console/{proxy+}", public)
		}
	})
}
