package templatecheck

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"
	"github.com/namiml/mparticle-bridge/shared/console"

	"gopkg.in/yaml.v3"

	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

// These tests hold the repository's template.yaml to shared/stack (which the local stack uses)
// and to the deployment rules: least-privilege IAM, an authorizer on every route, partial batch
// responses. A drift here is a deploy that behaves unlike the tested code.

var templatePath = filepath.Join("..", "..", "..", "template.yaml")

func loadTemplate(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func property(t *testing.T, tpl *Template, resource string, path ...string) any {
	t.Helper()
	r, ok := tpl.Resources[resource]
	if !ok {
		t.Fatalf("template has no resource %s", resource)
	}
	v, ok := Lookup(r.Properties, path...)
	if !ok {
		t.Fatalf("%s has no property %s", resource, strings.Join(path, "."))
	}
	return v
}

// paramDefaultOf returns the default of the parameter v refers to (v must be a !Ref).
func paramDefaultOf(t *testing.T, tpl *Template, v any) (string, string) {
	t.Helper()
	name, ok := Ref(v)
	if !ok {
		t.Fatalf("%v is not a !Ref to a parameter", v)
	}
	d, err := tpl.ParameterDefault(name)
	if err != nil {
		t.Fatal(err)
	}
	return name, d
}

func TestResourceNamesMatchStack(t *testing.T) {
	tpl := loadTemplate(t)
	want := stack.NamesFor("${AWS::StackName}")
	tests := []struct {
		resource, typ, property, want string
	}{
		{"EventsQueue", "AWS::SQS::Queue", "QueueName", want.Queue},
		{"EventsDeadLetterQueue", "AWS::SQS::Queue", "QueueName", want.DeadLetterQueue},
		{"IntegrationsTable", "AWS::DynamoDB::Table", "TableName", want.IntegrationsTable},
		{"DeliveriesTable", "AWS::DynamoDB::Table", "TableName", want.IdempotencyTable},
	}
	for _, tc := range tests {
		t.Run(tc.resource, func(t *testing.T) {
			if got := tpl.Resources[tc.resource].Type; got != tc.typ {
				t.Fatalf("type = %q, want %q", got, tc.typ)
			}
			got, ok := Sub(property(t, tpl, tc.resource, tc.property))
			if !ok || got != tc.want {
				t.Errorf("%s = %v, want !Sub %q", tc.property, got, tc.want)
			}
		})
	}
}

func TestSettingsMatchStack(t *testing.T) {
	tpl := loadTemplate(t)
	fwdEvent := forwarderQueueEvent(t, tpl)
	tests := []struct {
		name  string
		value any // a !Ref to the parameter that sets it
		want  int
	}{
		{"maxReceiveCount", property(t, tpl, "EventsQueue", "RedrivePolicy", "maxReceiveCount"), stack.MaxReceiveCount},
		{"function timeout", mustLookup(t, tpl.Globals, "Function", "Timeout"), stack.FunctionTimeoutSeconds},
		{"batch size", mustLookup(t, fwdEvent, "Properties", "BatchSize"), stack.BatchSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, d := paramDefaultOf(t, tpl, tc.value)
			if d != strconv.Itoa(tc.want) {
				t.Errorf("parameter %s defaults to %s, want %d", name, d, tc.want)
			}
		})
	}
	t.Run("dead-letter retention", func(t *testing.T) {
		if got := property(t, tpl, "EventsDeadLetterQueue", "MessageRetentionPeriod"); got != stack.DLQRetentionSeconds {
			t.Errorf("MessageRetentionPeriod = %v, want %d", got, stack.DLQRetentionSeconds)
		}
	})
	t.Run("events queue retention", func(t *testing.T) {
		if got := property(t, tpl, "EventsQueue", "MessageRetentionPeriod"); got != stack.QueueRetentionSeconds {
			t.Errorf("MessageRetentionPeriod = %v, want %d", got, stack.QueueRetentionSeconds)
		}
	})
	t.Run("redrive target", func(t *testing.T) {
		res, attr, ok := GetAtt(property(t, tpl, "EventsQueue", "RedrivePolicy", "deadLetterTargetArn"))
		if !ok || res != "EventsDeadLetterQueue" || attr != "Arn" {
			t.Errorf("deadLetterTargetArn = %v.%v, want EventsDeadLetterQueue.Arn", res, attr)
		}
	})
	t.Run("secrets prefix defaults to the stack's own", func(t *testing.T) {
		if d, err := tpl.ParameterDefault("SecretsPrefix"); err != nil || d != "" {
			t.Errorf("SecretsPrefix default = %q (%v), want empty (the stack name and /)", d, err)
		}
		if stack.SecretsPrefix != stack.SecretsPrefixFor(stack.DefaultName) {
			t.Errorf("stack.SecretsPrefix = %q, want SecretsPrefixFor(%q)", stack.SecretsPrefix, stack.DefaultName)
		}
		want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "SecretsPrefix"}, ""}}}}
		if got := tpl.Conditions[secretsPrefixCondition]; !reflect.DeepEqual(got, want) {
			t.Errorf("condition %s = %v, want %v", secretsPrefixCondition, got, want)
		}
	})
	t.Run("per-app limits", func(t *testing.T) {
		for param, want := range map[string]int{
			"MaxIntegrationsPerApp":        stack.MaxIntegrationsPerApp,
			"AppWritesPerMinute":           stack.AppWritesPerMinute,
			"AppCredentialWritesPerMinute": stack.AppCredentialWritesPerMinute,
		} {
			if d, err := tpl.ParameterDefault(param); err != nil || d != strconv.Itoa(want) {
				t.Errorf("%s default = %q (%v), want %d", param, d, err, want)
			}
		}
		for _, param := range []string{"AdminScope", "AdminClientId"} {
			if d, err := tpl.ParameterDefault(param); err != nil || d != "" {
				t.Errorf("%s default = %q (%v), want empty: admin access is off unless configured", param, d, err)
			}
		}
	})
	t.Run("the forwarder's own timeout is the parameter", func(t *testing.T) {
		if _, ok := tpl.Resources["ForwarderFunction"].Properties["Timeout"]; ok {
			t.Error("ForwarderFunction overrides Timeout: the queue's visibility would no longer follow it")
		}
	})
}

