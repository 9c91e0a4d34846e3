// Package samlocal reads a function's settings out of template.yaml the way CloudFormation
// would resolve them for a stack, with local values standing in for what AWS supplies (the
// stack name, region, account, the queues' URLs). Local runs (`make dev`, `make invoke`) take
// the environment, timeout, memory and SQS event source settings from here, so they cannot
// drift from the deployed functions.
package samlocal

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/namiml/mparticle-bridge/shared/testkit/templatecheck"
)

// Locals are the facts AWS supplies at deploy time, given locally.
type Locals struct {
	StackName string
	Region    string
	AccountID string
	// Params overrides parameter defaults, as `sam deploy --parameter-overrides` would.
	Params map[string]string
	// QueueURLs maps a queue's name to its URL on the local stand-in.
	QueueURLs map[string]string
}

// Function is one AWS::Serverless::Function as deployed with Locals.
type Function struct {
	LogicalID string
	CodeURI   string
	// Name is the local function name (CloudFormation generates a longer one).
	Name     string
	Timeout  time.Duration
	MemoryMB int
	Env      map[string]string
	Queue    *QueueSource // nil when the function has no SQS event
	Routes   []Route      // HttpApi events, sorted by path then method
}

// QueueSource is an SQS event source mapping.
type QueueSource struct {
	QueueName               string
	QueueARN                string
	BatchSize               int
	BatchingWindow          time.Duration
	ReportBatchItemFailures bool
}

// Route is an HttpApi event of a function.
type Route struct {
	Name   string // the event's key in the template, e.g. CreateIntegration
	Method string
	Path   string
}

// Template is a parsed SAM template.
type Template struct {
	t *templatecheck.Template
}

// Load parses the template at path.
func Load(path string) (*Template, error) {
	t, err := templatecheck.Load(path)
	if err != nil {
		return nil, err
	}
	return &Template{t: t}, nil
}

// Parse parses template text.
func Parse(data []byte) (*Template, error) {
	t, err := templatecheck.Parse(data)
	if err != nil {
		return nil, err
	}
	return &Template{t: t}, nil
}

const serverlessFunction = "AWS::Serverless::Function"

// FunctionByDir returns the logical id of the function whose CodeUri is functions/<dir>.
func (tp *Template) FunctionByDir(dir string) (string, error) {
	var known []string
	for _, id := range tp.t.ResourcesOfType(serverlessFunction) {
		uri, _ := tp.t.Resources[id].Properties["CodeUri"].(string)
		name := strings.TrimPrefix(strings.TrimSuffix(uri, "/"), "functions/")
		if name == dir {
			return id, nil
		}
		known = append(known, name)
	}
	slices.Sort(known)
	return "", fmt.Errorf("no function with CodeUri functions/%s in the template (known: %s)", dir, strings.Join(known, ", "))
}

