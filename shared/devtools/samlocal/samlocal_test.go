package samlocal

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

const miniTemplate = `
Parameters:
  Level: {Type: String, Default: INFO}
  Timeout: {Type: Number, Default: 30}
  NoDefault: {Type: String}
  Prefix: {Type: String, Default: ""}
Mappings:
  Vis:
    "30": {Seconds: 180}
Conditions:
  HasPrefix: !Not [!Equals [!Ref Prefix, ""]]
  Both: !And [!Condition HasPrefix, !Equals [!Ref Level, DEBUG]]
Globals:
  Function:
    Timeout: !Ref Timeout
    MemorySize: 256
    Environment:
      Variables:
        LOG_LEVEL: !Ref Level
        SHARED: global
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub ${AWS::StackName}-events
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-t"
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Environment:
        Variables:
          SHARED: own
          TABLE: !Ref T
          QUEUE_URL: !Ref Q
          QUEUE_ARN: !GetAtt Q.Arn
          VIS: !FindInMap [Vis, !Ref Timeout, Seconds]
          SUBBED: !Sub "${T.Arn}|${AWS::Region}|${!Literal}"
          NUM: 7
          PREFIX: !If [HasPrefix, !Ref Prefix, !Sub "${AWS::StackName}/"]
          BOTH: !If [Both, "yes", "no"]
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
            BatchSize: 25
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
        B:
          Type: HttpApi
          Properties: {Method: post, Path: /b}
        A:
          Type: HttpApi
          Properties: {Method: GET, Path: /a}
  Bad:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/bad
      Environment:
        Variables:
          X: !Ref NoDefault
`

func locals() Locals {
	return Locals{
		StackName: "st", Region: "us-east-1", AccountID: "123456789012",
		Params:    map[string]string{"Level": "DEBUG"},
		QueueURLs: map[string]string{"st-events": "http://127.0.0.1:1/123456789012/st-events"},
	}
}

func TestFunctionResolvesLikeCloudFormation(t *testing.T) {
	tp, err := Parse([]byte(miniTemplate))
	if err != nil {
		t.Fatal(err)
	}
	id, err := tp.FunctionByDir("fn")
	if err != nil || id != "Fn" {
		t.Fatalf("FunctionByDir = %q, %v", id, err)
	}
	fn, err := tp.Function("Fn", locals())
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]string{
		"LOG_LEVEL": "DEBUG", // override beats default
		"SHARED":    "own",   // function beats Globals
		"TABLE":     "st-t",
		"QUEUE_URL": "http://127.0.0.1:1/123456789012/st-events",
		"QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:st-events",
		"VIS":       "180",
		"SUBBED":    "arn:aws:dynamodb:us-east-1:123456789012:table/st-t|us-east-1|${Literal}",
		"NUM":       "7",
		"PREFIX":    "st/", // the condition's else branch: Prefix is empty
		"BOTH":      "no",
	}
	for k, want := range wantEnv {
		if got := fn.Env[k]; got != want {
			t.Errorf("env %s = %q, want %q", k, got, want)
		}
	}
	if len(fn.Env) != len(wantEnv) {
		t.Errorf("env has %d variables, want %d: %v", len(fn.Env), len(wantEnv), fn.Env)
	}
	if fn.Timeout != 30*time.Second || fn.MemoryMB != 256 || fn.Name != "st-Fn" {
		t.Errorf("timeout %s memory %d name %s", fn.Timeout, fn.MemoryMB, fn.Name)
	}
	q := fn.Queue
	if q == nil || q.QueueName != "st-events" || q.BatchSize != 25 || q.BatchingWindow != 2*time.Second || !q.ReportBatchItemFailures {
		t.Fatalf("queue source = %+v", q)
	}
	if len(fn.Routes) != 2 || fn.Routes[0] != (Route{Name: "A", Method: "GET", Path: "/a"}) || fn.Routes[1].Method != "POST" {
		t.Errorf("routes = %+v", fn.Routes)
	}
}

func TestConditions(t *testing.T) {
	tp, err := Parse([]byte(miniTemplate))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		params           map[string]string
		prefix, bothWant string
	}{
		{"defaults", map[string]string{}, "st/", "no"},
		{"prefix set", map[string]string{"Prefix": "p/"}, "p/", "no"},
		{"prefix set and DEBUG", map[string]string{"Prefix": "p/", "Level": "DEBUG"}, "p/", "yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := locals()
			loc.Params = tt.params
			fn, err := tp.Function("Fn", loc)
			if err != nil {
				t.Fatal(err)
			}
			if fn.Env["PREFIX"] != tt.prefix || fn.Env["BOTH"] != tt.bothWant {
				t.Errorf("PREFIX = %q, BOTH = %q; want %q, %q", fn.Env["PREFIX"], fn.Env["BOTH"], tt.prefix, tt.bothWant)
			}
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	tp, err := Parse([]byte(miniTemplate))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
		loc      Locals
		want     string
	}{
		{"parameter without default", "Bad", locals(), "NoDefault"},
		{"queue not provisioned", "Fn", Locals{StackName: "st", Region: "r", AccountID: "a"}, "no local URL"},
		{"not a function", "Q", locals(), "no AWS::Serverless::Function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tp.Function(tt.id, tt.loc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := tp.FunctionByDir("nope"); err == nil || !strings.Contains(err.Error(), "fn") {
		t.Errorf("FunctionByDir(nope) = %v, want the known functions listed", err)
	}
}

// The real template must resolve for both functions with only local values: this is what
// `make dev` and `make invoke` do.
func TestRealTemplateResolvesLocally(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tp, err := Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names := stack.NamesFor(stack.DefaultName)
	loc := Locals{
		StackName: stack.DefaultName, Region: "us-east-1", AccountID: "123456789012",
		Params: map[string]string{"MParticleBaseURL": "http://127.0.0.1:9999"},
		QueueURLs: map[string]string{
			names.Queue:           "http://q/" + names.Queue,
			names.DeadLetterQueue: "http://q/" + names.DeadLetterQueue,
		},
	}
	for _, dir := range []string{"forwarder", "integrations"} {
		id, err := tp.FunctionByDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		fn, err := tp.Function(id, loc)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if fn.Env["INTEGRATIONS_TABLE"] != names.IntegrationsTable {
			t.Errorf("%s INTEGRATIONS_TABLE = %q", dir, fn.Env["INTEGRATIONS_TABLE"])
		}
		if fn.Env[stack.EnvStackName] != stack.DefaultName || fn.Env[stack.EnvSecretsPrefix] != stack.SecretsPrefixFor(stack.DefaultName) {
			t.Errorf("%s STACK_NAME = %q, SECRETS_PREFIX = %q", dir, fn.Env[stack.EnvStackName], fn.Env[stack.EnvSecretsPrefix])
		}
		if dir == "forwarder" {
			if fn.Env["DLQ_URL"] != "http://q/"+names.DeadLetterQueue || fn.Env["MPARTICLE_BASE_URL"] != "http://127.0.0.1:9999" {
				t.Errorf("forwarder env = %v", fn.Env)
			}
			if fn.Queue == nil || fn.Queue.QueueName != names.Queue || fn.Queue.BatchSize != stack.BatchSize || !fn.Queue.ReportBatchItemFailures {
				t.Errorf("forwarder queue source = %+v", fn.Queue)
			}
		} else if len(fn.Routes) == 0 {
			t.Errorf("integrations has no routes")
		}
	}
}