func mustLookup(t *testing.T, v any, path ...string) any {
	t.Helper()
	got, ok := Lookup(v, path...)
	if !ok {
		t.Fatalf("missing %s", strings.Join(path, "."))
	}
	return got
}

// The queue's visibility timeout comes from a mapping keyed by the function timeout; every
// timeout the parameter allows must map to at least six times itself.
func TestVisibilityTimeoutIsSixTimesFunctionTimeout(t *testing.T) {
	tpl := loadTemplate(t)
	fn, arg, ok := Intrinsic(property(t, tpl, "EventsQueue", "VisibilityTimeout"))
	args, isList := arg.([]any)
	if !ok || fn != "Fn::FindInMap" || !isList || len(args) != 3 {
		t.Fatalf("VisibilityTimeout must be !FindInMap [Mapping, !Ref FunctionTimeout, Key], got %v", arg)
	}
	mapping, _ := args[0].(string)
	key, _ := args[2].(string)
	if p, ok := Ref(args[1]); !ok || p != "FunctionTimeout" {
		t.Fatalf("the mapping must be keyed by !Ref FunctionTimeout, got %v", args[1])
	}
	if g, ok := Ref(mustLookup(t, tpl.Globals, "Function", "Timeout")); !ok || g != "FunctionTimeout" {
		t.Fatalf("Globals Function Timeout must be !Ref FunctionTimeout, got %v", g)
	}
	allowed, ok := tpl.Parameters["FunctionTimeout"]["AllowedValues"].([]any)
	if !ok || len(allowed) == 0 {
		t.Fatal("FunctionTimeout needs AllowedValues: a value missing from the mapping fails the deploy")
	}
	def, err := tpl.ParameterDefault("FunctionTimeout")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(allowed, func(v any) bool { return fmt.Sprint(v) == def }) {
		t.Errorf("FunctionTimeout default %s is not among its AllowedValues", def)
	}
	for _, a := range allowed {
		timeout, err := strconv.Atoi(fmt.Sprint(a))
		if err != nil {
			t.Fatalf("allowed timeout %v: %v", a, err)
		}
		v, ok := Lookup(tpl.Mappings, mapping, strconv.Itoa(timeout), key)
		if !ok {
			t.Errorf("mapping %s has no %s for timeout %d", mapping, key, timeout)
			continue
		}
		vis, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil {
			t.Fatalf("visibility %v: %v", v, err)
		}
		if vis < 6*timeout {
			t.Errorf("timeout %d s: visibility %d s < 6x", timeout, vis)
		}
		if vis > 43200 {
			t.Errorf("timeout %d s: visibility %d s is over SQS's 12 h maximum", timeout, vis)
		}
		if strconv.Itoa(timeout) == def && vis != stack.VisibilityTimeoutSeconds {
			t.Errorf("default visibility = %d, stack.VisibilityTimeoutSeconds = %d", vis, stack.VisibilityTimeoutSeconds)
		}
	}
}

// A valid event must outlast a 24-hour outage in the events queue. With the forwarder's retry
// backoff (forwarder.RetryVisibility) the template's maxReceiveCount buys a span of time; these
// checks hold that span, and the retentions and record lifetime that depend on it, to the
// deployed defaults.
func TestQueueOutlastsAnOutage(t *testing.T) {
	tpl := loadTemplate(t)
	number := func(v any) int {
		t.Helper()
		n, err := strconv.Atoi(fmt.Sprint(v))
		if err != nil {
			t.Fatalf("%v is not a number", v)
		}
		return n
	}
	_, receives := paramDefaultOf(t, tpl, property(t, tpl, "EventsQueue", "RedrivePolicy", "maxReceiveCount"))
	_, fnTimeout := paramDefaultOf(t, tpl, mustLookup(t, tpl.Globals, "Function", "Timeout"))
	_, ttlHours := paramDefaultOf(t, tpl, property(t, tpl, "ForwarderFunction", "Environment", "Variables", "IDEMPOTENCY_TTL_HOURS"))
	q := queueSettings{
		receives:     number(receives),
		fnTimeout:    time.Duration(number(fnTimeout)) * time.Second,
		visibility:   time.Duration(stack.VisibilityTimeoutSeconds) * time.Second,
		retention:    time.Duration(number(property(t, tpl, "EventsQueue", "MessageRetentionPeriod"))) * time.Second,
		dlqRetention: time.Duration(number(property(t, tpl, "EventsDeadLetterQueue", "MessageRetentionPeriod"))) * time.Second,
		records:      time.Duration(number(ttlHours)) * time.Hour,
	}
	t.Logf("maxReceiveCount %d: backoff span %s; retention %s, dead letters %s, delivery records %s",
		q.receives, forwarder.BackoffSpan(forwarder.DefaultBackoffUnit, q.receives), q.retention, q.dlqRetention, q.records)
	for _, c := range q.checks() {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Error(c.why)
			}
		})
	}
}

