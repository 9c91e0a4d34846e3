package templatecheck

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A small evaluator of the template's IAM policies, as deployed for a sample stack: enough of
// IAM's rules (explicit Deny wins, otherwise any Allow, otherwise denied; action and resource
// wildcards; the condition operators below) to check what each role can and cannot do to
// another stack's resources. It evaluates identity policies only: no resource policies,
// boundaries or SCPs, which the template does not use.

// deployment is what CloudFormation supplies when the template is deployed.
type deployment struct {
	stack, region, account string
	params                 map[string]string // overrides; the rest take their defaults
}

// policyStatement is one resolved statement: plain strings, no intrinsics left.
type policyStatement struct {
	sid, effect string
	actions     []string
	resources   []string
	condition   map[string]map[string][]string // operator -> key -> values
}

// request is one API call as IAM sees it: the action, the resource's ARN and the request
// context's keys (a multivalued key such as aws:TagKeys has several values).
type request struct {
	action, resource string
	context          map[string][]string
}

type decision string

const (
	allowed      decision = "allowed"
	explicitDeny decision = "explicitly denied"
	implicitDeny decision = "not allowed"
)

func evaluate(stmts []policyStatement, r request) (decision, error) {
	d := implicitDeny
	for _, s := range stmts {
		ok, err := s.applies(r)
		if err != nil {
			return "", fmt.Errorf("statement %s: %w", s.sid, err)
		}
		switch {
		case !ok:
		case s.effect == "Deny":
			return explicitDeny, nil
		default:
			d = allowed
		}
	}
	return d, nil
}

