package templatecheck

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/namiml/mparticle-bridge/shared/feedcreds"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/secretstore"
	"github.com/namiml/mparticle-bridge/shared/stack"
)

// What each role may do, simulated on the template's policies for a sample deploy of the
// default stack, beside another stack (prod) in the same account and region.

var sample = deployment{stack: stack.DefaultName, region: "us-east-1", account: "111122223333"}

const otherStack = stack.DefaultName + "-prod"

type ctx = map[string][]string

// with merges request contexts.
func with(parts ...ctx) ctx {
	out := ctx{}
	for _, p := range parts {
		maps.Copy(out, p)
	}
	return out
}

// taggedFor is the context of a request on an existing secret whose stack tag names name
// ("" for a secret without that tag).
func taggedFor(name string) ctx {
	if name == "" {
		return ctx{}
	}
	return ctx{"secretsmanager:ResourceTag/" + stack.StackTag: {name}}
}

// requestTags is the context of a request that sets tags (CreateSecret, TagResource).
func requestTags(tags map[string]string) ctx {
	c := ctx{"aws:TagKeys": slices.Sorted(maps.Keys(tags))}
	for k, v := range tags {
		c["aws:RequestTag/"+k] = []string{v}
	}
	return c
}

// apiTags are the tags the API puts on a secret it creates.
func apiTags(stackName string) map[string]string {
	return map[string]string{stack.StackTag: stackName, "app_id": "app1", "integration_id": "i1"}
}

func deleteWindow(days string) ctx { return ctx{"secretsmanager:RecoveryWindowInDays": {days}} }

func healthUpdate(attrs ...string) ctx {
	return ctx{"dynamodb:Attributes": append([]string{stack.TableHashKey, stack.TableRangeKey}, attrs...)}
}

type simCase struct {
	name     string
	role     string
	action   string
	resource string
	context  ctx
	want     bool // allowed
}

func runSimulation(t *testing.T, policies map[string][]policyStatement, cases []simCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.role+"/"+tc.name, func(t *testing.T) {
			stmts, ok := policies[tc.role]
			if !ok {
				t.Fatalf("no role %s", tc.role)
			}
			got, err := evaluate(stmts, request{action: tc.action, resource: tc.resource, context: tc.context})
			if err != nil {
				t.Fatal(err)
			}
			if (got == allowed) != tc.want {
				t.Errorf("%s on %s with %v: %s, want allowed = %v", tc.action, tc.resource, tc.context, got, tc.want)
			}
		})
	}
}