// The checks catch the settings that would dead-letter or lose valid events in an outage.
func TestOutageChecksCatchShortSettings(t *testing.T) {
	deployed := queueSettings{receives: 100, fnTimeout: 30 * time.Second, visibility: 180 * time.Second,
		retention: 96 * time.Hour, dlqRetention: 336 * time.Hour, records: 72 * time.Hour}
	tests := []struct {
		name   string
		mod    func(*queueSettings)
		failed string // the check that must fail; "" for none
	}{
		{"deployed", func(*queueSettings) {}, ""},
		{"the old 5 receives", func(q *queueSettings) { q.receives = 5 }, "the backoff spans a 24-hour outage"},
		{"just under 24 h", func(q *queueSettings) { q.receives = 51 }, "the backoff spans a 24-hour outage"},
		{"24 h without margin", func(q *queueSettings) { q.receives = 60 }, "with half of the receives cut short, still"},
		{"retention shorter than the retries", func(q *queueSettings) { q.retention = 48 * time.Hour }, "the queue keeps a message until it is dead-lettered, and a day of backlog besides"},
		{"dead letters kept as long as the queue", func(q *queueSettings) { q.dlqRetention = q.retention }, "a dead letter stays readable a week after it lands"},
		{"records expire mid-retries", func(q *queueSettings) { q.records = 24 * time.Hour }, "delivery records outlive a message's retries"},
		{"over SQS's 14 days", func(q *queueSettings) { q.dlqRetention = 15 * 24 * time.Hour }, "SQS retention limits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := deployed
			tc.mod(&q)
			var failed []string
			for _, c := range q.checks() {
				if !c.ok {
					failed = append(failed, c.name)
				}
			}
			if tc.failed == "" && len(failed) != 0 {
				t.Errorf("failed %q, want none", failed)
			}
			if tc.failed != "" && !slices.Contains(failed, tc.failed) {
				t.Errorf("failed %q, want %q among them", failed, tc.failed)
			}
		})
	}
}

// queueSettings are the deployed values the outage arithmetic depends on.
type queueSettings struct {
	receives                                                int
	fnTimeout, visibility, retention, dlqRetention, records time.Duration
}

type check struct {
	name, why string
	ok        bool
}

func (q queueSettings) checks() []check {
	var (
		unit    = forwarder.DefaultBackoffUnit
		outage  = time.Duration(stack.SurvivedOutageSeconds) * time.Second
		capped  = forwarder.RetryVisibility(unit, q.receives, 0)
		span    = forwarder.BackoffSpan(unit, q.receives)
		cut     = q.receives / 2
		maxKeep = 14 * 24 * time.Hour
		// Each receive also holds the message while the invocation runs.
		toDeadLetter = span + time.Duration(q.receives)*q.fnTimeout
		// Half of the receives cut short to the queue's own visibility timeout (a crash, a
		// timeout, a failed visibility change), the longest ones at worst.
		worstSpan = span - time.Duration(cut)*(capped-q.visibility)
	)
	return []check{
		{"the backoff spans a 24-hour outage",
			fmt.Sprintf("%d receives span %s of backoff, under %s", q.receives, span, outage), span >= outage},
		{"with half of the receives cut short, still",
			fmt.Sprintf("%s with %d receives at the queue's %s", worstSpan, cut, q.visibility), worstSpan >= outage},
		{"the cap keeps the drain after an outage prompt",
			fmt.Sprintf("a waiting message is retried every %s once the backoff is capped (want over the queue's %s, at most 1 h)", capped, q.visibility),
			capped <= time.Hour && capped > q.visibility},
		{"the queue keeps a message until it is dead-lettered, and a day of backlog besides",
			fmt.Sprintf("retention %s < %s to dead-letter + 24 h: SQS would delete retried events silently", q.retention, toDeadLetter),
			q.retention >= toDeadLetter+24*time.Hour},
		{"a dead letter stays readable a week after it lands",
			fmt.Sprintf("dead letters kept %s, the queue %s: a letter keeps its enqueue time", q.dlqRetention, q.retention),
			q.dlqRetention-q.retention >= 7*24*time.Hour},
		{"delivery records outlive a message's retries",
			fmt.Sprintf("records kept %s < %s: a late retry would resend to the feeds already served", q.records, toDeadLetter),
			q.records >= toDeadLetter},
		{"SQS retention limits",
			fmt.Sprintf("retentions %s, %s outside SQS's 60 s to 14 days", q.retention, q.dlqRetention),
			q.retention >= time.Minute && q.retention <= maxKeep && q.dlqRetention <= maxKeep},
	}
}