// Function resolves the function called logicalID for a stack described by loc.
func (tp *Template) Function(logicalID string, loc Locals) (Function, error) {
	res, ok := tp.t.Resources[logicalID]
	if !ok || res.Type != serverlessFunction {
		return Function{}, fmt.Errorf("no %s %q in the template", serverlessFunction, logicalID)
	}
	r := resolver{tp: tp, loc: loc}
	global, _ := templatecheck.Lookup(tp.t.Globals, "Function")
	globalProps, _ := global.(map[string]any)
	prop := func(name string) (any, bool) {
		if v, ok := res.Properties[name]; ok {
			return v, true
		}
		v, ok := globalProps[name]
		return v, ok
	}
	uri, _ := res.Properties["CodeUri"].(string)
	fn := Function{LogicalID: logicalID, CodeURI: uri, Name: loc.StackName + "-" + logicalID, Env: map[string]string{}}

	var err error
	if fn.Timeout, err = r.seconds(prop("Timeout")); err != nil {
		return fn, fmt.Errorf("%s Timeout: %w", logicalID, err)
	}
	if fn.Timeout == 0 {
		fn.Timeout = 3 * time.Second // Lambda's default
	}
	fn.MemoryMB = 128
	if v, ok := prop("MemorySize"); ok {
		if fn.MemoryMB, err = r.integer(v); err != nil {
			return fn, fmt.Errorf("%s MemorySize: %w", logicalID, err)
		}
	}

	// Globals' variables first, the function's own override them (SAM merges maps this way).
	for _, src := range []any{globalProps, res.Properties} {
		vars, _ := templatecheck.Lookup(src, "Environment", "Variables")
		for name, v := range asMap(vars) {
			s, err := r.str(v)
			if err != nil {
				return fn, fmt.Errorf("%s environment %s: %w", logicalID, name, err)
			}
			fn.Env[name] = s
		}
	}

	events := asMap(res.Properties["Events"])
	for _, name := range slices.Sorted(maps.Keys(events)) {
		ev := asMap(events[name])
		props := asMap(ev["Properties"])
		switch ev["Type"] {
		case "SQS":
			if fn.Queue != nil {
				return fn, fmt.Errorf("%s has more than one SQS event; local runs support one", logicalID)
			}
			q, err := r.queueSource(props)
			if err != nil {
				return fn, fmt.Errorf("%s event %s: %w", logicalID, name, err)
			}
			fn.Queue = q
		case "HttpApi":
			method, _ := props["Method"].(string)
			path, _ := props["Path"].(string)
			if method == "" || path == "" {
				return fn, fmt.Errorf("%s event %s: HttpApi needs Method and Path", logicalID, name)
			}
			fn.Routes = append(fn.Routes, Route{Name: name, Method: strings.ToUpper(method), Path: path})
		}
	}
	slices.SortFunc(fn.Routes, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return fn, nil
}

func (r resolver) queueSource(props map[string]any) (*QueueSource, error) {
	id, attr, ok := templatecheck.GetAtt(props["Queue"])
	if !ok || attr != "Arn" {
		return nil, errors.New("the Queue property must be !GetAtt <queue>.Arn of a queue in the template")
	}
	name, err := r.physicalName(id)
	if err != nil {
		return nil, err
	}
	arn, err := r.str(props["Queue"])
	if err != nil {
		return nil, err
	}
	q := &QueueSource{QueueName: name, QueueARN: arn, BatchSize: 10}
	if v, ok := props["BatchSize"]; ok {
		if q.BatchSize, err = r.integer(v); err != nil {
			return nil, fmt.Errorf("BatchSize: %w", err)
		}
	}
	if v, ok := props["MaximumBatchingWindowInSeconds"]; ok {
		if q.BatchingWindow, err = r.seconds(v, true); err != nil {
			return nil, fmt.Errorf("MaximumBatchingWindowInSeconds: %w", err)
		}
	}
	types, _ := props["FunctionResponseTypes"].([]any)
	q.ReportBatchItemFailures = slices.Contains(types, any("ReportBatchItemFailures"))
	return q, nil
}

// resolver evaluates the intrinsic functions local runs need.
type resolver struct {
	tp  *Template
	loc Locals
}

func (r resolver) seconds(v any, present bool) (time.Duration, error) {
	if !present {
		return 0, nil
	}
	n, err := r.integer(v)
	if err != nil {
		return 0, err
	}
	return time.Duration(n) * time.Second, nil
}

func (r resolver) integer(v any) (int, error) {
	s, err := r.str(v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return n, nil
}

// str resolves v to the string CloudFormation would pass.
func (r resolver) str(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", errors.New("missing value")
	case string:
		return x, nil
	case int, int64, float64, bool:
		return fmt.Sprint(x), nil
	}
	fn, arg, ok := templatecheck.Intrinsic(v)
	if !ok {
		return "", fmt.Errorf("cannot use %T as a string", v)
	}
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return r.ref(name)
	case "Fn::Sub":
		s, ok := arg.(string)
		if !ok {
			return "", errors.New("only the one-string form of Fn::Sub is supported locally")
		}
		return r.sub(s)
	case "Fn::GetAtt":
		id, attr, ok := templatecheck.GetAtt(v)
		if !ok {
			return "", errors.New("malformed Fn::GetAtt")
		}
		return r.getAtt(id, attr)
	case "Fn::FindInMap":
		parts, _ := arg.([]any)
		if len(parts) != 3 {
			return "", errors.New("Fn::FindInMap needs three arguments")
		}
		keys := make([]string, 3)
		for i, p := range parts {
			s, err := r.str(p)
			if err != nil {
				return "", fmt.Errorf("Fn::FindInMap argument %d: %w", i+1, err)
			}
			keys[i] = s
		}
		val, ok := templatecheck.Lookup(r.tp.t.Mappings, keys...)
		if !ok {
			return "", fmt.Errorf("no mapping %s", strings.Join(keys, "."))
		}
		return r.str(val)
	case "Fn::If":
		parts, _ := arg.([]any)
		cond, _ := templatecheck.Lookup(parts, "0")
		name, isName := cond.(string)
		if len(parts) != 3 || !isName {
			return "", errors.New("Fn::If needs a condition name and two values")
		}
		ok, err := r.condition(name)
		if err != nil {
			return "", err
		}
		if ok {
			return r.str(parts[1])
		}
		return r.str(parts[2])
	}
	return "", fmt.Errorf("%s is not supported in local runs", fn)
}