func TestPolicySimulation(t *testing.T) {
	tpl := loadTemplate(t)
	policies := rolePolicies(t, tpl, sample)
	var (
		api, fwd    = "IntegrationsRole", "ForwarderRole"
		ownPrefix   = stack.SecretsPrefixFor(sample.stack)
		otherPrefix = stack.SecretsPrefixFor(otherStack)
		own         = secretARN(sample, ownPrefix+"app1/i1")
		otherPrefd  = secretARN(sample, otherPrefix+"app1/i1")
		names       = stack.NamesFor(sample.stack)
		otherNames  = stack.NamesFor(otherStack)
		table       = func(name string) string { return "arn:aws:dynamodb:us-east-1:111122223333:table/" + name }
		queue       = func(name string) string { return "arn:aws:sqs:us-east-1:111122223333:" + name }
		ownTag      = taggedFor(sample.stack)
		otherTag    = taggedFor(otherStack)
		noTag       = taggedFor("")
		createOwn   = requestTags(apiTags(sample.stack))
	)
	if strings.HasPrefix(otherPrefix, ownPrefix) {
		t.Fatalf("sample prefixes overlap: %s, %s", ownPrefix, otherPrefix)
	}
	runSimulation(t, policies, []simCase{
		// The API creates secrets tagged with its own stack, under its own prefix, only.
		{"create tagged with its stack", api, "secretsmanager:CreateSecret", own, createOwn, true},
		{"tags given at create", api, "secretsmanager:TagResource", own, createOwn, true},
		{"create untagged", api, "secretsmanager:CreateSecret", own, ctx{}, false},
		{"create without the stack tag", api, "secretsmanager:CreateSecret", own, requestTags(map[string]string{"app_id": "app1"}), false},
		{"create tagged for another stack", api, "secretsmanager:CreateSecret", own, requestTags(apiTags(otherStack)), false},
		{"create with an extra tag", api, "secretsmanager:CreateSecret", own,
			requestTags(map[string]string{stack.StackTag: sample.stack, "owner": "x"}), false},
		{"create under another stack's prefix", api, "secretsmanager:CreateSecret", otherPrefd, createOwn, false},
		{"create under a longer stack name's prefix", api, "secretsmanager:CreateSecret",
			secretARN(sample, sample.stack+"x/app1/i1"), createOwn, false},
		// Its own secrets: stage, promote, describe, delete with a recovery window.
		{"stage a value", api, "secretsmanager:PutSecretValue", own, ownTag, true},
		{"promote a value", api, "secretsmanager:UpdateSecretVersionStage", own, ownTag, true},
		{"describe", api, "secretsmanager:DescribeSecret", own, ownTag, true},
		{"delete with 7 days to recover", api, "secretsmanager:DeleteSecret", own, with(ownTag, deleteWindow("7")), true},
		{"delete with 30 days to recover", api, "secretsmanager:DeleteSecret", own, with(ownTag, deleteWindow("30")), true},
		{"delete with 6 days to recover", api, "secretsmanager:DeleteSecret", own, with(ownTag, deleteWindow("6")), false},
		{"delete without a window", api, "secretsmanager:DeleteSecret", own, ownTag, false},
		{"force delete", api, "secretsmanager:DeleteSecret", own,
			with(ownTag, ctx{"secretsmanager:ForceDeleteWithoutRecovery": {"true"}}), false},
		{"force delete naming a window too", api, "secretsmanager:DeleteSecret", own,
			with(ownTag, deleteWindow("7"), ctx{"secretsmanager:ForceDeleteWithoutRecovery": {"true"}}), false},
		// A test event reads its integration's credentials: this stack's only.
		{"read own credentials for a test", api, "secretsmanager:GetSecretValue", own, ownTag, true},
		{"read same prefix, other stack's tag", api, "secretsmanager:GetSecretValue", own, otherTag, false},
		{"read untagged", api, "secretsmanager:GetSecretValue", own, noTag, false},
		{"read another prefix's", api, "secretsmanager:GetSecretValue", otherPrefd, ownTag, false},
		// Another stack's secrets, by prefix or by tag, and untagged ones.
		{"stage another prefix's", api, "secretsmanager:PutSecretValue", otherPrefd, ownTag, false},
		{"stage same prefix, other stack's tag", api, "secretsmanager:PutSecretValue", own, otherTag, false},
		{"stage untagged", api, "secretsmanager:PutSecretValue", own, noTag, false},
		{"describe same prefix, other stack's tag", api, "secretsmanager:DescribeSecret", own, otherTag, false},
		{"delete another prefix's", api, "secretsmanager:DeleteSecret", otherPrefd, with(ownTag, deleteWindow("7")), false},
		{"delete same prefix, other stack's tag", api, "secretsmanager:DeleteSecret", own, with(otherTag, deleteWindow("7")), false},
		{"delete untagged", api, "secretsmanager:DeleteSecret", own, with(noTag, deleteWindow("7")), false},
		// Tags cannot move a secret between stacks, either way.
		{"retag its secret for another stack", api, "secretsmanager:TagResource", own,
			with(ownTag, requestTags(map[string]string{stack.StackTag: otherStack})), false},
		{"take over another stack's secret", api, "secretsmanager:TagResource", own,
			with(otherTag, requestTags(map[string]string{stack.StackTag: sample.stack})), false},
		{"tag without restating the stack", api, "secretsmanager:TagResource", own,
			with(ownTag, requestTags(map[string]string{"app_id": "x"})), false},
		{"untag the stack tag", api, "secretsmanager:UntagResource", own,
			with(ownTag, ctx{"aws:TagKeys": {stack.StackTag}}), false},
		{"change the resource policy", api, "secretsmanager:PutResourcePolicy", own, ownTag, false},
		// Its table, with the transaction's parts; nothing of the other stack's.
		{"put an integration", api, "dynamodb:PutItem", table(names.IntegrationsTable), nil, true},
		{"update", api, "dynamodb:UpdateItem", table(names.IntegrationsTable), nil, true},
		{"delete", api, "dynamodb:DeleteItem", table(names.IntegrationsTable), nil, true},
		{"check a condition in a transaction", api, "dynamodb:ConditionCheckItem", table(names.IntegrationsTable), nil, true},
		{"get", api, "dynamodb:GetItem", table(names.IntegrationsTable), nil, true},
		{"query", api, "dynamodb:Query", table(names.IntegrationsTable), nil, true},
		{"scan", api, "dynamodb:Scan", table(names.IntegrationsTable), nil, false},
		{"another stack's table", api, "dynamodb:PutItem", table(otherNames.IntegrationsTable), nil, false},
		{"the deliveries table", api, "dynamodb:PutItem", table(names.IdempotencyTable), nil, false},

		// The Forwarder reads its stack's credentials only.
		{"read own credentials", fwd, "secretsmanager:GetSecretValue", own, ownTag, true},
		{"read same prefix, other stack's tag", fwd, "secretsmanager:GetSecretValue", own, otherTag, false},
		{"read untagged", fwd, "secretsmanager:GetSecretValue", own, noTag, false},
		{"read another prefix's", fwd, "secretsmanager:GetSecretValue", otherPrefd, ownTag, false},
		{"create a secret", fwd, "secretsmanager:CreateSecret", own, createOwn, false},
		{"stage a value", fwd, "secretsmanager:PutSecretValue", own, ownTag, false},
		// It writes a feed's health and nothing else of an integration.
		{"query integrations", fwd, "dynamodb:Query", table(names.IntegrationsTable), nil, true},
		{"set health", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable),
			healthUpdate("health", "health_updated_at", "health_error"), true},
		{"set health, no values back", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable),
			with(healthUpdate("health", "health_updated_at"), ctx{"dynamodb:ReturnValues": {"NONE"}}), true},
		{"set health, the whole item back", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable),
			with(healthUpdate("health"), ctx{"dynamodb:ReturnValues": {"ALL_NEW"}}), false},
		{"rename", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable), healthUpdate("health", "name"), false},
		{"change the events", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable), healthUpdate("events"), false},
		{"point at another secret", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable), healthUpdate("secret_id"), false},
		{"an update naming no attribute", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable), nil, false},
		// ...and the hourly delivery-status counters, still nothing else.
		{"add to the status counters", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable),
			healthUpdate("delivered", "retried", "dead_lettered", "skipped", "last_delivery_at", "last_failure_at",
				"last_failure_code", "last_failure_message", "expires_at"), true},
		{"status counters and a rename", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable),
			healthUpdate("delivered", "name"), false},
		{"status counters and the events", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable),
			healthUpdate("skipped", "expires_at", "events"), false},
		{"status counters, the whole item back", fwd, "dynamodb:UpdateItem", table(names.IntegrationsTable),
			with(healthUpdate("delivered"), ctx{"dynamodb:ReturnValues": {"ALL_OLD"}}), false},
		{"get an integration", fwd, "dynamodb:GetItem", table(names.IntegrationsTable), nil, false},
		{"put an integration", fwd, "dynamodb:PutItem", table(names.IntegrationsTable), nil, false},
		{"delete an integration", fwd, "dynamodb:DeleteItem", table(names.IntegrationsTable), nil, false},
		{"another stack's integrations", fwd, "dynamodb:Query", table(otherNames.IntegrationsTable), nil, false},
		// Delivery records: batches only.
		{"read deliveries", fwd, "dynamodb:BatchGetItem", table(names.IdempotencyTable), nil, true},
		{"record deliveries", fwd, "dynamodb:BatchWriteItem", table(names.IdempotencyTable), nil, true},
		{"put one delivery", fwd, "dynamodb:PutItem", table(names.IdempotencyTable), nil, false},
		{"another stack's deliveries", fwd, "dynamodb:BatchWriteItem", table(otherNames.IdempotencyTable), nil, false},
		// Queues.
		{"dead-letter an event", fwd, "sqs:SendMessage", queue(names.DeadLetterQueue), nil, true},
		{"enqueue an event", fwd, "sqs:SendMessage", queue(names.Queue), nil, false},
		{"consume", fwd, "sqs:ReceiveMessage", queue(names.Queue), nil, true},
		{"consume another stack's", fwd, "sqs:ReceiveMessage", queue(otherNames.Queue), nil, false},
	})
}