func (s policyStatement) applies(r request) (bool, error) {
	if !slices.ContainsFunc(s.actions, func(a string) bool { return wildcardMatch(strings.ToLower(a), strings.ToLower(r.action)) }) {
		return false, nil
	}
	if !slices.ContainsFunc(s.resources, func(p string) bool { return wildcardMatch(p, r.resource) }) {
		return false, nil
	}
	// Every operator, and every key under it, must hold; a key holds when any value matches.
	for op, keys := range s.condition {
		for key, want := range keys {
			ok, err := conditionHolds(op, want, r.context[key], hasKey(r.context, key))
			if err != nil {
				return false, fmt.Errorf("%s %s: %w", op, key, err)
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}

func hasKey(ctx map[string][]string, key string) bool {
	_, ok := ctx[key]
	return ok
}

// wildcardMatch matches IAM's * (any run of characters, "/" and ":" included) and ? (one).
func wildcardMatch(pattern, s string) bool {
	var re strings.Builder
	re.WriteString("^")
	for _, c := range pattern {
		switch c {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(s)
}

// conditionHolds applies one condition operator to the request's values of one key. Unknown
// operators are an error, so the template cannot start using one this evaluator gets wrong.
func conditionHolds(op string, want, got []string, present bool) (bool, error) {
	if op == "Null" {
		if len(want) != 1 || (want[0] != "true" && want[0] != "false") {
			return false, fmt.Errorf("Null takes true or false, got %v", want)
		}
		return (want[0] == "true") == !present, nil
	}
	set, base, _ := strings.Cut(op, ":")
	if base == "" {
		set, base = "", op
	}
	ifExists := strings.HasSuffix(base, "IfExists")
	base = strings.TrimSuffix(base, "IfExists")
	match, err := matcher(base)
	if err != nil {
		return false, err
	}
	one := func(v string) bool { return slices.ContainsFunc(want, func(w string) bool { return match(w, v) }) }
	switch set {
	case "ForAllValues":
		// True for an absent or empty key: hence the Null checks beside it.
		for _, v := range got {
			if !one(v) {
				return false, nil
			}
		}
		return true, nil
	case "ForAnyValue":
		return slices.ContainsFunc(got, one), nil
	case "":
		if !present {
			return ifExists, nil
		}
		if len(got) != 1 {
			return false, fmt.Errorf("a single-valued operator on %d values", len(got))
		}
		return one(got[0]), nil
	}
	return false, fmt.Errorf("unknown set operator %s", set)
}

func matcher(op string) (func(want, got string) bool, error) {
	numeric := func(cmp func(w, g float64) bool) func(string, string) bool {
		return func(w, g string) bool {
			wf, err1 := strconv.ParseFloat(w, 64)
			gf, err2 := strconv.ParseFloat(g, 64)
			return err1 == nil && err2 == nil && cmp(wf, gf)
		}
	}
	switch op {
	case "StringEquals":
		return func(w, g string) bool { return w == g }, nil
	case "StringLike":
		return wildcardMatch, nil
	case "Bool":
		return func(w, g string) bool { return strings.EqualFold(w, g) }, nil
	case "NumericGreaterThanEquals":
		return numeric(func(w, g float64) bool { return g >= w }), nil
	case "NumericLessThanEquals":
		return numeric(func(w, g float64) bool { return g <= w }), nil
	}
	return nil, fmt.Errorf("operator %s is not known to this evaluator", op)
}

// --- the template, resolved for a deployment ---

// resolver turns the template's intrinsics into the values CloudFormation would pass.
type resolver struct {
	tpl *Template
	dep deployment
}

// noValue stands for AWS::NoValue until the enclosing list or map drops it.
type noValue struct{}

func (r resolver) resolve(v any) (any, error) {
	switch c := v.(type) {
	case []any:
		out := make([]any, 0, len(c))
		for _, e := range c {
			x, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			if _, drop := x.(noValue); !drop {
				out = append(out, x)
			}
		}
		return out, nil
	case map[string]any:
		if fn, arg, ok := Intrinsic(c); ok && fn != "Condition" {
			return r.intrinsic(fn, arg)
		}
		out := make(map[string]any, len(c))
		for k, e := range c {
			x, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			if _, drop := x.(noValue); !drop {
				out[k] = x
			}
		}
		return out, nil
	case nil, string, bool:
		return c, nil
	}
	return fmt.Sprint(v), nil // numbers: CloudFormation passes strings
}

func (r resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		return r.ref(fmt.Sprint(arg))
	case "Fn::GetAtt":
		parts, _ := arg.([]any)
		if len(parts) != 2 {
			return nil, fmt.Errorf("Fn::GetAtt %v", arg)
		}
		return r.getAtt(fmt.Sprint(parts[0]), fmt.Sprint(parts[1]))
	case "Fn::Sub":
		text, vars := arg, map[string]any{}
		if l, ok := arg.([]any); ok && len(l) == 2 {
			text, vars = l[0], asMap(l[1])
		}
		s, ok := text.(string)
		if !ok {
			return nil, fmt.Errorf("Fn::Sub %v", arg)
		}
		return r.sub(s, vars)
	case "Fn::If":
		parts, _ := arg.([]any)
		if len(parts) != 3 {
			return nil, fmt.Errorf("Fn::If %v", arg)
		}
		ok, err := r.condition(fmt.Sprint(parts[0]))
		if err != nil {
			return nil, err
		}
		if ok {
			return r.resolve(parts[1])
		}
		return r.resolve(parts[2])
	}
	return nil, fmt.Errorf("%s is not supported here", fn)
}

func (r resolver) ref(name string) (any, error) {
	switch name {
	case "AWS::NoValue":
		return noValue{}, nil
	case "AWS::StackName":
		return r.dep.stack, nil
	case "AWS::Region":
		return r.dep.region, nil
	case "AWS::AccountId":
		return r.dep.account, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	if _, ok := r.tpl.Parameters[name]; ok {
		if v, ok := r.dep.params[name]; ok {
			return v, nil
		}
		return r.tpl.ParameterDefault(name)
	}
	if _, ok := r.tpl.Resources[name]; ok {
		return r.physicalName(name)
	}
	return nil, fmt.Errorf("Ref to unknown %s", name)
}

var physicalNameProperty = map[string]string{
	"AWS::DynamoDB::Table": "TableName",
	"AWS::SQS::Queue":      "QueueName",
	"AWS::Logs::LogGroup":  "LogGroupName",
}

func (r resolver) physicalName(id string) (string, error) {
	res := r.tpl.Resources[id]
	prop, ok := physicalNameProperty[res.Type]
	if !ok {
		return "", fmt.Errorf("%s (%s) has no physical name here", id, res.Type)
	}
	v, err := r.resolve(res.Properties[prop])
	s, _ := v.(string)
	if err == nil && s == "" {
		err = fmt.Errorf("%s has no %s", id, prop)
	}
	return s, err
}

func (r resolver) getAtt(id, attr string) (string, error) {
	name, err := r.physicalName(id)
	if err != nil {
		return "", err
	}
	typ := r.tpl.Resources[id].Type
	switch {
	case attr == "Arn" && typ == "AWS::DynamoDB::Table":
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", r.dep.region, r.dep.account, name), nil
	case attr == "Arn" && typ == "AWS::SQS::Queue":
		return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", r.dep.region, r.dep.account, name), nil
	case attr == "Arn" && typ == "AWS::Logs::LogGroup":
		return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s:*", r.dep.region, r.dep.account, name), nil
	}
	return "", fmt.Errorf("Fn::GetAtt %s.%s is not supported here", id, attr)
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r resolver) sub(s string, vars map[string]any) (string, error) {
	var firstErr error
	out := subVariable.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		var v any
		var err error
		switch local, isLocal := vars[name]; {
		case strings.HasPrefix(name, "!"):
			return "${" + name[1:] + "}"
		case isLocal:
			v, err = r.resolve(local)
		case strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::"):
			id, attr, _ := strings.Cut(name, ".")
			v, err = r.getAtt(id, attr)
		default:
			v, err = r.ref(name)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return fmt.Sprint(v)
	})
	return out, firstErr
}

func (r resolver) condition(name string) (bool, error) {
	c, ok := r.tpl.Conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	return r.boolean(c)
}

func (r resolver) boolean(v any) (bool, error) {
	fn, arg, ok := Intrinsic(v)
	if !ok {
		return false, fmt.Errorf("%v is not a condition", v)
	}
	args, _ := arg.([]any)
	switch fn {
	case "Condition":
		return r.condition(fmt.Sprint(arg))
	case "Fn::Equals":
		if len(args) != 2 {
			return false, fmt.Errorf("Fn::Equals %v", arg)
		}
		a, err1 := r.resolve(args[0])
		b, err2 := r.resolve(args[1])
		if err1 != nil || err2 != nil {
			return false, fmt.Errorf("Fn::Equals %v: %v %v", arg, err1, err2)
		}
		return fmt.Sprint(a) == fmt.Sprint(b), nil
	case "Fn::Not":
		if len(args) != 1 {
			return false, fmt.Errorf("Fn::Not %v", arg)
		}
		b, err := r.boolean(args[0])
		return !b, err
	}
	return false, fmt.Errorf("%s is not supported in conditions here", fn)
}

// rolePolicies resolves the statements of every IAM role of the template for dep.
func rolePolicies(t *testing.T, tpl *Template, dep deployment) map[string][]policyStatement {
	t.Helper()
	r := resolver{tpl: tpl, dep: dep}
	out := map[string][]policyStatement{}
	for _, role := range tpl.ResourcesOfType("AWS::IAM::Role") {
		policies, err := r.resolve(tpl.Resources[role].Properties["Policies"])
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		for _, p := range asList(policies) {
			raw, _ := Lookup(p, "PolicyDocument", "Statement")
			for _, st := range asList(raw) {
				out[role] = append(out[role], toPolicyStatement(t, role, asMap(st)))
			}
		}
	}
	return out
}

func toPolicyStatement(t *testing.T, role string, m map[string]any) policyStatement {
	t.Helper()
	s := policyStatement{sid: fmt.Sprint(m["Sid"]), effect: fmt.Sprint(m["Effect"]), condition: map[string]map[string][]string{}}
	for _, k := range []string{"NotAction", "NotResource", "NotPrincipal"} {
		if _, ok := m[k]; ok {
			t.Fatalf("%s/%s uses %s, which this evaluator does not model", role, s.sid, k)
		}
	}
	s.actions = strings1(m["Action"])
	s.resources = strings1(m["Resource"])
	for op, keys := range asMap(m["Condition"]) {
		s.condition[op] = map[string][]string{}
		for k, v := range asMap(keys) {
			s.condition[op][k] = strings1(v)
		}
	}
	if len(s.actions) == 0 || len(s.resources) == 0 {
		t.Fatalf("%s/%s: no actions or resources", role, s.sid)
	}
	return s
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// strings1 returns a string or a list of them as a list.
func strings1(v any) []string {
	if l, ok := v.([]any); ok {
		out := make([]string, len(l))
		for i, e := range l {
			out[i] = fmt.Sprint(e)
		}
		return out
	}
	if v == nil {
		return nil
	}
	return []string{fmt.Sprint(v)}
}

// secretARN is the ARN Secrets Manager gives a secret called name (with its random suffix).
func secretARN(dep deployment, name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", dep.region, dep.account, name)
}
