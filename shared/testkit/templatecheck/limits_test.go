package templatecheck

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"testing"
)

// One tenant cannot hurt another: the whole API is throttled before it reaches the function,
// the function's concurrency is bounded, and the parameters refuse the values that would undo
// either or weaken isolation.

func TestApiIsThrottled(t *testing.T) {
	tpl := loadTemplate(t)
	settings := map[string]string{
		"ThrottlingBurstLimit": "ApiThrottlingBurstLimit",
		"ThrottlingRateLimit":  "ApiThrottlingRateLimit",
	}
	defaults := map[string]float64{}
	for key, param := range settings {
		got, ok := Ref(property(t, tpl, "IntegrationsApi", "DefaultRouteSettings", key))
		if !ok || got != param {
			t.Errorf("IntegrationsApi DefaultRouteSettings.%s = %v, want !Ref %s", key, got, param)
			continue
		}
		d, err := tpl.ParameterDefault(param)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n <= 0 {
			t.Errorf("%s defaults to %q, want a positive number", param, d)
		}
		if min, _ := strconv.ParseFloat(fmt.Sprint(tpl.Parameters[param]["MinValue"]), 64); min < 1 {
			t.Errorf("%s allows %v: 0 would answer every request 429", param, tpl.Parameters[param]["MinValue"])
		}
		defaults[key] = n
	}
	if defaults["ThrottlingBurstLimit"] < defaults["ThrottlingRateLimit"] {
		t.Errorf("burst %v below rate %v: the bucket could never hold a second's worth", defaults["ThrottlingBurstLimit"], defaults["ThrottlingRateLimit"])
	}
	// A route's own settings would replace the defaults for that route.
	if rs, ok := tpl.Resources["IntegrationsApi"].Properties["RouteSettings"]; ok {
		t.Errorf("IntegrationsApi has RouteSettings %v: the default limits must hold on every route", rs)
	}
}

func TestApiConcurrencyIsReserved(t *testing.T) {
	tpl := loadTemplate(t)
	const param, cond = "ApiReservedConcurrency", "HasApiReservedConcurrency"
	want := map[string]any{"Fn::If": []any{cond, map[string]any{"Ref": param}, map[string]any{"Ref": "AWS::NoValue"}}}
	if got := property(t, tpl, "IntegrationsFunction", "ReservedConcurrentExecutions"); !reflect.DeepEqual(got, want) {
		t.Errorf("IntegrationsFunction ReservedConcurrentExecutions = %v, want %v", got, want)
	}
	// -1 is "no reservation"; 0 would be Lambda's "never run".
	wantCond := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": param}, -1}}}}
	if got := tpl.Conditions[cond]; !reflect.DeepEqual(got, wantCond) {
		t.Errorf("condition %s = %v, want %v", cond, got, wantCond)
	}
	d, err := tpl.ParameterDefault(param)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(d); err != nil || n < 1 {
		t.Errorf("%s defaults to %q, want a reservation (a positive number)", param, d)
	}
	if min := fmt.Sprint(tpl.Parameters[param]["MinValue"]); min != "-1" {
		t.Errorf("%s MinValue = %s, want -1", param, min)
	}
	rule := ruleAssertion(t, "ApiReservedConcurrencyNotZero")
	wantRule := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": param}, 0}}}}
	if !reflect.DeepEqual(rule, wantRule) {
		t.Errorf("rule ApiReservedConcurrencyNotZero asserts %v, want %v", rule, wantRule)
	}
	if _, ok := tpl.Resources["ForwarderFunction"].Properties["ReservedConcurrentExecutions"]; ok {
		t.Error("ForwarderFunction reserves concurrency: its cap is the event source mapping's MaximumConcurrency")
	}
}

// ruleAssertion returns the one Assert of a rule in the Rules section.
func ruleAssertion(t *testing.T, name string) any {
	t.Helper()
	rules := rulesOf(t)
	asserts, _ := Lookup(rules, name, "Assertions")
	list, _ := asserts.([]any)
	if len(list) != 1 {
		t.Fatalf("rule %s has assertions %v, want one", name, asserts)
	}
	a, _ := Lookup(list[0], "Assert")
	return a
}

// rulesOf reads the Rules section, which Template does not keep.
func rulesOf(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	v, err := parseValue(data)
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := Lookup(v, "Rules")
	m, _ := rules.(map[string]any)
	return m
}