// An explicit SecretsPrefix replaces the stack's own prefix in every grant.
func TestPolicySimulationWithSecretsPrefix(t *testing.T) {
	tpl := loadTemplate(t)
	dep := sample
	dep.params = map[string]string{"SecretsPrefix": "custom/"}
	policies := rolePolicies(t, tpl, dep)
	ownTag := taggedFor(sample.stack)
	runSimulation(t, policies, []simCase{
		{"read under the parameter's prefix", "ForwarderRole", "secretsmanager:GetSecretValue", secretARN(dep, "custom/a/i"), ownTag, true},
		{"read under the stack's prefix", "ForwarderRole", "secretsmanager:GetSecretValue", secretARN(dep, stack.SecretsPrefixFor(dep.stack)+"a/i"), ownTag, false},
		{"create under the parameter's prefix", "IntegrationsRole", "secretsmanager:CreateSecret", secretARN(dep, "custom/a/i"),
			requestTags(apiTags(dep.stack)), true},
		{"API reads under the parameter's prefix", "IntegrationsRole", "secretsmanager:GetSecretValue", secretARN(dep, "custom/a/i"), ownTag, true},
		{"API reads under the stack's prefix", "IntegrationsRole", "secretsmanager:GetSecretValue", secretARN(dep, stack.SecretsPrefixFor(dep.stack)+"a/i"), ownTag, false},
	})
}