// condition evaluates an entry of the Conditions section, as a parameter-derived default
// (e.g. the secrets prefix from the stack name) needs.
func (r resolver) condition(name string) (bool, error) {
	c, ok := r.tp.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	return r.boolean(c)
}

func (r resolver) boolean(v any) (bool, error) {
	fn, arg, ok := templatecheck.Intrinsic(v)
	if !ok {
		return false, fmt.Errorf("%v is not a condition function", v)
	}
	args, _ := arg.([]any)
	switch fn {
	case "Condition":
		name, _ := arg.(string)
		return r.condition(name)
	case "Fn::Equals":
		if len(args) != 2 {
			return false, errors.New("Fn::Equals needs two values")
		}
		a, err := r.str(args[0])
		if err != nil {
			return false, err
		}
		b, err := r.str(args[1])
		return a == b, err
	case "Fn::Not":
		if len(args) != 1 {
			return false, errors.New("Fn::Not needs one condition")
		}
		b, err := r.boolean(args[0])
		return !b, err
	case "Fn::And", "Fn::Or":
		for _, a := range args {
			b, err := r.boolean(a)
			if err != nil {
				return false, err
			}
			if b == (fn == "Fn::Or") {
				return b, nil
			}
		}
		return fn == "Fn::And", nil
	}
	return false, fmt.Errorf("%s is not supported in local conditions", fn)
}

func (r resolver) ref(name string) (string, error) {
	switch name {
	case "AWS::StackName":
		return r.loc.StackName, nil
	case "AWS::Region":
		return r.loc.Region, nil
	case "AWS::AccountId":
		return r.loc.AccountID, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	if _, ok := r.tp.t.Parameters[name]; ok {
		if v, ok := r.loc.Params[name]; ok {
			return v, nil
		}
		d, err := r.tp.t.ParameterDefault(name)
		if err != nil {
			return "", fmt.Errorf("parameter %s has no default and no local value", name)
		}
		return d, nil
	}
	res, ok := r.tp.t.Resources[name]
	if !ok {
		return "", fmt.Errorf("unknown Ref target %s", name)
	}
	switch res.Type {
	case "AWS::DynamoDB::Table", "AWS::Logs::LogGroup":
		return r.physicalName(name)
	case "AWS::SQS::Queue":
		qn, err := r.physicalName(name)
		if err != nil {
			return "", err
		}
		url, ok := r.loc.QueueURLs[qn]
		if !ok {
			return "", fmt.Errorf("queue %s has no local URL (is the stack provisioned?)", qn)
		}
		return url, nil
	}
	return "", fmt.Errorf("no local value for a Ref to %s (%s)", name, res.Type)
}

// nameProperty is where each resource type keeps its physical name.
var nameProperty = map[string]string{
	"AWS::DynamoDB::Table": "TableName",
	"AWS::SQS::Queue":      "QueueName",
	"AWS::Logs::LogGroup":  "LogGroupName",
}

func (r resolver) physicalName(id string) (string, error) {
	res, ok := r.tp.t.Resources[id]
	if !ok {
		return "", fmt.Errorf("no resource %s", id)
	}
	prop, ok := nameProperty[res.Type]
	if !ok {
		return "", fmt.Errorf("%s (%s) has no local name", id, res.Type)
	}
	v, ok := res.Properties[prop]
	if !ok {
		return "", fmt.Errorf("%s has no %s: local runs need explicit names", id, prop)
	}
	return r.str(v)
}

func (r resolver) getAtt(id, attr string) (string, error) {
	res, ok := r.tp.t.Resources[id]
	if !ok {
		return "", fmt.Errorf("Fn::GetAtt of unknown %s", id)
	}
	name, err := r.physicalName(id)
	if err != nil {
		return "", err
	}
	switch {
	case res.Type == "AWS::SQS::Queue" && attr == "Arn":
		return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", r.loc.Region, r.loc.AccountID, name), nil
	case res.Type == "AWS::SQS::Queue" && attr == "QueueName":
		return name, nil
	case res.Type == "AWS::SQS::Queue" && attr == "QueueUrl":
		return r.ref(id)
	case res.Type == "AWS::DynamoDB::Table" && attr == "Arn":
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", r.loc.Region, r.loc.AccountID, name), nil
	case res.Type == "AWS::Logs::LogGroup" && attr == "Arn":
		return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s:*", r.loc.Region, r.loc.AccountID, name), nil
	}
	return "", fmt.Errorf("Fn::GetAtt %s.%s has no local value", id, attr)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r resolver) sub(s string) (string, error) {
	var firstErr error
	out := subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}" // ${!Literal} is an escaped literal
		}
		var v string
		var err error
		if id, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			v, err = r.getAtt(id, attr)
		} else {
			v, err = r.ref(name)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	})
	return out, firstErr
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