func TestTableKeysMatchStack(t *testing.T) {
	tpl := loadTemplate(t)
	tests := []struct {
		table string
		keys  map[string]string // attribute -> key type
	}{
		{"IntegrationsTable", map[string]string{stack.TableHashKey: "HASH", stack.TableRangeKey: "RANGE"}},
		{"DeliveriesTable", map[string]string{stack.IdempotencyHashKey: "HASH"}},
	}
	for _, tc := range tests {
		t.Run(tc.table, func(t *testing.T) {
			got := map[string]string{}
			for _, k := range property(t, tpl, tc.table, "KeySchema").([]any) {
				got[fmt.Sprint(mustLookup(t, k, "AttributeName"))] = fmt.Sprint(mustLookup(t, k, "KeyType"))
			}
			if !reflect.DeepEqual(got, tc.keys) {
				t.Errorf("KeySchema = %v, want %v", got, tc.keys)
			}
			for _, a := range property(t, tpl, tc.table, "AttributeDefinitions").([]any) {
				if typ := mustLookup(t, a, "AttributeType"); typ != "S" {
					t.Errorf("attribute %v has type %v, want S", mustLookup(t, a, "AttributeName"), typ)
				}
			}
			if b := property(t, tpl, tc.table, "BillingMode"); b != "PAY_PER_REQUEST" {
				t.Errorf("BillingMode = %v", b)
			}
			if sse := property(t, tpl, tc.table, "SSESpecification", "SSEEnabled"); sse != true {
				t.Errorf("SSEEnabled = %v", sse)
			}
		})
	}
	if a := property(t, tpl, "DeliveriesTable", "TimeToLiveSpecification", "AttributeName"); a != stack.IdempotencyTTL {
		t.Errorf("deliveries TTL attribute = %v, want %s", a, stack.IdempotencyTTL)
	}
	if on := property(t, tpl, "DeliveriesTable", "TimeToLiveSpecification", "Enabled"); on != true {
		t.Errorf("deliveries TTL enabled = %v", on)
	}
	if on := property(t, tpl, "IntegrationsTable", "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); on != true {
		t.Errorf("integrations PITR = %v", on)
	}
	if a := property(t, tpl, "IntegrationsTable", "TimeToLiveSpecification", "AttributeName"); a != stack.IntegrationsTTL {
		t.Errorf("integrations TTL attribute = %v, want %s (the API's rate-limit windows expire by it)", a, stack.IntegrationsTTL)
	}
	if on := property(t, tpl, "IntegrationsTable", "TimeToLiveSpecification", "Enabled"); on != true {
		t.Errorf("integrations TTL enabled = %v", on)
	}
}

func forwarderQueueEvent(t *testing.T, tpl *Template) any {
	t.Helper()
	var found []any
	for _, ev := range property(t, tpl, "ForwarderFunction", "Events").(map[string]any) {
		if mustLookup(t, ev, "Type") == "SQS" {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("ForwarderFunction has %d SQS events, want 1", len(found))
	}
	return found[0]
}

func TestForwarderReportsPartialBatchFailures(t *testing.T) {
	tpl := loadTemplate(t)
	ev := forwarderQueueEvent(t, tpl)
	if res, attr, ok := GetAtt(mustLookup(t, ev, "Properties", "Queue")); !ok || res != "EventsQueue" || attr != "Arn" {
		t.Errorf("the forwarder reads %v.%v, want EventsQueue.Arn", res, attr)
	}
	types, _ := mustLookup(t, ev, "Properties", "FunctionResponseTypes").([]any)
	if !slices.Contains(types, any("ReportBatchItemFailures")) {
		t.Errorf("FunctionResponseTypes = %v: without ReportBatchItemFailures one bad event retries the whole batch", types)
	}
	// SQS rejects a batch size over 10 without a batching window.
	if _, ok := Lookup(ev, "Properties", "MaximumBatchingWindowInSeconds"); !ok {
		t.Error("MaximumBatchingWindowInSeconds is required for batch sizes over 10")
	}
}

func TestFunctionsShareRuntimeSettings(t *testing.T) {
	tpl := loadTemplate(t)
	fn := mustLookup(t, tpl.Globals, "Function")
	for key, want := range map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []any{"arm64"}} {
		if got := mustLookup(t, fn, key); !reflect.DeepEqual(got, want) {
			t.Errorf("Globals Function %s = %v, want %v", key, got, want)
		}
	}
	for _, name := range []string{"ForwarderFunction", "IntegrationsFunction"} {
		r := tpl.Resources[name]
		if r.Metadata["BuildMethod"] != "go1.x" {
			t.Errorf("%s BuildMethod = %v, want go1.x", name, r.Metadata["BuildMethod"])
		}
		codeURI, _ := r.Properties["CodeUri"].(string)
		if codeURI == "" {
			t.Errorf("%s has no CodeUri", name)
			continue
		}
		if _, err := os.Stat(filepath.Join("..", "..", "..", codeURI, "main.go")); err != nil {
			t.Errorf("%s CodeUri %s has no main.go: %v", name, codeURI, err)
		}
	}
}

// secretsPrefixCondition is the condition choosing between the SecretsPrefix parameter and
// the stack's own prefix; secretsPrefixExpr is how the template must spell the prefix.
const secretsPrefixCondition = "HasSecretsPrefix"

var secretsPrefixExpr = map[string]any{"Fn::If": []any{
	secretsPrefixCondition,
	map[string]any{"Ref": "SecretsPrefix"},
	map[string]any{"Fn::Sub": stack.SecretsPrefixFor("${AWS::StackName}")},
}}