// healthTable records the one UpdateItem SetHealth (or AddStatus) sends.
type healthTable struct {
	integrationstore.DynamoDB
	in *dynamodb.UpdateItemInput
}

func (h *healthTable) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	h.in = in
	return &dynamodb.UpdateItemOutput{}, nil
}

var (
	bareName        = regexp.MustCompile(`(^|[^#:A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)\b`)
	expressionWords = map[string]bool{"SET": true, "REMOVE": true, "ADD": true, "DELETE": true, "AND": true, "OR": true, "NOT": true}
)

// updateContext is the request context DynamoDB builds for an UpdateItem: the attributes it
// names (key, update and condition) and the values it asks back.
func updateContext(t *testing.T, in *dynamodb.UpdateItemInput) ctx {
	t.Helper()
	attrs := map[string]bool{}
	for k := range in.Key {
		attrs[k] = true
	}
	for _, n := range in.ExpressionAttributeNames {
		attrs[n] = true
	}
	for _, expr := range []string{aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression)} {
		for _, m := range bareName.FindAllStringSubmatchIndex(expr, -1) {
			word := expr[m[4]:m[5]]
			if expressionWords[strings.ToUpper(word)] || strings.HasPrefix(expr[m[5]:], "(") {
				continue // a keyword or a function
			}
			attrs[word] = true
		}
	}
	c := ctx{"dynamodb:Attributes": slices.Sorted(maps.Keys(attrs))}
	if rv := string(in.ReturnValues); rv != "" {
		c["dynamodb:ReturnValues"] = []string{rv}
	}
	return c
}