// Admin access takes both the scope and the client, or neither: the function refuses to start
// otherwise (shared/auth.NewPolicy), so the deploy must refuse first.
func TestAdminNeedsScopeAndClient(t *testing.T) {
	rules := rulesOf(t)
	set := func(param string) any {
		return map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": param}, ""}}}}
	}
	tests := []struct{ rule, when, then string }{
		{"AdminScopeNeedsClient", "AdminScope", "AdminClientId"},
		{"AdminClientNeedsScope", "AdminClientId", "AdminScope"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			if got, _ := Lookup(rules, tc.rule, "RuleCondition"); !reflect.DeepEqual(got, set(tc.when)) {
				t.Errorf("RuleCondition = %v, want %v", got, set(tc.when))
			}
			if got := ruleAssertion(t, tc.rule); !reflect.DeepEqual(got, set(tc.then)) {
				t.Errorf("Assert = %v, want %v", got, set(tc.then))
			}
		})
	}
}

// The parameters' constraints, as CloudFormation applies them at deploy time.
func TestParameterConstraints(t *testing.T) {
	tpl := loadTemplate(t)
	tests := []struct {
		param, value string
		ok           bool
	}{
		{"SecretsPrefix", "", true},
		{"SecretsPrefix", "nami-mparticle/", true},
		{"SecretsPrefix", "team/nami-mparticle-prod/", true},
		// Without the slash, nami-mparticle would also match nami-mparticle-prod's secrets.
		{"SecretsPrefix", "nami-mparticle", false},
		{"SecretsPrefix", "/", false},
		{"SecretsPrefix", "a b/", false},
		// The credentials travel in every request: https only.
		{"MParticleBaseURL", "", true},
		{"MParticleBaseURL", "https://s2s.us1.mparticle.com", true},
		{"MParticleBaseURL", "https://proxy.example.com/s2s", true},
		{"MParticleBaseURL", "http://127.0.0.1:9999/s2s", false},
		{"MParticleBaseURL", "https://", false},
		{"MParticleBaseURL", "ftp://x", false},
		{"MParticleBaseURL", "https://x y", false},
		{"AdminScope", "", true},
		{"AdminScope", "mparticle:admin", true},
		{"AdminScope", "mparticle:admin openid", false},
		{"AdminScope", `a"b`, false},
		{"AdminClientId", "0oa1b2c3d4", true},
		{"AdminClientId", "a b", false},
		{"ConsoleClientId", "", true},
		{"ConsoleClientId", "4n3bq1example7c0ns0le", true},
		{"ConsoleClientId", "a b", false},
		{"ConsoleScopes", "openid", true},
		{"ConsoleScopes", "openid profile email", true},
		{"ConsoleScopes", "", false},
		{"ConsoleScopes", "openid  profile", false},
		{"ConsoleScopes", `openid "x"`, false},
		{"ConsoleSignInOrigins", "", true},
		{"ConsoleSignInOrigins", "https://nami.auth.us-east-1.amazoncognito.com", true},
		{"ConsoleSignInOrigins", "https://a.example,https://b.example:8443", true},
		{"ConsoleSignInOrigins", "http://a.example", false},
		{"ConsoleSignInOrigins", "https://a.example/oauth2", false},
		{"ConsoleTokenUse", "access", true},
		{"ConsoleTokenUse", "id", true},
		{"ConsoleTokenUse", "refresh", false},
		{"ApiReservedConcurrency", "-1", true},
		{"ApiReservedConcurrency", "-2", false},
		{"ApiThrottlingRateLimit", "0", false},
		{"MaxIntegrationsPerApp", "0", false},
		{"AppCredentialWritesPerMinute", "0", false},
	}
	for _, tc := range tests {
		t.Run(tc.param+"="+tc.value, func(t *testing.T) {
			p, ok := tpl.Parameters[tc.param]
			if !ok {
				t.Fatalf("no parameter %s", tc.param)
			}
			if err := checkParameter(p, tc.value); (err == nil) != tc.ok {
				t.Errorf("accepted = %v (%v), want %v", err == nil, err, tc.ok)
			}
		})
	}
	// Every default passes its own constraints.
	for name, p := range tpl.Parameters {
		if d, err := tpl.ParameterDefault(name); err == nil {
			if err := checkParameter(p, d); err != nil {
				t.Errorf("%s default: %v", name, err)
			}
		}
	}
}