// secretsPrefixVar marks, in TestEnvironmentVariables, the variable that must be
// secretsPrefixExpr rather than a !Ref.
const secretsPrefixVar = "(secrets prefix)"

// entitlementClaimVar marks the variable that must be entitlementClaimExpr: the parameter,
// or "none" (gating off) when it is empty, since shared/app/integrationsapp gates when the variable is unset.
const entitlementClaimVar = "(entitlement claim)"

var entitlementClaimExpr = map[string]any{"Fn::If": []any{
	"HasEntitlementClaim", map[string]any{"Ref": "EntitlementClaim"}, "none",
}}

// gomaxprocsVar marks the variable that is a literal number: the GOMAXPROCS `make bench`
// measured best for the Forwarder (bench/README.md), which the benchmark reads back.
const gomaxprocsVar = "(gomaxprocs)"

// goRuntimeVar marks a literal Go runtime setting (GOGC, GOMEMLIMIT) that `make bench`
// measures the Forwarder with; each must be a value the runtime accepts.
const goRuntimeVar = "(go runtime)"

var goRuntimeValue = map[string]*regexp.Regexp{
	"GOGC":       regexp.MustCompile(`^([0-9]+|off)$`),
	"GOMEMLIMIT": regexp.MustCompile(`^[0-9]+(B|KiB|MiB|GiB)$`),
}

// consoleIssuerVar marks the variable that must be consoleIssuerExpr: the console signs in
// at the issuer the authorizer trusts, and locally (no ConsoleClientId) needs none.
const consoleIssuerVar = "(console issuer)"

var consoleIssuerExpr = map[string]any{"Fn::If": []any{
	"HasConsole", map[string]any{"Ref": "JwtIssuer"}, "",
}}