// The Forwarder's real SetHealth calls pass the policy: the attribute list in the template
// cannot fall behind shared/integrationstore.
func TestForwarderHealthWritesAreAllowed(t *testing.T) {
	tpl := loadTemplate(t)
	policies := rolePolicies(t, tpl, sample)
	arn := "arn:aws:dynamodb:us-east-1:111122223333:table/" + stack.NamesFor(sample.stack).IntegrationsTable
	tests := []struct {
		name, health, lastError string
	}{
		{"healthy", integration.HealthOK, ""},
		{"unhealthy, with the error", integration.HealthUnhealthy, "401 from mParticle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := &healthTable{}
			store := integrationstore.New(db, stack.NamesFor(sample.stack).IntegrationsTable)
			if err := store.SetHealth(context.Background(), "app1", "i1", tc.health, tc.lastError, time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
			if db.in == nil {
				t.Fatal("SetHealth sent no UpdateItem")
			}
			c := updateContext(t, db.in)
			got, err := evaluate(policies["ForwarderRole"], request{action: "dynamodb:UpdateItem", resource: arn, context: c})
			if err != nil {
				t.Fatal(err)
			}
			if got != allowed {
				t.Errorf("SetHealth's UpdateItem (%v) is %s", c, got)
			}
		})
	}
}