func TestEnvironmentVariables(t *testing.T) {
	tpl := loadTemplate(t)
	// Each variable and what it must be a !Ref of (a resource, a parameter or a pseudo
	// parameter).
	tests := []struct {
		function string
		vars     map[string]string
	}{
		{"ForwarderFunction", map[string]string{
			"INTEGRATIONS_TABLE":     "IntegrationsTable",
			"DELIVERIES_TABLE":       "DeliveriesTable",
			"DLQ_URL":                "EventsDeadLetterQueue",
			stack.EnvStackName:       "AWS::StackName",
			stack.EnvSecretsPrefix:   secretsPrefixVar,
			"MPARTICLE_BASE_URL":     "MParticleBaseURL",
			"INTEGRATIONS_CACHE_TTL": "IntegrationsCacheTTL",
			"CREDENTIALS_CACHE_TTL":  "CredentialsCacheTTL",
			"MAX_CONCURRENT_FEEDS":   "MaxConcurrentFeeds",
			"IDEMPOTENCY_TTL_HOURS":  "IdempotencyTTLHours",
			"DELIVERY_RECORDS":       "DeliveryRecords",
			"LOG_LEVEL":              "LogLevel",
			"AWS_ENDPOINT_URL":       "",
			"GOMAXPROCS":             gomaxprocsVar,
			"GOGC":                   goRuntimeVar,
			"GOMEMLIMIT":             goRuntimeVar,
		}},
		{"IntegrationsFunction", map[string]string{
			"INTEGRATIONS_TABLE":                  "IntegrationsTable",
			stack.EnvStackName:                    "AWS::StackName",
			stack.EnvSecretsPrefix:                secretsPrefixVar,
			stack.EnvMaxIntegrationsPerApp:        "MaxIntegrationsPerApp",
			stack.EnvAppWritesPerMinute:           "AppWritesPerMinute",
			stack.EnvAppCredentialWritesPerMinute: "AppCredentialWritesPerMinute",
			stack.EnvAdminScope:                   "AdminScope",
			stack.EnvAdminClientID:                "AdminClientId",
			stack.EnvEntitlementClaim:             entitlementClaimVar,
			stack.EnvEntitlementFeature:           "EntitlementFeature",
			stack.EnvMParticleBaseURL:             "MParticleBaseURL",
			console.EnvClientID:                   "ConsoleClientId",
			console.EnvIssuer:                     consoleIssuerVar,
			console.EnvScopes:                     "ConsoleScopes",
			console.EnvTokenUse:                   "ConsoleTokenUse",
			console.EnvSignInOrigins:              "ConsoleSignInOrigins",
			"LOG_LEVEL":                           "LogLevel",
			"AWS_ENDPOINT_URL":                    "",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.function, func(t *testing.T) {
			vars, _ := property(t, tpl, tc.function, "Environment", "Variables").(map[string]any)
			for name := range vars {
				if _, ok := tc.vars[name]; !ok {
					t.Errorf("unexpected variable %s (add it here if a function reads it)", name)
				}
			}
			for name, target := range tc.vars {
				v, ok := vars[name]
				if !ok {
					t.Errorf("missing variable %s", name)
					continue
				}
				if target == "" {
					// Declared empty, for sam local invoke's --env-vars to fill in.
					if v != "" {
						t.Errorf("%s = %v, want the empty string", name, v)
					}
					continue
				}
				if target == gomaxprocsVar {
					if n, ok := v.(string); !ok || n == "" || strings.Trim(n, "0123456789") != "" {
						t.Errorf("%s = %v, want a number in a string", name, v)
					}
					continue
				}
				if target == goRuntimeVar {
					if n, ok := v.(string); !ok || !goRuntimeValue[name].MatchString(n) {
						t.Errorf("%s = %v, want a value the Go runtime accepts", name, v)
					}
					continue
				}
				if target == consoleIssuerVar {
					if !reflect.DeepEqual(v, consoleIssuerExpr) {
						t.Errorf("%s = %v, want %v", name, v, consoleIssuerExpr)
					}
					continue
				}
				if target == entitlementClaimVar {
					if !reflect.DeepEqual(v, entitlementClaimExpr) {
						t.Errorf("%s = %v, want %v", name, v, entitlementClaimExpr)
					}
					continue
				}
				if target == secretsPrefixVar {
					if !reflect.DeepEqual(v, secretsPrefixExpr) {
						t.Errorf("%s = %v, want %v", name, v, secretsPrefixExpr)
					}
					continue
				}
				if got, ok := Ref(v); !ok || got != target {
					t.Errorf("%s = %v, want !Ref %s", name, v, target)
				}
				if strings.HasPrefix(target, "AWS::") {
					continue
				}
				if _, isParam := tpl.Parameters[target]; !isParam {
					if _, isRes := tpl.Resources[target]; !isRes {
						t.Errorf("%s refers to %s, which the template does not define", name, target)
					}
				}
			}
		})
	}
}

// statement is one IAM policy statement of a role, with Fn::If branches flattened.
type statement struct {
	role      string
	sid       string
	effect    string
	actions   []string
	resources []any
	condition map[string]any
}

func roleStatements(t *testing.T, tpl *Template) []statement {
	t.Helper()
	var out []statement
	for _, role := range tpl.ResourcesOfType("AWS::IAM::Role") {
		policies, _ := tpl.Resources[role].Properties["Policies"].([]any)
		for _, p := range policies {
			raw, _ := Lookup(p, "PolicyDocument", "Statement")
			for _, s := range flattenIf(raw) {
				out = append(out, toStatement(t, role, s))
			}
		}
	}
	return out
}

// flattenIf lists a statement list's entries, taking both branches of an !If and dropping
// AWS::NoValue, since either branch may be deployed.
func flattenIf(v any) []any {
	var out []any
	var walk func(v any)
	walk = func(v any) {
		switch c := v.(type) {
		case []any:
			for _, e := range c {
				walk(e)
			}
		case map[string]any:
			if fn, arg, ok := Intrinsic(c); ok {
				if name, _ := Ref(c); name == "AWS::NoValue" {
					return
				}
				if args, ok := arg.([]any); fn == "Fn::If" && ok && len(args) == 3 {
					walk(args[1])
					walk(args[2])
					return
				}
			}
			out = append(out, c)
		}
	}
	walk(v)
	return out
}

func toStatement(t *testing.T, role string, v any) statement {
	t.Helper()
	m, _ := v.(map[string]any)
	s := statement{role: role, sid: fmt.Sprint(m["Sid"]), effect: fmt.Sprint(m["Effect"])}
	s.condition, _ = m["Condition"].(map[string]any)
	if s.effect != "Allow" && s.effect != "Deny" {
		t.Fatalf("%s statement %s: Effect %v", role, s.sid, m["Effect"])
	}
	switch a := m["Action"].(type) {
	case string:
		s.actions = []string{a}
	case []any:
		for _, e := range a {
			s.actions = append(s.actions, fmt.Sprint(e))
		}
	default:
		t.Fatalf("%s statement %s: Action %v", role, s.sid, m["Action"])
	}
	if r, ok := m["Resource"].([]any); ok {
		s.resources = r
	} else {
		s.resources = []any{m["Resource"]}
	}
	if _, ok := m["NotResource"]; ok {
		t.Errorf("%s statement %s uses NotResource", role, s.sid)
	}
	return s
}

// Services whose permissions can and must name the stack's own resources.
var scopedServices = []string{"dynamodb", "secretsmanager", "sqs", "logs"}

func TestIAMIsLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t)
	// A function without its own role gets SAM's, with AWS managed policies on Resource "*".
	for _, fn := range tpl.ResourcesOfType("AWS::Serverless::Function") {
		p := tpl.Resources[fn].Properties
		res, attr, ok := GetAtt(p["Role"])
		if !ok || attr != "Arn" || tpl.Resources[res].Type != "AWS::IAM::Role" {
			t.Errorf("%s must use a role of this template (Role: !GetAtt X.Arn), got %v", fn, p["Role"])
		}
		if _, ok := p["Policies"]; ok {
			t.Errorf("%s has Policies: put them on its role", fn)
		}
	}
	stmts := roleStatements(t, tpl)
	if len(stmts) == 0 {
		t.Fatal("no IAM statements found")
	}
	for _, s := range stmts {
		scoped := false
		for _, a := range s.actions {
			svc, action, _ := strings.Cut(a, ":")
			if strings.Contains(action, "*") {
				t.Errorf("%s/%s: wildcard action %s", s.role, s.sid, a)
			}
			scoped = scoped || slices.Contains(scopedServices, svc)
		}
		// A Deny only narrows what the Allows grant: it may name every resource.
		if !scoped || s.effect == "Deny" {
			continue
		}
		for _, r := range s.resources {
			if err := checkScopedResource(tpl, r); err != nil {
				t.Errorf("%s/%s %v: %v", s.role, s.sid, s.actions, err)
			}
		}
	}
}

// checkScopedResource accepts a resource of this template (!GetAtt X.Arn) or an ARN !Sub whose
// only wildcard is a trailing name prefix, like the secrets prefix.
func checkScopedResource(tpl *Template, r any) error {
	if res, _, ok := GetAtt(r); ok {
		if _, exists := tpl.Resources[res]; !exists {
			return fmt.Errorf("resource %s is not in the template", res)
		}
		return nil
	}
	if sub, ok := subString(r); ok {
		if !strings.HasPrefix(sub, "arn:${AWS::Partition}:") {
			return fmt.Errorf("resource %q is not a partition-aware ARN", sub)
		}
		body := strings.TrimSuffix(sub, "*")
		if strings.Contains(body, "*") {
			return fmt.Errorf("resource %q has a wildcard before its end", sub)
		}
		if strings.HasSuffix(body, ":") || strings.HasSuffix(body, "/") {
			return fmt.Errorf("resource %q matches every name", sub)
		}
		return nil
	}
	return fmt.Errorf("resource %v is neither a template resource nor a scoped ARN", r)
}

// subString returns the string of a Fn::Sub in either form: "string", or [string, variables].
func subString(v any) (string, bool) {
	if s, ok := Sub(v); ok {
		return s, true
	}
	fn, arg, ok := Intrinsic(v)
	args, isList := arg.([]any)
	if !ok || fn != "Fn::Sub" || !isList || len(args) != 2 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

// secretsARN is how every secrets statement must name its resources: the stack's prefix,
// chosen like SECRETS_PREFIX (secretsPrefixExpr).
var secretsARN = map[string]any{"Fn::Sub": []any{
	"arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}*",
	map[string]any{"Prefix": secretsPrefixExpr},
}}

func TestSecretsArePrefixScoped(t *testing.T) {
	tpl := loadTemplate(t)
	granted := map[string][]string{}
	for _, s := range roleStatements(t, tpl) {
		if s.effect != "Allow" {
			continue
		}
		for _, a := range s.actions {
			if !strings.HasPrefix(a, "secretsmanager:") {
				continue
			}
			granted[s.role] = append(granted[s.role], a)
			for _, r := range s.resources {
				if !reflect.DeepEqual(r, secretsARN) {
					t.Errorf("%s: %s on %v, want %v", s.role, a, r, secretsARN)
				}
			}
			// The prefix alone is not enough (two stacks may share one): every grant also
			// names this stack in a tag condition, on the secret or on the request.
			if !conditionNamesStack(s.condition) {
				t.Errorf("%s/%s: %s without a condition on the %s tag naming the stack", s.role, s.sid, a, stack.StackTag)
			}
		}
	}
	// The forwarder only reads credentials; only the API writes them.
	for _, a := range granted["ForwarderRole"] {
		if a != "secretsmanager:GetSecretValue" {
			t.Errorf("ForwarderRole may only read secrets, has %s", a)
		}
	}
	// The API reads a value only to send a test event with it (never to return it); it
	// writes none it reads: every other grant is a write or a describe.
	for _, a := range granted["IntegrationsRole"] {
		if strings.HasPrefix(a, "secretsmanager:Get") && a != "secretsmanager:GetSecretValue" {
			t.Errorf("IntegrationsRole has %s", a)
		}
	}
}

// conditionNamesStack reports whether a condition block requires (StringEquals) the stack tag
// of the secret or of the request to be this stack's name.
func conditionNamesStack(cond map[string]any) bool {
	eq, _ := cond["StringEquals"].(map[string]any)
	for _, key := range []string{"secretsmanager:ResourceTag/" + stack.StackTag, "aws:RequestTag/" + stack.StackTag} {
		if name, ok := Ref(eq[key]); ok && name == "AWS::StackName" {
			return true
		}
	}
	return false
}

// apiOperations lists "METHOD /path" of every operation in shared/api/openapi.yaml, the API's
// contract, so the deployed routes cannot drift from what the handler serves.
func apiOperations(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatalf("the API contract: %v", err)
	}
	var spec struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &spec); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	var ops []string
	for path, item := range spec.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(ops)
	return ops
}