// The evaluator's own rules, on hand-written statements.
func TestPolicyEvaluator(t *testing.T) {
	allow := func(cond map[string]map[string][]string) []policyStatement {
		return []policyStatement{{sid: "s", effect: "Allow", actions: []string{"svc:Do*"}, resources: []string{"arn:x:res/p*"}, condition: cond}}
	}
	tests := []struct {
		name  string
		stmts []policyStatement
		req   request
		want  decision
	}{
		{"action and resource wildcards", allow(nil), request{action: "svc:DoIt", resource: "arn:x:res/p/q"}, allowed},
		{"actions ignore case", allow(nil), request{action: "SVC:doit", resource: "arn:x:res/p"}, allowed},
		{"resources do not", allow(nil), request{action: "svc:DoIt", resource: "arn:x:RES/p"}, implicitDeny},
		{"other action", allow(nil), request{action: "svc:Undo", resource: "arn:x:res/p"}, implicitDeny},
		{"deny wins", append(allow(nil), policyStatement{sid: "d", effect: "Deny", actions: []string{"*"}, resources: []string{"*"}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p"}, explicitDeny},
		{"StringEquals on an absent key", allow(map[string]map[string][]string{"StringEquals": {"k": {"v"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p"}, implicitDeny},
		{"StringEqualsIfExists on an absent key", allow(map[string]map[string][]string{"StringEqualsIfExists": {"k": {"v"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p"}, allowed},
		{"any listed value", allow(map[string]map[string][]string{"StringEquals": {"k": {"a", "b"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p", context: ctx{"k": {"b"}}}, allowed},
		{"StringLike", allow(map[string]map[string][]string{"StringLike": {"k": {"pre*"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p", context: ctx{"k": {"prefix"}}}, allowed},
		{"ForAllValues on an absent key", allow(map[string]map[string][]string{"ForAllValues:StringEquals": {"k": {"a"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p"}, allowed},
		{"ForAllValues with one stranger", allow(map[string]map[string][]string{"ForAllValues:StringEquals": {"k": {"a"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p", context: ctx{"k": {"a", "b"}}}, implicitDeny},
		{"Null false on an absent key", allow(map[string]map[string][]string{"Null": {"k": {"false"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p"}, implicitDeny},
		{"Numeric on an absent key", allow(map[string]map[string][]string{"NumericGreaterThanEquals": {"n": {"7"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p"}, implicitDeny},
		{"Numeric", allow(map[string]map[string][]string{"NumericGreaterThanEquals": {"n": {"7"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p", context: ctx{"n": {"10"}}}, allowed},
		{"Bool", allow(map[string]map[string][]string{"Bool": {"b": {"true"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p", context: ctx{"b": {"TRUE"}}}, allowed},
		{"every operator must hold", allow(map[string]map[string][]string{"StringEquals": {"k": {"v"}}, "Bool": {"b": {"true"}}}),
			request{action: "svc:DoIt", resource: "arn:x:res/p", context: ctx{"k": {"v"}, "b": {"false"}}}, implicitDeny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evaluate(tc.stmts, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := evaluate(allow(map[string]map[string][]string{"DateLessThan": {"k": {"x"}}}), request{action: "svc:DoIt", resource: "arn:x:res/p", context: ctx{"k": {"x"}}}); err == nil {
		t.Error("an unknown operator must be an error, not a guess")
	}
}

// iamSecrets stands in for Secrets Manager and records each call as the request IAM would
// authorize, with the secret's tags as they are at the time of the call.
type iamSecrets struct {
	secretstore.SecretsManager
	dep      deployment
	tags     map[string]map[string]string // secret name -> tags
	arns     map[string]string            // secret ARN -> name
	requests []request
}

func (f *iamSecrets) name(id string) string {
	if n, ok := f.arns[id]; ok {
		return n
	}
	return id
}

func (f *iamSecrets) on(action, id string, extra ctx) {
	name := f.name(id)
	c := with(extra)
	if owner, ok := f.tags[name][stack.StackTag]; ok {
		c = with(c, taggedFor(owner))
	}
	f.requests = append(f.requests, request{action: action, resource: secretARN(f.dep, name), context: c})
}

func (f *iamSecrets) CreateSecret(_ context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	name := aws.ToString(in.Name)
	tags := map[string]string{}
	for _, tg := range in.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	f.on("secretsmanager:CreateSecret", name, requestTags(tags))
	if len(tags) > 0 {
		// Tags on CreateSecret are also authorized as TagResource.
		f.on("secretsmanager:TagResource", name, requestTags(tags))
	}
	f.tags[name] = tags
	arn := secretARN(f.dep, name)
	f.arns[arn] = name
	return &secretsmanager.CreateSecretOutput{ARN: aws.String(arn), VersionId: in.ClientRequestToken}, nil
}

func (f *iamSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.on("secretsmanager:GetSecretValue", aws.ToString(in.SecretId), nil)
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(`{"key":"us1-0123456789abcdef","secret":"s3cr3t"}`)}, nil
}

func (f *iamSecrets) PutSecretValue(_ context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	f.on("secretsmanager:PutSecretValue", aws.ToString(in.SecretId), nil)
	return &secretsmanager.PutSecretValueOutput{VersionId: in.ClientRequestToken}, nil
}

func (f *iamSecrets) UpdateSecretVersionStage(_ context.Context, in *secretsmanager.UpdateSecretVersionStageInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	f.on("secretsmanager:UpdateSecretVersionStage", aws.ToString(in.SecretId), nil)
	return &secretsmanager.UpdateSecretVersionStageOutput{}, nil
}

func (f *iamSecrets) DescribeSecret(_ context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	f.on("secretsmanager:DescribeSecret", aws.ToString(in.SecretId), nil)
	out := &secretsmanager.DescribeSecretOutput{VersionIdsToStages: map[string][]string{"v0": {secretstore.StageCurrent}}}
	for k, v := range f.tags[f.name(aws.ToString(in.SecretId))] {
		out.Tags = append(out.Tags, smtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return out, nil
}

func (f *iamSecrets) DeleteSecret(_ context.Context, in *secretsmanager.DeleteSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error) {
	c := ctx{}
	if in.RecoveryWindowInDays != nil {
		c["secretsmanager:RecoveryWindowInDays"] = []string{strconv.FormatInt(*in.RecoveryWindowInDays, 10)}
	}
	if in.ForceDeleteWithoutRecovery != nil {
		c["secretsmanager:ForceDeleteWithoutRecovery"] = []string{strconv.FormatBool(*in.ForceDeleteWithoutRecovery)}
	}
	f.on("secretsmanager:DeleteSecret", aws.ToString(in.SecretId), c)
	return &secretsmanager.DeleteSecretOutput{}, nil
}

// The API's real Secrets Manager calls (shared/secretstore: create, stage, promote, delete)
// pass the policy of the stack whose settings they run with: the tags, the recovery window
// and the prefix the code uses are the ones the template requires.
func TestAPISecretCallsAreAllowed(t *testing.T) {
	tpl := loadTemplate(t)
	policies := rolePolicies(t, tpl, sample)
	sm := &iamSecrets{dep: sample, tags: map[string]map[string]string{}, arns: map[string]string{}}
	// As the Integrations function runs: SECRETS_PREFIX and STACK_NAME from the template.
	store := secretstore.New(sm, stack.SecretsPrefixFor(sample.stack), sample.stack)
	c := context.Background()
	creds := feedcreds.Credentials{Key: "us1-0123456789abcdef", Secret: "s3cr3t"}
	ref, err := store.Create(c, "app1", "i1", creds)
	if err != nil {
		t.Fatal(err)
	}
	version, err := store.Stage(c, ref.ARN, creds)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Promote(c, ref.ARN, version); err != nil {
		t.Fatal(err)
	}
	// A test event reads the credentials at the record's version, as the Forwarder does.
	if _, err := secretstore.NewCache(sm, time.Minute).Get(c, ref.ARN, version); err != nil {
		t.Fatal(err)
	}
	if err := store.ScheduleDelete(c, "app1", "i1"); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range sm.requests {
		actions = append(actions, r.action)
		got, err := evaluate(policies["IntegrationsRole"], r)
		if err != nil {
			t.Fatal(err)
		}
		if got != allowed {
			t.Errorf("%s on %s with %v: %s", r.action, r.resource, r.context, got)
		}
	}
	for _, want := range []string{"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:GetSecretValue", "secretsmanager:DeleteSecret"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the flow made no %s call (calls: %v)", want, actions)
		}
	}
}

// The Forwarder's real AddStatus calls pass the policy too: the delivery-status attributes
// in the template cannot fall behind shared/integrationstore.
func TestForwarderStatusWritesAreAllowed(t *testing.T) {
	tpl := loadTemplate(t)
	policies := rolePolicies(t, tpl, sample)
	arn := "arn:aws:dynamodb:us-east-1:111122223333:table/" + stack.NamesFor(sample.stack).IntegrationsTable
	at := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		st   integration.DeliveryStatus
	}{
		{"counts only", integration.DeliveryStatus{Retried: 1}},
		{"a delivery", integration.DeliveryStatus{Delivered: 2, LastDeliveryAt: at}},
		{"a failure", integration.DeliveryStatus{DeadLettered: 1, Skipped: 1, LastFailureAt: at,
			LastFailureCode: integration.FailureRejected, LastFailureMessage: "refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := &healthTable{}
			store := integrationstore.New(db, stack.NamesFor(sample.stack).IntegrationsTable)
			if err := store.AddStatus(context.Background(), "app1", "i1", at, tc.st); err != nil {
				t.Fatal(err)
			}
			if db.in == nil {
				t.Fatal("AddStatus sent no UpdateItem")
			}
			c := updateContext(t, db.in)
			got, err := evaluate(policies["ForwarderRole"], request{action: "dynamodb:UpdateItem", resource: arn, context: c})
			if err != nil {
				t.Fatal(err)
			}
			if got != allowed {
				t.Errorf("AddStatus's UpdateItem (%v) is %s", c, got)
			}
		})
	}
}