func TestEveryRouteIsAuthenticated(t *testing.T) {
	tpl := loadTemplate(t)
	apis := tpl.ResourcesOfType("AWS::Serverless::HttpApi")
	if len(apis) != 1 {
		t.Fatalf("want one HttpApi, got %v", apis)
	}
	api := tpl.Resources[apis[0]]
	def, _ := Lookup(api.Properties, "Auth", "DefaultAuthorizer")
	authz, ok := Lookup(api.Properties, "Auth", "Authorizers", fmt.Sprint(def))
	if !ok {
		t.Fatalf("DefaultAuthorizer %v is not one of the API's authorizers", def)
	}
	if p, _ := Ref(mustLookup(t, authz, "JwtConfiguration", "issuer")); p != "JwtIssuer" {
		t.Errorf("authorizer issuer must be !Ref JwtIssuer")
	}
	// The audience is the API's own, plus the operator client and the console's client when
	// they are set (their access tokens carry client_id, not aud).
	aud, _ := mustLookup(t, authz, "JwtConfiguration", "audience").([]any)
	adminClient := map[string]any{"Fn::If": []any{"HasAdminClient", map[string]any{"Ref": "AdminClientId"}, map[string]any{"Ref": "AWS::NoValue"}}}
	consoleClient := map[string]any{"Fn::If": []any{"HasConsole", map[string]any{"Ref": "ConsoleClientId"}, map[string]any{"Ref": "AWS::NoValue"}}}
	const wantAud = "[!Ref JwtAudience, !If [HasAdminClient, !Ref AdminClientId, NoValue], !If [HasConsole, !Ref ConsoleClientId, NoValue]]"
	if len(aud) != 3 {
		t.Errorf("authorizer audience = %v, want %s", aud, wantAud)
	} else if p, _ := Ref(aud[0]); p != "JwtAudience" || !reflect.DeepEqual(aud[1], adminClient) || !reflect.DeepEqual(aud[2], consoleClient) {
		t.Errorf("authorizer audience = %v, want %s", aud, wantAud)
	}

	// The console's page and files are the only routes without a token: they hold no data.
	public := map[string]bool{"GET /console": false, "GET /console/{proxy+}": false}
	var routes []string
	for _, fn := range tpl.ResourcesOfType("AWS::Serverless::Function") {
		events, _ := tpl.Resources[fn].Properties["Events"].(map[string]any)
		for name, ev := range events {
			if mustLookup(t, ev, "Type") != "HttpApi" {
				continue
			}
			props, _ := mustLookup(t, ev, "Properties").(map[string]any)
			// Without ApiId SAM puts the route on an implicit API that has no authorizer.
			if id, _ := Ref(props["ApiId"]); id != apis[0] {
				t.Errorf("%s.%s: ApiId = %v, want !Ref %s", fn, name, props["ApiId"], apis[0])
			}
			route := fmt.Sprint(props["Method"]) + " " + fmt.Sprint(props["Path"])
			if _, ok := public[route]; ok {
				if a, _ := Lookup(props, "Auth", "Authorizer"); a != "NONE" || fn != "IntegrationsFunction" {
					t.Errorf("%s.%s (%s): authorizer %v, want NONE on IntegrationsFunction", fn, name, route, a)
				}
				public[route] = true
				continue
			}
			if a, ok := Lookup(props, "Auth", "Authorizer"); ok && a != def {
				t.Errorf("%s.%s overrides the authorizer with %v", fn, name, a)
			}
			routes = append(routes, route)
		}
	}
	for route, found := range public {
		if !found {
			t.Errorf("no route %s for the console", route)
		}
	}
	sort.Strings(routes)
	if want := apiOperations(t); !reflect.DeepEqual(routes, want) {
		t.Errorf("template routes %v\nshared/api/openapi.yaml operations %v", routes, want)
	}
}

func TestAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	tests := []struct {
		alarm, namespace, metric, dimension string
		dimensionValue                      func(any) bool
	}{
		{"DeadLetterQueueAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", func(v any) bool {
			r, a, ok := GetAtt(v)
			return ok && r == "EventsDeadLetterQueue" && a == "QueueName"
		}},
		{"ForwarderErrorsAlarm", "AWS/Lambda", "Errors", "FunctionName", func(v any) bool {
			r, ok := Ref(v)
			return ok && r == "ForwarderFunction"
		}},
		// The feed-unhealthy alarm watches the forwarder's own embedded metric.
		{"FeedUnhealthyAlarm", forwarderapp.MetricsNamespace, string(metrics.AuthFailed), metrics.DimService, func(v any) bool {
			return v == metrics.DefaultService
		}},
	}
	for _, tc := range tests {
		t.Run(tc.alarm, func(t *testing.T) {
			p := tpl.Resources[tc.alarm].Properties
			if p["Namespace"] != tc.namespace || p["MetricName"] != tc.metric {
				t.Errorf("metric = %v %v, want %s %s", p["Namespace"], p["MetricName"], tc.namespace, tc.metric)
			}
			if p["ComparisonOperator"] != "GreaterThanThreshold" || fmt.Sprint(p["Threshold"]) != "0" {
				t.Errorf("alarm fires on %v %v, want GreaterThanThreshold 0", p["ComparisonOperator"], p["Threshold"])
			}
			dims, _ := p["Dimensions"].([]any)
			if len(dims) != 1 || mustLookup(t, dims[0], "Name") != tc.dimension || !tc.dimensionValue(mustLookup(t, dims[0], "Value")) {
				t.Errorf("dimensions = %v", dims)
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	tpl := loadTemplate(t)
	for _, name := range []string{"ApiUrl", "EventsQueueUrl", "EventsQueueArn", "DeadLetterQueueUrl",
		"IntegrationsTableName", "DeliveriesTableName", "ForwarderFunctionName"} {
		if _, ok := Lookup(tpl.Outputs, name, "Value"); !ok {
			t.Errorf("missing output %s", name)
		}
	}
}

func TestLogGroupsHaveRetention(t *testing.T) {
	tpl := loadTemplate(t)
	for _, fn := range tpl.ResourcesOfType("AWS::Serverless::Function") {
		group, ok := Ref(mustLookup(t, tpl.Resources[fn].Properties, "LoggingConfig", "LogGroup"))
		if !ok || tpl.Resources[group].Type != "AWS::Logs::LogGroup" {
			t.Errorf("%s must log to a log group of this template", fn)
			continue
		}
		if _, ok := tpl.Resources[group].Properties["RetentionInDays"]; !ok {
			t.Errorf("%s has no retention", group)
		}
	}
}
